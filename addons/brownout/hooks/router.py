"""Route requests on brownout's listener by path prefix (`/openai`, `/anthropic`, ...)."""

from __future__ import annotations

import json
import logging

from mitmproxy import http
from mitmproxy.net.http import url
from mitmproxy.proxy.mode_specs import ReverseMode

from brownout.classify.request import guess_provider
from brownout.classify.request import platform_provider
from brownout.classify.request import provider_for_host
from brownout.classify.routing import RoutingError
from brownout.classify.routing import Target
from brownout.engine.flows import FlowState
from brownout.engine.state import Brownout
from brownout.mitm.flows import answer
from brownout.mitm.flows import publish
from brownout.providers.base import Reply

log = logging.getLogger(__name__)

# The reverse-mode target of brownout's own listener. Every request there is routed by its path
# prefix; one that matches no prefix is answered 404 and never sent here.
UNROUTED = "http://unrouted.brownout.invalid:9"


def _json_reply(status: int, message: str) -> Reply:
    body = json.dumps({"error": {"message": message, "type": "brownout_routing_error"}}).encode()
    return Reply(status, [("content-type", "application/json"), ("x-brownout", "routing")], body)


class Router:
    def __init__(self, state: Brownout) -> None:
        self.state = state

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        here = self.state.flows.of(flow)
        mode = flow.client_conn.proxy_mode
        # Prefixes route only on brownout's own listener; in a user's own reverse or forward mode
        # the path and the upstream are theirs.
        if isinstance(mode, ReverseMode) and mode.data == UNROUTED:
            try:
                target = self.state.routes.resolve(flow.request.path)
            except RoutingError as exc:
                answer(flow, _json_reply(400, str(exc)))
                return
            if target is None:
                prefixes = ", ".join(self.state.routes.prefixes())
                message = f"brownout: no upstream for {flow.request.path!r}; path prefixes: {prefixes}"
                answer(flow, _json_reply(404, message))
                return
            _send(flow, here, target)
            return
        request = flow.request
        # Elsewhere (the forward port, a user's own mitmproxy) a provider's own host goes to that
        # provider's --upstream override, so forward-mode traffic reaches a simulator too.
        redirected = self.state.routes.redirect(request.host, request.path)
        if redirected is not None:
            _send(flow, here, redirected)
            return
        path = request.path.partition("?")[0]
        provider = platform_provider(
            self.state.providers.provider_of(request.host, request.port, path) or provider_for_host(request.host),
            request.host,
            path,
        )[0] or guess_provider(path)
        if provider:
            here.provider = provider
            publish(flow, here)


def _send(flow: http.HTTPFlow, here: FlowState, target: Target) -> None:
    # Set the address in one step: mitmproxy's host and port setters each re-derive the Host
    # header (with an IDNA round trip), a large share of routing's cost.
    request = flow.request
    request.data.host, request.data.port, request.scheme = target.host, target.port, target.scheme
    request.host_header = url.hostport(target.scheme, target.host, target.port)
    request.path = target.path
    # Claude behind a /gemini or /azure prefix speaks Anthropic's format: counted as anthropic from the start.
    provider = platform_provider(target.provider, target.host, target.path.partition("?")[0])[0] or target.provider
    here.provider, here.route = provider, target.route
    publish(flow, here)
