"""Count every request brownout relays or answers: rate, status, duration, time to first byte."""

from __future__ import annotations

import time

from mitmproxy import http

from brownout.engine.state import Brownout

UNKNOWN = "unknown"


def _labels(flow: http.HTTPFlow) -> tuple[str, str, str]:
    meta = flow.metadata.get("brownout", {})
    return meta.get("provider", UNKNOWN), meta.get("endpoint", "other"), meta.get("model", "")


class Recorder:
    def __init__(self, state: Brownout) -> None:
        self.state = state
        self._inflight: dict[str, str] = {}  # flow id -> provider label it was counted under

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        provider = flow.metadata.get("brownout", {}).get("provider", UNKNOWN)
        self._inflight[flow.id] = provider
        self.state.metrics.inflight.labels(provider=provider).inc()

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        self._first_byte(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        assert flow.response is not None
        self._first_byte(flow)
        self._finish(flow, str(flow.response.status_code), flow.response.timestamp_end or time.time())

    def error(self, flow: http.HTTPFlow) -> None:
        outcome = flow.metadata.get("brownout", {}).get("outcome", "")
        code = outcome if outcome in ("reset", "timeout", "empty_reply", "abandoned") else "error"
        if flow.response is not None and code == "error":
            code = "aborted"  # headers went out, the body did not finish (a stream cut, too)
        self._finish(flow, code, time.time())

    def _first_byte(self, flow: http.HTTPFlow) -> None:
        meta = flow.metadata.setdefault("brownout", {})
        if flow.response is None or "ttfb" in meta:
            return
        provider, endpoint, _ = _labels(flow)
        ttfb = max(0.0, flow.response.timestamp_start - flow.request.timestamp_start)
        meta["ttfb"] = ttfb
        self.state.metrics.ttfb.labels(provider=provider, endpoint=endpoint).observe(ttfb)

    def _finish(self, flow: http.HTTPFlow, code: str, end: float) -> None:
        counted_under = self._inflight.pop(flow.id, None)
        if counted_under is None:
            return  # already finished (an error after the response, e.g. a late disconnect)
        metrics = self.state.metrics
        metrics.inflight.labels(provider=counted_under).dec()
        provider, endpoint, model = _labels(flow)
        metrics.requests.labels(provider=provider, endpoint=endpoint, model=metrics.models(model), code=code).inc()
        metrics.duration.labels(provider=provider, endpoint=endpoint).observe(
            max(0.0, end - flow.request.timestamp_start)
        )
