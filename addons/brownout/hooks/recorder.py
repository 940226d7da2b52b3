"""Count every request brownout relays or answers: rate, status, duration, time to first byte."""

from __future__ import annotations

import time

from mitmproxy import http

from brownout.engine.flows import UNKNOWN
from brownout.engine.flows import FlowState
from brownout.engine.state import Brownout
from brownout.hooks.upstream_errors import UPSTREAM_ERROR
from brownout.metrics.proxy import ended_code
from brownout.mitm.relay import cut_by_us
from brownout.mitm.upstream_answer import ERROR_STATUS

# mitmproxy's messages when the client side went away (HTTP/1 close, HTTP/2 stream reset).
CLIENT_GONE = ("Client disconnected", "stream reset by client")


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
        message = flow.error.msg if flow.error is not None else ""
        status = flow.metadata.get(ERROR_STATUS)
        code = ended_code(
            here.outcome,
            client_left=message.startswith(CLIENT_GONE),
            answer_started=flow.response is not None,  # headers went out, the body did not finish
            cut_by_fault=cut_by_us(message),
            error_status=status if isinstance(status, int) else None,
            upstream_broke=UPSTREAM_ERROR in flow.metadata,
        )
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
