"""Each provider's event stream: its line ending, which event ends a stream (`[DONE]`,
`message_stop`, ...), what text an event carries (for pacing in tokens), and the exact error
event the provider sends when it fails mid-stream (`reference/providers.md` §1.4, §1.5, §3.3,
§4.2). Pure: no mitmproxy, no I/O.
"""

from __future__ import annotations

import json
from typing import Any

from brownout.providers import error_reply
from brownout.providers.base import ErrorOptions
from brownout.providers.sse import CRLF
from brownout.providers.sse import LF
from brownout.providers.sse import SseEvent
from brownout.providers.sse import compact
from brownout.providers.sse import format_event


class Dialect:
    """One provider's event stream. Instances are per stream (some track ids as they pass)."""

    name = "generic"
    newline = LF

    def observe(self, event: SseEvent) -> None:
        """See an event the client received (dialects that need ids or sequence numbers)."""

    def is_terminator(self, event: SseEvent) -> bool:
        return False

    def ends_answer(self, event: SseEvent) -> bool:
        """The event says the answer is complete: the terminator, or a finish (stop) reason."""
        return self.is_terminator(event)

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

    def ends_answer(self, event: SseEvent) -> bool:
        if self.is_terminator(event):
            return True
        if '"finish_reason"' not in event.data:
            return False
        chunk = event.json()
        return isinstance(chunk, dict) and any(
            isinstance(choice, dict) and choice.get("finish_reason") for choice in chunk.get("choices") or ()
        )

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


# The codes openai's `ResponseError` allows in `response.failed` (openai 3.54
# `types/responses/response_error.py`, a Literal); any other code there fails the SDK's type.
RESPONSE_ERROR_CODES = frozenset(
    {
        "server_error",
        "rate_limit_exceeded",
        "invalid_prompt",
        "data_residency_mismatch",
        "bio_policy",
        "vector_store_timeout",
        "invalid_image",
        "invalid_image_format",
        "invalid_base64_image",
        "invalid_image_url",
        "image_too_large",
        "image_too_small",
    }
)


class OpenAIResponses(Dialect):
    """The Responses API: named events whose data repeats the name in `type`; no `[DONE]`."""

    name = "openai-responses"
    TERMINAL = frozenset({"response.completed", "response.failed", "response.incomplete"})

    def __init__(self, form: str = "error") -> None:
        # `error`: the `error` event (nested: the SDK raises), then `response.failed`, as a failing
        # stream sends them (issue 15); `response.failed`: that event alone (the SDK yields it).
        self.form = form
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
        failed = self._failed(error, sequence + (self.form == "error"), newline)
        if self.form == "response.failed":
            return failed
        # The nested form seen live: the SDK raises APIError on it (a flat one would be yielded).
        payload = {"error": error, "sequence_number": sequence, "type": "error"}
        return format_event(compact(payload), "error", newline) + failed

    def _failed(self, error: dict[str, Any], sequence: int, newline: bytes) -> bytes:
        code = error.get("code")
        response = {
            "id": self.response.get("id", "resp_brownout"),
            "object": "response",
            "created_at": self.response.get("created_at", 0),
            "status": "failed",
            "background": False,
            "error": {"code": code if code in RESPONSE_ERROR_CODES else "server_error", "message": error["message"]},
            "incomplete_details": None,
            "model": self.response.get("model", ""),
            "output": [],
            "usage": None,
            "user": None,
            "metadata": {},
        }
        payload = {"type": "response.failed", "sequence_number": sequence, "response": response}
        return format_event(compact(payload), "response.failed", newline)


class AnthropicMessages(Dialect):
    """Messages: named events (`message_start` ... `message_stop`), `ping`s between them."""

    name = "anthropic"

    def is_terminator(self, event: SseEvent) -> bool:
        return event.name == "message_stop"

    def ends_answer(self, event: SseEvent) -> bool:
        if self.is_terminator(event):
            return True
        if event.name != "message_delta":
            return False
        data = event.json()
        delta = data.get("delta") if isinstance(data, dict) else None
        return isinstance(delta, dict) and bool(delta.get("stop_reason"))

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
        body = json.loads(error_reply("anthropic", ErrorOptions(kind=kind or "overloaded", message=message)).body)
        # The error event carries the envelope whole, `request_id` too (docs' streaming page:
        # `{"type":"error","error":{...}}`; the SDK reads `request_id` from the body it parses).
        return format_event(compact(body), "error", newline)


class GeminiStream(Dialect):
    """`streamGenerateContent?alt=sse`: bare `data:` frames ending in CRLF CRLF, no terminator
    event; the last chunk is the one that carries a `finishReason`."""

    name = "gemini"
    newline = CRLF

    def __init__(self, framing: str = "event") -> None:
        # `event`: a `data:` frame like the chunks; `raw_json`: the error body itself after the
        # chunks, no `data:` prefix, as Gemini sheds a stream under load. google-genai reads both
        # (`_api_client.py`: "When API returns an error message, it comes line by line", braces
        # balanced); a plain SSE parser sees no event in the second.
        self.framing = framing

    def is_terminator(self, event: SseEvent) -> bool:
        if '"finishReason"' not in event.data:
            return False
        chunk = event.json()
        return isinstance(chunk, dict) and any(c.get("finishReason") for c in chunk.get("candidates") or ())

    def text_of(self, event: SseEvent) -> str:
        # A function call arrives whole in one part; its arguments are what the model generated
        # (as OpenAI's `tool_calls` argument deltas and Anthropic's `partial_json` are).
        if '"text"' not in event.data and '"functionCall"' not in event.data:
            return ""
        chunk = event.json()
        if not isinstance(chunk, dict):
            return ""
        parts: list[str] = []
        for candidate in chunk.get("candidates") or ():
            for part in (candidate.get("content") or {}).get("parts") or ():
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
                elif isinstance(part.get("functionCall"), dict):
                    parts.append(json.dumps(part["functionCall"].get("args") or {}, separators=(",", ":")))
        return "".join(parts)

    def error_events(self, kind: str | None, message: str | None, newline: bytes) -> bytes:
        if self.framing == "raw_json":
            return error_reply("gemini", ErrorOptions(kind=kind or "overloaded", message=message)).body + newline
        error = _error_object("gemini", kind or "overloaded", message)
        return format_event(compact({"error": error}), None, newline)


def dialect_for(provider: str, endpoint: str, responses_form: str = "error", gemini_framing: str = "event") -> Dialect:
    """A fresh dialect for one stream of this provider and endpoint."""
    if provider == "anthropic":
        return AnthropicMessages()
    if provider == "gemini":
        return GeminiStream(gemini_framing)
    if endpoint == "responses":
        return OpenAIResponses(responses_form)
    # OpenAI, Azure and the OpenAI-compatible servers all stream Chat Completions framing.
    return OpenAIChat("azure" if provider == "azure" else "openai")
