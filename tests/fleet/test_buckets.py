"""A fleet's rate-limit buckets on a real redis-server: atomic takes across replicas, the rate
held under concurrent load, the headers from the shared figures, settles, expiry, Redis down."""

from __future__ import annotations

import asyncio
import itertools
import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brownout.classify.request import RequestInfo
from brownout.faults.base import Answer
from brownout.faults.base import FaultRun
from brownout.faults.outcome import Outcome
from brownout.faults.rate_limit.buckets import RateLimiter
from brownout.faults.rate_limit.fault import RateLimitFault
from brownout.faults.shared import BucketLimits
from brownout.faults.shared import Shared
from brownout.fleet.buckets import RedisBuckets
from brownout.fleet.fallbacks import Fallbacks
from brownout.fleet.link import RedisLink
from brownout.providers.base import Reply
from fleet.replicas import replica_links  # noqa: F401 (a fixture)
from fleet.replicas import timed_link  # noqa: F401 (a fixture)
from fleet.replicas import until
from property_budget import budget
from redis_server import RedisServer
from redis_server import redis_server  # noqa: F401 (a fixture)


def buckets_of(links: list[RedisLink]) -> list[RedisBuckets]:
    return [RedisBuckets(link, Fallbacks()) for link in links]


async def test_a_burst_taken_from_three_replicas_at_once_is_let_through_once(
    replica_links: list[RedisLink],  # noqa: F811
) -> None:
    limits = BucketLimits(rpm=6, tpm=None, burst=12)  # a tenth of a request a second: no refill to speak of
    replicas = buckets_of(replica_links)
    verdicts = await asyncio.gather(*(replicas[i % 3].admit("r:model:gpt-4o", limits, 0) for i in range(36)))
    allowed = [v for v in verdicts if v is not None and v.allowed]
    assert all(v is not None for v in verdicts)
    assert len(allowed) == 12
    # Each admitted request saw the shared bucket: the remaining counts are 11 down to 0, once each.
    assert sorted(v.requests.remaining for v in allowed if v.requests) == list(range(12))
    refused = [v for v in verdicts if v is not None and not v.allowed]
    assert all(v.exhausted == "requests" and v.wait > 0 for v in refused)


async def test_a_global_rpm_holds_within_five_percent_over_three_replicas(
    replica_links: list[RedisLink],  # noqa: F811
) -> None:
    # 1200 rpm is 20 requests a second; the burst is small so the rate, not the burst, is measured.
    limits = BucketLimits(rpm=1200, tpm=None, burst=5)
    replicas = buckets_of(replica_links)
    loop = asyncio.get_running_loop()
    admitted = 0
    asked: list[float] = []  # when each take was sent, and when answered
    answered: list[float] = []
    deadline = loop.time() + 3.0

    async def client(buckets: RedisBuckets) -> None:
        nonlocal admitted
        while loop.time() < deadline:
            asked.append(loop.time())
            verdict = await buckets.admit("r:model:gpt-4o", limits, 0)
            answered.append(loop.time())
            assert verdict is not None
            if verdict.allowed:
                admitted += 1
            else:
                await asyncio.sleep(min(verdict.wait, 0.005))

    await asyncio.gather(*(client(replicas[i % 3]) for i in range(12)))
    # The bucket refilled over the span from its first take in Redis to its last, on Redis's clock:
    # at least from the first answer to the last send, at most from the first send to the last answer.
    shortest, longest = max(asked) - min(answered), max(answered) - min(asked)
    low, high = limits.burst + 20 * shortest, limits.burst + 20 * longest  # type: ignore[operator]
    assert low * 0.95 <= admitted <= high * 1.05, (
        f"{admitted} admitted over {shortest:.3f} to {longest:.3f} s: the fleet's bucket lets "
        f"{low:.1f} to {high:.1f} through (three buckets of their own would let {3 * low:.0f})"
    )


async def test_tokens_are_charged_across_replicas_and_settled_where_taken(
    replica_links: list[RedisLink],  # noqa: F811
) -> None:
    limits = BucketLimits(rpm=None, tpm=600, burst=None)  # ten tokens a second
    a, b, _ = buckets_of(replica_links)
    first = await a.admit("r:model:m", limits, 400)
    assert first is not None and first.allowed and first.tokens is not None
    assert first.tokens.remaining == 200 and first.requests is None
    second = await b.admit("r:model:m", limits, 300)
    assert second is not None and not second.allowed and second.exhausted == "tokens"
    assert second.wait == pytest.approx(10.0, abs=0.2)  # 100 tokens missing at 10 a second
    b.settle("r:model:m", limits, -350)  # the first used 50 of its 400: 350 come back
    await b.settled()
    third = await a.admit("r:model:m", limits, 300)
    assert third is not None and third.allowed and third.tokens is not None
    assert third.tokens.remaining == pytest.approx(250, abs=2)
    # A request larger than the whole bucket waits for a full one, as alone.
    assert (await a.admit("r:model:big", limits, 10_000)).allowed  # type: ignore[union-attr]


async def test_a_key_expires_once_its_buckets_would_be_full_again(
    replica_links: list[RedisLink],  # noqa: F811
) -> None:
    limits = BucketLimits(rpm=60_000, tpm=None, burst=2)  # full again 2 ms after a take
    (buckets, *_) = buckets_of(replica_links)
    link = replica_links[0]
    await buckets.admit("r:model:brief", limits, 0)
    key = buckets.key("r:model:brief", limits)
    ttl = await link.client.pttl(key)
    assert 0 < ttl <= 1_002
    slow = BucketLimits(rpm=6, tpm=None, burst=1)
    await buckets.admit("r:model:slow", limits=slow, tokens=0)
    # Empty, it refills in ten seconds: the key lives that long and a second more, then goes.
    assert 10_000 < await link.client.pttl(buckets.key("r:model:slow", slow)) <= 11_000
    await asyncio.sleep(1.1)
    assert await link.client.exists(key) == 0


def test_the_lua_take_agrees_with_the_local_limiter(redis_server: RedisServer) -> None:  # noqa: F811
    """Any limits and any sequence of charges: the shared bucket says what a replica's own says
    (the rates are slow enough that the milliseconds of a run refill no whole unit)."""

    @budget(40)
    @given(
        rpm=st.one_of(st.none(), st.integers(1, 60)),
        tpm=st.one_of(st.none(), st.integers(1, 60)),
        burst=st.one_of(st.none(), st.integers(1, 10)),
        charges=st.lists(st.integers(0, 80), min_size=1, max_size=15),
    )
    def agree(rpm: int | None, tpm: int | None, burst: int | None, charges: list[int]) -> None:
        if rpm is None and tpm is None:
            rpm = 1
        if rpm is None:
            burst = None
        local = RateLimiter(rpm, tpm, burst, clock=lambda: 0.0)
        asyncio.run(compare(redis_server.url, local, charges))

    agree()


EXAMPLES = itertools.count()  # each example its own keys (hypothesis seeds `random` alike each time)


async def compare(url: str, local: RateLimiter, charges: list[int]) -> None:
    link = RedisLink(url, prefix=f"prop{next(EXAMPLES)}")
    await link.start()
    await until(lambda: link.up)
    shared = RedisBuckets(link, Fallbacks())
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        for charge in charges:
            mine = local.admit("k", charge)
            ours = await shared.admit("k", local.limits, charge)
            # Redis's clock ran on meanwhile: the times to full differ by as much, no more.
            slack = loop.time() - started + 0.01
            assert ours is not None
            assert (ours.allowed, ours.exhausted) == (mine.allowed, mine.exhausted)
            for theirs, own in ((ours.requests, mine.requests), (ours.tokens, mine.tokens)):
                assert (theirs is None) == (own is None)
                if theirs is not None and own is not None:
                    assert (theirs.limit, theirs.remaining) == (own.limit, own.remaining)
                    assert theirs.reset == pytest.approx(own.reset, abs=slack)
            assert ours.wait == pytest.approx(mine.wait, abs=slack)
    finally:
        await link.close()


def run_of(model: str, shared: Shared | None) -> FaultRun:
    return FaultRun(info=RequestInfo("openai", "chat", model, stream=False), rng=random.Random(0), shared=shared)


async def test_three_copies_of_a_rule_answer_as_one_provider(
    replica_links: list[RedisLink],  # noqa: F811
) -> None:
    # Each replica compiles its own copy of the rule; the fleet's buckets are the same ones.
    faults = [RateLimitFault(rpm=6, burst=3) for _ in replica_links]
    shared = [Shared("drill:0", buckets=b) for b in buckets_of(replica_links)]
    outcomes = []
    for i in range(6):
        run = run_of("gpt-4o", shared[i % 3])
        act = await faults[i % 3].on_request(run)
        outcomes.append(run.outcome)
        if isinstance(act, Reply):
            assert act.status == 429
    assert outcomes == [Outcome.ADMITTED] * 3 + [Outcome.ANSWERED] * 3
    # The buckets each copy keeps for itself were never touched: all of them are full.
    for fault in faults:
        requests, _ = fault.limiter.state("gpt-4o")
        assert requests is not None and requests.remaining == 3


async def test_a_usage_correction_on_one_replica_is_seen_by_the_next_take_on_another(
    replica_links: list[RedisLink],  # noqa: F811
) -> None:
    faults = [RateLimitFault(tpm=6000) for _ in range(2)]  # a hundred tokens a second
    (one, other, _) = buckets_of(replica_links)
    shared = [Shared("drill:0", buckets=one), Shared("drill:0", buckets=other)]
    run = run_of("gpt-4o", shared[0])
    run.body = json.dumps({"model": "gpt-4o", "max_tokens": 4000, "messages": []}).encode()
    await faults[0].on_request(run)
    assert run.outcome == Outcome.ADMITTED
    charged = run.state.charged  # type: ignore[attr-defined]
    answer = Answer(200, {}, False, b"", json.dumps({"usage": {"total_tokens": 50}}).encode())
    faults[0].on_response(run, answer)  # the answer used 50 tokens of the thousands charged
    await one.settled()
    after = await other.admit("drill:0:model:gpt-4o", faults[1].limiter.limits, 0)
    assert after is not None and after.tokens is not None
    assert after.tokens.remaining == pytest.approx(6000 - 50, abs=5)
    assert charged > 4000
    # Each replica's own bucket was never charged: the whole correction went to the shared one.
    _, tokens = faults[0].limiter.state("gpt-4o")
    assert tokens is not None and tokens.remaining == 6000


@pytest.fixture
def one_replica(replica_links: list[RedisLink]) -> tuple[RedisLink, Fallbacks, RedisBuckets]:  # noqa: F811
    """A replica's link, its fallbacks counter and its shared buckets."""
    fallbacks = Fallbacks()
    return replica_links[0], fallbacks, RedisBuckets(replica_links[0], fallbacks)


async def test_with_redis_down_each_replica_enforces_its_own_limit_and_counts_it(
    one_replica: tuple[RedisLink, Fallbacks, RedisBuckets],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    link, fallbacks, buckets = one_replica
    fault = RateLimitFault(rpm=6, burst=2)
    shared = Shared("drill:0", buckets=buckets)
    assert (await buckets.admit("drill:0:model:other", fault.limiter.limits, 0)) is not None
    redis_server.stop(kill=True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcomes = []
    for _ in range(3):
        run = run_of("gpt-4o", shared)
        await fault.on_request(run)
        outcomes.append(run.outcome)
    # The first may wait for the link's short timeout; none waits longer, none fails.
    assert loop.time() - started < 1.0
    assert outcomes == [Outcome.ADMITTED, Outcome.ADMITTED, Outcome.ANSWERED]
    assert fallbacks.total("buckets") == 3
    redis_server.start()
    await until(lambda: link.up)
    run = run_of("gpt-4o", shared)
    await fault.on_request(run)
    assert run.outcome == Outcome.ADMITTED  # shared again: the fleet's bucket for gpt-4o is full
    assert fallbacks.total("buckets") == 3


async def test_a_redis_that_hangs_costs_one_short_wait_and_never_stalls_the_loop(
    timed_link: RedisLink,  # noqa: F811
    redis_server: RedisServer,  # noqa: F811
) -> None:
    link, fallbacks = timed_link, Fallbacks()
    buckets = RedisBuckets(link, fallbacks)
    limits = BucketLimits(rpm=600, tpm=None, burst=10)
    loop = asyncio.get_running_loop()
    ticks: list[float] = []

    async def ticker() -> None:  # what every other flow on the proxy's loop would feel
        for _ in range(100):
            ticks.append(loop.time())
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    redis_server.pause()  # SIGSTOP: connections stay open, nothing answers
    try:
        started = loop.time()
        first = await buckets.admit("r:model:m", limits, 0)
        waited = loop.time() - started
        started = loop.time()
        rest = [await buckets.admit("r:model:m", limits, 0) for _ in range(20)]
        # The link is known down: no more waiting. One more wait would be a whole command
        # timeout; the 20 answers at once take milliseconds, however busy the machine.
        rest_took = loop.time() - started
        assert rest_took < link.timeouts.command / 2, rest_took
    finally:
        redis_server.resume()
    await ticking
    assert first is None and rest == [None] * 20 and fallbacks.total("buckets") == 21
    assert waited < 2 * link.timeouts.command, waited  # one command timeout, not two
    # The loop went on meanwhile: a loop stalled on the hung Redis would miss a whole command timeout.
    assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.8 * link.timeouts.command
    await until(lambda: link.up)
    assert await buckets.admit("r:model:m", limits, 0) is not None
