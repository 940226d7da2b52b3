"""What every content fault shares: armed with the request, acting on the upstream's real answer.

A content fault is a stream fault (its plan rewrites an event stream's events as they pass, never
holding the stream) that also acts on a whole JSON answer (`whole_body`). Either way it says what
to change through an `Editor`, one per answer: the answer's text piece by piece, its tool calls,
its stop reason, its usage figures. `framing` reads and writes those in each provider's wire
format. A request the fault does not fit (`fits`: no tools offered, no JSON asked for), an answer
that is not a 200, or one with nothing to act on leaves the answer untouched, counted not applied.
"""

from __future__ import annotations

from typing import ClassVar

from brownout.classify.asks import Asks
from brownout.classify.asks import read_asks
from brownout.classify.request import RequestInfo
from brownout.faults.base import FaultRun
from brownout.faults.base import Hangup
from brownout.faults.outcome import Outcome
from brownout.faults.stream.base import StreamFault
from brownout.providers.base import Reply


class ContentFault(StreamFault):
    """Base of the content faults (not registered itself: it has no `type_name`)."""

    whole_body: ClassVar[bool] = True
    # What the run's outcome becomes once the fault changed the answer.
    applied: ClassVar[Outcome] = Outcome.NONE

    def fits(self, info: RequestInfo, asks: Asks) -> bool:
        """Whether this request's answer is one the fault can spoil (most fit every request)."""
        return True

    async def on_request(self, run: FaultRun) -> Reply | Hangup | None:
        asks = read_asks(run.info, run.body)
        run.state = asks
        run.outcome = Outcome.ARMED if self.fits(run.info, asks) else Outcome.NOT_APPLIED
        return None
