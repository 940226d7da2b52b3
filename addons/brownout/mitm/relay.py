"""Carry out a `StreamPlan` on a live streamed response: the one module that reaches into
mitmproxy's HTTP layer.

mitmproxy's public stream callable is synchronous: it can change bytes but cannot wait, and
`flow.kill()` does nothing while a response streams (mitmproxy #4711). Time-based faults need
more, so this module wraps `HttpStream.start_response_stream`: for a flow handed to `relay()`,
the stream's body state is replaced by one that feeds each chunk to the plan and carries out
its actions inside the HTTP layer itself:

- sends go out as `ResponseData` at once (plain sends take this fast path, with no timer);
- a hold asks the layer for a `RequestWakeup` (mitmproxy's own layer timer, which HTTP/2 uses
  for pings) and queues what follows. Nothing sleeps and nothing pauses: other streams, even on
  the same HTTP/2 connection, and this stream's own upstream and client events go on;
- a cut sends the client a kill (FIN mid-body on HTTP/1, RST_STREAM on HTTP/2; a TCP RST for
  `reset`), cancels the upstream request, and runs the error hook;
- a clean early end answers like the upstream's end (`send_response(already_streamed=True)`),
  cancels the upstream, and drops whatever it still sends.

Flows not handed to `relay()` cost one dictionary lookup per streamed response. `check()` lists
what does not fit the installed mitmproxy; `install()` patches only when nothing is listed, once
per process, and otherwise leaves mitmproxy untouched (stream faults then run content-only, see
`brownout.streams`). Watch mitmproxy PR #8367 (async stream callables): pacing could then move
to public API; cutting and clean early ends would still need this.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
import types
import weakref
from collections import deque
from collections.abc import Callable
from collections.abc import Generator
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from mitmproxy import flow as mflow
from mitmproxy import http
from mitmproxy import version
from mitmproxy.proxy import commands
from mitmproxy.proxy import events
from mitmproxy.proxy.layers import http as layers_http
from mitmproxy.proxy.layers.http import _events as http_events

from brownout.faults.stream.plan import Action
from brownout.faults.stream.plan import Alarm
from brownout.faults.stream.plan import Cut
from brownout.faults.stream.plan import Finish
from brownout.faults.stream.plan import Hold
from brownout.faults.stream.plan import Send
from brownout.faults.stream.plan import StreamPlan
from brownout.faults.stream.plan import is_plain

log = logging.getLogger(__name__)

# Minor versions the adapter was written against and tested on (12.2.3; 12.3.1 has the same
# HTTP layer). Others are refused unless BROWNOUT_STREAM_ADAPTER=force, and only if the shapes fit.
TESTED = ((12, 2), (12, 3))
FORCE_ENV = "BROWNOUT_STREAM_ADAPTER"
# A long hold is taken in steps, so mitmproxy's inactivity watchdog (tcp_timeout, 600 s) sees
# activity on a stalled connection and leaves it open.
MAX_WAIT = 30.0
# A hold this close to its end is not worth a timer.
EPSILON = 0.0005
CUT_MESSAGE = "brownout: stream cut"

Command = commands.Command
CommandGenerator = Generator[Command, Any, None]
Clock = Callable[[], float]


@dataclass
class Status:
    enabled: bool
    reason: str = ""


@dataclass(eq=False)
class Tap:
    """One flow's relay state: the plan, what it holds back, and the timers it waits on."""

    plan: StreamPlan
    on_send: Callable[[bytes], None] = lambda data: None
    on_error: Callable[[], None] = lambda: None
    # A stream function another addon set before (e.g. a usage reader): it sees the upstream's
    # chunks first, and the plan gets what it returns.
    inner: Callable[[bytes], Any] | None = None
    clock: Clock = time.monotonic
    queue: deque[Action] = field(default_factory=deque)
    timer: Command | None = None  # the wakeup the queue waits for
    alarms: dict[Command, float] = field(default_factory=dict)
    upstream_done: bool = False
    closed: bool = False
    store: bool = False  # store_streamed_bodies, read once (each option read deep-copies its value)


_pending: weakref.WeakKeyDictionary[http.HTTPFlow, Tap] = weakref.WeakKeyDictionary()
_status: Status | None = None


# ---------------------------------------------------------------- compatibility


def _version() -> tuple[int, int]:
    major, minor = (int(part) for part in version.VERSION.split(".")[:2])
    return major, minor


def check() -> list[str]:
    """What in the installed mitmproxy does not fit the adapter (empty: it fits)."""
    problems: list[str] = []
    stream_cls = getattr(layers_http, "HttpStream", None)
    if stream_cls is None:
        return ["mitmproxy.proxy.layers.http.HttpStream is gone"]
    for name in ("start_response_stream", "send_response", "state_errored", "_handle_event", "flow_done"):
        if not callable(getattr(stream_cls, name, None)):
            problems.append(f"HttpStream.{name} is missing")
    start = getattr(stream_cls, "start_response_stream", None)
    if start is not None and not getattr(start, "__brownout__", False):
        if list(inspect.signature(start).parameters) != ["self"]:
            problems.append(f"HttpStream.start_response_stream{inspect.signature(start)} takes other arguments")
        elif not inspect.isgeneratorfunction(start):
            problems.append("HttpStream.start_response_stream is no longer a generator")
        elif "self.server_state = self.state_stream_response_body" not in inspect.getsource(start):
            problems.append("HttpStream.start_response_stream no longer enters state_stream_response_body")
    send_response = getattr(stream_cls, "send_response", None)
    if send_response is not None and "already_streamed" not in inspect.signature(send_response).parameters:
        problems.append("HttpStream.send_response has no already_streamed parameter")
    init_source = inspect.getsource(stream_cls.__init__)
    for attribute in ("self.server_state", "self.client_state", "self.stream_id", "self.response_body_buf"):
        if attribute not in init_source:
            problems.append(f"HttpStream.__init__ no longer sets {attribute}")
    for name in ("SendHttp", "DropStream", "HttpLayer"):
        if not hasattr(layers_http, name):
            problems.append(f"mitmproxy.proxy.layers.http.{name} is gone")
    if hasattr(layers_http, "SendHttp") and list(inspect.signature(layers_http.SendHttp).parameters) != [
        "event",
        "connection",
    ]:
        problems.append("SendHttp no longer takes (event, connection)")
    for name, params in (
        ("ResponseData", ["stream_id", "data"]),
        ("RequestProtocolError", ["stream_id", "message", "code"]),
        ("ResponseProtocolError", ["stream_id", "message", "code"]),
    ):
        cls = getattr(http_events, name, None)
        if cls is None or list(inspect.signature(cls).parameters) != params:
            problems.append(f"{name} no longer takes ({', '.join(params)})")
    error_code = getattr(http_events, "ErrorCode", None)
    if error_code is None or not all(hasattr(error_code, code) for code in ("KILL", "CANCEL")):
        problems.append("ErrorCode.KILL / ErrorCode.CANCEL are gone")
    if not hasattr(commands, "RequestWakeup") or not hasattr(events, "Wakeup"):
        problems.append("commands.RequestWakeup / events.Wakeup are gone")
    elif hasattr(layers_http, "HttpLayer"):
        if "RequestWakeup" not in inspect.getsource(layers_http.HttpLayer.event_to_child):
            problems.append("HttpLayer no longer routes RequestWakeup back to its streams")
    if not hasattr(layers_http, "HttpErrorHook"):
        problems.append("HttpErrorHook is gone")
    try:
        tested = _version()[:2] in TESTED
    except ValueError:
        tested = False
    if not tested and os.environ.get(FORCE_ENV) != "force":
        problems.append(
            f"mitmproxy {version.VERSION} is not a tested version "
            f"({', '.join(f'{a}.{b}' for a, b in TESTED)}; set {FORCE_ENV}=force to try it)"
        )
    return problems


def install() -> Status:
    """Patch mitmproxy once per process if it fits; the status says whether relays are live."""
    global _status
    if _status is not None:
        return _status
    problems = check()
    if problems:
        _status = Status(False, "; ".join(problems))
        return _status
    stream_cls = layers_http.HttpStream
    if not getattr(stream_cls.start_response_stream, "__brownout__", False):
        original = stream_cls.start_response_stream
        patched = _patched_start(original)
        patched.__brownout__ = True  # type: ignore[attr-defined]
        stream_cls.start_response_stream = patched  # type: ignore[method-assign,assignment]
    _status = Status(True)
    return _status


def status() -> Status:
    return _status if _status is not None else install()


def relay(
    flow: http.HTTPFlow,
    plan: StreamPlan,
    on_send: Callable[[bytes], None] = lambda data: None,
    on_error: Callable[[], None] = lambda: None,
) -> bool:
    """Relay this flow's streamed response through `plan`; False when the adapter is off.

    Call from `responseheaders`. `on_send` sees every piece of body that goes to the client;
    `on_error` hears of an exception in the plan, after which the rest is relayed untouched.
    """
    if not status().enabled:
        return False
    assert flow.response is not None
    if not flow.response.stream:
        flow.response.stream = True
    _pending[flow] = Tap(plan, on_send, on_error)
    return True


def through(inner: Callable[[bytes], Any] | None, data: bytes) -> bytes:
    """What another addon's stream function makes of a chunk (joined; empty pieces dropped)."""
    if inner is None:
        return data
    out = inner(data)
    if isinstance(out, bytes):
        return out
    return b"".join(piece for piece in out if piece)


def ask(tap: Tap, step: str, now: float, data: bytes = b"") -> list[Action]:
    """The plan's actions for one step; a bug in a plan falls back to relaying untouched."""
    try:
        if step == "feed":
            return tap.plan.feed(data, now)
        result: list[Action] = getattr(tap.plan, step)(now)
        return result
    except Exception:
        log.exception("brownout: stream plan failed in %s; relaying the rest of the stream untouched", step)
        tap.on_error()
        tap.plan = StreamPlan()
        return [Send(data)] if data else []


# ---------------------------------------------------------------- inside the HTTP layer


def _patched_start(original: Callable[[Any], CommandGenerator]) -> Callable[[Any], CommandGenerator]:
    def start_response_stream(self: Any) -> CommandGenerator:
        yield from original(self)
        tap = _pending.pop(self.flow, None)
        if tap is None:
            return
        inner = self._handle_event
        tap.store = bool(self.context.options.store_streamed_bodies)
        # A stream function set by any addon, before or after brownout's, keeps working.
        stream = self.flow.response.stream
        tap.inner = stream if callable(stream) else None
        self.server_state = types.MethodType(_tapped_body, self)
        self._brownout_tap = tap

        def handle_event(event: events.Event) -> CommandGenerator:
            if isinstance(event, events.Wakeup):
                return _on_wakeup(self, tap, event)
            result: CommandGenerator = inner(event)
            return result

        self._handle_event = handle_event
        yield from _run(self, tap, ask(tap, "start", tap.clock()))

    start_response_stream.__wrapped__ = original  # type: ignore[attr-defined]
    return start_response_stream


def _tapped_body(self: Any, event: events.Event) -> CommandGenerator:
    """The body state of a relayed stream (in place of `state_stream_response_body`)."""
    tap: Tap = self._brownout_tap
    if isinstance(event, http_events.ResponseData):
        if tap.closed:
            return
        data = through(tap.inner, event.data)
        # An empty piece would be written as HTTP/1's final chunk: never relay one.
        if data:
            yield from _run(self, tap, ask(tap, "feed", tap.clock(), data))
    elif isinstance(event, http_events.ResponseTrailers):
        self.flow.response.trailers = event.trailers  # sent by send_response
    elif isinstance(event, http_events.ResponseEndOfMessage):
        tap.upstream_done = True
        if not tap.closed:
            last = through(tap.inner, b"") if tap.inner is not None else b""
            actions = ask(tap, "feed", tap.clock(), last) if last else []
            yield from _run(self, tap, actions + ask(tap, "end", tap.clock()))


def _on_wakeup(self: Any, tap: Tap, event: events.Wakeup) -> CommandGenerator:
    command = event.command
    if tap.closed or self.flow.error is not None:
        # The stream ended meanwhile (the client left, the upstream broke): nothing to send.
        tap.closed = True
        tap.queue.clear()
        return
    if command is tap.timer:
        tap.timer = None
        yield from _pump(self, tap)
    elif command in tap.alarms:
        at = tap.alarms.pop(command)
        now = tap.clock()
        if now < at - EPSILON:
            yield from _arm_alarm(tap, at, now)
            return
        actions = ask(tap, "alarm", now)
        if any(isinstance(action, Cut | Finish) for action in actions):
            tap.queue.clear()
            tap.timer = None  # its wakeup will find nothing to do
        tap.queue.extendleft(reversed(actions))
        if tap.timer is None:
            yield from _pump(self, tap)


def _arm_alarm(tap: Tap, at: float, now: float) -> CommandGenerator:
    wakeup = commands.RequestWakeup(min(max(at - now, 0.0), MAX_WAIT))
    tap.alarms[wakeup] = at
    yield wakeup


def _run(self: Any, tap: Tap, actions: list[Action]) -> CommandGenerator:
    if not tap.queue and tap.timer is None and is_plain(actions):
        # Fast path: nothing held, nothing to wait for.
        chunks = [action.data for action in actions if isinstance(action, Send) and action.data]
        if chunks:
            yield from _send(self, tap, chunks)
        if tap.upstream_done:
            yield from _complete(self, tap)
        return
    now = tap.clock()
    for action in actions:
        if isinstance(action, Alarm):
            yield from _arm_alarm(tap, action.at, now)
        else:
            tap.queue.append(action)
    if tap.timer is None:
        yield from _pump(self, tap)


def _pump(self: Any, tap: Tap) -> CommandGenerator:
    """Carry out queued actions until one must wait."""
    chunks: list[bytes] = []
    while tap.queue:
        action = tap.queue[0]
        if isinstance(action, Send):
            tap.queue.popleft()
            if action.data:
                chunks.append(action.data)
            continue
        if chunks:
            yield from _send(self, tap, chunks)
            chunks = []
        if isinstance(action, Hold):
            delay = action.until - tap.clock()
            if delay <= EPSILON:
                tap.queue.popleft()
                continue
            tap.timer = commands.RequestWakeup(min(delay, MAX_WAIT))
            yield tap.timer
            return
        tap.queue.clear()
        if isinstance(action, Cut):
            yield from _cut(self, tap, action.mode)
        else:
            yield from _finish_early(self, tap)
        return
    if chunks:
        yield from _send(self, tap, chunks)
    if tap.upstream_done:
        yield from _complete(self, tap)


def _send(self: Any, tap: Tap, chunks: list[bytes]) -> CommandGenerator:
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if tap.store:
        self.response_body_buf += data
    tap.on_send(data)
    yield layers_http.SendHttp(http_events.ResponseData(self.stream_id, data), self.context.client)


def _store_body(self: Any, tap: Tap) -> None:
    if tap.store:
        self.flow.response.data.content = bytes(self.response_body_buf)
        self.response_body_buf.clear()


def _cancel_upstream(self: Any, tap: Tap) -> CommandGenerator:
    # A kill on the client side does not stop the upstream request (reference pitfall 7).
    if not tap.upstream_done:
        yield layers_http.SendHttp(
            http_events.RequestProtocolError(self.stream_id, CUT_MESSAGE, http_events.ErrorCode.CANCEL),
            self.context.server,
        )


def _complete(self: Any, tap: Tap) -> CommandGenerator:
    """The upstream ended and nothing is held: end the response as mitmproxy would."""
    tap.closed = True
    _store_body(self, tap)
    yield from self.send_response(already_streamed=True)


def _finish_early(self: Any, tap: Tap) -> CommandGenerator:
    """End the response cleanly now; what the upstream still sends is dropped."""
    tap.closed = True
    yield from _cancel_upstream(self, tap)
    _store_body(self, tap)
    yield from self.send_response(already_streamed=True)
    # state_done would refuse the upstream's late events; errored swallows them.
    self.server_state = self.state_errored


def _cut(self: Any, tap: Tap, mode: str) -> CommandGenerator:
    """End the connection mid-body: the client never sees the response end."""
    tap.closed = True
    flow: http.HTTPFlow = self.flow
    if mode == "reset":
        from brownout.mitm.flows import reset_client

        reset_client(flow)  # TCP RST on HTTP/1; on HTTP/2 the kill below resets the stream
    # Our own message, not KILLED_MESSAGE, so later events for this stream do not kill it twice.
    flow.error = mflow.Error(f"{CUT_MESSAGE} ({mode})")
    yield from _cancel_upstream(self, tap)
    yield layers_http.SendHttp(
        http_events.ResponseProtocolError(self.stream_id, CUT_MESSAGE, http_events.ErrorCode.KILL),
        self.context.client,
    )
    self.client_state = self.server_state = self.state_errored
    yield layers_http.HttpErrorHook(flow)
    flow.live = False
    yield layers_http.DropStream(self.stream_id)
