"""`malformed`: a 200 whose JSON body is broken, as a failing edge or a cut connection gives."""

from __future__ import annotations

from typing import ClassVar
from typing import Literal

from pydantic import Field

from brownout.classify.encoding import encode_body
from brownout.faults.base import Answer
from brownout.faults.base import Fault
from brownout.faults.base import FaultRun
from brownout.faults.base import Hangup
from brownout.faults.outcome import Outcome
from brownout.providers.base import Reply

# What a provider's success body looks like when it stops half-way: valid start, no end.
_INVALID_BODIES = {
    "anthropic": b'{"id":"msg_01Brownout","type":"message","role":"assistant","content":[{"type":"text","text":"The',
    "gemini": b'{\n  "candidates": [\n    {\n      "content": {\n        "parts": [\n          {\n'
    b'            "text": "The',
}
_INVALID_OPENAI = (
    b'{\n  "id": "chatcmpl-brownout",\n  "object": "chat.completion",\n  "choices": [\n    {\n'
    b'      "index": 0,\n      "message": {"role": "assistant", "content": "The'
)


class MalformedFault(Fault):
    type_name = "malformed"
    summary = "Answer 200 with a broken JSON body: the upstream's own body cut short, invalid JSON, or empty."

    mode: Literal["truncate", "invalid", "empty"] = "truncate"
    keep: float = Field(default=0.5, gt=0, lt=1, allow_inf_nan=False)

    # Truncation needs the upstream's body; the other modes answer at once.
    needs_upstream: ClassVar[bool] = True

    def invalid_reply(self, provider: str) -> Reply:
        body = b"" if self.mode == "empty" else _INVALID_BODIES.get(provider, _INVALID_OPENAI)
        return Reply(200, [("content-type", "application/json")], body)

    def truncated(self, body: bytes) -> bytes:
        return body[: max(1, int(len(body) * self.keep))] if body else body

    async def on_request(self, run: FaultRun) -> Reply | Hangup | None:
        # A streamed answer cannot be cut here without buffering it: answer invalid JSON instead.
        if self.mode == "truncate" and not run.info.stream:
            return None
        run.outcome = Outcome.MALFORMED_EMPTY if self.mode == "empty" else Outcome.MALFORMED_INVALID
        return self.invalid_reply(run.info.provider)

    def on_response(self, run: FaultRun, answer: Answer) -> bytes | None:
        if answer.raw is None:
            return None
        # The Injector sets a length header for the new body, so the client gets a complete HTTP
        # answer whose JSON is broken. A compressed body is decoded, cut and encoded again with
        # its own codings: cutting the compressed bytes would fail in the client's decompressor
        # (a different fault), and dropping Content-Encoding would change headers clients check.
        run.outcome = Outcome.MALFORMED_TRUNCATE
        encoding = answer.headers.get("content-encoding", "")
        if encoding and answer.content is not None and answer.content != answer.raw:
            encoded = encode_body(self.truncated(answer.content), encoding)
            if encoded is not None:
                return encoded
        return self.truncated(answer.raw)
