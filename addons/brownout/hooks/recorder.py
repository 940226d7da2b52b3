"""Count every request brownout relays or answers: rate, status, duration, time to first byte."""

from __future__ import annotations

import time

from mitmproxy import http

from brownout.engine.flows import UNKNOWN
from brownout.engine.flows import FlowState
from brownout.engine.state import Brownout
from brownout.faults.outcome import NO_ANSWER
from brownout.faults.outcome import Outcome

# An attempt that ended without a status is counted under what happened to it (the `code` label).
_CODED = NO_ANSWER | {Outcome.ABANDONED}


class Recorder:
    def __init__(self, state: Brownout) -> None:
        self.state = state
        self._inflight: dict[str, str] = {}  # flow id -> provider label it was counted under

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        here = self.state.flows.get(flow)
        provider = here.provider if here is not None and here.provider else UNKNOWN
        self._inflight[flow.id] = provider
        self.state.metrics.inflight.labels(provider=provider).inc()

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        self._first_byte(flow, self.state.flows.of(flow))

    def response(self, flow: http.HTTPFlow) -> None:
        assert flow.response is not None
        here = self.state.flows.of(flow)
        self._first_byte(flow, here)
        self._finish(flow, here, str(flow.response.status_code), flow.response.timestamp_end or time.time())

    def error(self, flow: http.HTTPFlow) -> None:
        here = self.state.flows.of(flow)
        outcome = here.outcome
        code = str(outcome) if outcome in _CODED else "error"
        if flow.response is not None and code == "error":
            code = "aborted"  # headers went out, the body did not finish (a stream cut, too)
        self._finish(flow, here, code, time.time())

    def _first_byte(self, flow: http.HTTPFlow, here: FlowState) -> None:
        if flow.response is None or here.ttfb is not None:
            return
        provider, endpoint, _ = here.labels()
        here.ttfb = ttfb = max(0.0, flow.response.timestamp_start - flow.request.timestamp_start)
        self.state.metrics.ttfb.labels(provider=provider, endpoint=endpoint).observe(ttfb)

    def _finish(self, flow: http.HTTPFlow, here: FlowState, code: str, end: float) -> None:
        counted_under = self._inflight.pop(flow.id, None)
        if counted_under is None:
            return  # already finished (an error after the response, e.g. a late disconnect)
        metrics = self.state.metrics
        metrics.inflight.labels(provider=counted_under).dec()
        provider, endpoint, model = here.labels()
        metrics.requests.labels(provider=provider, endpoint=endpoint, model=metrics.models(model), code=code).inc()
        metrics.duration.labels(provider=provider, endpoint=endpoint).observe(
            max(0.0, end - flow.request.timestamp_start)
        )
