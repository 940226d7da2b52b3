import pytest

from brownout.faults.rate_limit.buckets import RateLimiter
from brownout.faults.rate_limit.buckets import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_refills_continuously_up_to_its_capacity() -> None:
    bucket = TokenBucket(capacity=10, per_minute=600, now=0.0)  # 10 a second
    bucket.take(10, 0.0)
    assert bucket.level(0.0) == 0
    assert bucket.wait_for(1, 0.0) == pytest.approx(0.1)
    assert bucket.level(0.25) == pytest.approx(2.5)
    assert bucket.time_to_full(0.25) == pytest.approx(0.75)
    assert bucket.level(100.0) == 10 and bucket.is_full(100.0)
    bucket.take(-5, 100.0)  # giving back never overfills
    assert bucket.level(100.0) == 10


def test_bucket_may_go_into_debt_when_usage_exceeds_the_charge() -> None:
    bucket = TokenBucket(capacity=1000, per_minute=60_000, now=0.0)  # 1000 a second
    bucket.take(1500, 0.0)
    assert bucket.level(0.0) == -500
    assert bucket.wait_for(100, 0.0) == pytest.approx(0.6)


def test_burst_lets_burst_requests_through_then_refuses_with_the_true_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=600, tpm=None, burst=10, clock=clock)
    verdicts = [limiter.admit("gpt-4o", 0) for _ in range(12)]
    assert [v.allowed for v in verdicts] == [True] * 10 + [False] * 2
    assert [v.requests.remaining for v in verdicts[:10]] == list(range(9, -1, -1))  # type: ignore[union-attr]
    refused = verdicts[10]
    assert refused.exhausted == "requests" and refused.wait == pytest.approx(0.1)
    assert refused.requests is not None and refused.requests.limit == 600 and refused.requests.remaining == 0
    assert refused.tokens is None
    clock.now += refused.wait  # honouring the delay is enough
    assert limiter.admit("gpt-4o", 0).allowed
    assert limiter.admit("gpt-4o", 0).allowed is False


def test_burst_defaults_to_a_minute_of_requests() -> None:
    limiter = RateLimiter(rpm=5, tpm=None, clock=Clock())
    assert [limiter.admit("m", 0).allowed for _ in range(6)] == [True] * 5 + [False]


def test_reset_is_the_time_until_the_bucket_is_full() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=500, tpm=30_000, clock=clock)
    verdict = limiter.admit("gpt-4o", 38)
    assert verdict.requests is not None and verdict.tokens is not None
    assert verdict.requests.remaining == 499 and verdict.requests.reset == pytest.approx(0.12)  # as captured
    assert verdict.tokens.remaining == 29_962 and verdict.tokens.reset == pytest.approx(0.076)


def test_tokens_per_minute_refuse_large_requests_and_usage_corrects_the_charge() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=None, tpm=6000, clock=clock)  # 100 tokens a second
    first = limiter.admit("m", 5000)
    assert first.allowed and first.requests is None and first.tokens.remaining == 1000  # type: ignore[union-attr]
    refused = limiter.admit("m", 2000)
    assert not refused.allowed and refused.exhausted == "tokens" and refused.wait == pytest.approx(10.0)
    assert refused.requested_tokens == 2000
    limiter.settle("m", charged=5000, used=1200)  # the answer used less than estimated
    requests, tokens = limiter.state("m")
    assert requests is None and tokens is not None and tokens.remaining == 4800
    assert limiter.admit("m", 2000).allowed


def test_a_request_larger_than_the_bucket_waits_for_a_full_bucket() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=None, tpm=600, clock=clock)  # 10 tokens a second
    limiter.admit("m", 300)
    refused = limiter.admit("m", 5000)
    assert not refused.allowed and refused.wait == pytest.approx(30.0)
    clock.now += 30
    assert limiter.admit("m", 5000).allowed


def test_keys_have_their_own_buckets_and_idle_ones_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=60, tpm=None, burst=1, clock=clock, max_keys=3)
    assert limiter.admit("a", 0).allowed and limiter.admit("b", 0).allowed
    assert not limiter.admit("a", 0).allowed
    clock.now += 10  # a and b are full again, so they hold nothing worth keeping
    for key in ("c", "d", "e"):
        limiter.admit(key, 0)
    assert len(limiter._buckets) <= 3


def test_a_limiter_needs_a_limit() -> None:
    with pytest.raises(ValueError, match="rpm, tpm or both"):
        RateLimiter(rpm=None, tpm=None)


def test_evicting_idle_keys_never_resets_a_throttled_one() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=60, tpm=None, burst=1, clock=clock, max_keys=2)
    assert limiter.admit("throttled", 0).allowed
    assert not limiter.admit("throttled", 0).allowed
    for key in ("b", "c", "d"):  # more keys than the table holds
        clock.now += 0.01
        limiter.admit(key, 0)
    refused = limiter.admit("throttled", 0)  # still empty: its refill has only just begun
    assert not refused.allowed and refused.wait == pytest.approx(0.97)


def test_eviction_drops_only_as_many_idle_keys_as_it_must() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=60, tpm=1000, burst=1, clock=clock, max_keys=2)
    for key in ("a", "b", "c"):
        limiter.admit(key, 10)
        clock.now += 120  # each bucket is full again before the next key comes
    assert list(limiter._buckets) == ["b", "c"]


def test_a_token_limit_alone_may_cap_its_burst() -> None:
    limiter = RateLimiter(rpm=None, tpm=100, burst=5, clock=Clock())
    verdict = limiter.admit("m", 10)
    assert verdict.allowed and verdict.requests is None and verdict.tokens is not None


def test_verdicts_report_both_limits_and_what_was_asked() -> None:
    limiter = RateLimiter(rpm=60, tpm=100, burst=1, clock=Clock())
    allowed = limiter.admit("m", 10)
    assert allowed.wait == 0.0 and allowed.requested_tokens == 10 and allowed.exhausted is None
    assert allowed.tokens is not None and allowed.tokens.limit == 100 and allowed.tokens.remaining == 90
    refused = limiter.admit("m", 10)
    assert not refused.allowed and refused.exhausted == "requests"
    assert refused.tokens is not None and refused.tokens.remaining == 90 and refused.requested_tokens == 10


def test_settling_an_unknown_key_and_reading_a_new_one_are_harmless() -> None:
    limiter = RateLimiter(rpm=60, tpm=100, clock=Clock())
    limiter.settle("never seen", 10, 50)
    requests, tokens = limiter.state("new")
    assert requests is not None and requests.remaining == 60 and tokens is not None and tokens.remaining == 100
    with pytest.raises(ValueError, match="needs rpm, tpm or both"):
        RateLimiter(None, None)
