"""`overload`: a provider with a capacity, answering as providers do when the load goes past it.

Every request the rule matches is offered to a pool (one per provider, or per provider and model):
retries count like any request. Below capacity nothing happens; above it the request waits in a
queue that grows with the excess, and some are shed with the provider's own overload error
(OpenAI and Azure 503 `server_is_overloaded`, Anthropic 529 `overloaded_error`, Gemini 503
`UNAVAILABLE`), more the higher the load. The model is `brownout.faults.overload.capacity`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Hashable
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal
from typing import Self

from pydantic import Field
from pydantic import PrivateAttr
from pydantic import model_validator

from brownout import providers
from brownout.classify.request import RequestInfo
from brownout.faults.base import Duration
from brownout.faults.base import Fault
from brownout.faults.base import FaultRun
from brownout.faults.base import Hangup
from brownout.faults.base import wait_unless_set
from brownout.faults.bounds import PositiveCount
from brownout.faults.bounds import Rate
from brownout.faults.outcome import Outcome
from brownout.faults.overload.capacity import Capacity
from brownout.faults.overload.capacity import Pool
from brownout.faults.overload.capacity import Pools
from brownout.faults.overload.capacity import Reading
from brownout.faults.overload.capacity import Verdict
from brownout.faults.shared import shared_name
from brownout.providers import KindName
from brownout.providers.base import ErrorOptions
from brownout.providers.base import Reply

# Waits `seconds` unless the client leaves first (the event); True when it left.
Wait = Callable[[float, asyncio.Event], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Timing:
    """The clock the pools read and the queue requests wait in."""

    clock: Callable[[], float] = time.monotonic
    wait: Wait = wait_unless_set


@dataclass(slots=True)
class Queued:
    """One request offered to a pool: what the provider made of it, and whether its place is free."""

    fault: OverloadFault
    pool: Pool
    verdict: Verdict
    released: bool = False
    shed: bool = False  # answered with the overload error (not a client that left the queue)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.pool.done()


class OverloadFault(Fault):
    type_name = "overload"
    summary = "A capacity (rps, concurrency): queueing and the provider's overload error above it, with hysteresis."
    needs_upstream = True  # an admitted request holds its place until its answer ends

    rps: Rate | None = None
    concurrency: PositiveCount | None = None
    per: Literal["provider", "model"] = "provider"
    window: Duration = Field(default=1.0, gt=0, allow_inf_nan=False)
    queue_delay: Duration = Field(default=1.0, allow_inf_nan=False)
    max_queue_delay: Duration = Field(default=10.0, allow_inf_nan=False)
    hysteresis: float = Field(default=0.0, ge=0.0, lt=1.0, allow_inf_nan=False)
    kind: KindName = "overloaded"
    retry_after: Duration | None = Field(default=None, allow_inf_nan=False)

    # The pools live as long as this rule: a reload of the scenario starts them idle again.
    _pools: Pools = PrivateAttr()
    _time: Timing = PrivateAttr()

    @model_validator(mode="after")
    def _some_capacity(self) -> Self:
        if self.rps is None and self.concurrency is None:
            raise ValueError(
                "an overload fault needs `rps` (requests per second), `concurrency` (requests at once) or both"
            )
        self._time = Timing()
        self._pools = Pools(
            Capacity(self.rps, self.concurrency, self.window, self.queue_delay, self.max_queue_delay, self.hysteresis)
        )
        return self

    @property
    def pools(self) -> Pools:
        return self._pools

    def use(self, clock: Callable[[], float], wait: Wait) -> None:
        """Run on another clock and queue (tests step a virtual one)."""
        self._time = Timing(clock, wait)

    def readings(self, scale: float = 1.0) -> Iterator[tuple[Hashable, Reading]]:
        """Each pool as it stands now, for the metrics."""
        now = self._time.clock()
        for key, pool in self._pools.items():
            yield key, pool.reading(now, scale)

    def pool_key(self, info: RequestInfo) -> Hashable:
        return info.provider if self.per == "provider" else (info.provider, info.model)

    def shed_reply(self, info: RequestInfo) -> Reply:
        return providers.error_reply(
            info.provider, ErrorOptions(kind=self.kind, retry_after=self.retry_after, model=info.model), info.platform
        )

    async def on_request(self, run: FaultRun) -> Reply | Hangup | None:
        info = run.info
        key = self.pool_key(info)
        fleet_load = None
        if run.shared is not None and run.shared.load is not None:
            # None when the fleet's count is out of reach: this replica's own arrivals decide.
            fleet_load = await run.shared.load.arrive(shared_name(run.shared.rule, self.per, key), self.window)
        now = self._time.clock()
        pool = self._pools.of(key, now)
        queued = Queued(self, pool, pool.offer(now, run.rng, run.capacity, fleet_load))
        run.state = queued
        verdict = queued.verdict
        if verdict.delay > 0:
            run.outcome = Outcome.DELAYED
            if await self._time.wait(verdict.delay, run.client_gone):
                queued.release()  # the client gave up in the queue
                run.outcome = Outcome.ABANDONED
                return Hangup()
        if verdict.shed:
            queued.release()
            queued.shed = True
            run.outcome = Outcome.ANSWERED
            return self.shed_reply(info)
        run.outcome = Outcome.DELAYED if verdict.delay > 0 else Outcome.ADMITTED
        return None

    def on_end(self, run: FaultRun) -> None:
        if isinstance(run.state, Queued):
            run.state.release()
