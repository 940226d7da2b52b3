"""The edits a content fault makes to one answer, in no provider's words: its text piece by
piece, its stop, its tool calls, its usage. `framing` calls an editor as the answer's parts arrive."""

from __future__ import annotations

from typing import Any
from typing import ClassVar
from typing import Literal

from brownout.classify.asks import Asks
from brownout.providers.sse import event_tokens

# Tokens of an answer's text as the upstream sent it, and as the client got it.
TextTokens = tuple[int, int]
# The stop an editor wants the answer to end with, in no provider's words: the length limit, the
# safety filter, or the normal end of a turn. The framing says it as its provider does.
Stop = Literal["length", "filter", "normal"]


def tokens_in(piece: str) -> int:
    """Tokens in a piece of text (a body's whole text, or one delta), as the stream faults count
    an event's: one for a word or less (a token per delta, as OpenAI streams), else about as a
    BPE tokenizer cuts English."""
    return event_tokens(piece)


class Editor:
    """One answer's edits. The framing calls `text` for each piece of the answer's text in order
    (the whole text of a part in a body, each delta in a stream), `text_end` where a text part
    ends, `stop` at the answer's stop reason, `tool_name` and `tool_arguments` for each tool call
    (when `edits_tools`), and `usage` for each usage object. `acted` says whether it changed the
    answer; `seen` and `sent` count the tokens of the text as the upstream sent it and as the
    client got it, and `changed` whether they differ at all."""

    # Where the provider has a refusal field (OpenAI's), the text goes there instead of the content.
    refuses: ClassVar[bool] = False
    # The framing gathers each tool call's arguments and hands them over whole.
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
