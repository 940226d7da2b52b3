"""The edits a content fault makes to one answer, in no provider's words: its text piece by
piece, its stop, its tool calls, its usage. `framing` calls an editor as the answer's parts arrive."""

from __future__ import annotations

from typing import Any
from typing import ClassVar
from typing import Literal

from brownout.classify.asks import Asks
from brownout.providers.sse import MAX_PENDING
from brownout.providers.sse import event_tokens

# Tokens of an answer's text as the upstream sent it, and as the client got it.
TextTokens = tuple[int, int]
# The stop an editor wants the answer to end with, in no provider's words: the length limit, the
# safety filter, or the normal end of a turn. The framing says it as its provider does.
Stop = Literal["length", "filter", "normal"]

# The most text (characters) a stream's edit holds while it waits for the whole of what it edits
# (a structured answer, a tool call's arguments). Past it, what was held goes out unedited, the rest
# flows as it comes, and that edit is not made: a huge answer costs the proxy no more than this.
# Half an event's most (`MAX_PENDING`), so that the events closing what was held, which repeat it
# whole (Responses' `.done` events), are still read as events, with room for their JSON escapes.
MAX_HELD = MAX_PENDING // 2


def tokens_in(piece: str) -> int:
    """Tokens in a piece of text (a body's whole text, or one delta), as the stream faults count
    an event's: one for a word or less (a token per delta, as OpenAI streams), else about as a
    BPE tokenizer cuts English."""
    return event_tokens(piece)


class Held:
    """Pieces of a stream's text held for an edit that needs them whole, at most `limit`
    characters (None: no limit, for a body already whole in memory): past it `over`, and the text
    flows again."""

    def __init__(self, limit: int | None = MAX_HELD) -> None:
        self.limit = limit
        self.pieces: list[str] = []
        self.size = 0
        self.over = False

    def add(self, piece: str) -> str | None:
        """None while the piece is held; past the cap, everything held so far and this piece, as
        they came (and from then on each piece itself)."""
        if self.over:
            return piece
        self.pieces.append(piece)
        self.size += len(piece)
        if self.limit is None or self.size <= self.limit:
            return None
        self.over = True
        return self.take()

    def take(self) -> str:
        text, self.pieces, self.size = "".join(self.pieces), [], 0
        return text


class Editor:
    """One answer's edits. The framing calls `text` for each piece of the answer's text in order
    (the whole text of a part in a body, each delta in a stream), `text_end` where a text part
    ends, `stop` at the answer's stop reason, `tool_name` and `tool_arguments` for each tool call
    (when `edits_tools`), and `usage` for each usage object. `acted` says whether it changed the
    answer; `seen` and `sent` count the tokens of the text as the upstream sent it and as the
    client got it, and `changed` whether they differ at all."""

    # Where the provider has a refusal field (OpenAI's), the text goes there instead of the content.
    refuses: ClassVar[bool] = False
    # The framing hands over each tool call's name, and its arguments whole (`edits_arguments`).
    edits_tools: ClassVar[bool] = False

    def __init__(self, asks: Asks) -> None:
        self.asks = asks
        self.acted = False
        self.seen = 0
        self.sent = 0
        self.changed = False

    def begin(self, text_tokens: int | None) -> None:
        """The answer's text is this long in tokens (a whole body); None on a stream, unknown."""

    def text(self, piece: str) -> str:
        out = self.edit_text(piece)
        self.seen += tokens_in(piece)
        self.sent += tokens_in(out)
        self.changed = self.changed or out != piece
        return out

    def text_end(self) -> str:
        """Text to add where a text part ends (a structured answer held until it was whole)."""
        out = self.end_text()
        self.sent += tokens_in(out)
        self.changed = self.changed or bool(out)
        return out

    def edit_text(self, piece: str) -> str:
        return piece

    def end_text(self) -> str:
        return ""

    def stop(self) -> Stop | None:
        """The stop the answer ends with instead of its own; None keeps the upstream's."""
        return None

    def tool_name(self, name: str) -> str:
        return name

    def edits_arguments(self) -> bool:
        """Whether `tool_arguments` may change a call's arguments: a stream's are then held (up to
        `MAX_HELD`) until the call ends; otherwise they flow as they come."""
        return self.edits_tools

    def tool_arguments(self, name: str, arguments: str) -> str:
        """A call's arguments, whole, as JSON text; `name` is the tool the upstream called."""
        return arguments

    def usage(self, usage: dict[str, Any], output: str, total: str, text: TextTokens | None) -> dict[str, Any] | None:
        """The usage object as the client gets it (None: none at all). By default, when the text
        changed (`text`: its tokens as sent and as received, else None), the output tokens follow:
        what the upstream counted beyond the text (reasoning, tool calls) stays, the text's own
        count is the text the client got; the total moves with them."""
        before = usage.get(output)
        if text is None or not isinstance(before, int) or isinstance(before, bool):
            return usage
        seen, sent = text
        after = usage[output] = max(0, before - seen) + sent
        if isinstance(usage.get(total), int):
            usage[total] = max(0, usage[total] + after - before)
        return usage
