"""`stream_cut`: the stream ends mid-answer; the terminator (`[DONE]`, `message_stop`) never arrives.

`close` and `reset` break the connection (the client sees an error); `end` ends the response
cleanly, with neither the provider's terminator nor a finish reason: no SDK raises, and an app
that does not check how the stream ended shows a truncated answer as if it were whole.
"""

from __future__ import annotations

from typing import Literal
from typing import Self

from pydantic import model_validator

from brownout.classify.request import RequestInfo
from brownout.faults.base import Duration
from brownout.faults.bounds import Count
from brownout.faults.outcome import Outcome
from brownout.faults.stream.base import StreamFault
from brownout.faults.stream.plan import Action
from brownout.faults.stream.plan import Alarm
from brownout.faults.stream.plan import Cut
from brownout.faults.stream.plan import EventPlan
from brownout.faults.stream.plan import Finish
from brownout.faults.stream.plan import Send
from brownout.faults.stream.plan import StreamPlan
from brownout.providers.dialects import Dialect
from brownout.providers.sse import SseEvent

CutMode = Literal["close", "reset", "end"]


class StreamCutFault(StreamFault):
    type_name = "stream_cut"
    summary = (
        "End the stream after N events, N bytes or a time: close (incomplete body), reset (TCP RST), or end "
        "(a clean end without terminator or finish reason)."
    )

    after_events: Count | None = None
    after_bytes: Count | None = None
    after: Duration | None = None
    mode: CutMode = "close"

    @model_validator(mode="after")
    def _one_point(self) -> Self:
        given = [name for name in ("after_events", "after_bytes", "after") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of `after_events` (count), `after_bytes` (count) or `after` (duration)"
                + (f"; got {', '.join(given)}" if given else "")
            )
        return self

    def plan(self, info: RequestInfo) -> StreamPlan:
        if self.after_bytes is not None:
            return ByteCutPlan(self.after_bytes, self.mode)
        if self.after is not None:
            return TimedCutPlan(self.after, self.mode)
        assert self.after_events is not None
        return EventCutPlan(self.dialect(info), self.after_events, self.mode)


def _outcome(mode: CutMode) -> Outcome:
    return Outcome.RESET if mode == "reset" else Outcome.CUT


def _stop(mode: CutMode) -> Cut | Finish:
    """How the stream stops: a broken connection, or (`end`) a clean end of the response."""
    return Finish() if mode == "end" else Cut(mode)


class EventCutPlan(EventPlan):
    """Relays `after_events` whole events, then cuts at once."""

    def __init__(self, dialect: Dialect, after_events: int, mode: CutMode) -> None:
        super().__init__(dialect)
        self.after_events = after_events
        self.mode = mode

    def start(self, now: float) -> list[Action]:
        if self.after_events == 0:
            self.over = True
            self.outcome = _outcome(self.mode)
            return [_stop(self.mode)]
        return []

    def on_event(self, event: SseEvent, index: int, now: float) -> list[Action]:
        if self.mode == "end" and self.dialect.ends_answer(event):
            # A clean end must not say the answer is complete: stop just before the event that does.
            self.outcome = _outcome(self.mode)
            return [_stop(self.mode)]
        if index + 1 < self.after_events:
            return [Send(event.raw)]
        self.outcome = _outcome(self.mode)
        return [Send(event.raw), _stop(self.mode)]


class ByteCutPlan(StreamPlan):
    """Relays exactly `after_bytes` body bytes (an event may be cut in half), then cuts."""

    def __init__(self, after_bytes: int, mode: CutMode) -> None:
        self.room = after_bytes
        self.mode = mode
        self.over = False

    def _cut(self) -> list[Action]:
        self.over = True
        self.outcome = _outcome(self.mode)
        return [_stop(self.mode)]

    def start(self, now: float) -> list[Action]:
        return self._cut() if self.room == 0 else []

    def feed(self, data: bytes, now: float) -> list[Action]:
        if self.over:
            return []
        if len(data) < self.room:
            self.room -= len(data)
            return [Send(data)]
        head = data[: self.room]
        return [Send(head), *self._cut()]


class TimedCutPlan(StreamPlan):
    """Relays everything as it comes, and cuts `after` seconds after the response headers."""

    def __init__(self, after: float, mode: CutMode) -> None:
        self.after = after
        self.mode = mode
        self.over = False

    def start(self, now: float) -> list[Action]:
        return [Alarm(now + self.after)]

    def feed(self, data: bytes, now: float) -> list[Action]:
        return [] if self.over else [Send(data)]

    def alarm(self, now: float) -> list[Action]:
        if self.over:
            return []
        self.over = True
        self.outcome = _outcome(self.mode)
        return [_stop(self.mode)]
