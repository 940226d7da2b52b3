"""What a stream fault does to one event stream, as plain data: bytes and times in, actions out.

A `StreamPlan` is fed the upstream's body chunks as they arrive and answers with actions for the
relay: send these bytes, hold what follows until a moment, cut the connection, end the response
cleanly. It never sleeps and never touches a connection, so every fault's behaviour is tested
with a fake clock and no proxy. `EventPlan` cuts the body into SSE events and asks `on_event`
about each one; the stream faults subclass it. The relay (`brownout.mitm.relay`) carries the
actions out on a live flow without blocking the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from brownout.faults.outcome import Outcome
from brownout.providers.dialects import Dialect
from brownout.providers.sse import MAX_PENDING
from brownout.providers.sse import EventSplitter
from brownout.providers.sse import SseEvent


# Not frozen: a frozen dataclass is several times slower to build, and one is built per event.
@dataclass(slots=True)
class Send:
    """Relay these bytes to the client now (after any hold before them)."""

    data: bytes


@dataclass(slots=True)
class Hold:
    """Send nothing more until `until` (the plan's clock, seconds); what follows waits."""

    until: float


@dataclass(frozen=True, slots=True)
class Cut:
    """End the connection mid-body: `close` (FIN / RST_STREAM) or `reset` (TCP RST / RST_STREAM)."""

    mode: Literal["close", "reset"]


@dataclass(frozen=True, slots=True)
class Finish:
    """End the response cleanly now, as if the upstream had ended it; drop the rest."""


@dataclass(frozen=True, slots=True)
class Alarm:
    """Call the plan's `alarm` at `at`, whatever else is held (does not delay other actions)."""

    at: float


Action = Send | Hold | Cut | Finish | Alarm
TERMINAL = (Cut, Finish)


def is_plain(actions: list[Action]) -> bool:
    """Only sends: the relay can pass them on at once, without a timer."""
    for action in actions:
        if type(action) is not Send:
            return False
    return True


class StreamPlan:
    """The protocol between a stream fault and the relay. The base class relays unchanged."""

    # What the fault did once it acted (cut, stalled, ...); NONE while it has not.
    outcome: Outcome = Outcome.NONE

    def start(self, now: float) -> list[Action]:
        """The response headers went out; the body follows."""
        return []

    def feed(self, data: bytes, now: float) -> list[Action]:
        """A body chunk arrived from the upstream."""
        return [Send(data)]

    def end(self, now: float) -> list[Action]:
        """The upstream ended the body. Actions still held are carried out before the response ends."""
        return []

    def alarm(self, now: float) -> list[Action]:
        """An `Alarm` fell due; its actions go before anything held."""
        return []


class EventPlan(StreamPlan):
    """Cuts the body into SSE events and asks `on_event` what to do with each.

    Events are counted on event boundaries, never on TCP chunks. Comment-only blocks (`: ping`)
    are relayed in place but not counted. Once a terminal action is returned, the rest of the
    body is dropped.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.splitter = EventSplitter()
        self.events = 0  # events counted so far (relayed or not)
        self.over = False

    @property
    def newline(self) -> bytes:
        """The line ending for injected events: what the stream itself uses, else the provider's."""
        return self.splitter.newline or self.dialect.newline

    def feed(self, data: bytes, now: float) -> list[Action]:
        if self.over:
            return []
        actions: list[Action] = []
        for raw in self.splitter.feed(data):
            event = SseEvent(raw)
            if event.is_comment:
                actions.append(Send(raw))
                continue
            index = self.events
            self.events += 1
            step = self.on_event(event, index, now)
            actions += step
            for action in step:
                if type(action) in TERMINAL:
                    self.over = True
                    return actions
        if self.splitter.pending > MAX_PENDING:
            actions.append(Send(self.splitter.take_pending()))
        return actions

    def end(self, now: float) -> list[Action]:
        if self.over:
            return []
        tail = self.splitter.take_pending()
        return ([Send(tail)] if tail else []) + self.on_end(now)

    def on_event(self, event: SseEvent, index: int, now: float) -> list[Action]:
        """`index` counts events before this one (0 for the first)."""
        self.dialect.observe(event)
        return [Send(event.raw)]

    def on_end(self, now: float) -> list[Action]:
        return []
