"""Token buckets for the `rate_limit` fault: requests and tokens per minute, as providers count them.

Pure: every call takes the time from an injected clock, so tests step time by hand. A bucket
holds up to `capacity` units and refills continuously at `per_minute / 60` units a second, as
OpenAI's and Anthropic's limits do: their `x-ratelimit-reset-*` / `anthropic-ratelimit-*-reset`
headers give the time until the bucket is full again.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Hashable
from typing import Literal

from brownout.faults.shared import BucketLimits
from brownout.providers.rate_limits import LimitState
from brownout.providers.rate_limits import Verdict


class TokenBucket:
    def __init__(self, capacity: float, per_minute: float, now: float) -> None:
        self.capacity = capacity
        self.rate = per_minute / 60.0  # units per second
        self._level = capacity
        self._updated = now

    def level(self, now: float) -> float:
        """Units available now; negative after a request used more than it was charged."""
        if now > self._updated:
            self._level = min(self.capacity, self._level + (now - self._updated) * self.rate)
            self._updated = now
        return self._level

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until `amount` units are available (0 when they are now)."""
        missing = amount - self.level(now)
        # Float steps leave a hair missing at the very moment the wait runs out; that is no wait.
        return 0.0 if missing <= 1e-9 else missing / self.rate

    def take(self, amount: float, now: float) -> None:
        """Remove units (a negative amount gives them back); the level may go below zero."""
        self._level = min(self.capacity, self.level(now) - amount)

    def time_to_full(self, now: float) -> float:
        return max(0.0, (self.capacity - self.level(now)) / self.rate)

    def is_full(self, now: float) -> bool:
        return self.level(now) >= self.capacity


class RateLimiter:
    """Requests-per-minute and tokens-per-minute buckets for each key (a model, or a key and model).

    `burst` caps the request bucket (default: `rpm`, a whole minute's worth at once, as the
    providers allow). A request passes when one request and its estimated tokens are both
    available; it then uses them. A refused request uses nothing.
    """

    def __init__(
        self,
        rpm: int | None,
        tpm: int | None,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if rpm is None and tpm is None:
            raise ValueError("a rate limiter needs rpm, tpm or both")
        self.rpm = rpm
        self.tpm = tpm
        self.burst = burst if burst is not None else rpm
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[Hashable, tuple[TokenBucket | None, TokenBucket | None]] = OrderedDict()

    @property
    def limits(self) -> BucketLimits:
        """The buckets' sizes and rates, as shared buckets are made to the same measure."""
        return BucketLimits(self.rpm, self.tpm, self.burst)

    def _pair(self, key: Hashable, now: float) -> tuple[TokenBucket | None, TokenBucket | None]:
        pair = self._buckets.get(key)
        if pair is None:
            pair = (
                TokenBucket(float(self.burst), float(self.rpm), now) if self.rpm and self.burst is not None else None,
                TokenBucket(float(self.tpm), float(self.tpm), now) if self.tpm else None,
            )
            self._buckets[key] = pair
            self._forget_idle(now)
        else:
            self._buckets.move_to_end(key)
        return pair

    def _forget_idle(self, now: float) -> None:
        # Many API keys must not grow memory without bound; a full bucket holds no state worth keeping.
        if len(self._buckets) <= self.max_keys:
            return
        for key, (requests, tokens) in list(self._buckets.items())[: len(self._buckets) - self.max_keys]:
            if (requests is None or requests.is_full(now)) and (tokens is None or tokens.is_full(now)):
                del self._buckets[key]

    def admit(self, key: Hashable, tokens: int) -> Verdict:
        now = self.clock()
        requests, token_bucket = self._pair(key, now)
        # A request larger than the whole token bucket waits for a full bucket, not forever.
        needed = min(float(tokens), token_bucket.capacity) if token_bucket else 0.0
        wait_requests = requests.wait_for(1.0, now) if requests else 0.0
        wait_tokens = token_bucket.wait_for(needed, now) if token_bucket else 0.0
        if max(wait_requests, wait_tokens) <= 0:
            if requests:
                requests.take(1.0, now)
            if token_bucket:
                token_bucket.take(float(tokens), now)
        return verdict_of(
            self.limits,
            requests.level(now) if requests else None,
            token_bucket.level(now) if token_bucket else None,
            (wait_requests, wait_tokens),
            tokens,
        )

    def settle(self, key: Hashable, charged: int, used: int) -> None:
        """Correct a request's token charge once its real usage is known."""
        pair = self._buckets.get(key)
        if pair is not None and pair[1] is not None:
            pair[1].take(float(used - charged), self.clock())

    def state(self, key: Hashable) -> tuple[LimitState | None, LimitState | None]:
        now = self.clock()
        requests, tokens = self._pair(key, now)
        verdict = verdict_of(
            self.limits, requests.level(now) if requests else None, tokens.level(now) if tokens else None
        )
        return verdict.requests, verdict.tokens


def verdict_of(
    limits: BucketLimits,
    requests: float | None,
    tokens: float | None,
    waits: tuple[float, float] = (0.0, 0.0),
    requested: int = 0,
) -> Verdict:
    """What a take from buckets at these levels says (after the take, when it was let through);
    `waits` is how long the request and token buckets would make it wait (none: it passed).
    One shape for this replica's buckets and a fleet's shared ones."""
    wait_requests, wait_tokens = waits
    wait = max(wait_requests, wait_tokens)
    exhausted: Literal["requests", "tokens"] | None = None
    if wait > 0:
        exhausted = "requests" if wait_requests >= wait_tokens else "tokens"
    return Verdict(
        wait <= 0,
        _state(requests, limits.burst, limits.rpm) if requests is not None and limits.rpm else None,
        _state(tokens, limits.tpm, limits.tpm) if tokens is not None and limits.tpm else None,
        wait,
        exhausted,
        requested,
    )


def _state(level: float, capacity: int | None, per_minute: int) -> LimitState:
    # A level a hair below a whole number from float arithmetic still counts as that number.
    remaining = max(0, math.floor(level + 1e-9))
    full = float(capacity if capacity is not None else per_minute)
    return LimitState(per_minute, remaining, max(0.0, (full - level) / (per_minute / 60.0)))
