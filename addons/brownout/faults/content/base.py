"""What every content fault shares: armed with the request, acting on the upstream's real answer.

A content fault is a stream fault (its plan rewrites an event stream's events as they pass, never
holding the stream) that also acts on a whole JSON answer (`whole_body`). Either way it says what
to change through an `Editor`, one per answer (per choice or candidate where there are several):
the answer's text piece by piece, its tool calls, its stop reason, its usage figures. `framing`
reads and writes those in each provider's wire format, and calls the editor in the order the
parts arrive. A request the fault does not fit (`fits`: no tools offered, no JSON asked for), an
answer that is not a 200, or one with nothing to act on leaves the answer untouched, counted not
applied.
"""

from __future__ import annotations

import json
from typing import Any
from typing import ClassVar

from brownout.classify.asks import Asks
from brownout.classify.asks import asks_of
from brownout.classify.encoding import encode_body
from brownout.classify.request import RequestInfo
from brownout.classify.request import parse_json_body
from brownout.faults.base import Answer
from brownout.faults.base import FaultRun
from brownout.faults.base import Hangup
from brownout.faults.content import framing
from brownout.faults.content.editor import Editor
from brownout.faults.outcome import Outcome
from brownout.faults.stream.base import StreamFault
from brownout.faults.stream.plan import StreamPlan
from brownout.providers.base import Reply
from brownout.providers.sse import is_event_stream


class ContentFault(StreamFault):
    """Base of the content faults (not registered itself: it has no `type_name`)."""

    whole_body: ClassVar[bool] = True
    # What the run's outcome becomes once the fault changed the answer.
    applied: ClassVar[Outcome] = Outcome.NONE

    def fits(self, info: RequestInfo, asks: Asks) -> bool:
        """Whether this request's answer is one the fault can spoil (most fit every request)."""
        return True

    def editor(self, asks: Asks) -> Editor:
        """A fresh editor for one answer (or one choice of it)."""
        raise NotImplementedError

    async def on_request(self, run: FaultRun) -> Reply | Hangup | None:
        asks = asks_of(run.info.provider, run.info.endpoint, parse_json_body(run.body))
        run.state = asks
        run.outcome = Outcome.ARMED if self.fits(run.info, asks) else Outcome.NOT_APPLIED
        return None

    def _asks(self, run: FaultRun) -> Asks:
        return run.state if isinstance(run.state, Asks) else Asks()

    def on_response(self, run: FaultRun, answer: Answer) -> bytes | None:
        if run.outcome != Outcome.ARMED:
            return None
        if answer.streamed or answer.raw is None:
            # An event stream is the plan's; a streamed answer that is not one (Gemini's JSON
            # array without `alt=sse`) cannot be edited without holding it whole.
            if not is_event_stream(answer.headers.get("content-type", "")):
                run.outcome = Outcome.NOT_APPLIED
            return None
        content = answer.content if answer.content is not None else answer.raw
        body = _json_object(content) if answer.status == 200 else None
        edits = framing.body_framing(run.info)
        if body is None or edits is None:
            run.outcome = Outcome.NOT_APPLIED
            return None
        asks = self._asks(run)
        if not edits(body, lambda: self.editor(asks)):
            run.outcome = Outcome.NOT_APPLIED
            return None
        run.outcome = self.applied
        # The body keeps its look (providers' pretty-printed bodies stay pretty-printed) and its
        # content codings, as `malformed` keeps them.
        pretty = b"\n" in content[:4]
        edited = json.dumps(body, indent=2 if pretty else None, ensure_ascii=False).encode()
        encoding = answer.headers.get("content-encoding", "")
        if encoding and answer.content is not None and answer.content != answer.raw:
            encoded = encode_body(edited, encoding)
            if encoded is None:
                run.outcome = Outcome.NOT_APPLIED
                return None
            return encoded
        return edited

    def plan(self, info: RequestInfo) -> StreamPlan:
        return framing.stream_plan(info, lambda: self.editor(Asks()), self.applied)

    def plan_run(self, run: FaultRun) -> StreamPlan:
        if run.outcome != Outcome.ARMED:
            return framing.untouched()
        asks = self._asks(run)
        return framing.stream_plan(run.info, lambda: self.editor(asks), self.applied)


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None
