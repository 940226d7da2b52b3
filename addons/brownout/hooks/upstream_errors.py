"""A failing upstream, made unmistakable: brownout's labelled 502, or 504 for a timeout (see
`brownout.providers.upstream`), one log line per upstream and cause, and
`brownout_upstream_errors_total`, apart from the injected faults.

It answers an upstream that cannot be reached or closes without answering (through
`brownout.mitm.upstream_answer`), and one that runs out of brownout's time limits (through
`brownout.mitm.upstream_timeouts`: a connect or first-byte timeout gets the 504, a stream that
goes idle ends with the provider's mid-stream error event). Only the AI-API requests brownout
routed or recognised get this answer; any other flow through the forward port keeps mitmproxy's
own error page.
"""

from __future__ import annotations

import contextlib
import logging

from mitmproxy import http

from brownout.engine.state import Brownout
from brownout.mitm import upstream_answer
from brownout.mitm import upstream_timeouts
from brownout.mitm.flows import response_of
from brownout.mitm.flows import streams_events
from brownout.providers.upstream import STREAM_IDLE
from brownout.providers.upstream import stream_idle_events
from brownout.providers.upstream import upstream_cause
from brownout.providers.upstream import upstream_error_reply

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}
# flow.metadata key: the cause, for the metrics and the observer (a labelled answer, or a stream
# brownout ended because its upstream went idle).
UPSTREAM_ERROR = "brownout_upstream_error"


def upstream_of(request: http.Request) -> str:
    """`scheme://host[:port]` the request was sent to."""
    port = "" if DEFAULT_PORTS.get(request.scheme) == request.port else f":{request.port}"
    return f"{request.scheme}://{request.host}{port}"


class UpstreamErrors:
    def __init__(self, state: Brownout) -> None:
        self.state = state
        self._logged: set[tuple[str, str]] = set()

    def running(self) -> None:
        if upstream_answer.install() and self.answer not in upstream_answer.answerers:
            upstream_answer.answerers.append(self.answer)
        upstream_timeouts.timeouts.stream_idle_end = self.stream_idle_end

    def done(self) -> None:
        with contextlib.suppress(ValueError):
            upstream_answer.answerers.remove(self.answer)

    def answer(self, flow: http.HTTPFlow, message: str) -> http.Response | None:
        here = self.state.flows.get(flow)
        if here is None or not here.provider:
            return None  # not an AI-API request: mitmproxy's own page
        address = (flow.request.host, flow.request.port)
        # A TLS handshake cut at brownout's connect deadline reports only "connection closed".
        timed_out = upstream_timeouts.connect_timer.why_failed(flow.client_conn.id, address)
        detail = timed_out or message
        cause = "timeout" if timed_out else upstream_cause(message)
        provider = here.info.provider if here.info is not None else here.provider
        upstream = upstream_of(flow.request)
        reply = upstream_error_reply(provider, upstream, detail, cause)
        self._note(flow, provider, upstream, cause, detail)
        return response_of(reply)

    def stream_idle_end(self, flow: http.HTTPFlow, seconds: float) -> bytes:
        """The end of a stream whose upstream sent nothing for `seconds`: counted, logged, and the
        provider's mid-stream error event when the answer is an event stream."""
        here = self.state.flows.get(flow)
        if here is None or not here.provider:
            return b""
        provider = here.info.provider if here.info is not None else here.provider
        endpoint = here.info.endpoint if here.info is not None else "other"
        upstream = upstream_of(flow.request)
        detail = f"nothing for {seconds:.0f} s mid-answer (brownout's idle-stream timeout)"
        self._note(flow, provider, upstream, STREAM_IDLE, detail)
        if flow.response is None or not streams_events(flow.response):
            return b""
        return stream_idle_events(provider, endpoint, upstream, detail)

    def _note(self, flow: http.HTTPFlow, provider: str, upstream: str, cause: str, detail: str) -> None:
        self.state.metrics.upstream_errors.labels(provider=provider, cause=cause).inc()
        flow.metadata[UPSTREAM_ERROR] = cause
        if (upstream, cause) in self._logged:
            return
        self._logged.add((upstream, cause))
        if cause == STREAM_IDLE:
            what, answer = "upstream %s went idle mid-answer", "streams end with the provider's error event"
        elif cause == "timeout":
            what, answer = "upstream %s timed out", "clients get brownout's 504 (x-brownout: upstream-error)"
        elif cause == "closed":
            what, answer = (
                "upstream %s closed without answering",
                "clients get brownout's 502 (x-brownout: upstream-error)",
            )
        else:
            what, answer = "cannot reach upstream %s", "clients get brownout's 502 (x-brownout: upstream-error)"
        log.warning(
            f"brownout: {what} for %s (%s: %s); {answer}. Logged once per upstream and cause; "
            "brownout_upstream_errors_total counts them.",
            upstream,
            provider,
            cause,
            detail,
        )
