"""Time limits on the upstream, carried out inside mitmproxy: connect, first byte, idle stream.

mitmproxy has no limit of its own on an upstream that accepts and then says nothing: the client
waits until the inactivity watchdog (`tcp_timeout`) closes its connection, a bare disconnect that
reads as the client giving up. brownout gives each AI-API request three limits instead:

- **connect** (`ConnectTimer`): from the start of the upstream connection to the end of its TCP
  and TLS handshakes. mitmproxy opens a connection in a task of its own and runs the
  `server_connect` hook inside that task, so the hook can give it a deadline; when the deadline
  passes, the task is cancelled with brownout's message and mitmproxy reports a failed connection,
  which `brownout.mitm.upstream_answer` answers (a 504: the message says "timed out").
- **first byte**: from the request going upstream (after any of brownout's own holds: a latency
  fault's wait is not the upstream's) to the answer's headers.
- **idle stream**: the longest gap between two pieces of the answer's body.

The last two run on mitmproxy's own layer timer (`RequestWakeup`, as `brownout.mitm.relay`'s
holds do), in a version-checked patch of `HttpStream`: nothing sleeps, no other flow waits. A
first byte that does not come is answered with the labelled 504 from the registered answerers,
and the upstream request is cancelled. A body that stops arriving ends as the provider's own
failing stream would: the `Timeouts.stream_idle` callback gives the provider's mid-stream error
event, which is sent before the response ends (an answer not yet begun gets the 504 instead).
Only flows that `Timeouts.applies` accepts (brownout's AI-API requests) are limited.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from collections.abc import Generator
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from mitmproxy import flow as mflow
from mitmproxy import http
from mitmproxy.proxy import commands
from mitmproxy.proxy import events
from mitmproxy.proxy.layers import http as layers_http
from mitmproxy.proxy.layers.http import _events as http_events

from brownout.mitm import upstream_answer
from brownout.mitm.compat import OncePatch
from brownout.mitm.compat import patch_method
from brownout.mitm.compat import tested_version
from brownout.mitm.compat import untested_version

log = logging.getLogger(__name__)

CommandGenerator = Generator[commands.Command, Any, None]
# A long limit is waited out in steps, so mitmproxy's inactivity watchdog sees activity (as the
# relay's holds do) even where brownout's in-flight hold on it does not apply.
STEP = 30.0
EPSILON = 0.001
# The coroutine of mitmproxy's task that opens (and then serves) an upstream connection; its
# `server_connect` hook runs inside it. (Its task name is set only after an eager start has run it.)
CONNECT_TASK = "ConnectionHandler.open_connection"
IDLE_MESSAGE = "brownout: upstream stream idle"


@dataclass
class Timeouts:
    """The limits in force (seconds; 0: off) and the callbacks that carry them out."""

    connect: float = 0.0
    first_byte: float = 0.0
    stream_idle: float = 0.0
    # Whether a flow gets the limits (brownout's AI-API requests do; other traffic keeps mitmproxy's ways).
    applies: Callable[[http.HTTPFlow], bool] = lambda flow: False
    # The bytes to send when a streamed body has been idle `seconds` (the provider's error event),
    # and the note that it happened; b"" sends nothing before the end.
    stream_idle_end: Callable[[http.HTTPFlow, float], bytes] = lambda flow, seconds: b""


timeouts = Timeouts()


def check() -> list[str]:
    """What in the installed mitmproxy does not fit the patch (empty: it fits)."""
    problems: list[str] = []
    stream_cls = getattr(layers_http, "HttpStream", None)
    if stream_cls is None:
        return ["mitmproxy.proxy.layers.http.HttpStream is gone"]
    for name in (
        "make_server_connection",
        "_handle_event",
        "send_response",
        "check_killed",
        "state_wait_for_response_headers",
        "state_stream_response_body",
        "state_consume_response_body",
        "state_errored",
        "state_done",
    ):
        if not callable(getattr(stream_cls, name, None)):
            problems.append(f"HttpStream.{name} is missing")
    connect = getattr(stream_cls, "make_server_connection", None)
    if connect is not None and not getattr(connect, "__brownout__", False):
        if not inspect.isgeneratorfunction(connect):
            problems.append("HttpStream.make_server_connection is no longer a generator")
    if not hasattr(commands, "RequestWakeup") or not hasattr(events, "Wakeup"):
        problems.append("commands.RequestWakeup / events.Wakeup are gone")
    for name in (
        "ResponseHeaders",
        "ResponseData",
        "ResponseEndOfMessage",
        "RequestProtocolError",
        "ResponseProtocolError",
    ):
        if not hasattr(http_events, name):
            problems.append(f"{name} is gone")
    for name in ("SendHttp", "HttpResponseHeadersHook", "HttpErrorHook", "DropStream"):
        if not hasattr(layers_http, name):
            problems.append(f"mitmproxy.proxy.layers.http.{name} is gone")
    if not tested_version():
        problems.append(untested_version())
    return problems


def _apply() -> None:
    patch_method(layers_http.HttpStream, "make_server_connection", _patched_connect)
    patch_method(layers_http.HttpStream, "_handle_event", _patched_handle_event)


_patch = OncePatch(
    check,
    _apply,
    "brownout: no first-byte or idle-stream limit on upstreams (mitmproxy's inactivity timeout applies)",
)


def install() -> bool:
    """Patch mitmproxy once per process if it fits; False (and a warning) when it does not."""
    return _patch.install()


# -- connect: a deadline on mitmproxy's connection task


@dataclass
class ConnectTimer:
    """Deadlines on upstream connections being opened, keyed by mitmproxy's server connection id.

    `started` is called from the `server_connect` hook (inside the task that connects), `ready`
    once the connection can carry requests (TCP up, and TLS done for an https upstream)."""

    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    # (client connection id, upstream address) -> why: what a failed connection there was brownout's limit.
    timed_out: dict[tuple[str, tuple[str, int]], str] = field(default_factory=dict)

    def started(self, client_id: str, server_id: str, address: tuple[str, int], limit: float) -> None:
        if limit <= 0:
            return
        task = asyncio.current_task()
        if task is None or getattr(task.get_coro(), "__qualname__", "") != CONNECT_TASK:
            return  # not mitmproxy's connection task: this mitmproxy connects elsewhere
        self.timed_out.pop((client_id, address), None)
        message = f"connect timed out after {limit:g} s (brownout's connect timeout)"

        def expire() -> None:
            self.timers.pop(server_id, None)
            self.timed_out[(client_id, address)] = message
            task.cancel(message)

        self.timers[server_id] = asyncio.get_running_loop().call_later(limit, expire)

    def ready(self, server_id: str) -> None:
        timer = self.timers.pop(server_id, None)
        if timer is not None:
            timer.cancel()

    def why_failed(self, client_id: str, address: tuple[str, int]) -> str | None:
        """brownout's message when the connection to `address` failed for its connect timeout."""
        return self.timed_out.get((client_id, address))

    def forget_client(self, client_id: str) -> None:
        for key in [key for key in self.timed_out if key[0] == client_id]:
            del self.timed_out[key]


connect_timer = ConnectTimer()


# -- first byte and idle stream: a timer inside the HTTP layer


@dataclass(eq=False)
class _Limit:
    """One flow's timer: the wakeup it waits for, and when the upstream last sent something."""

    started: float
    last_data: float = 0.0
    wakeup: commands.RequestWakeup | None = None
    ours: set[commands.RequestWakeup] = field(default_factory=set)  # every wakeup still under way
    done: bool = False


def _arm(self: Any, limit: _Limit, delay: float) -> CommandGenerator:
    limit.wakeup = commands.RequestWakeup(max(min(delay, STEP), EPSILON))
    limit.ours.add(limit.wakeup)
    yield limit.wakeup


def _patched_connect(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def make_server_connection(self: Any) -> Generator[commands.Command, Any, bool]:
        connected: bool = yield from original(self)
        if connected and timeouts.first_byte > 0 and getattr(self, "_brownout_limit", None) is None:
            if timeouts.applies(self.flow):
                now = time.monotonic()
                limit = self._brownout_limit = _Limit(started=now, last_data=now)
                yield from _arm(self, limit, timeouts.first_byte)
        return connected

    make_server_connection.__wrapped__ = original  # type: ignore[attr-defined]
    return make_server_connection


def _patched_handle_event(original: Callable[[Any, Any], Any]) -> Callable[[Any, Any], CommandGenerator]:
    def _handle_event(self: Any, event: events.Event) -> CommandGenerator:
        limit: _Limit | None = getattr(self, "_brownout_limit", None)
        if limit is not None and isinstance(event, events.Wakeup) and event.command in limit.ours:
            limit.ours.discard(event.command)
            if event.command is limit.wakeup:
                limit.wakeup = None
                yield from _on_wakeup(self, limit)
            return
        if limit is not None and not limit.done:
            if isinstance(event, http_events.ResponseData | http_events.ResponseHeaders):
                limit.last_data = time.monotonic()
            elif isinstance(event, http_events.ResponseEndOfMessage | http_events.ResponseProtocolError):
                limit.done = True  # the upstream is done: a hold of brownout's own is not its silence
        yield from original(self, event)
        if limit is not None and not limit.done and isinstance(event, http_events.ResponseHeaders):
            yield from _headers_in(self, limit)

    _handle_event.__wrapped__ = original  # type: ignore[attr-defined]
    return _handle_event


def _headers_in(self: Any, limit: _Limit) -> CommandGenerator:
    """The first byte came: from now on the body's gaps count, when that limit is on."""
    if timeouts.stream_idle <= 0 or self.server_state in (self.state_done, self.state_errored):
        limit.done = True
        return
    # The pending wakeup was for the first-byte deadline; the idle limit may need an earlier one.
    if limit.wakeup is not None and limit.wakeup.delay <= timeouts.stream_idle:
        return
    yield from _arm(self, limit, timeouts.stream_idle)


def _on_wakeup(self: Any, limit: _Limit) -> CommandGenerator:
    if limit.done or self.flow.error is not None or self.server_state in (self.state_done, self.state_errored):
        limit.done = True
        return
    now = time.monotonic()
    if self.flow.response is None:
        left = limit.started + timeouts.first_byte - now
        if left > EPSILON:
            yield from _arm(self, limit, left)
            return
        limit.done = True
        yield from _first_byte_timeout(self)
        return
    if timeouts.stream_idle <= 0:
        limit.done = True
        return
    left = limit.last_data + timeouts.stream_idle - now
    if left > EPSILON:
        yield from _arm(self, limit, left)
        return
    limit.done = True
    yield from _stream_idle_timeout(self, now - limit.last_data)


def _cancel_upstream(self: Any, message: str) -> CommandGenerator:
    # HTTP/1: the upstream connection closes; HTTP/2: only this stream is reset.
    yield layers_http.SendHttp(
        http_events.RequestProtocolError(self.stream_id, message, http_events.ErrorCode.CANCEL),
        self.context.server,
    )


def _answer_instead(self: Any, message: str) -> CommandGenerator:
    """Answer the client with the registered answerers' reply (the labelled 504) and drop the
    upstream's request; a flow no answerer claims ends as a killed one."""
    response = upstream_answer.answer_for(self.flow, message)
    if response is None:
        yield from _cancel_upstream(self, message)
        yield from _kill(self, message)
        return
    self.flow.response = response
    yield layers_http.HttpResponseHeadersHook(self.flow)
    if not (yield from self.check_killed(True)):
        yield from self.send_response()
    yield from _cancel_upstream(self, message)
    _ignore_the_rest(self)


def _ignore_the_rest(self: Any) -> None:
    """The answer is out: what the cancelled upstream still reports (its close, late bytes) must
    neither be relayed nor reach the client's connection, which may serve its next request."""
    self.client_state = self.server_state = self.state_errored


def _first_byte_timeout(self: Any) -> CommandGenerator:
    yield from _answer_instead(
        self, f"no response headers within {timeouts.first_byte:g} s (brownout's first-byte timeout)"
    )


def _stream_idle_timeout(self: Any, idle: float) -> CommandGenerator:
    if self.server_state == self.state_consume_response_body:
        # Nothing went to the client yet: the whole answer can still be brownout's 504.
        yield from _answer_instead(self, f"the answer's body stopped for {idle:.0f} s (brownout's idle-stream timeout)")
        return
    relay = getattr(self, "_brownout_relay", None)
    if relay is not None:
        relay.closed = True  # a stream fault's relay sends nothing more of its own
        relay.queue.clear()
    ending = timeouts.stream_idle_end(self.flow, idle)
    if not ending:
        yield from _cancel_upstream(self, IDLE_MESSAGE)
        yield from _kill(self, IDLE_MESSAGE)
        return
    yield layers_http.SendHttp(http_events.ResponseData(self.stream_id, ending), self.context.client)
    if self.context.options.store_streamed_bodies:
        self.response_body_buf += ending
        self.flow.response.data.content = bytes(self.response_body_buf)
        self.response_body_buf.clear()
    yield from self.send_response(already_streamed=True)
    yield from _cancel_upstream(self, IDLE_MESSAGE)
    _ignore_the_rest(self)


def _kill(self: Any, message: str) -> CommandGenerator:
    """End the client's side without an answer (FIN mid-body on HTTP/1, RST_STREAM on HTTP/2)."""
    self.flow.error = mflow.Error(message)
    yield layers_http.SendHttp(
        http_events.ResponseProtocolError(self.stream_id, message, http_events.ErrorCode.KILL),
        self.context.client,
    )
    self.client_state = self.server_state = self.state_errored
    yield layers_http.HttpErrorHook(self.flow)
    self.flow.live = False
    yield layers_http.DropStream(self.stream_id)
