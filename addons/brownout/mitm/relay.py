"""Carry out a `StreamPlan` on a live streamed response: the one module that reaches into
mitmproxy's HTTP layer.

A `PlanRelay` is set as the response's stream function. mitmproxy's stream functions are
synchronous: they can change bytes but cannot wait, and `flow.kill()` does nothing while a
response streams (mitmproxy #4711). So where `brownout.mitm.compat` has patched mitmproxy, the
HTTP layer hands a response whose stream function is a `PlanRelay` over to it (`take_over`): the
stream's body state is replaced by one that feeds each chunk to the plan and carries out its
actions inside the HTTP layer itself:

- sends go out as `ResponseData` at once (plain sends take this fast path, with no timer);
- a hold asks the layer for a `RequestWakeup` (mitmproxy's own layer timer, which HTTP/2 uses
  for pings) and queues what follows. Nothing sleeps and nothing pauses: other streams, even on
  the same HTTP/2 connection, and this stream's own upstream and client events go on;
- a cut sends the client a kill (FIN mid-body on HTTP/1, RST_STREAM on HTTP/2; a TCP RST for
  `reset`), cancels the upstream request, and runs the error hook;
- a clean early end answers like the upstream's end (`send_response(already_streamed=True)`),
  cancels the upstream, and drops whatever it still sends.

Where mitmproxy is not patched, mitmproxy calls the relay as the plain stream function it is
(`__call__`): the plan's content changes apply, its holds do not, and a cut or an early end drops
the rest of the body. Watch mitmproxy PR #8367 (async stream callables): pacing could then move
to public API; cutting and clean early ends would still need this.
"""

from __future__ import annotations

import logging
import time
import types
from collections import deque
from collections.abc import Callable
from collections.abc import Generator
from typing import Any

from mitmproxy import flow as mflow
from mitmproxy import http
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
from brownout.mitm.flows import reset_client
from brownout.mitm.streamfn import StreamFunction
from brownout.mitm.streamfn import joined

log = logging.getLogger(__name__)

# A long hold is taken in steps, so mitmproxy's inactivity watchdog (tcp_timeout, 600 s) sees
# activity on a stalled connection and leaves it open.
MAX_WAIT = 30.0
# A hold this close to its end is not worth a timer.
EPSILON = 0.0005
CUT_MESSAGE = "brownout: stream cut"

Command = commands.Command
CommandGenerator = Generator[Command, Any, None]
Clock = Callable[[], float]


class PlanRelay:
    """One flow's streamed body relayed through a plan: what the plan holds back, and the timers
    it waits on.

    `on_send` sees every piece of body that goes to the client; `on_error` hears of an exception in
    the plan, after which the rest is relayed untouched. `before` is the stream function set before
    this one (another addon's, say): it sees the upstream's chunks first, and the plan gets what it
    returns.
    """

    def __init__(
        self,
        plan: StreamPlan,
        on_send: Callable[[bytes], None] = lambda data: None,
        on_error: Callable[[], None] = lambda: None,
        before: StreamFunction | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.plan = plan
        self.on_send = on_send
        self.on_error = on_error
        self.before = before
        self.clock = clock
        self.started = False
        self.queue: deque[Action] = deque()
        self.timer: Command | None = None  # the wakeup the queue waits for
        self.alarms: dict[Command, float] = {}
        self.upstream_done = False
        self.closed = False
        self.store = False  # store_streamed_bodies, read once (each option read deep-copies its value)
        self.layer: Any = None  # the HttpStream, once taken over

    def ask(self, step: str, now: float, data: bytes = b"") -> list[Action]:
        """The plan's actions for one step; a bug in a plan falls back to relaying untouched."""
        try:
            if step == "feed":
                return self.plan.feed(data, now)
            result: list[Action] = getattr(self.plan, step)(now)
            return result
        except Exception:
            log.exception("brownout: stream plan failed in %s; relaying the rest of the stream untouched", step)
            self.on_error()
            self.plan = StreamPlan()
            return [Send(data)] if data else []

    # -- as mitmproxy's stream function: content only

    def __call__(self, data: bytes) -> list[bytes]:
        if self.closed:
            return []
        now = self.clock()
        actions: list[Action] = []
        if not self.started:
            self.started = True
            actions += self.ask("start", now)
        piece = joined(self.before, data)
        if piece:
            actions += self.ask("feed", now, piece)
        if not data:
            actions += self.ask("end", now)
        out: list[bytes] = []
        for action in actions:
            if isinstance(action, Send) and action.data:
                out.append(action.data)
            elif isinstance(action, Cut | Finish):
                self.closed = True
                break
        for piece in out:
            self.on_send(piece)
        return out  # a list, never b"": an empty bytes would end an HTTP/1 chunked body

    # -- inside the HTTP layer

    def take_over(self, layer: Any) -> CommandGenerator:
        """Relay `layer`'s (an HttpStream's) body from now on; called as its response starts."""
        self.layer = layer
        self.started = True
        self.store = bool(layer.context.options.store_streamed_bodies)
        handle = layer._handle_event
        layer.server_state = types.MethodType(_relayed_body, layer)
        layer._brownout_relay = self

        def handle_event(event: events.Event) -> CommandGenerator:
            # Only this relay's own timers: another wakeup (an upstream time limit's) is not its.
            if isinstance(event, events.Wakeup) and (event.command is self.timer or event.command in self.alarms):
                return _on_wakeup(layer, self, event)
            result: CommandGenerator = handle(event)
            return result

        layer._handle_event = handle_event
        yield from _run(layer, self, self.ask("start", self.clock()))


def _relayed_body(self: Any, event: events.Event) -> CommandGenerator:
    """The body state of a relayed stream (in place of `state_stream_response_body`)."""
    relay: PlanRelay = self._brownout_relay
    if isinstance(event, http_events.ResponseData):
        if relay.closed:
            return
        data = joined(relay.before, event.data)
        # An empty piece would be written as HTTP/1's final chunk: never relay one.
        if data:
            yield from _run(self, relay, relay.ask("feed", relay.clock(), data))
    elif isinstance(event, http_events.ResponseTrailers):
        self.flow.response.trailers = event.trailers  # sent by send_response
    elif isinstance(event, http_events.ResponseEndOfMessage):
        relay.upstream_done = True
        if not relay.closed:
            last = joined(relay.before, b"") if relay.before is not None else b""
            actions = relay.ask("feed", relay.clock(), last) if last else []
            yield from _run(self, relay, actions + relay.ask("end", relay.clock()))


def _on_wakeup(self: Any, relay: PlanRelay, event: events.Wakeup) -> CommandGenerator:
    command = event.command
    if relay.closed or self.flow.error is not None:
        # The stream ended meanwhile (the client left, the upstream broke): nothing to send.
        relay.closed = True
        relay.queue.clear()
        return
    if command is relay.timer:
        relay.timer = None
        yield from _pump(self, relay)
    elif command in relay.alarms:
        at = relay.alarms.pop(command)
        now = relay.clock()
        if now < at - EPSILON:
            yield from _arm_alarm(relay, at, now)
            return
        actions = relay.ask("alarm", now)
        if any(isinstance(action, Cut | Finish) for action in actions):
            relay.queue.clear()
            relay.timer = None  # its wakeup will find nothing to do
        relay.queue.extendleft(reversed(actions))
        if relay.timer is None:
            yield from _pump(self, relay)


def _arm_alarm(relay: PlanRelay, at: float, now: float) -> CommandGenerator:
    wakeup = commands.RequestWakeup(min(max(at - now, 0.0), MAX_WAIT))
    relay.alarms[wakeup] = at
    yield wakeup


def _run(self: Any, relay: PlanRelay, actions: list[Action]) -> CommandGenerator:
    if not relay.queue and relay.timer is None and is_plain(actions):
        # Fast path: nothing held, nothing to wait for.
        chunks = [action.data for action in actions if isinstance(action, Send) and action.data]
        if chunks:
            yield from _send(self, relay, chunks)
        if relay.upstream_done:
            yield from _complete(self, relay)
        return
    now = relay.clock()
    for action in actions:
        if isinstance(action, Alarm):
            yield from _arm_alarm(relay, action.at, now)
        else:
            relay.queue.append(action)
    if relay.timer is None:
        yield from _pump(self, relay)


def _pump(self: Any, relay: PlanRelay) -> CommandGenerator:
    """Carry out queued actions until one must wait."""
    chunks: list[bytes] = []
    while relay.queue:
        action = relay.queue[0]
        if isinstance(action, Send):
            relay.queue.popleft()
            if action.data:
                chunks.append(action.data)
            continue
        if chunks:
            yield from _send(self, relay, chunks)
            chunks = []
        if isinstance(action, Hold):
            delay = action.until - relay.clock()
            if delay <= EPSILON:
                relay.queue.popleft()
                continue
            relay.timer = commands.RequestWakeup(min(delay, MAX_WAIT))
            yield relay.timer
            return
        relay.queue.clear()
        if isinstance(action, Cut):
            yield from _cut(self, relay, action.mode)
        else:
            yield from _finish_early(self, relay)
        return
    if chunks:
        yield from _send(self, relay, chunks)
    if relay.upstream_done:
        yield from _complete(self, relay)


def _send(self: Any, relay: PlanRelay, chunks: list[bytes]) -> CommandGenerator:
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if relay.store:
        self.response_body_buf += data
    relay.on_send(data)
    yield layers_http.SendHttp(http_events.ResponseData(self.stream_id, data), self.context.client)


def _store_body(self: Any, relay: PlanRelay) -> None:
    if relay.store:
        self.flow.response.data.content = bytes(self.response_body_buf)
        self.response_body_buf.clear()


def _cancel_upstream(self: Any, relay: PlanRelay) -> CommandGenerator:
    # A kill on the client side does not stop the upstream request (reference pitfall 7).
    if not relay.upstream_done:
        yield layers_http.SendHttp(
            http_events.RequestProtocolError(self.stream_id, CUT_MESSAGE, http_events.ErrorCode.CANCEL),
            self.context.server,
        )


def _complete(self: Any, relay: PlanRelay) -> CommandGenerator:
    """The upstream ended and nothing is held: end the response as mitmproxy would."""
    relay.closed = True
    _store_body(self, relay)
    yield from self.send_response(already_streamed=True)


def _finish_early(self: Any, relay: PlanRelay) -> CommandGenerator:
    """End the response cleanly now; what the upstream still sends is dropped."""
    relay.closed = True
    yield from _cancel_upstream(self, relay)
    _store_body(self, relay)
    yield from self.send_response(already_streamed=True)
    # state_done would refuse the upstream's late events; errored swallows them.
    self.server_state = self.state_errored


def _cut(self: Any, relay: PlanRelay, mode: str) -> CommandGenerator:
    """End the connection mid-body: the client never sees the response end."""
    relay.closed = True
    flow: http.HTTPFlow = self.flow
    if mode == "reset":
        reset_client(flow)  # TCP RST on HTTP/1; on HTTP/2 the kill below resets the stream
    # Our own message, not KILLED_MESSAGE, so later events for this stream do not kill it twice.
    flow.error = mflow.Error(f"{CUT_MESSAGE} ({mode})")
    yield from _cancel_upstream(self, relay)
    yield layers_http.SendHttp(
        http_events.ResponseProtocolError(self.stream_id, CUT_MESSAGE, http_events.ErrorCode.KILL),
        self.context.client,
    )
    self.client_state = self.server_state = self.state_errored
    yield layers_http.HttpErrorHook(flow)
    flow.live = False
    yield layers_http.DropStream(self.stream_id)


def cut_by_us(error: str | None) -> bool:
    """Whether a flow's error is a cut this relay made."""
    return error is not None and error.startswith(CUT_MESSAGE)
