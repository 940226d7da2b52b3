"""The capacity model on a virtual clock: offered load, queueing, shedding, hysteresis."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brownout.faults.overload.capacity import Capacity
from brownout.faults.overload.capacity import Pool
from brownout.faults.overload.capacity import Pools
from property_budget import budget


def offer_evenly(pool: Pool, rate: float, seconds: float, start: float, rng: random.Random) -> list[bool]:
    """`rate` requests a second for `seconds`, each done at once; whether each was shed."""
    shed = []
    count = round(rate * seconds)
    for i in range(count):
        verdict = pool.offer(start + i / rate, rng)
        pool.done()
        shed.append(verdict.shed)
    return shed


def test_below_capacity_nothing_happens_and_no_draw_is_taken() -> None:
    pool = Pool(Capacity(rps=10))
    rng = random.Random(1)
    before = rng.getstate()
    assert not any(offer_evenly(pool, 9, 5, 0.0, rng))
    assert rng.getstate() == before  # a seeded scenario's other draws are not shifted
    assert pool.load(4.99) == pytest.approx(9)


def test_the_load_counts_every_attempt_over_the_window() -> None:
    pool = Pool(Capacity(rps=100, window=2.0))
    rng = random.Random(1)
    for i in range(10):
        pool.offer(i * 0.1, rng)
    assert pool.load(0.95) == pytest.approx(5.0)  # 10 attempts in 2 s
    assert pool.load(2.5) == pytest.approx(2.0)  # those of 0.6 to 0.9 s are still in the window
    assert pool.load(10.0) == 0.0


def test_above_capacity_the_queue_grows_with_the_excess_and_shedding_with_the_load() -> None:
    pool = Pool(Capacity(rps=10, queue_delay=0.5, max_queue_delay=2.0))
    rng = random.Random(3)
    verdicts = []
    for i in range(40):  # 40 requests in one second: ρ climbs to 4
        verdicts.append(pool.offer(i / 40, rng))
        pool.done()
    at_2 = next(v for v in verdicts if v.ratio >= 2.0)
    assert at_2.delay == pytest.approx(0.5 * (at_2.ratio - 1))
    assert verdicts[-1].delay == 1.5  # 0.5 × (4 − 1)
    busy = [v.shed for v in verdicts if v.ratio >= 3.0]
    assert 0.75 < sum(busy) / len(busy) <= 1.0  # shed with probability 1 − 1/ρ² (8/9 at ρ = 3)
    many = Pool(Capacity(rps=10, queue_delay=1.0, max_queue_delay=2.0))
    for i in range(200):
        verdict = many.offer(i / 200, rng)
    assert verdict.delay == 2.0  # capped


def test_the_shed_share_is_one_minus_one_over_rho_squared() -> None:
    rng = random.Random(7)
    shed = 0
    trials = 4000
    for _ in range(trials):
        pool = Pool(Capacity(rps=10))
        for i in range(20):  # the 20th request of a second sees ρ = 2
            verdict = pool.offer(i / 20, rng)
        shed += verdict.shed
    assert shed / trials == pytest.approx(0.75, abs=0.03)


def test_concurrency_counts_the_requests_under_way() -> None:
    pool = Pool(Capacity(concurrency=2))
    rng = random.Random(1)
    assert pool.offer(0.0, rng).ratio == 0.5
    assert pool.offer(0.0, rng).ratio == 1.0
    third = pool.offer(0.0, rng)
    assert third.ratio == 1.5 and third.underway == 3 and third.degraded
    pool.done()
    pool.done()
    pool.done()
    assert pool.offer(5.0, rng).ratio == 0.5


def test_hysteresis_holds_the_degraded_state_until_the_load_is_well_below_capacity() -> None:
    pool = Pool(Capacity(rps=10, hysteresis=0.5))
    rng = random.Random(2)
    offer_evenly(pool, 12, 1, 0.0, rng)  # over capacity: it falls over
    assert pool.degraded
    # 8 a second is under capacity, but over the 5 it serves while degraded: still shedding.
    still = offer_evenly(pool, 8, 3, 1.0, rng)
    assert pool.degraded and any(still[-8:])
    assert pool.reading(3.99).rps == 5.0
    # Below half the capacity it recovers, and serves its whole capacity again.
    assert not any(offer_evenly(pool, 4, 2, 5.0, rng)[5:])
    assert not pool.degraded
    assert pool.reading(7.0).rps == 10.0


def test_without_hysteresis_it_recovers_as_soon_as_the_load_fits() -> None:
    pool = Pool(Capacity(rps=10))
    rng = random.Random(2)
    offer_evenly(pool, 12, 1, 0.0, rng)
    assert pool.degraded
    assert not any(offer_evenly(pool, 8, 2, 2.0, rng))
    assert not pool.degraded


def test_a_phase_scale_cuts_the_capacity() -> None:
    pool = Pool(Capacity(rps=10))
    rng = random.Random(2)
    verdicts = [pool.offer(i / 4, rng, scale=0.2) for i in range(4)]  # 4 a second against 2
    assert verdicts[-1].ratio == pytest.approx(2.0)
    assert pool.reading(1.0, scale=0.2).rps == 2.0


def test_reading_lets_a_quiet_pool_recover() -> None:
    pool = Pool(Capacity(rps=10, hysteresis=0.5))
    offer_evenly(pool, 20, 1, 0.0, random.Random(1))
    assert pool.reading(0.99).degraded
    assert not pool.reading(30.0).degraded  # nobody called since: the load is 0


def test_a_capacity_needs_a_figure() -> None:
    with pytest.raises(ValueError, match="rps, concurrency or both"):
        Capacity()


def test_pools_are_bounded_and_keep_the_busy_ones() -> None:
    pools = Pools(Capacity(rps=1), max_keys=3)
    busy = pools.of("busy", 0.0)
    busy.offer(0.0, random.Random(1))  # under way, never done
    for i in range(10):
        pools.of(f"idle-{i}", 100.0)
    keys = [key for key, _ in pools.items()]
    assert "busy" in keys and len(keys) <= 4


@budget(100)
@given(
    rates=st.lists(st.floats(min_value=0.0, max_value=200.0), min_size=1, max_size=30),
    hysteresis=st.floats(min_value=0.0, max_value=0.9),
)
def test_verdicts_stay_in_bounds(rates: list[float], hysteresis: float) -> None:
    pool = Pool(Capacity(rps=10, concurrency=5, queue_delay=0.5, max_queue_delay=3.0, hysteresis=hysteresis))
    rng = random.Random(0)
    now = 0.0
    for rate in rates:
        verdict = pool.offer(now, rng)
        assert 0.0 <= verdict.delay <= 3.0
        assert verdict.ratio >= 0.0
        assert not verdict.shed or verdict.ratio > 1.0
        pool.done()
        now += 1.0 / rate if rate > 0 else 1.0
    assert pool.underway == 0


def test_a_fleets_offered_load_sets_the_ratio_while_the_replica_counts_its_own() -> None:
    pool = Pool(Capacity(rps=10, queue_delay=1.0))
    rng = random.Random(1)
    alone = pool.offer(0.0, rng)
    pool.done()
    assert alone.ratio == pytest.approx(0.1)
    # Two other replicas sent most of the fleet's 30 a second: this one's pool is over capacity.
    verdict = pool.offer(0.1, rng, fleet_load=30.0)
    assert verdict.load == 30.0 and verdict.ratio == pytest.approx(3.0) and verdict.degraded
    assert verdict.delay == pytest.approx(2.0)
    pool.done()
    reading = pool.reading(0.5)
    assert reading.load == pytest.approx(2.0)  # the metrics show this replica's arrivals alone
    assert reading.degraded  # ... and the provider's state, which the fleet's load set
    # A fleet figure older than the window no longer counts: the replica's own arrivals do.
    assert pool.offered(1.2) == 0.0 and not pool.reading(1.2).degraded


def test_a_fleets_load_below_the_replicas_own_does_not_hide_it() -> None:
    pool = Pool(Capacity(rps=10))
    rng = random.Random(1)
    for i in range(20):
        pool.offer(i * 0.01, rng)
    # A fleet figure cannot be smaller than what this replica itself saw (it was measured earlier).
    assert pool.offer(0.3, rng, fleet_load=5.0).load == pytest.approx(21.0)
