"""A fleet's `times:` and `every:` counts on a real redis-server: three replicas' engines count as
one, a scenario switched on again counts from zero, keys expire, and Redis down falls back."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brownout.classify.request import RequestInfo
from brownout.engine.engine import Engine
from brownout.fleet.counters import RedisCounts
from brownout.fleet.fallbacks import Fallbacks
from brownout.fleet.link import RedisLink
from brownout.scenario.compile import parse_scenario
from fleet.replicas import REPLICAS
from fleet.replicas import replica_links  # noqa: F401 (a fixture)
from fleet.replicas import started
from fleet.replicas import until
from property_budget import budget
from redis_server import RedisServer
from redis_server import redis_server  # noqa: F401 (a fixture)

TIMES_3 = "rules:\n  - times: 3\n    fault: {type: error, kind: overloaded}\n"
EVERY_3 = "rules:\n  - every: 3\n    fault: {type: error, kind: overloaded}\n"
TIMES_PER_KEY = "rules:\n  - times: 1\n    scope: key\n    fault: {type: error, kind: overloaded}\n"


def info(key: str = "k1") -> RequestInfo:
    return RequestInfo("openai", "chat", "gpt-4o", False, "openai-python", key)


EXAMPLES = itertools.count()  # each example its own keys (hypothesis seeds `random` alike each time)


def fleet_of(links: list[RedisLink], text: str, fallbacks: Fallbacks | None = None) -> list[Engine]:
    """One engine per replica, the scenario loaded and on in each, from the same activation (as a
    fleet that shares its switches has it)."""
    engines = []
    for link in links:
        engine = Engine()
        engine.shared_counts = RedisCounts(link, fallbacks or Fallbacks())
        engine.load(parse_scenario(text, "s.yaml", default_name="s"))
        engine.activate("s")
        engines.append(engine)
    for engine in engines:
        engine.epochs["s"] = engines[0].epochs["s"]
    return engines


async def fired(engine: Engine, key: str = "k1") -> bool:
    return await engine.decide(info(key)) is not None


async def test_times_fires_its_count_once_for_the_whole_fleet_under_concurrent_load(
    replica_links: list[RedisLink],  # noqa: F811
) -> None:
    engines = fleet_of(replica_links, TIMES_3)
    results = await asyncio.gather(*(fired(engines[i % 3]) for i in range(30)))
    assert sum(results) == 3  # alone, each replica would have fired three times: nine


async def test_every_counts_the_requests_of_all_replicas(replica_links: list[RedisLink]) -> None:  # noqa: F811
    engines = fleet_of(replica_links, EVERY_3)
    # Requests go round the replicas: the third of the fleet fires, wherever it lands.
    results = [await fired(engines[i % 3]) for i in range(9)]
    assert results == [False, False, True] * 3


async def test_the_scope_key_keeps_a_count_per_api_key(replica_links: list[RedisLink]) -> None:  # noqa: F811
    a, b, _ = fleet_of(replica_links, TIMES_PER_KEY)
    assert [await fired(a, "k1"), await fired(b, "k1"), await fired(b, "k2"), await fired(a, "k2")] == [
        True,
        False,
        True,
        False,
    ]


async def test_switched_on_again_a_scenario_counts_from_zero(replica_links: list[RedisLink]) -> None:  # noqa: F811
    engines = fleet_of(replica_links, TIMES_3)
    assert [await fired(engines[i % 3]) for i in range(4)] == [True, True, True, False]
    for engine in engines:
        engine.deactivate("s")
        engine.activate("s")
        engine.epochs["s"] = engines[0].epochs["s"]
    assert [await fired(engines[i % 3]) for i in range(4)] == [True, True, True, False]


async def test_a_count_expires_after_its_last_touch(replica_links: list[RedisLink]) -> None:  # noqa: F811
    link = replica_links[0]
    counts = RedisCounts(link, Fallbacks(), ttl=0.3)
    assert await counts.add("s:1:0:seen:") == 1
    assert await counts.take("s:1:0:fired:", 1) is True
    assert await counts.take("s:1:0:fired:", 1) is False
    assert 0 < await link.client.pttl(counts.key("s:1:0:fired:")) <= 300
    await asyncio.sleep(0.4)
    assert await link.client.exists(counts.key("s:1:0:seen:"), counts.key("s:1:0:fired:")) == 0


async def test_the_counts_kept_in_redis_are_bounded_the_least_recently_used_first_out(
    replica_links: list[RedisLink],  # noqa: F811
) -> None:
    link = replica_links[0]
    counts = RedisCounts(link, Fallbacks(), most=3)
    for who in ("a", "b", "c"):
        assert await counts.take(f"s:1:0:fired:{who}", 1) is True
    assert await counts.take("s:1:0:fired:a", 1) is False  # "a" touched again: "b" is the oldest
    assert await counts.add("s:1:0:seen:d") == 1
    live = [
        who
        for who in "abcd"
        if await link.client.exists(counts.key(f"s:1:0:{'seen' if who == 'd' else 'fired'}:{who}"))
    ]
    assert live == ["a", "c", "d"]
    assert await link.client.zcard(counts.index) == 3
    assert await counts.take("s:1:0:fired:b", 1) is True  # forgotten: it counts from zero again
    assert 0 < await link.client.pttl(counts.index) <= 3_600_000


async def test_touches_in_one_instant_or_after_a_clock_step_back_still_drop_the_least_recent(
    replica_links: list[RedisLink],  # noqa: F811
) -> None:
    # Touches that read the same time from Redis (as the test above's can, within a millisecond),
    # or an earlier time than the newest in the index (Redis's clock stepped back), must not make
    # the newest count the first out. Three counts touched an hour "ahead" stand for both.
    link = replica_links[0]
    counts = RedisCounts(link, Fallbacks(), most=3)
    seconds, micros = await link.client.time()
    ahead = (seconds + 3600) * 1_000_000 + micros
    await link.client.zadd(counts.index, {counts.key(f"s:1:0:fired:{who}"): ahead + n for n, who in enumerate("xyz")})
    for who in "xyz":
        await link.client.set(counts.key(f"s:1:0:fired:{who}"), 1)
    assert await counts.take("s:1:0:fired:a", 1) is True
    assert await counts.take("s:1:0:fired:b", 1) is True
    live = [who for who in "xyzab" if await link.client.exists(counts.key(f"s:1:0:fired:{who}"))]
    assert live == ["z", "a", "b"]


async def test_carrying_counts_in_is_no_request_so_a_failed_carry_is_no_fallback(
    replica_links: list[RedisLink],  # noqa: F811
    redis_server: RedisServer,  # noqa: F811
) -> None:
    link = replica_links[0]
    fallbacks = Fallbacks()
    counts = RedisCounts(link, fallbacks)
    assert await counts.carry("s:1:0:fired:", 2) is True
    assert int(await link.client.get(counts.key("s:1:0:fired:"))) == 2  # added, nothing more
    redis_server.stop(kill=True)
    await until(lambda: not link.up)
    assert await counts.carry("s:1:0:fired:", 1) is False
    assert fallbacks.total("counters") == 0


async def test_with_redis_down_each_replica_counts_alone_then_shares_again(
    replica_links: list[RedisLink],  # noqa: F811
    redis_server: RedisServer,  # noqa: F811
) -> None:
    fallbacks = Fallbacks()
    engines = fleet_of(replica_links, TIMES_3, fallbacks)
    assert await fired(engines[0])  # one of the fleet's three
    redis_server.stop(kill=True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    # Each replica on its own tally: three firings each, and nothing waits on the dead Redis.
    results = [await fired(engine) for engine in engines for _ in range(4)]
    assert loop.time() - started < 2.0
    assert results == [True, True, True, False] * 3
    assert fallbacks.total("counters") == 12
    redis_server.start()
    await until(lambda: all(link.up for link in replica_links))
    # Back on the fleet's count, which had one firing; each replica's next request carries its
    # three made alone into it: ten in all, none left (not the two the count alone had left).
    assert [await fired(engines[i % 3]) for i in range(3)] == [False, False, False]
    link = replica_links[0]
    counts = RedisCounts(link, fallbacks)
    assert int(await link.client.get(counts.key(f"s:{engines[0].epochs['s']}:0:fired:"))) == 10


async def test_a_plain_call_refuses_counts_it_would_have_to_wait_for(
    replica_links: list[RedisLink],  # noqa: F811
) -> None:
    (engine, *_) = fleet_of(replica_links, TIMES_3)
    with pytest.raises(RuntimeError, match="await Engine.decide"):
        engine.choose(info())
    engine.shared_counts = None  # alone again: a plain call decides at once
    assert engine.choose(info()) is not None


def test_any_spread_of_concurrent_requests_fires_as_one_replica_alone_would(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """However many requests, spread over the replicas however, sent at once: a `times: K` rule
    fires min(N, K) times and an `every: M` rule N // M times, as a single brownout would."""

    @budget(15)
    @given(
        spread=st.lists(st.integers(0, REPLICAS - 1), min_size=1, max_size=40),
        times=st.integers(1, 8),
        every=st.integers(1, 5),
    )
    def one_provider(spread: list[int], times: int, every: int) -> None:
        asyncio.run(fire_all(redis_server.url, spread, times, every))

    one_provider()


async def fire_all(url: str, spread: list[int], times: int, every: int) -> None:
    prefix = f"prop{next(EXAMPLES)}"
    async with started(url, REPLICAS, prefix=prefix) as links:
        for text, expected in (
            (f"rules:\n  - times: {times}\n    fault: {{type: error, status: 500}}\n", min(len(spread), times)),
            (f"rules:\n  - every: {every}\n    fault: {{type: error, status: 500}}\n", len(spread) // every),
        ):
            engines = fleet_of(links, text)
            results = await asyncio.gather(*(fired(engines[replica]) for replica in spread))
            assert sum(results) == expected, text


async def test_a_scenario_switched_off_while_its_count_is_awaited_leaves_the_others_in_play(
    replica_links: list[RedisLink],  # noqa: F811
) -> None:
    engine = Engine()
    engine.shared_counts = RedisCounts(replica_links[0], Fallbacks())
    engine.load(parse_scenario(EVERY_3, "a.yaml", default_name="a"))
    engine.load(parse_scenario("rules:\n  - fault: {type: error, status: 500}\n", "b.yaml", default_name="b"))
    engine.activate("a")
    engine.activate("b")
    # The fleet switches `a` off while this request waits for a's count in Redis.
    asyncio.get_running_loop().call_soon(engine.remove, "a")
    decision = await engine.decide(info())
    assert decision is not None and decision.scenario == "b"
