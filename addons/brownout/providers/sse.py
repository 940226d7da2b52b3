"""Server-sent events as they travel: framing, splitting, counting.

`EventSplitter` cuts a byte stream into whole events, whatever the TCP chunks look like (several
events in one chunk, an event split over several); `EventCounter` counts them as they pass
without copying. Each provider's own stream conventions are in `brownout.providers.dialects`.
Pure: no mitmproxy, no I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from dataclasses import field
from typing import Any

# Bytes held while waiting for an event's end. A body that never frames events (a server
# mislabelling NDJSON as an event stream) is relayed in pieces of this size instead of buffered.
MAX_PENDING = 64 * 1024

EVENT_STREAM = "text/event-stream"

LF = b"\n"
CRLF = b"\r\n"


@dataclass(slots=True)
class SseEvent:
    """One event as it travelled: its raw bytes, delimiter included, parsed on demand."""

    raw: bytes
    _fields: tuple[str | None, str, bool] | None = field(default=None, repr=False)

    def _parse(self) -> tuple[str | None, str, bool]:
        if self._fields is None:
            name: str | None = None
            data: list[str] = []
            comment_only = True
            for line in self.raw.decode("utf-8", "replace").splitlines():
                if not line:
                    continue
                if line.startswith(":"):
                    continue
                comment_only = False
                key, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if key == "event":
                    name = value
                elif key == "data":
                    data.append(value)
            self._fields = (name, "\n".join(data), comment_only)
        return self._fields

    @property
    def name(self) -> str | None:
        return self._parse()[0]

    @property
    def data(self) -> str:
        return self._parse()[1]

    @property
    def is_comment(self) -> bool:
        """Only comment lines (`: keep-alive`): relayed, but not an event to count."""
        return self.raw.startswith(b":") and self._parse()[2]

    def json(self) -> Any:
        try:
            return json.loads(self.data)
        except ValueError:
            return None


def event_ends(buf: bytes | bytearray, pos: int = 0) -> tuple[list[int], int]:
    """Where the events completed in `buf` end (just past their blank line), scanning from `pos`,
    and where the next scan must resume (a line end at the very end may begin a blank line).

    An event ends at a blank line. Lines end in LF or CRLF; a lone CR (allowed by the SSE spec,
    used by no AI provider) is not a line end, so "\r\n" is never read as two lines. Searching
    for LF with `find` keeps this at C speed: a few steps per event, whatever its length.
    """
    ends: list[int] = []
    size = len(buf)
    find = buf.find
    while True:
        i = find(b"\n", pos)
        if i < 0:
            return ends, size
        if i + 1 >= size:
            return ends, i
        after = buf[i + 1]
        if after == 0x0A:
            end = i + 2
        elif after == 0x0D:
            if i + 2 >= size:
                return ends, i
            if buf[i + 2] != 0x0A:
                pos = i + 1
                continue
            end = i + 3
        else:
            pos = i + 1
            continue
        ends.append(end)
        pos = end


class EventSplitter:
    """Incremental: feed chunks, get whole events back; a partial event waits for its end.

    A chunk that holds whole events only (the usual case) is cut without copying it whole.
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        self._scan_from = 0
        self.newline: bytes | None = None  # the line ending the stream uses, once seen

    def feed(self, data: bytes) -> list[bytes]:
        if not data:
            return []
        buf: bytes | bytearray
        if self._pending:
            self._pending += data
            buf = self._pending
        else:
            buf = data
        ends, resume = event_ends(buf, self._scan_from)
        if not ends:
            if buf is data:
                self._pending += data
            self._scan_from = resume
            return []
        if self.newline is None:
            self.newline = CRLF if buf[ends[0] - 2] == 0x0D else LF
        if buf is data:
            last = ends[-1]
            if len(ends) == 1:
                events = [data if last == len(data) else data[:last]]  # the usual chunk: one whole event
            else:
                events = [data[a:b] for a, b in zip([0, *ends], ends, strict=False)]
            if last < len(data):
                self._pending += data[last:]
        else:
            view = memoryview(buf)
            events = [bytes(view[a:b]) for a, b in zip([0, *ends], ends, strict=False)]
            view.release()
            last = ends[-1]
            del self._pending[:last]
        self._scan_from = resume - last
        return events

    @property
    def pending(self) -> int:
        return len(self._pending)

    def take_pending(self) -> bytes:
        """The bytes of an unfinished event, handed out (at the stream's end or when oversized)."""
        out = bytes(self._pending)
        self._pending.clear()
        self._scan_from = 0
        return out


def format_event(data: str, event: str | None = None, newline: bytes = LF) -> bytes:
    nl = newline.decode()
    head = f"event: {event}{nl}" if event is not None else ""
    body = "".join(f"data: {line}{nl}" for line in data.split("\n"))
    return (head + body + nl).encode()


def compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# Words with their leading space, numbers, and single punctuation marks: close to how BPE
# tokenizers cut English text.
_TOKEN = re.compile(r"\s*[^\W_]+|\s*[^\w\s]|\s*_+|\s+")


def split_tokens(text: str) -> list[str]:
    """`text` cut into tokens as `event_tokens` counts them; joined, they give `text` back."""
    return _TOKEN.findall(text)


def event_tokens(text: str) -> int:
    """Tokens in an event's text. An event with one word or less is one token: OpenAI streams a
    token per event, whatever its text (`" running"`, `","`, `"\\n"`); longer texts (Anthropic's
    and Gemini's multi-token events) are counted as a BPE tokenizer would, about."""
    if not text:
        return 0
    if len(text.split(maxsplit=1)) <= 1:
        return 1
    return len(_TOKEN.findall(text))


def is_event_stream(content_type: str) -> bool:
    """Whether a `content-type` header value announces server-sent events."""
    return content_type.strip().lower().startswith(EVENT_STREAM)


class EventCounter:
    """Counts the SSE events in bytes as they go to the client, chunk by chunk.

    Only event ends are searched (no copy of the body); a block whose first byte is `:` is a
    comment (`: keep-alive`) and not counted.
    """

    def __init__(self) -> None:
        self.events = 0
        self._carry = b""  # a line end at the end of the last chunk, which may begin a blank line
        self._first: int | None = None  # first byte of the block under way

    def feed(self, data: bytes) -> int:
        """Adds the events completed by `data`; returns how many."""
        if not data:
            return 0
        buf = self._carry + data if self._carry else data
        if self._first is None:
            self._first = buf[0]
        ends, resume = event_ends(buf)
        found = 0
        for end in ends:
            if self._first != 0x3A:  # ':'
                found += 1
            self._first = buf[end] if end < len(buf) else None
        self._carry = buf[resume:]
        self.events += found
        return found
