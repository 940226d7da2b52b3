import random
import statistics

import pytest

from brownout.faults.latency import LatencyFault


def samples(fault: LatencyFault, n: int = 4000) -> list[float]:
    rng = random.Random(5)
    return [fault.sample(rng) for _ in range(n)]


def test_fixed() -> None:
    assert set(samples(LatencyFault(delay=0.3), 10)) == {0.3}


def test_uniform_stays_in_bounds() -> None:
    values = samples(LatencyFault(distribution="uniform", min=0.1, max=0.5))
    assert min(values) >= 0.1 and max(values) <= 0.5
    assert statistics.mean(values) == pytest.approx(0.3, abs=0.01)


def test_normal_is_never_negative() -> None:
    values = samples(LatencyFault(distribution="normal", mean=0.05, stddev=0.1))
    assert min(values) == 0.0
    centred = samples(LatencyFault(distribution="normal", mean=1.0, stddev=0.1))
    assert statistics.mean(centred) == pytest.approx(1.0, abs=0.01)
    assert statistics.stdev(centred) == pytest.approx(0.1, abs=0.01)


def test_lognormal_hits_median_and_p99() -> None:
    values = sorted(samples(LatencyFault(distribution="lognormal", median=0.3, p99=3.0), 20000))
    assert values[len(values) // 2] == pytest.approx(0.3, rel=0.05)
    assert values[int(len(values) * 0.99)] == pytest.approx(3.0, rel=0.15)


def test_same_seed_same_delays() -> None:
    fault = LatencyFault(distribution="uniform", min=0, max=1)
    assert samples(fault, 20) == samples(fault, 20)


async def test_a_client_that_leaves_ends_the_hold_and_is_abandoned() -> None:
    import asyncio
    import time

    from brownout.classify.request import RequestInfo
    from brownout.faults.base import FaultRun
    from brownout.faults.base import Hangup
    from brownout.faults.outcome import Outcome

    run = FaultRun(info=RequestInfo("openai", "chat", "gpt-4o", False), rng=random.Random(1))
    asyncio.get_running_loop().call_later(0.05, run.client_gone.set)
    started = time.monotonic()
    act = await LatencyFault(delay=30).on_request(run)
    assert time.monotonic() - started < 1
    assert isinstance(act, Hangup) and run.outcome == Outcome.ABANDONED
    kept = FaultRun(info=RequestInfo("openai", "chat", "gpt-4o", False), rng=random.Random(1))
    assert await LatencyFault(delay=0.01).on_request(kept) is None and kept.outcome == Outcome.DELAYED
