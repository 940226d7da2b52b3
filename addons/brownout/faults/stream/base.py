"""What every stream fault shares: decided with the request, acting on the event stream.

A stream fault is chosen in the `request` hook like any fault (so the upstream is asked for an
uncompressed body), and acts once the response headers show an event stream: it hands a
`StreamPlan` for this flow to `brownout.streams`, which relays the body through it. Applied to a
response that is not an event stream (an error status, a JSON body), a stream fault does nothing
and the flow passes through untouched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import ClassVar

from brownout.classify.request import RequestInfo
from brownout.faults.base import Fault
from brownout.faults.base import FaultRun
from brownout.faults.stream.plan import StreamPlan
from brownout.providers import sse

if TYPE_CHECKING:
    from mitmproxy import http


class StreamFault(Fault):
    """Base of the `stream_*` faults (not registered itself: it has no `type_name`)."""

    needs_upstream: ClassVar[bool] = True

    def plan(self, info: RequestInfo) -> StreamPlan:
        """A fresh plan for one stream of this request."""
        raise NotImplementedError

    def dialect(self, info: RequestInfo) -> sse.Dialect:
        return sse.dialect_for(info.provider, info.endpoint)

    async def on_request(self, flow: http.HTTPFlow, run: FaultRun) -> None:
        # The plan reads events, so the body must come back uncompressed. Pass-through flows
        # keep their headers as they are.
        if run.info.stream:
            flow.request.anticomp()
        run.outcome = "armed"

    def on_responseheaders(self, flow: http.HTTPFlow, run: FaultRun) -> None:
        from brownout.hooks.streams import arm

        arm(flow, self, run)
