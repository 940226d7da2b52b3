"""Relay event streams: through a stream fault's plan when one acts on the flow, untouched
otherwise, and count what the client received (events, time to first event, how each ended).

Runs after the Injector, which chose the fault. When the response headers show an event stream,
this hook asks the flow's stream fault for a plan and relays the body through a `PlanRelay`
(which the patched HTTP layer takes over, so holds and cuts happen on time); pass-through event
streams get a stream function that only counts events, so their bytes and timing are the
upstream's. With the relay's patch off (a mitmproxy it does not fit), plans run as a plain stream
function: their content changes still apply, their timing (holds) does not, and a cut or an early
end drops the rest of the body instead of ending the connection at once.
"""

from __future__ import annotations

import logging

from mitmproxy import http

from brownout.engine.flows import StreamSession
from brownout.engine.state import Brownout
from brownout.faults.outcome import Outcome
from brownout.faults.outcome import stream_end
from brownout.faults.stream.base import StreamFault
from brownout.hooks.upstream_errors import UPSTREAM_ERROR
from brownout.metrics.registry import families
from brownout.metrics.streams import StreamMetrics
from brownout.mitm import compat
from brownout.mitm.flows import publish
from brownout.mitm.flows import streams_events
from brownout.mitm.relay import PlanRelay
from brownout.mitm.relay import cut_by_us
from brownout.mitm.streamfn import previous
from brownout.mitm.streamfn import watch_sent

log = logging.getLogger(__name__)


class Streams:
    def __init__(self, state: Brownout) -> None:
        self.state = state
        self.metrics = families(state.metrics.registry, StreamMetrics)
        self.adapter = compat.Status(False, "not loaded")

    def load(self, loader: object) -> None:
        self.adapter = compat.install()
        self.metrics.adapter.set(1 if self.adapter.enabled else 0)
        if not self.adapter.enabled:
            log.warning(
                "brownout: time-based stream faults are off (stream_slow, stream_stall and cuts run content-only): %s",
                self.adapter.reason,
            )

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        assert response is not None
        here = self.state.flows.of(flow)
        fault = here.decision.fault if here.decision is not None else None
        if not isinstance(fault, StreamFault) or here.run is None:
            fault = None
        elif not streams_events(response) and fault.whole_body:
            fault = None  # a content fault edits a JSON body once it is in (Injector.response)
        elif not streams_events(response) or not _uncompressed(response, fault.type_name):
            # An error status or a JSON body: nothing to break mid-stream.
            here.run.outcome = Outcome.NOT_APPLIED
            here.armed = False
            fault = None
        if not streams_events(response):
            return
        provider, endpoint, _ = here.labels()
        events = self.metrics.events.labels(provider=provider, endpoint=endpoint)
        session = here.stream = StreamSession(count_events=events.inc)
        if fault is None or here.run is None:
            watch_sent(response, session.sent)
            return
        if "content-length" in response.headers:
            # The plan may change the body's length; the framing must not promise one.
            del response.headers["content-length"]
        session.plan = fault.plan_run(here.run)
        fault_errors = self.state.metrics.fault_errors.labels(fault=fault.type_name)
        response.stream = PlanRelay(session.plan, session.sent, fault_errors.inc, before=previous(response))
        session.relay = "adapter" if compat.status().enabled else "callable"

    def response(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    def _finish(self, flow: http.HTTPFlow) -> None:
        here = self.state.flows.get(flow)
        if here is None or here.stream is None or flow.response is None:
            return
        session, here.stream = here.stream, None
        session.report()
        provider, endpoint, _ = here.labels()
        if session.first_event_at is not None:
            self.metrics.first_event.labels(provider=provider, endpoint=endpoint).observe(
                max(0.0, session.first_event_at - flow.request.timestamp_start)
            )
        plan_outcome = session.plan.outcome if session.plan is not None else Outcome.NONE
        if plan_outcome and here.run is not None:
            here.run.outcome = plan_outcome  # what the fault did, for the observer, the Recorder and mitmweb
            publish(flow, here)
        error = flow.error.msg if flow.error is not None else None
        end = stream_end(plan_outcome, error, cut_by_us(error), upstream_broke=UPSTREAM_ERROR in flow.metadata)
        self.metrics.streams.labels(provider=provider, endpoint=endpoint, outcome=end).inc()


def _uncompressed(response: http.Response, fault: str) -> bool:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return True
    log.warning("brownout: %s not applied: the upstream compressed the stream (%s)", fault, encoding)
    return False
