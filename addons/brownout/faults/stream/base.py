"""What every stream fault shares: decided with the request, acting on the event stream.

A stream fault is chosen in the `request` hook like any fault, and asks for an uncompressed
answer (`plain_answer`), because its plan reads the events. Once the response headers show an
event stream, the Streams hook asks the fault for a `StreamPlan` and relays the body through it.
On an answer that is not an event stream (an error status, a JSON body) the Streams hook marks
the fault not applied and the flow passes through untouched.
"""

from __future__ import annotations

from typing import ClassVar

from brownout.classify.request import RequestInfo
from brownout.faults.base import Fault
from brownout.faults.base import FaultRun
from brownout.faults.base import Hangup
from brownout.faults.outcome import Outcome
from brownout.faults.stream.plan import StreamPlan
from brownout.providers import dialects
from brownout.providers.base import Reply


class StreamFault(Fault):
    """Base of the `stream_*` faults (not registered itself: it has no `type_name`)."""

    needs_upstream: ClassVar[bool] = True
    plain_answer: ClassVar[bool] = True
    # Also acts on an answer that is not an event stream (a JSON body), in `on_response`.
    whole_body: ClassVar[bool] = False

    def plan(self, info: RequestInfo) -> StreamPlan:
        """A fresh plan for one stream of this request."""
        raise NotImplementedError

    def plan_run(self, run: FaultRun) -> StreamPlan:
        """The plan for this run's stream (faults that read the request's body override it)."""
        return self.plan(run.info)

    def dialect(self, info: RequestInfo) -> dialects.Dialect:
        return dialects.dialect_for(info.provider, info.endpoint)

    async def on_request(self, run: FaultRun) -> Reply | Hangup | None:
        run.outcome = Outcome.ARMED
        return None
