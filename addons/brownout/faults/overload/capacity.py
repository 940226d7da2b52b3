"""What a provider does with the load it is offered: the model behind the `overload` fault.

Pure: every call takes the time from the caller (the fault's injected clock), so tests step a
virtual clock by hand. One `Pool` per provider or model holds what the provider sees:

- **Offered load**: the attempts that arrived in the last `window` seconds, per second, retries
  included (a provider cannot tell a retry from a new request), and the requests under way now
  (queued or upstream).
- **ρ** (rho), the load against capacity: `max(load / rps, under way / concurrency)`, the capacity
  scaled by a timeline phase's factor.
- ρ ≤ 1: the request passes untouched.
- ρ > 1, **overloaded**: the request waits `queue_delay × (ρ − 1)` (at most `max_queue_delay`),
  then is shed with probability `1 − 1/ρ²`. An overloaded provider serves capacity / ρ: the more
  it is offered, the less it serves, as its work goes to requests it turns away and to queued
  ones whose clients gave up. That is what lets retries keep it down.
- **Hysteresis** `h`: once overloaded, the provider stays degraded until the load falls below
  `(1 − h)` of capacity; while degraded, ρ is reckoned against that smaller capacity (cold caches,
  a backlog to drain), so it sheds more than before it fell over.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections import deque
from collections.abc import Hashable
from collections.abc import Iterator
from dataclasses import dataclass

# Arrivals kept per pool: past this the load is far above any capacity worth modelling.
MAX_ARRIVALS = 100_000


@dataclass(frozen=True, slots=True)
class Capacity:
    """A capacity and how the provider behaves above it (seconds, requests)."""

    rps: float | None = None  # requests per second
    concurrency: int | None = None  # requests under way at once
    window: float = 1.0  # seconds over which the offered load is measured
    queue_delay: float = 1.0  # the wait at twice the capacity (ρ = 2); it grows with the excess
    max_queue_delay: float = 10.0
    hysteresis: float = 0.0  # 0 <= h < 1

    def __post_init__(self) -> None:
        if self.rps is None and self.concurrency is None:
            raise ValueError("a capacity needs rps, concurrency or both")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the provider does with one request."""

    load: float  # attempts per second over the window, this one included
    underway: int  # requests under way, this one included
    ratio: float  # ρ against the capacity in force (the degraded one while degraded)
    degraded: bool
    delay: float  # seconds the request waits in the queue
    shed: bool  # answered with the provider's overload error after the wait


@dataclass(frozen=True, slots=True)
class Reading:
    """A pool as the metrics show it."""

    load: float
    underway: int
    rps: float | None  # the capacity in force (scaled, and reduced while degraded)
    concurrency: float | None
    degraded: bool


class Pool:
    """One provider's (or model's) capacity and the load offered to it."""

    def __init__(self, capacity: Capacity) -> None:
        self.capacity = capacity
        self.degraded = False
        self.underway = 0
        self._arrivals: deque[float] = deque()
        # The fleet's offered load as last measured, and when (None: this replica alone).
        self._fleet: tuple[float, float] | None = None

    def load(self, now: float) -> float:
        """The load this replica was offered: its own arrivals per second over the window."""
        horizon = now - self.capacity.window
        arrivals = self._arrivals
        while arrivals and arrivals[0] <= horizon:
            arrivals.popleft()
        return len(arrivals) / self.capacity.window

    def offered(self, now: float) -> float:
        """The load the provider sees: the fleet's, while its last measure is within the window
        (a replica that stops hearing of it falls back on its own arrivals)."""
        local = self.load(now)
        if self._fleet is not None and now - self._fleet[0] < self.capacity.window:
            return max(local, self._fleet[1])
        return local

    def _ratio(self, load: float, underway: int, scale: float) -> float:
        """ρ against the capacity scaled by `scale`."""
        c = self.capacity
        ratio = 0.0
        if c.rps is not None:
            ratio = load / (c.rps * scale)
        if c.concurrency is not None:
            ratio = max(ratio, underway / (c.concurrency * scale))
        return ratio

    def _settle(self, load: float, underway: int, scale: float) -> float:
        """Update the degraded state for this load; returns ρ against the capacity in force."""
        ratio = self._ratio(load, underway, scale)
        kept = 1.0 - self.capacity.hysteresis
        if not self.degraded and ratio > 1.0:
            self.degraded = True
        elif self.degraded and ratio < kept:
            self.degraded = False
        return ratio / kept if self.degraded else ratio

    def offer(self, now: float, rng: random.Random, scale: float = 1.0, fleet_load: float | None = None) -> Verdict:
        """A request arrives: count it, and say how long it waits and whether it is shed.

        `fleet_load` is the load every replica was offered, this request included, when a fleet
        shares its pools (`brownout.faults.shared.SharedLoad`); concurrency stays this replica's.
        The request is under way from now until `done` (a shed one too, while it waits)."""
        if len(self._arrivals) >= MAX_ARRIVALS:
            self._arrivals.popleft()
        self._arrivals.append(now)
        self.underway += 1
        if fleet_load is not None:
            self._fleet = (now, fleet_load)
        load = self.offered(now)
        ratio = self._settle(load, self.underway, scale)
        if ratio <= 1.0:
            return Verdict(load, self.underway, ratio, self.degraded, 0.0, False)
        c = self.capacity
        delay = min(c.max_queue_delay, c.queue_delay * (ratio - 1.0))
        # Drawn only above capacity, so a scenario's seeded draws stay put while load is low.
        shed = rng.random() < 1.0 - 1.0 / (ratio * ratio)
        return Verdict(load, self.underway, ratio, self.degraded, delay, shed)

    def done(self) -> None:
        """A request under way ended (answered, shed, failed, or its client left)."""
        self.underway = max(0, self.underway - 1)

    def reading(self, now: float, scale: float = 1.0) -> Reading:
        """The pool for the metrics: its state from the load the provider sees, the load shown
        this replica's own (a fleet's instances add up to the fleet's offered load)."""
        self._settle(self.offered(now), self.underway, scale)
        kept = (1.0 - self.capacity.hysteresis) if self.degraded else 1.0
        c = self.capacity
        return Reading(
            self.load(now),
            self.underway,
            c.rps * scale * kept if c.rps is not None else None,
            c.concurrency * scale * kept if c.concurrency is not None else None,
            self.degraded,
        )

    def idle(self, now: float) -> bool:
        return self.underway == 0 and not self.degraded and self.offered(now) == 0.0


class Pools:
    """A pool per key (a provider, or a provider and model), bounded: idle pools are forgotten
    first once there are more than `max_keys`."""

    def __init__(self, capacity: Capacity, max_keys: int = 1_000) -> None:
        self.capacity = capacity
        self.max_keys = max_keys
        self._pools: OrderedDict[Hashable, Pool] = OrderedDict()

    def of(self, key: Hashable, now: float) -> Pool:
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = Pool(self.capacity)
            if len(self._pools) > self.max_keys:
                for old, candidate in list(self._pools.items())[: len(self._pools) - self.max_keys]:
                    if candidate.idle(now):
                        del self._pools[old]
        else:
            self._pools.move_to_end(key)
        return pool

    def items(self) -> Iterator[tuple[Hashable, Pool]]:
        yield from list(self._pools.items())
