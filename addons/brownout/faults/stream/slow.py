"""`stream_slow`: events trickle out: a delay before each, or a tokens-per-second pace, and a
separate delay before the first (time to first token)."""

from __future__ import annotations

from typing import Self

from pydantic import model_validator

from brownout.classify.request import RequestInfo
from brownout.faults.base import Duration
from brownout.faults.bounds import Rate
from brownout.faults.outcome import Outcome
from brownout.faults.stream.base import StreamFault
from brownout.faults.stream.plan import Action
from brownout.faults.stream.plan import EventPlan
from brownout.faults.stream.plan import Hold
from brownout.faults.stream.plan import Send
from brownout.faults.stream.plan import StreamPlan
from brownout.providers.dialects import Dialect
from brownout.providers.sse import SseEvent
from brownout.providers.sse import event_tokens
from brownout.units import LONGEST_WAIT


class StreamSlowFault(StreamFault):
    type_name = "stream_slow"
    summary = "Delay each event, or pace the stream in tokens per second; `first_event_delay` sets time to first token."

    per_event: Duration | None = None
    tokens_per_second: Rate | None = None
    first_event_delay: Duration | None = None

    @model_validator(mode="after")
    def _one_pace(self) -> Self:
        if self.per_event is not None and self.tokens_per_second is not None:
            raise ValueError("give `per_event` (a duration) or `tokens_per_second`, not both")
        if self.per_event is None and self.tokens_per_second is None and self.first_event_delay is None:
            raise ValueError("give `per_event` (a duration), `tokens_per_second` or `first_event_delay`")
        return self

    def plan(self, info: RequestInfo) -> StreamPlan:
        return SlowPlan(self.dialect(info), self.per_event, self.tokens_per_second, self.first_event_delay)


class SlowPlan(EventPlan):
    """Computes each event's release time from its arrival and the previous release.

    - `per_event`: release = max(arrival, previous release) + per_event.
    - `tokens_per_second`: release = max(arrival, previous release + tokens / pace); tokens are
      estimated from the text the event carries, so bookkeeping events pass without delay and
      the whole reply takes about `tokens / pace` when the upstream is faster than the pace.
    - `first_event_delay`: added to the first event's arrival (replacing `per_event` for it).
    """

    def __init__(
        self,
        dialect: Dialect,
        per_event: float | None,
        tokens_per_second: float | None,
        first_event_delay: float | None,
    ) -> None:
        super().__init__(dialect)
        self.per_event = per_event
        self.tokens_per_second = tokens_per_second
        self.first_event_delay = first_event_delay
        self.released = 0.0

    def on_event(self, event: SseEvent, index: int, now: float) -> list[Action]:
        self.outcome = Outcome.SLOWED
        if index == 0:
            base = now + (self.first_event_delay or 0.0)
            if self.first_event_delay is None and self.per_event is not None:
                base += self.per_event
        else:
            base = max(now, self.released)
            if self.per_event is not None:
                base += self.per_event
        if self.tokens_per_second is not None:
            # One huge event at a slow pace still waits no longer than any fault's longest wait.
            pace = min(event_tokens(self.dialect.text_of(event)) / self.tokens_per_second, LONGEST_WAIT)
            base = max(now, base + pace)
        self.released = max(base, self.released)
        return [Hold(self.released), Send(event.raw)]
