"""A fleet's offered load on a real redis-server: the arrivals of three replicas add up at an
`overload` rule's pool, over a sliding window on Redis's clock, bounded and expiring; Redis down
falls back to each replica's own arrivals."""

from __future__ import annotations

import asyncio
import random

import pytest

from brownout.classify.request import RequestInfo
from brownout.faults.base import FaultRun
from brownout.faults.outcome import Outcome
from brownout.faults.overload.fault import OverloadFault
from brownout.faults.shared import Shared
from brownout.fleet.fallbacks import Fallbacks
from brownout.fleet.link import RedisLink
from brownout.fleet.load import RedisLoad
from fleet.replicas import replica_links  # noqa: F401 (a fixture)
from fleet.replicas import until
from redis_server import RedisServer
from redis_server import redis_server  # noqa: F401 (a fixture)


async def test_the_arrivals_of_all_replicas_add_up_over_the_window(
    replica_links: list[RedisLink],  # noqa: F811
) -> None:
    loads = [RedisLoad(link, Fallbacks()) for link in replica_links]
    seen = [await loads[i % 3].arrive("r:provider:openai", 0.5) for i in range(6)]
    assert seen == [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]  # arrivals per second over half a second
    await asyncio.sleep(0.6)
    assert await loads[1].arrive("r:provider:openai", 0.5) == 2.0  # the earlier ones left the window
    assert await loads[1].arrive("r:provider:anthropic", 0.5) == 2.0  # another pool counts alone


async def test_a_pools_arrivals_are_bounded_and_expire(replica_links: list[RedisLink]) -> None:  # noqa: F811
    link = replica_links[0]
    load = RedisLoad(link, Fallbacks(), most=5)
    for _ in range(8):
        last = await load.arrive("r:provider:openai", 1.0)
    assert last == 5.0
    arrivals, numbers = load.keys("r:provider:openai")
    assert await link.client.zcard(arrivals) == 5
    assert 1_000 < await link.client.pttl(arrivals) <= 2_000
    assert 1_000 < await link.client.pttl(numbers) <= 2_000


async def no_wait(seconds: float, client_gone: asyncio.Event) -> bool:
    return False  # the queue's delay is read from the outcome; nobody needs to sit through it


def copies(links: list[RedisLink], fallbacks: Fallbacks | None = None) -> list[tuple[OverloadFault, Shared]]:
    """The same overload rule on each replica (10 requests a second), with the fleet's load."""
    pairs = []
    for link in links:
        fault = OverloadFault(rps=10, window=1.0, queue_delay=0.5)
        fault.use(fault._time.clock, no_wait)
        pairs.append((fault, Shared("drill:0", load=RedisLoad(link, fallbacks or Fallbacks()))))
    return pairs


async def offer(fault: OverloadFault, shared: Shared) -> FaultRun:
    run = FaultRun(info=RequestInfo("openai", "chat", "gpt-4o", False), rng=random.Random(0), shared=shared)
    await fault.on_request(run)
    fault.on_end(run)
    return run


async def test_three_replicas_each_under_capacity_overload_the_fleets_provider(
    replica_links: list[RedisLink],  # noqa: F811
) -> None:
    pairs = copies(replica_links)
    # 30 requests within a second, 10 at each replica: alone each is at capacity, together at 3×.
    runs = [await offer(*pairs[i % 3]) for i in range(30)]
    assert [run.outcome for run in runs[:10]] == [Outcome.ADMITTED] * 10
    late = [run.outcome for run in runs[20:]]
    assert all(outcome in (Outcome.DELAYED, Outcome.ANSWERED) for outcome in late)
    assert Outcome.ANSWERED in late  # shed with the provider's overload error
    for fault, _ in pairs:
        ((_, reading),) = list(fault.readings())
        assert reading.load == pytest.approx(10.0)  # each replica shows its own share
        assert reading.degraded


async def test_with_redis_down_each_replica_reckons_with_its_own_arrivals(
    replica_links: list[RedisLink],  # noqa: F811
    redis_server: RedisServer,  # noqa: F811
) -> None:
    fallbacks = Fallbacks()
    pairs = copies(replica_links, fallbacks)
    redis_server.stop(kill=True)
    runs = [await offer(*pairs[i % 3]) for i in range(30)]
    # 10 a replica is each one's capacity, not above it: nothing queues or is shed.
    assert {run.outcome for run in runs} == {Outcome.ADMITTED}
    assert fallbacks.total("load") == 30
    redis_server.start()
    await until(lambda: all(link.up for link in replica_links))
    await offer(*pairs[0])
    assert fallbacks.total("load") == 30  # shared again
