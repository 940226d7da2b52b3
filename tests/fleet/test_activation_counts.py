"""A fleet's `times:` counts keep one identity through an activation: the replica that switches a
scenario on counts under the start it shares, and what it counted alone (Redis out of reach) is
carried into the fleet's count when it rejoins (or by its next request on that rule, if sooner).
On a real redis-server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from brownout.classify.request import RequestInfo
from brownout.control import actions as control
from brownout.engine.state import Brownout
from brownout.fleet.counting import share
from brownout.fleet.fallbacks import Fallbacks
from brownout.fleet.link import RedisLink
from brownout.fleet.switches import SharedSwitches
from brownout.scenario.compile import parse_scenario
from fleet.replicas import FAST
from fleet.replicas import until
from redis_server import RedisServer
from redis_server import redis_server  # noqa: F401 (a fixture)

ONCE = "name: once\nrules:\n  - times: 1\n    fault: {type: error, status: 503}\n"
TWICE_EVERY_2 = "name: every\nrules:\n  - every: 2\n    times: 2\n    fault: {type: error, status: 503}\n"


def info() -> RequestInfo:
    return RequestInfo("openai", "chat", "gpt-4o", False, "openai-python", "k1")


class Replica:
    """One replica's state, shared switches and shared counts on its own link."""

    def __init__(self, url: str) -> None:
        self.state = Brownout()
        for text in (ONCE, TWICE_EVERY_2):
            self.state.load(parse_scenario(text, "builtin"))
        self.link = RedisLink(url, prefix="epoch-test", timeouts=FAST)
        self.fallbacks = Fallbacks()
        self.switches = SharedSwitches(self.link, self.state, control.parse_text)
        share(self.state, self.link, self.fallbacks)

    async def start(self) -> None:
        await self.switches.start()
        await self.link.start()

    async def stop(self) -> None:
        await self.switches.close()
        await self.link.close()

    async def fires(self) -> bool:
        return await self.state.engine.decide(info()) is not None


@pytest.fixture
async def pair(redis_server: RedisServer) -> AsyncIterator[tuple[Replica, Replica]]:  # noqa: F811
    """Two replicas on one Redis, both linked up and synced once."""
    one, two = Replica(redis_server.url), Replica(redis_server.url)
    for replica in (one, two):
        await replica.start()
    try:
        await until(lambda: one.link.up and two.link.up and one.switches.resyncs > 0 and two.switches.resyncs > 0)
        yield one, two
    finally:
        for replica in (one, two):
            await replica.stop()


async def test_times_1_fires_once_on_the_replica_that_switched_it_on(redis_server: RedisServer) -> None:  # noqa: F811
    replica = Replica(redis_server.url)
    await replica.start()
    try:
        await until(lambda: replica.link.up and replica.switches.resyncs > 0)
        resyncs = replica.switches.resyncs
        replica.state.activate("once")
        assert await replica.fires()  # before the fleet's start comes back
        await until(lambda: replica.switches.resyncs > resyncs and replica.switches.pending == 0)
        assert [await replica.fires() for _ in range(3)] == [False, False, False]
        assert replica.fallbacks.total("counters") == 0
    finally:
        await replica.stop()


async def test_a_scenario_switched_on_while_redis_is_down_keeps_its_count_on_rejoin(
    pair: tuple[Replica, Replica],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    one, two = pair
    redis_server.stop(kill=True)
    await until(lambda: not one.link.up)
    one.state.activate("once")
    assert await one.fires()  # alone: its own tally
    assert not await one.fires()
    assert one.fallbacks.total("counters") >= 1
    redis_server.start()
    await until(lambda: one.switches.pending == 0 and "once" in two.state.engine.active, seconds=5.0)
    # The firing made alone is the fleet's now: the rule has fired its one time, everywhere.
    assert [await one.fires() for _ in range(2)] == [False, False]
    assert [await two.fires() for _ in range(2)] == [False, False]


async def on_in_the_fleet_then_redis_down(pair: tuple[Replica, Replica], name: str, server: RedisServer) -> None:
    """`name` switched on through the first replica, in force on both; then Redis killed."""
    one, two = pair
    one.state.activate(name)
    await until(lambda: one.switches.pending == 0 and name in two.state.engine.active)
    server.stop(kill=True)
    await until(lambda: not one.link.up)


async def test_every_carries_its_cadence_over_the_outage(
    pair: tuple[Replica, Replica],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    one, two = pair
    await on_in_the_fleet_then_redis_down(pair, "every", redis_server)
    assert [await one.fires() for _ in range(3)] == [False, True, False]  # seen 1, 2, 3 alone
    redis_server.start()
    await until(lambda: one.link.up and two.link.up, seconds=5.0)
    # One's three carried into the fleet's count: its next is the 4th, the second firing, the
    # last; the other replica sees the count where the fleet has it.
    assert await one.fires()
    assert [await two.fires() for _ in range(3)] == [False, False, False]


async def test_a_firing_made_alone_is_carried_into_the_fleets_count_at_the_rejoin(
    pair: tuple[Replica, Replica],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    one, two = pair
    await on_in_the_fleet_then_redis_down(pair, "once", redis_server)
    assert await one.fires()  # alone: the fleet's count never heard of it
    resyncs = one.switches.resyncs
    redis_server.start()
    await until(lambda: one.switches.resyncs > resyncs and two.link.up, seconds=5.0)
    # `one` sends nothing more, yet the other replica sees the rule has fired its one time.
    assert [await two.fires() for _ in range(2)] == [False, False]
