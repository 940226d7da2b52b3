"""`stream_stall`: after N events the stream goes silent for a while, then closes or goes on."""

from __future__ import annotations

from typing import Literal

from brownout.classify.request import RequestInfo
from brownout.faults.base import Duration
from brownout.faults.bounds import Count
from brownout.faults.outcome import Outcome
from brownout.faults.stream.base import StreamFault
from brownout.faults.stream.plan import Action
from brownout.faults.stream.plan import Cut
from brownout.faults.stream.plan import EventPlan
from brownout.faults.stream.plan import Hold
from brownout.faults.stream.plan import Send
from brownout.faults.stream.plan import StreamPlan
from brownout.providers.dialects import Dialect
from brownout.providers.sse import SseEvent


class StreamStallFault(StreamFault):
    type_name = "stream_stall"
    summary = "After N events, silence for a duration; then close the connection or resume."

    after_events: Count = 0
    duration: Duration
    then: Literal["close", "resume"] = "resume"

    def plan(self, info: RequestInfo) -> StreamPlan:
        return StallPlan(self.dialect(info), self.after_events, self.duration, self.then)


class StallPlan(EventPlan):
    """The stall starts once event N is relayed. On `resume`, every later event (and the end)
    goes out `duration` after it arrived: the stream picks up at its own pace, not in a burst."""

    def __init__(self, dialect: Dialect, after_events: int, duration: float, then: str) -> None:
        super().__init__(dialect)
        self.after_events = after_events
        self.duration = duration
        self.then = then
        self.stalled = False

    def _stall(self, now: float) -> list[Action]:
        self.stalled = True
        self.outcome = Outcome.STALLED
        if self.then == "close":
            self.over = True
            return [Hold(now + self.duration), Cut("close")]
        return []

    def start(self, now: float) -> list[Action]:
        return self._stall(now) if self.after_events == 0 else []

    def on_event(self, event: SseEvent, index: int, now: float) -> list[Action]:
        if self.stalled:
            return [Hold(now + self.duration), Send(event.raw)]
        if index + 1 == self.after_events:
            return [Send(event.raw), *self._stall(now)]
        return [Send(event.raw)]

    def on_end(self, now: float) -> list[Action]:
        return [Hold(now + self.duration)] if self.stalled else []
