"""Client connections: the idle-connection timeout, and a quiet log at the file-descriptor limit.

`brownout_idle_timeout` (default `120s`) closes a client connection that has had no request under
way and no byte either way for that long; it sets mitmproxy's `tcp_timeout` (whose 600 s default
let idle connections pile up) and, while a request is under way, holds mitmproxy's watchdog off
(`brownout.mitm.idle`), so a long answer or a hold is never cut by it. Why 120 s: the official
SDKs drop a pooled connection after 5 s idle (httpx's `keepalive_expiry`, which openai and
anthropic python keep; Node's fetch after 4 s), so the client always retires a connection long
before brownout closes it, and a reused connection never meets brownout's close; yet a client
that leaves connections open without using them (or vanished without a FIN) gives back its file
descriptors within two minutes instead of ten.

At the process's file-descriptor limit, `accept()` fails with EMFILE, and asyncio logs a
traceback for every attempt (a hundred per loop turn), filling the log. `AcceptErrors` turns them
into one clear line at most every `QUIET_SECONDS`, counting the rest; asyncio keeps retrying, so
the proxy serves again as soon as connections close.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import resource
import time
from collections.abc import Callable
from typing import Any

from mitmproxy import connection
from mitmproxy import exceptions
from mitmproxy import http

from brownout.engine.state import Brownout
from brownout.mitm.idle import InFlight
from brownout.units import parse_duration

log = logging.getLogger(__name__)

QUIET_SECONDS = 10.0
OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
Handler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


def idle_seconds(value: str) -> int:
    """mitmproxy's `tcp_timeout` (whole seconds, at least 1) for the option's duration."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise exceptions.OptionsError(f"brownout_idle_timeout: {exc}") from exc
    if not math.isfinite(seconds) or not 0 < seconds <= 24 * 3600:
        raise exceptions.OptionsError(f"brownout_idle_timeout: {value!r} must be more than 0 and at most 24h")
    return max(1, math.ceil(seconds))


def is_accept_exhaustion(context: dict[str, Any]) -> bool:
    exc = context.get("exception")
    return isinstance(exc, OSError) and exc.errno in OUT_OF_RESOURCES and "accept" in str(context.get("message", ""))


def is_retry_on_closed_listener(context: dict[str, Any]) -> bool:
    """asyncio's accept retry, due a second after an EMFILE, finding its listening socket closed
    (brownout stopping meanwhile): `_start_serving` raises on the closed socket's fd -1. Nothing is
    lost (the listener is gone on purpose), so it is no error worth a traceback."""
    exc = context.get("exception")
    if not isinstance(exc, ValueError) or "file descriptor" not in str(exc):
        return False
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "_start_serving":
            return True
        tb = tb.tb_next
    return False


class AcceptErrors:
    """An event-loop exception handler: accept() out of file descriptors is one line per
    `quiet` seconds (with how many it stands for); everything else goes to `previous`."""

    def __init__(
        self, previous: Handler | None, quiet: float = QUIET_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.previous = previous
        self.quiet = quiet
        self.clock = clock
        self.last: float | None = None
        self.unreported = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if is_retry_on_closed_listener(context):
            log.debug("brownout: an accept retry found its listener closed (stopping)")
            return
        if not is_accept_exhaustion(context):
            if self.previous is not None:
                self.previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self.unreported += 1
        now = self.clock()
        if self.last is not None and now - self.last < self.quiet:
            return
        self.last = now
        exc = context["exception"]
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        log.error(
            "brownout: cannot accept connections: %s (file descriptor limit %s); new connections wait "
            "until open ones close, and are served then. %d accept failures since the last line "
            "(one line per %.0f s). Raise the limit (ulimit -n) or lower --idle-timeout.",
            exc.strerror or exc,
            soft,
            self.unreported,
            self.quiet,
        )
        self.unreported = 0


class Connections:
    def __init__(self, state: Brownout) -> None:
        self.state = state
        self.in_flight = InFlight()
        self._handler: AcceptErrors | None = None

    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option(
            "brownout_idle_timeout",
            str,
            "120s",
            "Close a client connection after this long with no request under way and no traffic "
            "(sets mitmproxy's tcp_timeout; requests under way are never cut by it).",
        )

    def configure(self, updated: set[str]) -> None:
        from mitmproxy import ctx

        if "brownout_idle_timeout" in updated:
            seconds = idle_seconds(ctx.options.brownout_idle_timeout)
            if ctx.options.tcp_timeout != seconds:
                ctx.options.update(tcp_timeout=seconds)

    def running(self) -> None:
        from mitmproxy import ctx

        # An option left at its default is never "updated": apply it now, unless the user set
        # mitmproxy's own tcp_timeout (in their mitmdump) and not this one.
        if ctx.options.tcp_timeout == ctx.options.default("tcp_timeout"):
            self.configure({"brownout_idle_timeout"})
        self.in_flight.enable()
        loop = asyncio.get_running_loop()
        if not isinstance(loop.get_exception_handler(), AcceptErrors):
            self._handler = AcceptErrors(loop.get_exception_handler())
            loop.set_exception_handler(self._handler)

    def done(self) -> None:
        # The handler stays on the loop: mitmproxy closes its listeners after the addons' `done`,
        # and an accept retry due then (a second after an EMFILE) would raise with no one to quiet it.
        self._handler = None

    def request(self, flow: http.HTTPFlow) -> None:
        # The request is complete: from now on the upstream's limits apply, not the idle timeout.
        if flow.live and flow.error is None:
            self.in_flight.hold(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self.in_flight.release(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self.in_flight.release(flow)

    def client_disconnected(self, client: connection.Client) -> None:
        self.in_flight.release_client(client.id)
