"""Small bridges between mitmproxy flows and brownout's plain data: read a request, answer in the
upstream's place, reset a client, notice an HTTP/2 client that gave up."""

from __future__ import annotations

import email.utils
import logging
import socket
import struct
from typing import Any

from mitmproxy import ctx
from mitmproxy import http
from mitmproxy.proxy.layers.http import RequestProtocolError

from brownout.classify.request import RequestView
from brownout.classify.request import plain_headers
from brownout.classify.request import read_view
from brownout.engine.flows import FlowState
from brownout.providers.base import Reply
from brownout.providers.sse import is_event_stream

log = logging.getLogger(__name__)


def read_request(flow: http.HTTPFlow) -> RequestView:
    """The request's headers and JSON body, decoded once (mitmproxy's header multidict rescans and
    decodes every field on each lookup; classifying and fingerprinting look up a dozen).

    A compressed body is read decoded, within `classify.encoding`'s bounds; one that would expand
    past them is read as no body (the model unknown), logged the first time. The flow keeps the
    bytes as sent: the upstream gets exactly those.
    """
    headers = plain_headers(flow.request.headers.fields)
    raw = flow.request.raw_content or b""
    if "content-encoding" not in headers:
        return read_view(headers, raw)
    view = read_view(headers, raw, ", ".join(flow.request.headers.get_all("content-encoding")))
    if view.refused:
        _refused(flow, view.refused)
    return view


_refusal_logged = False


def _refused(flow: http.HTTPFlow, reason: str) -> None:
    """Say once per process that a body was not read (a bomb repeated must not flood the log)."""
    global _refusal_logged
    if _refusal_logged:
        return
    _refusal_logged = True
    # The path without its query (Gemini's key may be there), quoted: the client wrote it.
    log.warning(
        "brownout: %s %r: request body not read for classification (%r); classified without it and "
        "forwarded as sent; further such bodies are not logged",
        flow.request.method,
        flow.request.path.partition("?")[0][:200],
        reason,
    )


def streams_events(response: http.Response) -> bool:
    """Whether the answer is a server-sent event stream."""
    return is_event_stream(response.headers.get("content-type", ""))


def publish(flow: http.HTTPFlow, state: FlowState) -> None:
    """Put the plain summary of what brownout knows and did into mitmproxy's `flow.metadata`."""
    flow.metadata["brownout"] = state.summary()


def response_of(reply: Reply) -> http.Response:
    headers = [(k.encode(), v.encode()) for k, v in reply.headers]
    if not any(k.lower() == "date" for k, _ in reply.headers):
        headers.insert(0, (b"date", email.utils.formatdate(usegmt=True).encode()))
    response = http.Response.make(reply.status, reply.body, headers)
    if reply.reason:
        response.reason = reply.reason
    return response


def answer(flow: http.HTTPFlow, reply: Reply) -> None:
    """Answer the flow in the upstream's place (no upstream connection is made)."""
    flow.response = response_of(reply)


def _connection_handler(flow: http.HTTPFlow) -> Any:
    """mitmproxy's handler of the flow's client connection, from the proxyserver addon's connection
    table (private, stable from 10.x to 12.3); AttributeError or KeyError where it does not fit."""
    return ctx.master.addons.get("proxyserver").connections[flow.client_conn.id]


def reset_client(flow: http.HTTPFlow) -> None:
    """Reset the client side: TCP RST for HTTP/1, RST_STREAM (through kill) for HTTP/2.

    mitmproxy has no public call for a TCP reset; this reaches the client's transport through
    the proxyserver addon's connection table (stable from 10.x to 12.3) and aborts it with
    SO_LINGER 0, which makes the kernel send RST instead of FIN. On any mismatch it falls back
    to a kill, which the client sees as a closed connection.
    """
    if flow.request.http_version.startswith("HTTP/2"):
        return  # kill() answers the stream with RST_STREAM and keeps its siblings alive
    try:
        handler = _connection_handler(flow)
        transport = handler.transports[handler.client].writer.transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    except (AttributeError, KeyError, OSError) as exc:
        log.warning("brownout: TCP reset unavailable (%s); closing the connection instead", exc)


def client_reset_stream(flow: http.HTTPFlow) -> bool:
    """Whether an HTTP/2 client has reset the flow's stream while a hook of ours holds the flow.

    Giving up on HTTP/2 resets one stream and keeps the connection, so `client_disconnected`
    never fires; and mitmproxy queues the stream's events while its hook runs, so the reset waits
    in that queue until the hook returns. This finds the flow's stream layer through the
    proxyserver addon's connection table (as `reset_client` does) and looks into the queue. On any
    mismatch with the installed mitmproxy it answers False: the hold then lasts its full length.
    """
    try:
        pending = [_connection_handler(flow).layer]
        while pending:
            layer = pending.pop()
            for stream in getattr(layer, "streams", {}).values():
                if getattr(stream, "flow", None) is flow:
                    return any(isinstance(event, RequestProtocolError) for event in stream._paused_event_queue)
            pending.extend(
                child for child in (getattr(layer, "layer", None), getattr(layer, "child_layer", None)) if child
            )
    except (AttributeError, KeyError, TypeError):
        pass
    return False
