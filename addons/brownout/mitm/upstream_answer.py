"""Answer a failed upstream with a response of brownout's own, in place of mitmproxy's generic
HTML 502.

mitmproxy builds that page inside its HTTP/1 and HTTP/2 layers, after the `error` hook, so no
addon hook can replace it. `install()` wraps `HttpStream.handle_protocol_error` (once per
process, only on a mitmproxy whose HTTP layer has the shape checked below): when the upstream
failed before its answer began (the connection could not be opened, or it closed or sent
garbage instead of an answer), the request is complete and no answer has gone out, it asks the
registered answerers for a response; the first one that gives one is sent the way mitmproxy
sends an addon's inline answer (the `responseheaders` and `response` hooks run, then the
bytes). Every other protocol error, and a flow no answerer claims, goes to mitmproxy's own code;
where that code is about to send the client an error page, the page's status is kept in
`flow.metadata[ERROR_STATUS]`, so the metrics count what the client got (its `error` hook sees
no response).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from collections.abc import Generator
from typing import Any

from mitmproxy import http
from mitmproxy.proxy import commands
from mitmproxy.proxy.layers import http as layers_http
from mitmproxy.proxy.layers.http import _events as http_events

from brownout.mitm.compat import OncePatch
from brownout.mitm.compat import patch_method
from brownout.mitm.compat import tested_version
from brownout.mitm.compat import untested_version

log = logging.getLogger(__name__)

Answerer = Callable[[http.HTTPFlow, str], "http.Response | None"]
CommandGenerator = Generator[commands.Command, Any, None]

answerers: list[Answerer] = []
ERROR_STATUS = "brownout_error_status"
# The upstream failed before its answer began; mitmproxy would send its 502 page.
_ANSWERED_CODES = ("CONNECT_FAILED", "GENERIC_SERVER_ERROR")


def check() -> list[str]:
    """What in the installed mitmproxy does not fit the patch (empty: it fits)."""
    problems: list[str] = []
    stream_cls = getattr(layers_http, "HttpStream", None)
    if stream_cls is None:
        return ["mitmproxy.proxy.layers.http.HttpStream is gone"]
    handle = getattr(stream_cls, "handle_protocol_error", None)
    if handle is None or not callable(handle):
        problems.append("HttpStream.handle_protocol_error is missing")
    elif not getattr(handle, "__brownout__", False):
        if list(inspect.signature(handle).parameters) != ["self", "event"]:
            problems.append(f"HttpStream.handle_protocol_error{inspect.signature(handle)} takes other arguments")
        elif not inspect.isgeneratorfunction(handle):
            problems.append("HttpStream.handle_protocol_error is no longer a generator")
    for name in ("send_response", "check_killed", "state_done", "make_server_connection"):
        if not callable(getattr(stream_cls, name, None)):
            problems.append(f"HttpStream.{name} is missing")
    connect = getattr(stream_cls, "make_server_connection", None)
    if connect is not None and "CONNECT_FAILED" not in inspect.getsource(connect):
        problems.append("HttpStream.make_server_connection no longer reports CONNECT_FAILED")
    if not hasattr(layers_http, "HttpResponseHeadersHook"):
        problems.append("HttpResponseHeadersHook is gone")
    error_code = getattr(http_events, "ErrorCode", None)
    if error_code is None or not all(hasattr(error_code, code) for code in _ANSWERED_CODES):
        problems.append(f"ErrorCode.{' / ErrorCode.'.join(_ANSWERED_CODES)} are gone")
    elif not callable(getattr(error_code.CONNECT_FAILED, "http_status_code", None)):
        problems.append("ErrorCode.http_status_code is gone")
    if not hasattr(http_events, "ResponseProtocolError"):
        problems.append("ResponseProtocolError is gone")
    if not tested_version():
        problems.append(untested_version())
    return problems


def _apply() -> None:
    patch_method(layers_http.HttpStream, "handle_protocol_error", _patched)


_patch = OncePatch(
    check, _apply, "brownout: an unreachable upstream gets mitmproxy's own 502 page, not brownout's labelled one"
)


def install() -> bool:
    """Patch mitmproxy once per process if it fits; False (and a warning) when it does not."""
    return _patch.install()


def answer_for(flow: http.HTTPFlow, message: str) -> http.Response | None:
    for answerer in list(answerers):
        try:
            response = answerer(flow, message)
        except Exception:  # an answerer's bug must not take the connection down with it
            log.exception("brownout: answering an upstream error failed; mitmproxy's 502 goes out")
            continue
        if response is not None:
            return response
    return None


def _patched(original: Callable[[Any, Any], CommandGenerator]) -> Callable[[Any, Any], CommandGenerator]:
    answered = tuple(getattr(http_events.ErrorCode, code) for code in _ANSWERED_CODES)

    def handle_protocol_error(self: Any, event: Any) -> CommandGenerator:
        if isinstance(event, http_events.ResponseProtocolError) and self.flow.response is None:
            if event.code in answered and self.client_state == self.state_done:
                response = answer_for(self.flow, event.message)
                if response is not None:
                    self.flow.response = response
                    yield layers_http.HttpResponseHeadersHook(self.flow)
                    if (yield from self.check_killed(True)):
                        return
                    yield from self.send_response()
                    # Whatever the failed upstream still reports is refused by state_done; errored swallows it.
                    self.server_state = self.state_errored
                    return
            status = event.code.http_status_code()
            if status is not None and self.client_state != self.state_errored:
                self.flow.metadata[ERROR_STATUS] = status  # mitmproxy's page is what the client gets
        yield from original(self, event)

    handle_protocol_error.__wrapped__ = original  # type: ignore[attr-defined]
    return handle_protocol_error
