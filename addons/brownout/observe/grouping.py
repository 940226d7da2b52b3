"""How the client reacted: attempts grouped into logical requests, and what that grouping shows.

Pure: plain events in (`brownout.observe.events`), each carrying its own time; plain
observations out. `Observer.feed` takes one event and returns what it revealed (a retry, its
delay, a Retry-After violation, a retry of a non-retryable error, an abandonment, a fallback, a
recovery, a retry storm); `Observer.tick` closes what time alone ends (a failure nobody retried). Memory is bounded:
every table has a time window and a size cap.

Grouping. Attempts with the same identity (API-key hash and client address) and the same
fingerprint (method, provider, path, canonical body) belong to one logical request when the
later one starts after the earlier one failed and within `retry_window` (plus any Retry-After
the failure asked for). The attempt number Stainless SDKs send (`x-stainless-retry-count`) is a
hint, not the rule: more than 0 is the SDK's own retry (layer `sdk`); 0 is a fresh SDK call,
which is a retry too when it repeats an unretried failure within the window: a retry of the layer
above the SDK (layer `app`: a hand-written loop, tenacity, a gateway, an agent framework). A
repeat after a success, or beside an attempt still in flight, is a new logical request.

Bad answers. A 200 a content fault spoiled is a failed attempt like any other, with one more way
to be asked again: a re-ask. A request re-asks a bad answer when it comes from the same client
address within the retry window and continues the same conversation: its turns start with all of
the spoiled request's turns (the same turns with other parameters, e.g. a higher `max_tokens`;
the bad answer and a validation error appended; a tool call and its error result appended), or
its last user turn is the same (a fallback to another provider or model, a rebuilt prompt). The
re-ask joins the logical request as a retry (`reask`: a 200 asks for no wait, so it is not judged
for backoff); a window that closes without one means the client carried on with the bad answer,
which is not giving up. A new question in a new conversation is not a re-ask. A follow-up turn
appended to the same conversation is, since brownout reads hashes, not words.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from collections import deque
from dataclasses import dataclass
from dataclasses import field
from typing import Literal
from typing import TypeVar

from brownout.observe.events import ABANDONED
from brownout.observe.events import UNKNOWN
from brownout.observe.events import Abandoned
from brownout.observe.events import AttemptEnded
from brownout.observe.events import AttemptStarted
from brownout.observe.events import BadAnswer
from brownout.observe.events import BrokenStream
from brownout.observe.events import ClientAbandoned
from brownout.observe.events import Event
from brownout.observe.events import Fallback
from brownout.observe.events import FaultsSwitched
from brownout.observe.events import Hang
from brownout.observe.events import Layer
from brownout.observe.events import LogicalRequestEnded
from brownout.observe.events import Observation
from brownout.observe.events import Recovered
from brownout.observe.events import Retry
from brownout.observe.events import RetryStorm
from brownout.observe.events import Settings

_K = TypeVar("_K")
_V = TypeVar("_V")

# -- internal records


@dataclass(eq=False, slots=True)
class _Logical:
    key: tuple[str, str]
    provider: str
    endpoint: str
    client: str
    attempts: int = 1
    awaiting: bool = False  # its last attempt failed; a retry may come
    deadline: float = 0.0
    failed_at: float | None = None  # None: unknown (a failure brownout did not see end)
    after: str = ""
    retry_after: float | None = None
    nonretryable: bool = False
    last_delay: float | None = None  # how long its latest retry waited
    broken: str = ""  # its last attempt was a broken stream, broken so
    scenario: str = ""  # the scenario whose fault failed its last attempt
    bad_answer: bool = False  # its last attempt was a bad answer (a 200 a content fault spoiled)
    fault: str = ""  # the fault type of that attempt
    answered: tuple[str, str] = ("", "")  # the provider and client of that attempt
    # Where its last attempt came from and what it asked, to know a re-ask that changed the body.
    origin: str = ""
    turns: str = ""  # the last attempt's whole list of turns, hashed
    conversation: str = ""


@dataclass(slots=True)
class _Attempt:
    started: AttemptStarted
    logical: _Logical


@dataclass(slots=True)
class _Trouble:
    """A conversation whose last attempt failed: where, and since when."""

    provider: str
    model: str
    first: float
    last: float
    client: str = "other"  # the client whose attempts failed there


@dataclass(slots=True)
class _StormWindow:
    retries: deque[float] = field(default_factory=deque)
    firsts: deque[float] = field(default_factory=deque)
    active: bool = False


class Observer:
    """Turns attempts into logical requests and reports what the client did."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.now = 0.0  # the latest time any event carried
        self._inflight: OrderedDict[str, _Attempt] = OrderedDict()
        self._awaiting: OrderedDict[tuple[str, str], deque[_Logical]] = OrderedDict()
        self._deadlines: list[tuple[float, int, _Logical]] = []  # heap over awaiting logical requests
        self._seq = itertools.count()
        self._troubles: OrderedDict[tuple[str, str], _Trouble] = OrderedDict()
        self._faulted: dict[str, set[str]] = {}  # scenario -> providers its faults acted on
        self._recovering: dict[tuple[str, str], float] = {}  # (scenario, provider) -> switch-off time
        self._switched_off: dict[str, float] = {}  # scenario -> when it (or a phase of it) last went off
        self._storms: dict[str, _StormWindow] = {}
        self._bad_answers: OrderedDict[str, deque[_Logical]] = OrderedDict()  # origin -> bad answers awaiting

    # -- public

    def feed(self, event: Event) -> list[Observation]:
        out: list[Observation] = []
        self._advance(event.time, out)
        match event:
            case AttemptStarted():
                self._started(event, out)
            case AttemptEnded():
                self._ended(event, out)
            case ClientAbandoned():
                self._abandoned(event, out)
            case FaultsSwitched():
                self._switched(event)
        return out

    def tick(self, now: float) -> list[Observation]:
        """Close what time alone ends: failures nobody retried, storms that calmed down."""
        out: list[Observation] = []
        self._advance(now, out)
        return out

    def inflight(self) -> int:
        return len(self._inflight)

    def tracked(self) -> dict[str, int]:
        """Table sizes, for tests and a glance at memory."""
        return {
            "inflight": len(self._inflight),
            "awaiting": sum(len(q) for q in self._awaiting.values()),
            "deadlines": len(self._deadlines),
            "conversations": len(self._troubles),
            "recovering": len(self._recovering),
            "bad_answers": sum(len(q) for q in self._bad_answers.values()),
        }

    # -- attempts

    def _started(self, ev: AttemptStarted, out: list[Observation]) -> None:
        key = (ev.identity, ev.fingerprint)
        # An unretried failure of this request within its window: whatever number the SDK gives
        # this attempt, it repeats that one.
        logical = self._take_awaiting(key, ev.time)
        if logical is None and ev.retry_count:
            logical = self._take_inflight(key, ev, out)
        if logical is None and not ev.retry_count:
            logical = self._take_reask(ev)
        if logical is None:
            logical = _Logical(key, ev.provider, ev.endpoint, ev.client)
            if ev.retry_count:
                # A numbered retry whose earlier attempts brownout never saw (started before it, say).
                logical.attempts = ev.retry_count
                self._retry(logical, ev, out, delay=None)  # after what: unknown
            else:
                self._storm(ev.provider, ev.time, retry=False, out=out)
        else:
            delay = ev.time - logical.failed_at if logical.failed_at is not None else None
            self._retry(logical, ev, out, delay=delay)
        self._fallback(ev, out)
        self._inflight[ev.attempt] = _Attempt(ev, logical)
        self._cap(self._inflight)

    def _retry(self, logical: _Logical, ev: AttemptStarted, out: list[Observation], delay: float | None) -> None:
        s = self.settings
        logical.attempts += 1
        waited_out = (
            delay is not None
            and logical.retry_after is not None
            and delay >= logical.retry_after - s.retry_after_tolerance
        )
        violation = delay is not None and logical.retry_after is not None and not waited_out
        reask = logical.bad_answer
        no_backoff = (
            not reask
            and delay is not None
            and not waited_out
            and (
                delay < s.backoff_floor
                or (logical.last_delay is not None and delay < logical.last_delay * s.backoff_growth)
            )
        )
        after = logical.after or UNKNOWN
        out.append(
            Retry(
                ev.provider,
                ev.client,
                after,
                delay,
                violation,
                logical.nonretryable,
                _layer(ev),
                no_backoff,
                logical.retry_after,
                reask,
            )
        )
        if reask:
            out.append(BadAnswer(*logical.answered, logical.fault, "reasked", logical.attempts - 1))
            self._forget_bad_answer(logical)
        if logical.broken:  # (a later failure of this request says afresh whether it broke)
            out.append(BrokenStream(ev.provider, ev.client, logical.broken, True, logical.attempts - 1))
        if delay is not None:
            logical.last_delay = delay
        logical.awaiting = False
        self._storm(ev.provider, ev.time, retry=True, out=out)

    def _ended(self, ev: AttemptEnded, out: list[Observation]) -> None:
        attempt = self._inflight.pop(ev.attempt, None)
        if attempt is None:
            return
        started = attempt.started
        self._note_fault(ev.scenario, started.provider)
        if ev.fault == "timeout" and ev.failure == "timeout":
            # brownout's hang ran out before the client gave up: it waited the whole hang.
            out.append(Hang(started.provider, started.client, max(0.0, ev.time - started.time), gave_up=False))
        if ev.failure:
            self._failed(attempt, ev.time, ev.failure, ev.retry_after, ev.nonretryable, out, ev.scenario, ev.broken, ev)
            return
        logical = attempt.logical
        out.append(LogicalRequestEnded(logical.provider, logical.endpoint, logical.client, logical.attempts, "success"))
        self._succeeded(attempt, out)

    def _abandoned(self, ev: ClientAbandoned, out: list[Observation]) -> None:
        attempt = self._inflight.pop(ev.attempt, None)
        if attempt is None:
            return
        started = attempt.started
        self._note_fault(ev.scenario, started.provider)
        waited = max(0.0, ev.time - started.time)
        out.append(Abandoned(started.provider, started.endpoint, started.client, waited, started.declared_timeout))
        if ev.fault == "timeout":
            out.append(Hang(started.provider, started.client, waited, gave_up=True))
        self._failed(attempt, ev.time, ABANDONED, None, False, out, ev.scenario)

    def _failed(
        self,
        attempt: _Attempt,
        at: float,
        after: str,
        retry_after: float | None,
        nonretryable: bool,
        out: list[Observation],
        scenario: str = "",
        broken: str = "",
        ended: AttemptEnded | None = None,
    ) -> None:
        logical = attempt.logical
        started = attempt.started
        logical.awaiting = True
        logical.failed_at = at
        logical.after = after
        logical.retry_after = retry_after
        logical.nonretryable = nonretryable
        logical.scenario = scenario
        logical.broken = broken
        logical.bad_answer = ended is not None and ended.bad_answer
        logical.fault = ended.fault if ended is not None else ""
        logical.answered = (started.provider, started.client)
        logical.origin = started.origin
        logical.turns = started.turns[-1] if started.turns else ""
        logical.conversation = started.conversation
        logical.deadline = at + self.settings.retry_window + (retry_after or 0.0)
        queue = self._awaiting.setdefault(logical.key, deque())
        queue.append(logical)
        self._awaiting.move_to_end(logical.key)
        heapq.heappush(self._deadlines, (logical.deadline, next(self._seq), logical))
        if logical.bad_answer:
            self._note_bad_answer(logical)
        self._trouble(attempt.started, at)
        while len(self._awaiting) > self.settings.max_tracked:
            _, evicted = self._awaiting.popitem(last=False)
            for old in evicted:
                self._close(old, out)

    def _take_awaiting(self, key: tuple[str, str], start: float) -> _Logical | None:
        """The oldest failed logical request with this key that a request starting now may retry."""
        queue = self._awaiting.get(key)
        if not queue:
            return None
        for logical in queue:
            if logical.failed_at is not None and logical.failed_at <= start <= logical.deadline:
                queue.remove(logical)
                if not queue:
                    del self._awaiting[key]
                return logical
        return None

    def _note_bad_answer(self, logical: _Logical) -> None:
        queue = self._bad_answers.setdefault(logical.origin, deque())
        # Drop what no longer awaits (re-asked, retried, closed): the table holds open bad answers only.
        for old in [old for old in queue if not (old.awaiting and old.bad_answer)]:
            queue.remove(old)
        if logical not in queue:
            queue.append(logical)
        self._bad_answers.move_to_end(logical.origin)
        while len(self._bad_answers) > self.settings.max_tracked:
            self._bad_answers.popitem(last=False)

    def _forget_bad_answer(self, logical: _Logical) -> None:
        logical.bad_answer = False
        queue = self._bad_answers.get(logical.origin)
        if queue is not None and logical in queue:
            queue.remove(logical)
            if not queue:
                del self._bad_answers[logical.origin]

    def _take_reask(self, ev: AttemptStarted) -> _Logical | None:
        """The oldest open bad answer from this client address that this request re-asks: it
        continues the same conversation (see the module's docstring) within the window."""
        queue = self._bad_answers.get(ev.origin)
        if not queue:
            return None
        found: _Logical | None = None
        for logical in list(queue):
            if not (logical.awaiting and logical.bad_answer):
                queue.remove(logical)
            elif _reasks(ev, logical):
                found = logical
                queue.remove(logical)
                awaiting = self._awaiting[logical.key]  # awaiting means still in its key's queue
                awaiting.remove(logical)
                if not awaiting:
                    del self._awaiting[logical.key]
                logical.key = (ev.identity, ev.fingerprint)  # its next retry repeats this body
                break
        if not queue:
            del self._bad_answers[ev.origin]
        return found

    def _take_inflight(self, key: tuple[str, str], ev: AttemptStarted, out: list[Observation]) -> _Logical | None:
        """An SDK-numbered retry while its earlier attempt still looks open: the client gave up on it
        without brownout seeing the close (an HTTP/2 stream reset while a fault held the flow)."""
        for attempt_id, attempt in self._inflight.items():
            if attempt.logical.key == key and attempt.started.time < ev.time:
                del self._inflight[attempt_id]
                s = attempt.started
                out.append(Abandoned(s.provider, s.endpoint, s.client, None, s.declared_timeout))
                logical = attempt.logical
                logical.after = ABANDONED
                logical.failed_at = None  # unknown: no delay, no Retry-After check
                logical.retry_after = None
                logical.nonretryable = False
                return logical
        return None

    def _close(self, logical: _Logical, out: list[Observation]) -> None:
        """Nobody retried the failure within its window: the client gave the request up."""
        logical.awaiting = False
        outcome: Literal["failure", "abandoned"] = "abandoned" if logical.after == ABANDONED else "failure"
        # The fault still held if its scenario was not switched off since the last failure.
        switched_off = self._switched_off.get(logical.scenario)
        held = (
            bool(logical.scenario)
            and not logical.bad_answer  # it took the answer: carrying on is not giving up
            and (switched_off is None or logical.failed_at is None or switched_off < logical.failed_at)
        )
        out.append(
            LogicalRequestEnded(
                logical.provider, logical.endpoint, logical.client, logical.attempts, outcome, held, logical.after
            )
        )
        if logical.broken:
            out.append(BrokenStream(logical.provider, logical.client, logical.broken, False, logical.attempts))
        if logical.bad_answer:
            out.append(BadAnswer(*logical.answered, logical.fault, "carried_on", logical.attempts))
            self._forget_bad_answer(logical)

    # -- fallbacks

    def _trouble(self, started: AttemptStarted, at: float) -> None:
        if not started.conversation:
            return
        key = (started.origin, started.conversation)
        trouble = self._troubles.get(key)
        if trouble is None or (trouble.provider, trouble.model) != (started.provider, started.model):
            self._troubles[key] = _Trouble(started.provider, started.model, first=at, last=at, client=started.client)
        else:
            trouble.last = at
        self._troubles.move_to_end(key)
        self._cap(self._troubles)

    def _fallback(self, ev: AttemptStarted, out: list[Observation]) -> None:
        if not ev.conversation:
            return
        key = (ev.origin, ev.conversation)
        trouble = self._troubles.get(key)
        if trouble is None or (trouble.provider, trouble.model) == (ev.provider, ev.model):
            return  # nothing failed, or this is the same place again (a retry, not a fallback)
        del self._troubles[key]
        if trouble.last <= ev.time <= trouble.last + self.settings.fallback_window:
            out.append(
                Fallback(
                    trouble.provider, ev.provider, trouble.model, ev.model, ev.time - trouble.first, trouble.client
                )
            )

    def _succeeded(self, attempt: _Attempt, out: list[Observation]) -> None:
        started = attempt.started
        if started.conversation:
            self._troubles.pop((started.origin, started.conversation), None)
        for (scenario, provider), switched_off in list(self._recovering.items()):
            if provider == started.provider and started.time >= switched_off:
                del self._recovering[(scenario, provider)]
                out.append(Recovered(scenario, provider, started.time - switched_off))

    # -- recovery

    def _note_fault(self, scenario: str, provider: str) -> None:
        if scenario:
            self._faulted.setdefault(scenario, set()).add(provider)

    def _switched(self, ev: FaultsSwitched) -> None:
        # Recoveries still pending from this scenario's earlier faults are moot: the faults are
        # back on, or a later window of them just ended and is timed from its own end instead.
        for key in [k for k in self._recovering if k[0] == ev.scenario]:
            del self._recovering[key]
        hit = self._faulted.pop(ev.scenario, set())
        if not ev.active:
            self._switched_off[ev.scenario] = ev.time
            for provider in hit:
                self._recovering[(ev.scenario, provider)] = ev.time

    # -- storms

    def _storm(self, provider: str, at: float, *, retry: bool, out: list[Observation]) -> None:
        window = self._storms.setdefault(provider, _StormWindow())
        (window.retries if retry else window.firsts).append(at)
        self._judge_storm(provider, window, out)

    def _judge_storm(self, provider: str, window: _StormWindow, out: list[Observation]) -> None:
        s = self.settings
        horizon = self.now - s.storm_window
        for times in (window.retries, window.firsts):
            while times and times[0] < horizon:
                times.popleft()
            while len(times) > s.max_tracked:
                times.popleft()
        retries, firsts = len(window.retries), len(window.firsts)
        storming = retries >= s.storm_min_retries and retries >= s.storm_ratio * firsts
        if storming and not window.active:
            window.active = True
            out.append(RetryStorm(provider, True, retries, firsts))
        elif window.active and retries < s.storm_min_retries / 2:
            window.active = False
            out.append(RetryStorm(provider, False, retries, firsts))

    # -- time

    def _advance(self, now: float, out: list[Observation]) -> None:
        self.now = max(self.now, now)
        now = self.now
        while self._deadlines and self._deadlines[0][0] < now:
            deadline, _, logical = heapq.heappop(self._deadlines)
            if logical.awaiting and logical.deadline == deadline:
                # Still awaiting means still in its key's queue (taking it or evicting it ends that).
                queue = self._awaiting[logical.key]
                queue.remove(logical)
                if not queue:
                    del self._awaiting[logical.key]
                self._close(logical, out)
        while self._troubles:
            trouble = next(iter(self._troubles.values()))
            if trouble.last + self.settings.fallback_window >= now:
                break
            self._troubles.popitem(last=False)
        if self._recovering:
            for key, switched_off in list(self._recovering.items()):
                if switched_off + self.settings.recovery_window < now:
                    del self._recovering[key]
        for provider, window in self._storms.items():
            if window.active:  # a calm window is judged when it gets its next attempt
                self._judge_storm(provider, window, out)

    def _cap(self, table: OrderedDict[_K, _V]) -> None:
        while len(table) > self.settings.max_tracked:
            table.popitem(last=False)


def _reasks(ev: AttemptStarted, logical: _Logical) -> bool:
    """Whether this request, from the bad answer's client address, asks it again: within the
    window, and continuing its conversation (all its turns first) or with its last user turn."""
    if logical.failed_at is None or not logical.failed_at <= ev.time <= logical.deadline:
        return False
    continues = bool(logical.turns) and logical.turns in ev.turns
    return continues or (bool(logical.conversation) and logical.conversation == ev.conversation)


def _layer(ev: AttemptStarted) -> Layer:
    """Which layer of the client sent a retry (see `brownout.observe.events.Layer`)."""
    if ev.retry_count:
        return "sdk"
    if ev.retry_count == 0 or ev.client == "generic":
        return "app"  # above a numbering SDK, or a plain HTTP client: no SDK layer below the app
    return "unknown"
