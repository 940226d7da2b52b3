"""Server-sent events as the AI providers frame them, and each provider's mid-stream conventions.

`EventSplitter` cuts a byte stream into whole events, whatever the TCP chunks look like (several
events in one chunk, an event split over several). A `Dialect` knows one provider's stream: its
line ending, which event ends a stream (`[DONE]`, `message_stop`, ...), what text an event carries
(for pacing in tokens), and the exact error event the provider sends when it fails mid-stream.
Pure: no mitmproxy, no I/O (`reference/providers.md` §1.4, §1.5, §3.3, §4.2).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from brownout.providers import error_reply
from brownout.providers.base import ErrorOptions

# Bytes held while waiting for an event's end. A body that never frames events (a server
# mislabelling NDJSON as an event stream) is relayed in pieces of this size instead of buffered.
MAX_PENDING = 64 * 1024

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


def estimate_tokens(text: str) -> int:
    """Tokens in an event's text. An event with one word or less is one token: OpenAI streams a
    token per event, whatever its text (`" running"`, `","`, `"\\n"`); longer texts (Anthropic's
    and Gemini's multi-token events) are counted as a BPE tokenizer would, about."""
    if not text:
        return 0
    if len(text.split(maxsplit=1)) <= 1:
        return 1
    return len(_TOKEN.findall(text))


# ---------------------------------------------------------------- dialects


class Dialect:
    """One provider's event stream. Instances are per stream (some track ids as they pass)."""

    name = "generic"
    newline = LF

    def observe(self, event: SseEvent) -> None:
        """See an event the client received (dialects that need ids or sequence numbers)."""

    def is_terminator(self, event: SseEvent) -> bool:
        return False

    def text_of(self, event: SseEvent) -> str:
        """The generated text an event carries (empty for bookkeeping events)."""
        return ""

    def error_events(self, kind: str | None, message: str | None, newline: bytes) -> bytes:
        """The provider's mid-stream error, and whatever it sends after it before ending."""
        raise NotImplementedError


def _error_object(provider: str, kind: str, message: str | None) -> dict[str, Any]:
    """The `error` object of the provider's error reply for `kind` (the catalogue's exact wording)."""
    body = json.loads(error_reply(provider, ErrorOptions(kind=kind, message=message)).body)
    error: dict[str, Any] = body["error"]
    return error


class OpenAIChat(Dialect):
    """Chat Completions (and legacy Completions): bare `data:` frames, then `data: [DONE]`."""

    name = "openai-chat"
    # Captured mid-stream (go-openai PR #396): not the wording of any HTTP error reply.
    MID_STREAM = {
        "message": "The server experienced an error while processing your request. We apologize for the inconvenience!",
        "type": "server_error",
        "param": None,
        "code": None,
    }

    def __init__(self, provider: str = "openai") -> None:
        self.provider = provider

    def is_terminator(self, event: SseEvent) -> bool:
        return event.data.strip() == "[DONE]"

    def text_of(self, event: SseEvent) -> str:
        if not event.data.startswith("{"):
            return ""
        chunk = event.json()
        if not isinstance(chunk, dict):
            return ""
        parts: list[str] = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            for key in ("content", "reasoning_content", "refusal"):
                if isinstance(delta.get(key), str):
                    parts.append(delta[key])
            for call in delta.get("tool_calls") or ():
                arguments = (call.get("function") or {}).get("arguments")
                if isinstance(arguments, str):
                    parts.append(arguments)
            if isinstance(choice.get("text"), str):  # legacy completions
                parts.append(choice["text"])
        return "".join(parts)

    def error_events(self, kind: str | None, message: str | None, newline: bytes) -> bytes:
        if kind is None:
            error = dict(self.MID_STREAM)
            if message:
                error["message"] = message
        else:
            error = _error_object(self.provider, kind, message)
        return format_event(compact({"error": error}), None, newline) + format_event("[DONE]", None, newline)


class OpenAIResponses(Dialect):
    """The Responses API: named events whose data repeats the name in `type`; no `[DONE]`."""

    name = "openai-responses"
    TERMINAL = frozenset({"response.completed", "response.failed", "response.incomplete"})

    def __init__(self, form: str = "error") -> None:
        self.form = form  # `error` (nested, the SDK raises) or `response.failed` (the SDK yields it)
        self.sequence = -1
        self.response: dict[str, Any] = {}

    def observe(self, event: SseEvent) -> None:
        if not event.data.startswith("{"):
            return
        data = event.json()
        if not isinstance(data, dict):
            return
        if isinstance(data.get("sequence_number"), int):
            self.sequence = data["sequence_number"]
        if isinstance(data.get("response"), dict):
            self.response = data["response"]

    def is_terminator(self, event: SseEvent) -> bool:
        return (event.name or "") in self.TERMINAL

    def text_of(self, event: SseEvent) -> str:
        if not (event.name or "").endswith(".delta"):
            return ""
        data = event.json()
        delta = data.get("delta") if isinstance(data, dict) else None
        return delta if isinstance(delta, str) else ""

    def error_events(self, kind: str | None, message: str | None, newline: bytes) -> bytes:
        error = _error_object("openai", kind or "overloaded", message)
        sequence = self.sequence + 1
        if self.form == "response.failed":
            response = {
                "id": self.response.get("id", "resp_brownout"),
                "object": "response",
                "created_at": self.response.get("created_at", 0),
                "status": "failed",
                "background": False,
                "error": {"code": error.get("code") or "server_error", "message": error["message"]},
                "incomplete_details": None,
                "model": self.response.get("model", ""),
                "output": [],
                "usage": None,
                "user": None,
                "metadata": {},
            }
            payload = {"type": "response.failed", "sequence_number": sequence, "response": response}
            return format_event(compact(payload), "response.failed", newline)
        # The nested form seen live: the SDK raises APIError on it (a flat one would be yielded).
        payload = {"error": error, "sequence_number": sequence, "type": "error"}
        return format_event(compact(payload), "error", newline)


class AnthropicMessages(Dialect):
    """Messages: named events (`message_start` ... `message_stop`), `ping`s between them."""

    name = "anthropic"

    def is_terminator(self, event: SseEvent) -> bool:
        return event.name == "message_stop"

    def text_of(self, event: SseEvent) -> str:
        if event.name != "content_block_delta":
            return ""
        data = event.json()
        delta = data.get("delta") if isinstance(data, dict) else None
        if not isinstance(delta, dict):
            return ""
        for key in ("text", "partial_json", "thinking"):
            if isinstance(delta.get(key), str):
                return str(delta[key])
        return ""

    def error_events(self, kind: str | None, message: str | None, newline: bytes) -> bytes:
        error = _error_object("anthropic", kind or "overloaded", message)
        # Mid-stream errors carry no request_id: the response headers already did.
        return format_event(compact({"type": "error", "error": error}), "error", newline)


class GeminiStream(Dialect):
    """`streamGenerateContent?alt=sse`: bare `data:` frames ending in CRLF CRLF, no terminator
    event; the last chunk is the one that carries a `finishReason`."""

    name = "gemini"
    newline = CRLF

    def is_terminator(self, event: SseEvent) -> bool:
        if '"finishReason"' not in event.data:
            return False
        chunk = event.json()
        return isinstance(chunk, dict) and any(c.get("finishReason") for c in chunk.get("candidates") or ())

    def text_of(self, event: SseEvent) -> str:
        if '"text"' not in event.data:
            return ""
        chunk = event.json()
        if not isinstance(chunk, dict):
            return ""
        parts: list[str] = []
        for candidate in chunk.get("candidates") or ():
            for part in (candidate.get("content") or {}).get("parts") or ():
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
        return "".join(parts)

    def error_events(self, kind: str | None, message: str | None, newline: bytes) -> bytes:
        error = _error_object("gemini", kind or "overloaded", message)
        return format_event(compact({"error": error}), None, newline)


def dialect_for(provider: str, endpoint: str, responses_form: str = "error") -> Dialect:
    """A fresh dialect for one stream of this provider and endpoint."""
    if provider == "anthropic":
        return AnthropicMessages()
    if provider == "gemini":
        return GeminiStream()
    if endpoint == "responses":
        return OpenAIResponses(responses_form)
    # OpenAI, Azure and the OpenAI-compatible servers all stream Chat Completions framing.
    return OpenAIChat("azure" if provider == "azure" else "openai")
