"""A record replayed: every attempt with how it ended, and every observation with its time.

The record's events go through a fresh `Observer` (the same grouping as the live metrics), then
time is moved past every window, so failures still waiting for a retry are closed as given up:
a report made the moment a drill ends says what a report made minutes later would say.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from brownout.observe.events import AttemptEnded
from brownout.observe.events import AttemptStarted
from brownout.observe.events import ClientAbandoned
from brownout.observe.events import FaultsSwitched
from brownout.observe.events import Observation
from brownout.observe.events import Retry
from brownout.observe.grouping import Observer
from brownout.observe.record import RunRecord


@dataclass(slots=True)
class Attempt:
    started: AttemptStarted
    ended: AttemptEnded | None = None
    abandoned: ClientAbandoned | None = None
    retry: bool = False  # it repeated an earlier failed attempt

    @property
    def done(self) -> bool:
        return self.ended is not None or self.abandoned is not None

    @property
    def end(self) -> float | None:
        if self.ended is not None:
            return self.ended.time
        return self.abandoned.time if self.abandoned is not None else None

    @property
    def succeeded(self) -> bool:
        return self.ended is not None and not self.ended.failure

    @property
    def scenario(self) -> str:
        if self.ended is not None:
            return self.ended.scenario
        return self.abandoned.scenario if self.abandoned is not None else ""

    @property
    def faulted(self) -> bool:
        """A brownout fault acted on it."""
        return bool(self.scenario)


@dataclass(slots=True)
class Replay:
    started: float  # when the run began (Unix time)
    ended: float  # the last event's time
    attempts: list[Attempt] = field(default_factory=list)
    observations: list[tuple[float, Observation]] = field(default_factory=list)
    switches: list[FaultsSwitched] = field(default_factory=list)
    dropped: int = 0  # events the record no longer held

    @property
    def open_attempts(self) -> int:
        return sum(1 for attempt in self.attempts if not attempt.done)


def replay(record: RunRecord) -> Replay:
    observer = Observer(record.settings)
    result = Replay(started=record.started, ended=record.started, dropped=record.dropped)
    by_id: dict[str, Attempt] = {}
    for event in record.events:
        result.ended = max(result.ended, event.time)
        match event:
            case AttemptStarted():
                by_id[event.attempt] = attempt = Attempt(event)
                result.attempts.append(attempt)
            case AttemptEnded():
                if event.attempt in by_id:
                    by_id[event.attempt].ended = event
            case ClientAbandoned():
                if event.attempt in by_id:
                    by_id[event.attempt].abandoned = event
            case FaultsSwitched():
                result.switches.append(event)
        seen = observer.feed(event)
        if isinstance(event, AttemptStarted):
            by_id[event.attempt].retry = any(isinstance(o, Retry) for o in seen)
        result.observations += [(event.time, observation) for observation in seen]
    # Close what time alone would close: failures nobody retried, storms that calmed down.
    result.observations += [(result.ended, observation) for observation in observer.tick(float("inf"))]
    return result
