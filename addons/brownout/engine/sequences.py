"""Counts for the rules that count (`first`, `times`, `every`; `brownout.scenario.counting`).

Pure, on the engine's clock. `first: N` needs the logical request an attempt belongs to when the
attempt *arrives*, before anything is known of how it ends, so the key is the part of the
observer's grouping (`brownout.observe.grouping`) that the request alone gives:

- who is asking: the salted API-key hash and, for scope `client`, the client's address (its host,
  not its port: a retry may come on a new connection); scope `key` drops the address, `global` both;
- the request's fingerprint: method, provider, path (no query) and the canonical body.

An attempt continues a logical request when an attempt with the same key failed and ended no longer
than `retry_window` ago (the observer's window), plus any Retry-After its answer asked for, and is
not yet taken by another retry; an identical
request while its twin is still under way starts a logical request of its own, as the observer
counts it. The hooks say when an attempt ends, and whether it failed (`ended`).

Every table is bounded (oldest first out) and starts empty when a scenario is switched on.

A fleet of replicas shares the `every` and `times` counts (`SharedCounts`, kept in Redis by
`brownout.fleet.counters`), so a `times: 3` rule fires three times in all, not three times per
replica; a count out of reach falls back to this replica's own for that request, and what was
counted so is carried into the fleet's count when Redis answers again (`carry_over`, at the
rejoin, or the replica's next request on that rule and scope key, whichever comes first), so a
firing made alone is one of the fleet's. `first` stays
each replica's: a logical request's attempts are told apart by their ends, which one replica sees.
"""

from __future__ import annotations

from collections import OrderedDict
from collections import deque
from collections.abc import Hashable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Protocol

from brownout.classify.request import RequestInfo
from brownout.observe import retry_signals as signals
from brownout.scenario.counting import Counting
from brownout.scenario.counting import Scope

MAX_TRACKED = 10_000


@dataclass(eq=False, slots=True)
class Arrival:
    """One attempt as it arrives, for the rules that count: what identifies its logical request.

    The fingerprint is computed only when a `first:` rule asks (it hashes the canonical body). The
    rules that counted this attempt leave a ticket, so its end can be told to them."""

    address: str = ""  # the client's host
    method: str = "POST"
    path: str = ""
    body: bytes = b""
    parsed: Mapping[str, object] = field(default_factory=dict)
    # The attempt's number as a Stainless SDK sends it (`x-stainless-retry-count`), None from others.
    retry_count: int | None = None
    tickets: list[Ticket] = field(default_factory=list)
    _fingerprint: str | None = None

    def fingerprint(self, provider: str) -> str:
        if self._fingerprint is None:
            self._fingerprint = signals.fingerprint(self.method, provider, self.path, self.body, self.parsed)
        return self._fingerprint


def scope_key(scope: Scope, info: RequestInfo, address: str) -> str:
    """Whose count an attempt falls into."""
    if scope == "client":
        return signals.identity(info.key_hash, address)
    if scope == "key":
        return info.key_hash or "-"
    return ""


@dataclass(eq=False, slots=True)
class Logical:
    """One logical request as a `first:` rule sees it."""

    key: Hashable
    attempts: int = 0
    failed_at: float = 0.0
    retry_after: float = 0.0  # what its failed answer asked the client to wait


@dataclass(eq=False, slots=True)
class Ticket:
    """An attempt of a logical request, under way."""

    table: LogicalRequests
    logical: Logical


class LogicalRequests:
    """The logical requests one `first:` rule has seen: attempts so far, and failures awaiting a retry."""

    def __init__(self, max_tracked: int = MAX_TRACKED) -> None:
        self.max_tracked = max_tracked
        self._awaiting: OrderedDict[Hashable, deque[Logical]] = OrderedDict()

    def arrive(self, key: Hashable, now: float, retry_window: float, retry_count: int | None = None) -> Ticket:
        """The attempt arriving now: the next one of the oldest failure still awaiting a retry
        within the window, else the first of a new logical request.

        Identical requests under way together (one prompt sent by several tasks) share a key, so
        their failures wait in one queue. An SDK's numbered retry (`retry_count` above 0) takes the
        oldest failure that has had exactly that many attempts, so twins' retries do not swap
        places: a twin's first retry taken by another twin's second would let one through early and
        fail the other once too often. A numbered retry that finds no such failure (its own was
        taken by a twin's unnumbered first attempt, which cannot be told from an app's retry, or
        brownout never saw it) is the attempt its number says, of a logical request of its own.
        Unnumbered attempts take the oldest failure (an app's loop above the SDK)."""
        logical: Logical | None = None
        queue = self._awaiting.get(key)
        if queue:
            live = [c for c in queue if c.failed_at + retry_window + c.retry_after >= now]
            if retry_count:
                logical = next((c for c in live if c.attempts == retry_count), None)
            elif live:
                logical = live[0]
            if logical is not None:
                live.remove(logical)
            queue.clear()
            queue.extend(live)
        if queue is not None and not queue:
            del self._awaiting[key]
        if logical is None:
            logical = Logical(key, attempts=retry_count or 0)
        logical.attempts += 1
        return Ticket(self, logical)

    def ended(self, ticket: Ticket, now: float, failed: bool, retry_after: float | None = None) -> None:
        """The attempt ended: a failure awaits its retry; a success ends the logical request."""
        if not failed:
            return
        logical = ticket.logical
        logical.failed_at = now
        logical.retry_after = retry_after or 0.0
        self._awaiting.setdefault(logical.key, deque()).append(logical)
        self._awaiting.move_to_end(logical.key)
        while len(self._awaiting) > self.max_tracked:
            self._awaiting.popitem(last=False)

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._awaiting.values())


class Tally:
    """A count per scope key, bounded."""

    def __init__(self, max_tracked: int = MAX_TRACKED) -> None:
        self.max_tracked = max_tracked
        self._counts: OrderedDict[str, int] = OrderedDict()

    def get(self, key: str) -> int:
        return self._counts.get(key, 0)

    def pop(self, key: str) -> int:
        """The count, forgotten (0 when there was none)."""
        return self._counts.pop(key, 0)

    def items(self) -> list[tuple[str, int]]:
        return list(self._counts.items())

    def put_back(self, key: str, count: int) -> None:
        """Add a popped count back (what it was meant for failed)."""
        if count:
            self._add(key, count)

    def add(self, key: str) -> int:
        return self._add(key, 1)

    def _add(self, key: str, count: int) -> int:
        total = self._counts[key] = self._counts.get(key, 0) + count
        self._counts.move_to_end(key)
        while len(self._counts) > self.max_tracked:
            self._counts.popitem(last=False)
        return total


class SharedCounts(Protocol):
    """Counts every replica adds to; None from a call: out of reach now (the local count decides).

    `carried`: what this replica counted on its own for `count` while it was out of reach, added
    first (unconditionally: those firings happened), so the fleet's count includes them."""

    async def add(self, count: str, carried: int = 0) -> int | None:
        """One more for `count`; its total now, this one included."""
        ...

    async def take(self, count: str, limit: int, carried: int = 0) -> bool | None:
        """One more for `count` if it is below `limit` (False, and nothing added, when it is not)."""
        ...

    async def carry(self, count: str, carried: int) -> bool:
        """Only add `carried` to `count` (a rejoin's catch-up); False when out of reach."""
        ...


@dataclass(frozen=True, slots=True)
class SharedRule:
    """A counting rule's counts across a fleet: where they are, and the rule's name there (its
    scenario, the activation they count from, and its place)."""

    counts: SharedCounts
    rule: str

    def name(self, kind: str, who: str) -> str:
        return f"{self.rule}:{kind}:{who}"


@dataclass(slots=True)
class RuleCounts:
    """What one counting rule keeps."""

    logical: LogicalRequests = field(default_factory=LogicalRequests)
    seen: Tally = field(default_factory=Tally)  # requests that reached it (`every`)
    fired: Tally = field(default_factory=Tally)  # firings (`times`)
    # In a fleet: what this replica counted on its own (the shared counts out of reach) and has
    # not yet carried into the fleet's, per scope key.
    unshared_seen: Tally = field(default_factory=Tally)
    unshared_fired: Tally = field(default_factory=Tally)


@dataclass(frozen=True, slots=True)
class Admission:
    """A counting rule let the attempt through its counts; `book` books the firing if it fires."""

    counts: RuleCounts
    fired_key: str | None
    limit: int = 0  # the rule's `times`
    shared: SharedRule | None = None

    async def book(self) -> bool:
        """Book the firing; False when the rule has fired its `times` already (another replica
        may have taken the last one since the attempt was admitted)."""
        if self.fired_key is None:
            return True
        if self.shared is not None:
            # Popped before the await: a rejoin's catch-up meanwhile must not carry them too.
            carried = self.counts.unshared_fired.pop(self.fired_key)
            took = await self.shared.counts.take(self.shared.name("fired", self.fired_key), self.limit, carried)
            if took is not None:
                return took
            self.counts.unshared_fired.put_back(self.fired_key, carried)
        if self.counts.fired.get(self.fired_key) >= self.limit:
            return False
        self.counts.fired.add(self.fired_key)
        if self.shared is not None:
            self.counts.unshared_fired.add(self.fired_key)
        return True


async def admit(
    counting: Counting,
    counts: RuleCounts,
    info: RequestInfo,
    arrival: Arrival,
    now: float,
    retry_window: float,
    shared: SharedRule | None = None,
) -> Admission | None:
    """Whether the counts let the rule fire on this attempt (None: they do not), in this order:
    `first` (the attempt's number in its logical request), `every` (the request's number), `times`.
    With `shared`, `every` and `times` count across the fleet."""
    if counting.first is not None:
        who = scope_key(counting.first_scope, info, arrival.address)
        ticket = counts.logical.arrive(
            (who, arrival.fingerprint(info.provider)), now, retry_window, arrival.retry_count
        )
        arrival.tickets.append(ticket)
        if ticket.logical.attempts > counting.first:
            return None
    who = scope_key(counting.count_scope, info, arrival.address)
    if counting.every is not None and await _seen(counts, shared, who) % counting.every:
        return None
    if counting.times is not None:
        # Shared, the firing is checked as it is booked (one step in Redis); alone, before the draw.
        if shared is None and counts.fired.get(who) >= counting.times:
            return None
        return Admission(counts, who, counting.times, shared)
    return Admission(counts, None)


async def _seen(counts: RuleCounts, shared: SharedRule | None, who: str) -> int:
    """The request's number among those that reached the rule (`every`)."""
    if shared is not None:
        carried = counts.unshared_seen.pop(who)
        seen = await shared.counts.add(shared.name("seen", who), carried)
        if seen is not None:
            return seen
        counts.unshared_seen.put_back(who, carried + 1)
    return counts.seen.add(who)


async def carry_over(counts: RuleCounts, shared: SharedRule) -> None:
    """Carry what a rule counted alone into the fleet's counts (a rejoin): each count popped
    first, put back when Redis is out of reach again."""
    for kind, tally in (("seen", counts.unshared_seen), ("fired", counts.unshared_fired)):
        for who, _ in tally.items():
            carried = tally.pop(who)
            if carried and not await shared.counts.carry(shared.name(kind, who), carried):
                tally.put_back(who, carried)
                return


def ended(arrival: Arrival, now: float, failed: bool, retry_after: float | None = None) -> None:
    """An attempt's end, for every `first:` rule that counted it."""
    for ticket in arrival.tickets:
        ticket.table.ended(ticket, now, failed, retry_after)
    arrival.tickets.clear()
