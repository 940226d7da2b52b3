"""An unreachable upstream, made unmistakable: brownout's labelled 502 (see
`brownout.providers.upstream`), one log line per upstream and cause, and
`brownout_upstream_errors_total`, apart from the injected faults.

Only the AI-API requests brownout routed or recognised get this answer; any other flow through
the forward port keeps mitmproxy's own error page.
"""

from __future__ import annotations

import contextlib
import logging

from mitmproxy import http

from brownout.engine.state import Brownout
from brownout.mitm import upstream_answer
from brownout.mitm.flows import response_of
from brownout.providers.upstream import upstream_cause
from brownout.providers.upstream import upstream_error_reply

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}


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

    def done(self) -> None:
        with contextlib.suppress(ValueError):
            upstream_answer.answerers.remove(self.answer)

    def answer(self, flow: http.HTTPFlow, message: str) -> http.Response | None:
        here = self.state.flows.get(flow)
        if here is None or not here.provider:
            return None  # not an AI-API request: mitmproxy's own page
        upstream = upstream_of(flow.request)
        cause = upstream_cause(message)
        provider = here.info.provider if here.info is not None else here.provider
        reply = upstream_error_reply(provider, upstream, message)
        self.state.metrics.upstream_errors.labels(provider=provider, cause=cause).inc()
        if (upstream, cause) not in self._logged:
            self._logged.add((upstream, cause))
            log.warning(
                "brownout: cannot reach upstream %s for %s (%s: %s); clients get brownout's 502 "
                "(x-brownout: upstream-error). Logged once per upstream and cause; "
                "brownout_upstream_errors_total counts them.",
                upstream,
                provider,
                cause,
                message,
            )
        flow.metadata["brownout_upstream_error"] = cause
        return response_of(reply)
