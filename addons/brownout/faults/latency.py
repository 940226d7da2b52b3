"""`latency`: hold the request before it goes upstream, for a fixed or a random time."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal
from typing import Self

from pydantic import model_validator

from brownout.faults.base import Duration
from brownout.faults.base import Fault
from brownout.faults.base import FaultRun
from brownout.faults.base import Hangup
from brownout.faults.base import wait_or_client_gone
from brownout.faults.outcome import Outcome
from brownout.providers.base import Reply
from brownout.units import LONGEST_WAIT

# z-score of the 99th percentile of a standard normal distribution.
_Z99 = 2.3263478740408408
_LOG_LONGEST_WAIT = math.log(LONGEST_WAIT)

_PARAMS: dict[str, tuple[str, str]] = {
    "uniform": ("min", "max"),
    "normal": ("mean", "stddev"),
    "lognormal": ("median", "p99"),
}


@dataclass(frozen=True, slots=True)
class Held:
    """How long a latency fault held this request."""

    seconds: float


class LatencyFault(Fault):
    type_name = "latency"
    summary = "Delay the request before the first byte: fixed, uniform, normal or lognormal."

    delay: Duration | None = None
    distribution: Literal["uniform", "normal", "lognormal"] | None = None
    min: Duration | None = None
    max: Duration | None = None
    mean: Duration | None = None
    stddev: Duration | None = None
    median: Duration | None = None
    p99: Duration | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        given = {name for name in ("min", "max", "mean", "stddev", "median", "p99") if getattr(self, name) is not None}
        if (self.delay is None) == (self.distribution is None):
            raise ValueError("give either `delay` (fixed) or `distribution` (uniform, normal or lognormal)")
        if self.delay is not None:
            if given:
                raise ValueError(f"a fixed `delay` takes no {', '.join(sorted(given))}")
            return self
        assert self.distribution is not None
        needed = set(_PARAMS[self.distribution])
        if given != needed:
            raise ValueError(
                f"distribution {self.distribution} needs exactly {' and '.join(_PARAMS[self.distribution])}"
                + (f"; got {', '.join(sorted(given))}" if given else "")
            )
        if self.distribution == "uniform" and self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("uniform: `min` must not exceed `max`")
        if self.distribution == "lognormal" and self.median is not None and self.p99 is not None:
            if not 0 < self.median <= self.p99:
                raise ValueError("lognormal: needs 0 < median <= p99")
        return self

    def sample(self, rng: random.Random) -> float:
        """One delay in seconds, never negative, never longer than LONGEST_WAIT (a normal or
        lognormal tail may reach past it)."""
        if self.delay is not None:
            return self.delay
        if self.distribution == "uniform":
            assert self.min is not None and self.max is not None
            return rng.uniform(self.min, self.max)
        if self.distribution == "normal":
            assert self.mean is not None and self.stddev is not None
            return min(max(0.0, rng.gauss(self.mean, self.stddev)), LONGEST_WAIT)
        assert self.median is not None and self.p99 is not None
        mu = math.log(self.median)
        sigma = (math.log(self.p99) - mu) / _Z99
        # lognormvariate is exp(normalvariate): the same draw, its exponent capped so a tiny
        # median under a long p99 cannot overflow.
        return math.exp(min(rng.normalvariate(mu, sigma), _LOG_LONGEST_WAIT))

    async def on_request(self, run: FaultRun) -> Reply | Hangup | None:
        seconds = self.sample(run.rng)
        run.state = Held(seconds)
        run.outcome = Outcome.DELAYED
        # Only this flow waits: the hook is a task of its own on mitmproxy's loop. A client that
        # leaves ends the hold: nothing is sent upstream for it, and it is counted as abandoned.
        if await wait_or_client_gone(run, seconds):
            run.outcome = Outcome.ABANDONED
            return Hangup()
        return None
