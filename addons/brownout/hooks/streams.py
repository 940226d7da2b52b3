"""Relay event streams: through a stream fault's plan when one is armed, untouched otherwise,
and count what the client received (events, time to first event, how each stream ended).

Runs after the Injector, which chooses faults: a stream fault arms its plan from the Injector's
`responseheaders` (`arm`), and this addon relays the body through it. Pass-through event streams
get an identity stream callable that only counts events, so their bytes and timing are the
upstream's. With the adapter off (a mitmproxy it does not fit), plans run in the synchronous
callable: their content changes still apply, their timing (holds) does not, and a cut or an
early end drops the rest of the body instead of ending the connection at once.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

from mitmproxy import http
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram

from brownout.engine.state import Brownout
from brownout.faults.stream.plan import Cut
from brownout.faults.stream.plan import Finish
from brownout.faults.stream.plan import Send
from brownout.faults.stream.plan import StreamPlan
from brownout.metrics.proxy import LLM_BUCKETS
from brownout.metrics.proxy import families
from brownout.mitm import relay as mitm_stream
from brownout.providers.sse import event_ends

if TYPE_CHECKING:
    from brownout.faults.base import FaultRun
    from brownout.faults.stream.base import StreamFault

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
# Events are added to brownout_stream_events_total in batches (a counter update costs about as
# much as relaying an event), and at the end of every stream.
REPORT_EVERY = 32
# How a stream ended, as its client saw it (the `outcome` label of brownout_streams_total).
OUTCOMES = (
    "completed",
    "cut",
    "reset",
    "stalled",
    "slowed",
    "errored",
    "corrupted",
    "abandoned",
    "upstream_error",
)
_PLAN_OUTCOMES = {"stream_error": "errored"}


def is_event_stream(response: http.Response) -> bool:
    return response.headers.get("content-type", "").lower().startswith("text/event-stream")


class EventCounter:
    """Counts the SSE events in bytes as they go to the client, chunk by chunk.

    Only event ends are searched (no copy of the body); a block whose first byte is `:` is a
    comment (`: keep-alive`) and not counted.
    """

    def __init__(self) -> None:
        self.events = 0
        self._carry = b""  # a line end at the end of the last chunk, which may begin a blank line
        self._first: int | None = None  # first byte of the block under way

    def feed(self, data: bytes) -> int:
        """Adds the events completed by `data`; returns how many."""
        if not data:
            return 0
        buf = self._carry + data if self._carry else data
        if self._first is None:
            self._first = buf[0]
        ends, resume = event_ends(buf)
        found = 0
        for end in ends:
            if self._first != 0x3A:  # ':'
                found += 1
            self._first = buf[end] if end < len(buf) else None
        self._carry = buf[resume:]
        self.events += found
        return found


@dataclass(eq=False)
class StreamSession:
    """One event stream: the plan armed for it (if any) and what the client received."""

    plan: StreamPlan | None = None
    fault: str = ""
    counter: EventCounter = field(default_factory=EventCounter)
    first_event_at: float | None = None  # wall clock, like mitmproxy's timestamps
    relay: str = "passthrough"  # passthrough | adapter | callable
    events_child: Counter | None = None

    unreported: int = 0

    def sent(self, data: bytes) -> None:
        found = self.counter.feed(data)
        if found:
            if self.first_event_at is None:
                self.first_event_at = time.time()
            self.unreported += found
            if self.unreported >= REPORT_EVERY:
                self.report()

    def report(self) -> None:
        if self.unreported and self.events_child is not None:
            self.events_child.inc(self.unreported)
        self.unreported = 0


_sessions: weakref.WeakKeyDictionary[http.HTTPFlow, StreamSession] = weakref.WeakKeyDictionary()


def session_of(flow: http.HTTPFlow) -> StreamSession | None:
    return _sessions.get(flow)


def arm(flow: http.HTTPFlow, fault: StreamFault, run: FaultRun) -> None:
    """Arm a stream fault's plan on this flow, from the Injector's `responseheaders`."""
    response = flow.response
    if response is None or not is_event_stream(response):
        run.outcome = "not_applied"  # an error status or a JSON body: nothing to break mid-stream
        return
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        log.warning("brownout: %s not applied: the upstream compressed the stream (%s)", fault.type_name, encoding)
        run.outcome = "not_applied"
        return
    if "content-length" in response.headers:
        # The plan may change the body's length; the framing must not promise one.
        del response.headers["content-length"]
    _sessions[flow] = StreamSession(plan=fault.plan(run.info), fault=fault.type_name)


def sync_relay(
    plan: StreamPlan,
    session: StreamSession,
    on_error: Callable[[], None] = lambda: None,
    clock: Callable[[], float] = time.monotonic,
    inner: Callable[[bytes], Any] | None = None,
) -> Callable[[bytes], list[bytes]]:
    """The plan run inside mitmproxy's synchronous stream callable (content only: holds are
    ignored, a cut or an early end drops the rest of the body). `inner`, another addon's stream
    function, sees the upstream's chunks first."""
    tap = mitm_stream.Tap(plan, on_error=on_error, inner=inner)
    started = False
    over = False

    def relay(data: bytes) -> list[bytes]:
        nonlocal started, over
        if over:
            return []
        now = clock()
        actions = []
        if not started:
            started = True
            actions += mitm_stream.ask(tap, "start", now)
        piece = mitm_stream.through(tap.inner, data)
        if piece:
            actions += mitm_stream.ask(tap, "feed", now, piece)
        if not data:
            actions += mitm_stream.ask(tap, "end", now)
        out: list[bytes] = []
        for action in actions:
            if isinstance(action, Send) and action.data:
                out.append(action.data)
            elif isinstance(action, Cut | Finish):
                over = True
                break
        for piece in out:
            session.sent(piece)
        return out  # a list, never b"": an empty bytes would end an HTTP/1 chunked body

    return relay


def passthrough(
    session: StreamSession, inner: Callable[[bytes], Any] | None = None
) -> Callable[[bytes], bytes | list[bytes]]:
    """The identity (or `inner`, another addon's stream function), counting events on the way:
    the client gets the bytes as they come."""

    def relay(data: bytes) -> bytes | list[bytes]:
        if inner is not None:
            out = inner(data)
            pieces = [out] if isinstance(out, bytes) else list(out)
            pieces = [piece for piece in pieces if piece]
            for piece in pieces:
                session.sent(piece)
            return pieces
        if not data:
            return []  # an empty piece would be written as HTTP/1's final chunk
        session.sent(data)
        return data

    return relay


class StreamMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.first_event = Histogram(
            "brownout_stream_time_to_first_event_seconds",
            "Request start to the first complete SSE event sent to the client (time to first token).",
            ["provider", "endpoint"],
            buckets=LLM_BUCKETS,
            registry=registry,
        )
        self.events = Counter(
            "brownout_stream_events",
            "SSE events relayed to clients (injected error events included).",
            ["provider", "endpoint"],
            registry=registry,
        )
        self.streams = Counter(
            "brownout_streams",
            "Event streams by how they ended for the client: " + ", ".join(OUTCOMES) + ".",
            ["provider", "endpoint", "outcome"],
            registry=registry,
        )
        self.adapter = Gauge(
            "brownout_stream_adapter_enabled",
            "1 when time-based stream faults are live; 0 when they run content-only (mitmproxy does not fit).",
            registry=registry,
        )


def _labels(flow: http.HTTPFlow) -> tuple[str, str]:
    meta = flow.metadata.get("brownout", {})
    return meta.get("provider", UNKNOWN), meta.get("endpoint", "other")


def stream_outcome(plan_outcome: str, error: str | None) -> str:
    """How a stream ended for its client, from what the fault did and the flow's error."""
    ours = error is not None and error.startswith(mitm_stream.CUT_MESSAGE)
    if error is not None and not ours:
        lowered = error.lower()
        return "abandoned" if "client" in lowered or "cancel" in lowered else "upstream_error"
    if plan_outcome:
        return _PLAN_OUTCOMES.get(plan_outcome, plan_outcome)
    return "completed"


class Streams:
    def __init__(self, state: Brownout) -> None:
        self.state = state
        self.metrics = families(state.metrics.registry, StreamMetrics)
        self.adapter = mitm_stream.Status(False, "not loaded")

    def load(self, loader: object) -> None:
        self.adapter = mitm_stream.install()
        self.metrics.adapter.set(1 if self.adapter.enabled else 0)
        if not self.adapter.enabled:
            log.warning(
                "brownout: time-based stream faults are off (stream_slow, stream_stall and cuts run content-only): %s",
                self.adapter.reason,
            )

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        if response is None or not is_event_stream(response):
            return
        session = _sessions.get(flow)
        if session is None:
            session = _sessions[flow] = StreamSession()
        provider, endpoint = _labels(flow)
        session.events_child = self.metrics.events.labels(provider=provider, endpoint=endpoint)
        plan = session.plan
        # Another addon's stream function (a usage reader, say) is kept: it runs first.
        inner = response.stream if callable(response.stream) else None
        fault_errors = self.state.metrics.fault_errors.labels(fault=session.fault or "stream")
        if plan is not None and mitm_stream.relay(flow, plan, session.sent, fault_errors.inc):
            session.relay = "adapter"
        elif plan is not None:
            session.relay = "callable"
            response.stream = sync_relay(plan, session, fault_errors.inc, inner=inner)
        else:
            response.stream = passthrough(session, inner)

    def response(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    def _finish(self, flow: http.HTTPFlow) -> None:
        session = _sessions.pop(flow, None)
        if session is None or flow.response is None:
            return
        session.report()
        provider, endpoint = _labels(flow)
        if session.first_event_at is not None:
            self.metrics.first_event.labels(provider=provider, endpoint=endpoint).observe(
                max(0.0, session.first_event_at - flow.request.timestamp_start)
            )
        plan_outcome = session.plan.outcome if session.plan is not None else ""
        if plan_outcome:
            # What the fault did, for the Recorder's `code` label and mitmweb.
            flow.metadata.setdefault("brownout", {})["outcome"] = plan_outcome
        error = flow.error.msg if flow.error is not None else None
        outcome = stream_outcome(plan_outcome, error)
        self.metrics.streams.labels(provider=provider, endpoint=endpoint, outcome=outcome).inc()
