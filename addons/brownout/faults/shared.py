"""What a fleet of replicas shares with the faults that count: the seams, not the store.

A load-aware fault (`rate_limit`, `overload`) keeps its own local state and, when the run carries
a `Shared`, asks it first. The fleet part (`brownout.fleet`) provides the Redis implementations;
a call answering None means the shared state could not be reached in time, and the fault goes
on with its local state for that request (each replica then enforces the whole limit alone).
Nothing here knows Redis: a fault stays pure and is tested with any object of these shapes.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Protocol

from brownout.providers.rate_limits import Verdict


@dataclass(frozen=True, slots=True)
class BucketLimits:
    """A rate-limit rule's buckets: per minute, and the request bucket's size (`burst`)."""

    rpm: int | None
    tpm: int | None
    burst: int | None


class SharedBuckets(Protocol):
    """Token buckets taken from by every replica at once (`brownout.fleet.buckets`)."""

    async def admit(self, bucket: str, limits: BucketLimits, tokens: int) -> Verdict | None:
        """Take one request and `tokens` when both are there, as `RateLimiter.admit` does;
        None when the shared buckets cannot be reached now."""
        ...

    def settle(self, bucket: str, limits: BucketLimits, correction: int) -> None:
        """Take `correction` more tokens (fewer when negative) once the usage is known; it
        never waits, so an answer is not held up by it."""
        ...


class SharedLoad(Protocol):
    """The arrivals every replica saw at a pool (`brownout.fleet.load`)."""

    async def arrive(self, pool: str, window: float) -> float | None:
        """Count one arrival at `pool`; the fleet's arrivals per second over the last `window`
        seconds, this one included; None when the shared count cannot be reached now."""
        ...


@dataclass(frozen=True, slots=True)
class Shared:
    """The shared stores a run may use, and whose they are: `rule` names the rule across
    replicas (its scenario and place), so every replica's copy of it takes from the same buckets."""

    rule: str
    buckets: SharedBuckets | None = None
    load: SharedLoad | None = None


def shared_name(rule: str, per: str, key: Hashable) -> str:
    """The name of a rule's bucket or pool across a fleet: the rule, what it is kept per, and
    whose it is (a model, a provider, or a key hash and model)."""
    whose = "/".join(str(part) for part in key) if isinstance(key, tuple) else str(key)
    return f"{rule}:{per}:{whose}"
