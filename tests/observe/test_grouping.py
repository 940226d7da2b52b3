import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brownout.observe import retry_signals as signals
from brownout.observe.events import Abandoned
from brownout.observe.events import AttemptEnded
from brownout.observe.events import AttemptStarted
from brownout.observe.events import BadAnswer
from brownout.observe.events import BrokenStream
from brownout.observe.events import ClientAbandoned
from brownout.observe.events import Fallback
from brownout.observe.events import FaultsSwitched
from brownout.observe.events import Hang
from brownout.observe.events import LogicalRequestEnded
from brownout.observe.events import Observation
from brownout.observe.events import Recovered
from brownout.observe.events import Retry
from brownout.observe.events import RetryStorm
from brownout.observe.events import Settings
from brownout.observe.grouping import Observer
from property_budget import budget

_ids = itertools.count()


def start(
    at: float,
    *,
    provider: str = "openai",
    model: str = "gpt-4o",
    identity: str = "key@10.0.0.1",
    fingerprint: str = "fp",
    conversation: str = "",
    retry_count: int | None = None,
    declared_timeout: float | None = None,
    client: str = "openai-python",
) -> AttemptStarted:
    return AttemptStarted(
        attempt=f"a{next(_ids)}",
        time=at,
        provider=provider,
        endpoint="chat",
        model=model,
        client=client,
        identity=identity,
        fingerprint=fingerprint,
        conversation=conversation,
        origin="10.0.0.1",
        retry_count=retry_count,
        declared_timeout=declared_timeout,
    )


def end(attempt: AttemptStarted, at: float, failure: str = "", **kw: object) -> AttemptEnded:
    return AttemptEnded(attempt.attempt, at, failure, **kw)  # type: ignore[arg-type]


def of(kind: type, observations: list[Observation]) -> list[Observation]:
    return [o for o in observations if isinstance(o, kind)]


class Run:
    """Feeds events in order and collects every observation."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.observer = Observer(settings or Settings(retry_window=5.0))
        self.seen: list[Observation] = []

    def __call__(self, *events: object) -> list[Observation]:
        out: list[Observation] = []
        for event in events:
            out += self.observer.feed(event)  # type: ignore[arg-type]
        self.seen += out
        return out

    def tick(self, now: float) -> list[Observation]:
        out = self.observer.tick(now)
        self.seen += out
        return out


def test_sdk_numbered_retries_obeying_retry_after_ms() -> None:
    run = Run()
    t = 100.0
    for n in range(3):
        attempt = start(t, retry_count=n)
        run(attempt)
        run(end(attempt, t + 0.01, "429", retry_after=0.7))
        t += 0.01 + 0.705
    retries = of(Retry, run.seen)
    assert [r.after for r in retries] == ["429", "429"]  # type: ignore[attr-defined]
    assert all(r.delay == pytest.approx(0.705) for r in retries)  # type: ignore[attr-defined]
    assert not any(r.violation or r.nonretryable for r in retries)  # type: ignore[attr-defined]
    assert of(LogicalRequestEnded, run.seen) == []  # a fourth attempt may still come
    assert run.tick(t + 4) == []
    assert run.tick(t + 6) == [LogicalRequestEnded("openai", "chat", "openai-python", 3, "failure", after="429")]


def test_unnumbered_retries_are_grouped_by_fingerprint_and_early_ones_violate() -> None:
    run = Run()
    a1 = start(10.0, client="httpx")
    a2 = start(10.02, client="httpx")
    a3 = start(10.04, client="httpx")
    run(a1, end(a1, 10.01, "429", retry_after=1.0))
    run(a2, end(a2, 10.03, "429", retry_after=1.0))
    run(a3, end(a3, 10.05))
    retries = of(Retry, run.seen)
    assert [r.violation for r in retries] == [True, True]  # type: ignore[attr-defined]
    assert [round(r.delay, 3) for r in retries] == [0.01, 0.01]  # type: ignore[attr-defined]
    assert of(LogicalRequestEnded, run.seen) == [LogicalRequestEnded("openai", "chat", "httpx", 3, "success")]


def test_a_retry_within_the_tolerance_is_on_time_and_one_beyond_it_is_not() -> None:
    for retry_at, late in ((11.97, False), (11.94, True)):
        run = Run(Settings(retry_after_tolerance=0.05))
        a1, a2 = start(9.5), start(retry_at)
        run(a1, end(a1, 10.0, "429", retry_after=2.0), a2)
        assert of(Retry, run.seen)[0].violation is late, retry_at  # type: ignore[attr-defined]


def test_a_failure_at_time_zero_is_a_known_failure() -> None:
    run = Run()
    a1, a2 = start(0.0), start(0.5)
    run(a1, end(a1, 0.0, "429", retry_after=2.0), a2)
    (retry,) = of(Retry, run.seen)
    assert retry.delay == 0.5 and retry.violation is True  # type: ignore[attr-defined]


def test_the_retry_window_is_stretched_by_the_retry_after_asked_for() -> None:
    run = Run(Settings(retry_window=5.0))
    a1 = start(0.0)
    run(a1, end(a1, 1.0, "429", retry_after=20.0))
    run.tick(15.0)  # past the plain window, inside window + Retry-After
    assert of(LogicalRequestEnded, run.seen) == []
    run(start(22.0))
    (retry,) = of(Retry, run.seen)
    assert retry.delay == 21.0 and not retry.violation  # type: ignore[attr-defined]
    run2 = Run(Settings(retry_window=5.0))
    b1 = start(0.0)
    run2(b1, end(b1, 1.0, "429", retry_after=20.0), start(26.5))  # after window + Retry-After
    assert of(Retry, run2.seen) == []


def test_backoff_is_judged_from_the_delays_of_one_request() -> None:
    def no_backoff(delays: list[float], retry_after: float | None = None) -> list[bool]:
        run = Run(Settings(retry_window=30.0))
        t = 0.0
        attempt = start(t, retry_count=0)
        for delay in delays:
            run(attempt, end(attempt, t + 0.01, "503", retry_after=retry_after))
            t += 0.01 + delay
            attempt = start(t, retry_count=0)
        run(attempt)
        return [r.no_backoff for r in of(Retry, run.seen)]  # type: ignore[attr-defined]

    assert no_backoff([0.5, 1.0, 2.0]) == [False, False, False]  # exponential
    assert no_backoff([0.45, 0.8, 1.9]) == [False, False, False]  # exponential with jitter
    assert no_backoff([0.2, 0.2, 0.2]) == [False, True, True]  # a fixed pause
    assert no_backoff([0.01, 0.01]) == [True, True]  # at once
    assert no_backoff([1.0, 1.0], retry_after=1.0) == [False, False]  # waiting out Retry-After is right


def test_a_broken_stream_is_reissued_or_taken() -> None:
    run = Run()
    a1 = start(0.0, fingerprint="cut-then-retried")
    run(a1, end(a1, 0.5, "stream_cut", broken="cut"))
    a2 = start(1.0, fingerprint="cut-then-retried")
    run(a2, end(a2, 1.5))
    b1 = start(2.0, fingerprint="cut-and-kept")
    run(b1, end(b1, 2.5, "stream_corrupt", broken="corrupted"))
    assert of(BrokenStream, run.seen) == [BrokenStream("openai", "openai-python", "cut", reissued=True)]
    (retry,) = of(Retry, run.seen)
    assert retry.after == "stream_cut"  # type: ignore[attr-defined]
    run.tick(10.0)
    assert of(BrokenStream, run.seen)[-1] == BrokenStream("openai", "openai-python", "corrupted", reissued=False)


def test_a_hang_is_waited_out_or_given_up_on() -> None:
    run = Run()
    a1 = start(0.0)
    run(a1, end(a1, 3.0, "timeout", fault="timeout"))
    a2 = start(10.0)
    run(a2, ClientAbandoned(a2.attempt, 11.0, fault="timeout"))
    a3 = start(20.0)
    run(a3, ClientAbandoned(a3.attempt, 21.5, fault="latency"))  # a latency hold is no hang
    assert of(Hang, run.seen) == [
        Hang("openai", "openai-python", 3.0, gave_up=False),
        Hang("openai", "openai-python", 1.0, gave_up=True),
    ]


def test_giving_up_while_the_fault_still_holds() -> None:
    run = Run(Settings(retry_window=5.0))
    a1 = start(0.0, fingerprint="held")
    run(a1, end(a1, 0.1, "503", scenario="outage"))
    b1 = start(1.0, fingerprint="recovered")
    run(b1, end(b1, 1.1, "503", scenario="blip"))
    run(FaultsSwitched("blip", False, 2.0))  # this outage ended before the window did
    c1 = start(1.0, fingerprint="upstream")
    run(c1, end(c1, 1.1, "503"))  # no fault: the real upstream failed
    run.tick(10.0)
    ended = {(e.attempts, e.while_faulted) for e in of(LogicalRequestEnded, run.seen)}  # type: ignore[attr-defined]
    assert [e.while_faulted for e in of(LogicalRequestEnded, run.seen)] == [True, False, False]  # type: ignore[attr-defined]
    assert ended == {(1, True), (1, False)}


def test_retrying_a_nonretryable_answer_is_flagged() -> None:
    run = Run()
    a1, a2 = start(0.0, retry_count=0), start(0.5, retry_count=1)
    run(a1, end(a1, 0.1, "429", nonretryable=True), a2)
    (retry,) = of(Retry, run.seen)
    assert retry.nonretryable and retry.after == "429"  # type: ignore[attr-defined]


def test_different_bodies_identities_or_a_success_are_not_retries() -> None:
    run = Run()
    a1 = start(0.0)
    run(a1, end(a1, 0.1, "500"))
    run(start(0.2, fingerprint="other"))  # another request
    run(start(0.3, identity="other-key@10.0.0.1"))  # another client
    a2 = start(0.4)
    run(a2, end(a2, 0.5))  # the retry, which succeeds
    run(start(0.6))  # the same request again after a success: a new one
    assert len(of(Retry, run.seen)) == 1


def test_concurrent_identical_requests_are_not_retries_of_each_other() -> None:
    run = Run()
    a1, a2 = start(0.0), start(0.01)
    run(a1, a2, end(a1, 0.5, "500"), end(a2, 0.6, "500"))
    assert of(Retry, run.seen) == []
    a3, a4 = start(1.0), start(1.1)
    run(a3, a4)
    assert len(of(Retry, run.seen)) == 2  # each retries one of the two failures


def test_a_failure_retried_after_the_window_is_a_new_request() -> None:
    run = Run(Settings(retry_window=5.0))
    a1 = start(0.0)
    run(a1, end(a1, 1.0, "503", retry_after=2.0))
    run(start(8.5))  # 1.0 + 5 + 2 = 8.0 was the last moment
    assert of(Retry, run.seen) == []
    assert of(LogicalRequestEnded, run.seen) == [
        LogicalRequestEnded("openai", "chat", "openai-python", 1, "failure", after="503")
    ]


def test_a_fresh_sdk_call_after_an_unretried_failure_is_the_apps_retry() -> None:
    """`x-stainless-retry-count: 0` is every attempt of a loop above the SDK: a hint, not the rule."""
    run = Run()
    a1 = start(0.0, retry_count=0)
    run(a1, end(a1, 0.1, "500"))
    a2 = start(0.2, retry_count=0)
    run(a2, end(a2, 0.3))
    assert of(Retry, run.seen) == [Retry("openai", "openai-python", "500", pytest.approx(0.1), False, False, "app")]
    assert of(LogicalRequestEnded, run.seen) == [LogicalRequestEnded("openai", "chat", "openai-python", 2, "success")]


def test_the_sdks_retries_then_the_apps_are_told_apart() -> None:
    run = Run()
    t = 0.0
    layers = []
    for _call in range(2):  # the app calls the SDK twice; each call tries three times
        for number in range(3):
            a = start(t, retry_count=number)
            run(a, end(a, t + 0.01, "503"))
            t += 0.5 * (number + 1)
    for retry in of(Retry, run.seen):
        layers.append(retry.layer)  # type: ignore[attr-defined]
    assert layers == ["sdk", "sdk", "app", "sdk", "sdk"]


def test_a_repeat_after_a_success_or_beside_one_in_flight_is_a_new_request() -> None:
    run = Run()
    a1 = start(0.0, retry_count=0)
    run(a1, end(a1, 0.1))
    a2 = start(0.2, retry_count=0)  # the same body again after a success
    a3 = start(0.21, retry_count=0)  # and once more while that one is in flight
    run(a2, a3, end(a2, 0.3, "500"), end(a3, 0.35))
    assert of(Retry, run.seen) == []
    assert [e.attempts for e in of(LogicalRequestEnded, run.seen)] == [1, 1]  # type: ignore[attr-defined]


def test_who_retried_when_the_client_does_not_number_its_attempts() -> None:
    for client, layer in (("generic", "app"), ("google-genai-python", "unknown"), ("other", "unknown")):
        run = Run()
        a1 = start(0.0, client=client)
        run(a1, end(a1, 0.1, "503"), start(1.0, client=client))
        (retry,) = of(Retry, run.seen)
        assert retry.layer == layer, client  # type: ignore[attr-defined]


def test_a_numbered_retry_of_an_unseen_attempt_counts_as_unknown() -> None:
    run = Run()
    a = start(0.0, retry_count=2)
    run(a, end(a, 0.1))
    (retry,) = of(Retry, run.seen)
    assert retry.after == "unknown" and retry.delay is None  # type: ignore[attr-defined]
    assert of(LogicalRequestEnded, run.seen)[0].attempts == 3  # type: ignore[attr-defined]


def test_abandonment_reports_the_wait_and_the_declared_timeout_then_a_retry_follows_it() -> None:
    run = Run()
    a1 = start(0.0, retry_count=0, declared_timeout=1.0)
    out = run(a1, ClientAbandoned(a1.attempt, 1.02))
    assert out == [Abandoned("openai", "chat", "openai-python", pytest.approx(1.02), 1.0)]
    a2 = start(1.5, retry_count=1, declared_timeout=1.0)
    run(a2, ClientAbandoned(a2.attempt, 2.5))
    (retry,) = of(Retry, run.seen)
    assert retry.after == "timeout" and retry.delay == pytest.approx(0.48)  # type: ignore[attr-defined]
    run.tick(10.0)
    assert of(LogicalRequestEnded, run.seen) == [
        LogicalRequestEnded("openai", "chat", "openai-python", 2, "abandoned", after="timeout")
    ]


def test_a_numbered_retry_while_its_attempt_looks_open_abandons_that_attempt() -> None:
    run = Run()
    a1 = start(0.0, retry_count=0)
    a2 = start(3.0, retry_count=1)
    out = run(a1, a2)
    assert of(Abandoned, out) == [Abandoned("openai", "chat", "openai-python", None, None)]
    assert of(Retry, out) == [Retry("openai", "openai-python", "timeout", None, False, False, "sdk")]
    run(end(a1, 4.0))  # its late end changes nothing
    assert run.observer.inflight() == 1


def test_fallback_to_another_provider_after_failures() -> None:
    run = Run()
    attempts = [start(t, retry_count=n, conversation="c1") for n, t in enumerate((0.0, 0.6, 1.5))]
    for attempt, failed_at in zip(attempts, (0.1, 0.7, 1.6), strict=True):
        run(attempt, end(attempt, failed_at, "503"))
    anthropic = start(1.7, provider="anthropic", model="claude", conversation="c1", identity="other-key@10.0.0.1")
    run(anthropic, end(anthropic, 2.0))
    assert of(Fallback, run.seen) == [
        Fallback("openai", "anthropic", "gpt-4o", "claude", pytest.approx(1.6), "openai-python")
    ]


def test_fallback_to_another_model_of_the_same_provider() -> None:
    run = Run()
    a1 = start(0.0, conversation="c1")
    run(a1, end(a1, 0.1, "429"), start(0.2, model="gpt-4o-mini", conversation="c1", fingerprint="fp2"))
    assert of(Fallback, run.seen) == [
        Fallback("openai", "openai", "gpt-4o", "gpt-4o-mini", pytest.approx(0.1), "openai-python")
    ]


def test_no_fallback_without_a_failure_or_after_the_window_or_after_a_success() -> None:
    run = Run(Settings(fallback_window=10.0))
    a1 = start(0.0, conversation="c1")
    run(a1, end(a1, 0.1))
    run(start(0.2, provider="anthropic", conversation="c1"))  # no failure before it
    a2 = start(1.0, conversation="c2")
    run(a2, end(a2, 1.1, "500"))
    run(start(20.0, provider="anthropic", conversation="c2"))  # too late
    a3 = start(30.0, conversation="c3")
    a4 = start(30.5, conversation="c3")
    run(a3, end(a3, 30.1, "500"), a4, end(a4, 30.6))  # retried and fine
    run(start(31.0, provider="anthropic", conversation="c3"))
    assert of(Fallback, run.seen) == []


def test_a_fallback_window_runs_from_the_last_failure() -> None:
    run = Run(Settings(fallback_window=10.0, retry_window=60.0))
    t = 0.0
    for _ in range(3):  # a run of failures from 0 s to 16 s
        attempt = start(t, conversation="c1")
        run(attempt, end(attempt, t + 0.01, "500"))
        t += 8.0
    run(start(24.0, provider="anthropic", conversation="c1"))  # 24 s after the first, 8 s after the last
    (fallback,) = of(Fallback, run.seen)
    assert fallback.seconds == pytest.approx(23.99)  # from the first failure  # type: ignore[attr-defined]


def test_recovery_is_timed_from_the_switch_off_to_the_first_success_started_after_it() -> None:
    run = Run()
    a1 = start(0.0)
    run(FaultsSwitched("outage", True, 0.0), a1, end(a1, 0.1, "503", scenario="outage"))
    inflight = start(4.0, fingerprint="x")
    run(inflight, FaultsSwitched("outage", False, 5.0))
    run(end(inflight, 6.0))  # began before the switch-off: not the recovery
    assert of(Recovered, run.seen) == []
    a2 = start(7.5)
    run(a2, end(a2, 9.0))
    assert of(Recovered, run.seen) == [Recovered("outage", "openai", 2.5)]
    a3 = start(10.0, fingerprint="y")
    run(a3, end(a3, 10.1))
    assert len(of(Recovered, run.seen)) == 1  # once per switch-off


def test_recovery_only_for_providers_the_scenario_hit_and_cancelled_by_a_switch_on() -> None:
    run = Run()
    a1 = start(0.0, provider="anthropic")
    run(a1, end(a1, 0.1, "529", scenario="storm"), FaultsSwitched("storm", False, 1.0))
    ok = start(2.0)  # openai was never hit
    run(ok, end(ok, 2.1))
    assert of(Recovered, run.seen) == []
    run(FaultsSwitched("storm", True, 3.0))
    a2 = start(4.0, provider="anthropic", fingerprint="z")
    run(a2, end(a2, 4.1))
    assert of(Recovered, run.seen) == []


def test_a_retry_storm_starts_and_ends() -> None:
    run = Run(Settings(storm_window=10.0, storm_min_retries=4, storm_ratio=1.0))
    t = 0.0
    for request in range(2):
        for n in range(3):
            attempt = start(t, fingerprint=f"r{request}", retry_count=n)
            run(attempt, end(attempt, t + 0.01, "503"))
            t += 0.1
    storms = of(RetryStorm, run.seen)
    assert storms == [RetryStorm("openai", True, 4, 2)]
    run.tick(30.0)
    assert of(RetryStorm, run.seen)[-1] == RetryStorm("openai", False, 0, 0)


def test_a_storm_lasts_until_retries_fall_below_half_the_threshold() -> None:
    run = Run(Settings(storm_window=10.0, storm_min_retries=4, storm_ratio=1.0, retry_window=30.0))
    retry_times = [0.0, 0.1, 0.2, 0.3, 6.0, 7.0]  # 4 at once (a storm), then 2 more later
    first = start(-0.1, fingerprint="loop")
    run(first, end(first, -0.05, "503"))
    for at in retry_times:
        attempt = start(at, fingerprint="loop")
        run(attempt, end(attempt, at + 0.01, "503"))
    assert [s.active for s in of(RetryStorm, run.seen)] == [True]  # type: ignore[attr-defined]
    run.tick(10.25)  # 0.0 and 0.1 have left the window: 4 retries remain, the storm holds (4 >= 4 / 2)
    assert [s.active for s in of(RetryStorm, run.seen)] == [True]  # type: ignore[attr-defined]
    run.tick(16.5)  # only 7.0 remains: 1 < 2, the storm is over
    assert [s.active for s in of(RetryStorm, run.seen)] == [True, False]  # type: ignore[attr-defined]


def test_a_few_retries_among_many_requests_are_no_storm() -> None:
    run = Run(Settings(storm_window=10.0, storm_min_retries=4, storm_ratio=1.0))
    for n in range(20):
        attempt = start(n * 0.1, fingerprint=f"r{n}")
        run(attempt, end(attempt, n * 0.1 + 0.01, "503" if n % 4 == 0 else ""))
        if n % 4 == 0:
            retry = start(n * 0.1 + 0.05, fingerprint=f"r{n}")
            run(retry, end(retry, n * 0.1 + 0.06))
    assert len(of(Retry, run.seen)) == 5 and of(RetryStorm, run.seen) == []


def test_memory_is_bounded() -> None:
    run = Run(Settings(max_tracked=50, retry_window=1.0, fallback_window=1.0))
    for n in range(1000):
        attempt = start(n * 0.001, fingerprint=f"f{n}", conversation=f"c{n}")
        run(attempt, end(attempt, n * 0.001, "500"))
        run(start(n * 0.001, fingerprint=f"open{n}"))  # never ends
    sizes = run.observer.tracked()
    assert sizes["inflight"] <= 50 and sizes["awaiting"] <= 50 and sizes["conversations"] <= 50
    run.tick(100.0)
    sizes = run.observer.tracked()
    assert sizes["awaiting"] == 0 and sizes["deadlines"] == 0 and sizes["conversations"] == 0
    # Every logical request that failed was closed exactly once, evicted or expired.
    assert len(of(LogicalRequestEnded, run.seen)) == 1000


def test_events_for_unknown_attempts_are_ignored() -> None:
    run = Run()
    assert run(AttemptEnded("nope", 1.0, "500"), ClientAbandoned("nope", 1.0)) == []


def test_recovery_is_timed_from_the_latest_end_of_the_faults() -> None:
    # A timeline: ramp (faults), outage (faults), then quiet. Each phase end is an off; the
    # client's first success after the outage is timed from the outage's end, not the ramp's.
    run = Run()
    a1 = start(0.0)
    run(FaultsSwitched("replay", True, 0.0), a1, end(a1, 0.1, "503", scenario="replay"))
    run(FaultsSwitched("replay", False, 10.0))  # ramp ends, outage begins
    a2 = start(11.0, fingerprint="b")
    run(a2, end(a2, 11.1, "503", scenario="replay"))
    run(FaultsSwitched("replay", False, 20.0))  # outage ends
    a3 = start(23.0, fingerprint="c")
    run(a3, end(a3, 23.1))
    assert of(Recovered, run.seen) == [Recovered("replay", "openai", 3.0)]


def test_an_abandonment_then_its_retry_and_its_end_under_a_fault() -> None:
    run = Run(Settings(retry_window=5.0))
    a1 = start(10.0, declared_timeout=0.3)
    out = run(a1, ClientAbandoned(a1.attempt, 10.3, scenario="outage"))
    assert out == [Abandoned("openai", "chat", "openai-python", pytest.approx(0.3), 0.3)]
    a2 = start(10.5)
    run(a2, ClientAbandoned(a2.attempt, 10.8, scenario="outage"))
    (retry,) = of(Retry, run.seen)
    assert retry.after == "timeout" and not retry.nonretryable and retry.delay == pytest.approx(0.2)  # type: ignore[attr-defined]
    run.tick(20.0)
    assert of(LogicalRequestEnded, run.seen) == [
        LogicalRequestEnded("openai", "chat", "openai-python", 2, "abandoned", while_faulted=True, after="timeout")
    ]
    assert of(BrokenStream, run.seen) == []
    run(FaultsSwitched("outage", False, 21.0))  # abandoned attempts count as the fault's hits
    a3 = start(22.0)
    run(a3, end(a3, 22.1))
    assert of(Recovered, run.seen) == [Recovered("outage", "openai", pytest.approx(1.0))]


def test_a_scenario_switched_off_before_the_failure_still_held_it() -> None:
    run = Run(Settings(retry_window=5.0))
    run(FaultsSwitched("outage", False, 1.0), FaultsSwitched("outage", True, 2.0))
    a1 = start(3.0)
    run(a1, end(a1, 3.1, "503", scenario="outage"))
    run.tick(10.0)
    assert of(LogicalRequestEnded, run.seen)[0].while_faulted is True  # type: ignore[attr-defined]
    run(FaultsSwitched("never-faulted", False, 11.0))  # a scenario that never failed anything: no harm


def test_without_retry_after_the_window_is_just_the_window() -> None:
    run = Run(Settings(retry_window=5.0))
    a1 = start(0.0)
    run(a1, end(a1, 1.0, "500"), start(6.5))  # 5.5 s after the failure
    assert of(Retry, run.seen) == []


def test_two_identical_failures_wait_apart_and_each_can_be_retried() -> None:
    run = Run(Settings(retry_window=5.0))
    a1, a2 = start(0.0), start(0.0)
    run(a1, a2, end(a1, 0.1, "500"), end(a2, 3.0, "500"))
    run.tick(5.5)  # the first failure's window has run out; the second's has not
    run(start(7.0))
    assert len(of(Retry, run.seen)) == 1
    assert [e.attempts for e in of(LogicalRequestEnded, run.seen)] == [1]  # type: ignore[attr-defined]


def test_a_retried_request_is_not_closed_by_its_old_deadline() -> None:
    run = Run(Settings(retry_window=2.0))
    a1 = start(0.0)
    run(a1, end(a1, 0.1, "500"))
    a2 = start(1.0)  # the retry is still under way when the first failure's window ends
    run(a2)
    run.tick(3.0)
    assert of(LogicalRequestEnded, run.seen) == []
    run(end(a2, 3.5, "500"))
    run.tick(6.0)
    assert of(LogicalRequestEnded, run.seen) == [
        LogicalRequestEnded("openai", "chat", "openai-python", 2, "failure", after="500")
    ]
    assert of(BrokenStream, run.seen) == []


def test_a_reissued_stream_that_fails_otherwise_is_not_broken_twice() -> None:
    run = Run(Settings(retry_window=2.0))
    a1 = start(0.0)
    run(a1, end(a1, 0.1, "stream_cut", broken="cut"))
    a2 = start(0.5)
    run(a2, end(a2, 0.6, "503"))
    run.tick(5.0)
    assert of(BrokenStream, run.seen) == [BrokenStream("openai", "openai-python", "cut", reissued=True)]


def test_a_short_hang_and_an_answer_under_a_timeout_rule() -> None:
    run = Run()
    a1 = start(10.0)
    run(a1, end(a1, 10.4, "timeout", fault="timeout"))
    a2 = start(20.0, fingerprint="other")
    run(a2, end(a2, 20.1, "", fault="timeout"))  # not held: no hang
    assert of(Hang, run.seen) == [Hang("openai", "openai-python", pytest.approx(0.4), gave_up=False)]


def test_a_numbered_retry_takes_only_its_own_open_attempt() -> None:
    run = Run()
    other = start(0.0, fingerprint="other request", declared_timeout=5.0)
    mine = start(0.1, declared_timeout=2.0)
    run(other, mine, start(1.0, retry_count=1))
    assert of(Abandoned, run.seen) == [Abandoned("openai", "chat", "openai-python", None, 2.0)]
    assert run.observer.tracked()["inflight"] == 2


def test_the_tables_it_reports() -> None:
    assert set(Observer().tracked()) == {
        "inflight",
        "awaiting",
        "deadlines",
        "conversations",
        "recovering",
        "bad_answers",
    }


def test_memory_caps_are_exact() -> None:
    run = Run(Settings(max_tracked=3))
    for n in range(5):
        run(start(float(n), fingerprint=f"r{n}"))
    assert run.observer.tracked()["inflight"] == 3


def test_the_oldest_waiting_failure_is_the_one_given_up_when_full() -> None:
    run = Run(Settings(max_tracked=2, retry_window=30.0))
    for n in range(3):
        a = start(float(n), fingerprint=f"r{n}")
        run(a, end(a, n + 0.1, "500"))
    (ended,) = of(LogicalRequestEnded, run.seen)
    run(start(5.0, fingerprint="r1"), start(5.0, fingerprint="r2"))  # the two newest may still be retried
    assert len(of(Retry, run.seen)) == 2 and ended.attempts == 1  # type: ignore[attr-defined]


def test_a_storm_needs_retries_to_reach_the_ratio_exactly() -> None:
    run = Run(Settings(storm_window=10.0, storm_min_retries=4, storm_ratio=1.0, retry_window=30.0))
    for n in range(4):  # four requests, each retried once: 4 retries per 4 first attempts
        a = start(n * 0.1, fingerprint=f"r{n}")
        run(a, end(a, n * 0.1 + 0.01, "503"))
    for n in range(4):
        run(start(1.0 + n * 0.1, fingerprint=f"r{n}"))
    assert [s.active for s in of(RetryStorm, run.seen)] == [True]  # type: ignore[attr-defined]


def test_a_storm_ends_once_when_time_moves_on() -> None:
    settings = Settings(storm_window=10.0, storm_min_retries=6, storm_ratio=1.0, retry_window=60.0)
    run = Run(settings)
    first = start(0.0, fingerprint="loop")
    run(first, end(first, 0.01, "503"))
    for n in range(6):
        a = start(0.1 + n * 0.1, fingerprint="loop")
        run(a, end(a, 0.15 + n * 0.1, "503"))
    for at in (8.0, 9.0):  # two more retries later: 2 < 6 / 2 ends it once the first six are gone
        a = start(at, fingerprint="loop")
        run(a, end(a, at + 0.01, "503"))
    assert [s.active for s in of(RetryStorm, run.seen)] == [True]  # type: ignore[attr-defined]
    out = run(start(11.0, fingerprint="someone else"))  # any event after the burst has aged out
    assert of(RetryStorm, out) == [RetryStorm("openai", False, 2, 0)]  # judged as time moves on
    run.tick(12.0)
    run.tick(13.0)
    assert [s.active for s in of(RetryStorm, run.seen)] == [True, False]  # type: ignore[attr-defined]


def test_an_old_conversation_expiring_leaves_a_newer_one() -> None:
    run = Run(Settings(fallback_window=10.0, retry_window=60.0))
    a = start(0.0, conversation="old")
    run(a, end(a, 0.1, "500"))
    b = start(8.0, conversation="new")
    run(b, end(b, 8.1, "500"))
    run.tick(12.0)  # "old" has expired, "new" has not
    run(start(13.0, provider="anthropic", conversation="new"))
    assert len(of(Fallback, run.seen)) == 1


def test_a_conversation_still_in_trouble_does_not_stop_time_for_storms() -> None:
    run = Run(Settings(storm_window=2.0, storm_min_retries=2, storm_ratio=1.0, retry_window=60.0, fallback_window=60.0))
    a = start(0.0, conversation="c")
    run(a, end(a, 0.01, "503"))
    for at in (0.1, 0.2):
        b = start(at, conversation="c")
        run(b, end(b, at + 0.01, "503"))
    assert [s.active for s in of(RetryStorm, run.seen)] == [True]  # type: ignore[attr-defined]
    run.tick(5.0)  # the conversation's trouble is young; the storm's retries are old
    assert [s.active for s in of(RetryStorm, run.seen)] == [True, False]  # type: ignore[attr-defined]


# -- bad answers: a 200 a content fault spoiled, and whether the client asked again

QUESTION = [{"role": "user", "content": "Name three colours as JSON."}]


def asking(at: float, body: dict[str, object], origin: str = "10.0.0.1", **kw: object) -> AttemptStarted:
    """An attempt whose fingerprint, conversation and turns come from its real body."""
    return AttemptStarted(
        attempt=f"a{next(_ids)}",
        time=at,
        provider=str(kw.get("provider", "openai")),
        endpoint="chat",
        model=str(kw.get("model", "gpt-4o")),
        client="openai-python",
        identity=f"key@{origin}",
        fingerprint=signals.fingerprint(
            "POST", str(kw.get("provider", "openai")), "/v1/chat", json.dumps(body).encode()
        ),
        conversation=signals.conversation_key(body),
        origin=origin,
        retry_count=0,
        turns=signals.turn_prefixes(body),
    )


def bad(attempt: AttemptStarted, at: float, fault: str = "bad_structured_output") -> AttemptEnded:
    return AttemptEnded(attempt.attempt, at, fault, scenario="s", fault=fault, bad_answer=True)


FIRST = {"model": "gpt-4o", "messages": QUESTION}
REASKS = {
    "the same request": FIRST,
    "a higher max_tokens": {**FIRST, "max_tokens": 4096},
    "the answer and its validation error appended": {
        **FIRST,
        "messages": [
            *QUESTION,
            {"role": "assistant", "content": '{"colours": ["red", '},
            {"role": "user", "content": "Validation error: invalid JSON. Answer again."},
        ],
    },
    "a tool error sent back": {
        **FIRST,
        "messages": [
            *QUESTION,
            {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "error: arguments are not JSON"},
        ],
    },
    "the same question at another provider": {
        "contents": [{"role": "user", "parts": [{"text": QUESTION[0]["content"]}]}]
    },
}


@pytest.mark.parametrize("shape", REASKS)
def test_a_reask_after_a_bad_answer_is_its_retry_whatever_it_changed(shape: str) -> None:
    run = Run()
    first = asking(0.0, FIRST)
    provider = "gemini" if "provider" in shape else "openai"
    reask = asking(0.05, REASKS[shape], provider=provider)
    run(first, bad(first, 0.04), reask, end(reask, 0.5))
    run.tick(100.0)
    assert of(BadAnswer, run.seen) == [BadAnswer("openai", "openai-python", "bad_structured_output", "reasked", 1)]
    [retry] = of(Retry, run.seen)
    assert retry.reask and not retry.no_backoff and retry.after == "bad_structured_output"  # a 200 asks no wait
    assert [(e.outcome, e.attempts, e.while_faulted) for e in of(LogicalRequestEnded, run.seen)] == [
        ("success", 2, False)
    ]


def test_taking_a_bad_answer_is_carrying_on_not_giving_up() -> None:
    run = Run()
    first = asking(0.0, FIRST)
    run(first, bad(first, 0.1, "empty_answer"))
    assert of(BadAnswer, run.seen) == []  # decided when the window closes
    run.tick(10.0)
    assert of(BadAnswer, run.seen) == [BadAnswer("openai", "openai-python", "empty_answer", "carried_on", 1)]
    [ended] = of(LogicalRequestEnded, run.seen)
    assert not ended.while_faulted  # it took the answer: not given up under the fault


def test_a_new_question_after_a_bad_answer_is_carrying_on() -> None:
    run = Run()
    first = asking(0.0, FIRST)
    other = asking(0.2, {**FIRST, "messages": [{"role": "user", "content": "What is a brownout?"}]})
    run(first, bad(first, 0.1), other, end(other, 0.4))
    run.tick(10.0)
    assert [b.next for b in of(BadAnswer, run.seen)] == ["carried_on"] and of(Retry, run.seen) == []


def test_a_reask_from_another_client_address_or_after_the_window_is_not_one() -> None:
    run = Run()
    first = asking(0.0, FIRST)
    elsewhere = asking(0.2, REASKS["a higher max_tokens"], origin="10.0.0.2")
    late = asking(6.0, REASKS["a higher max_tokens"])
    run(first, bad(first, 0.1), elsewhere, end(elsewhere, 0.3), late, end(late, 6.1))
    run.tick(20.0)
    assert [b.next for b in of(BadAnswer, run.seen)] == ["carried_on"] and of(Retry, run.seen) == []


def test_re_asking_until_a_good_answer_then_an_identical_resend_of_the_reask() -> None:
    run = Run()
    first = asking(0.0, FIRST)
    reask = asking(0.2, REASKS["a higher max_tokens"])
    again = asking(0.4, REASKS["a higher max_tokens"])  # the re-ask's own body, sent once more
    run(first, bad(first, 0.1, "truncate"), reask, bad(reask, 0.3, "truncate"), again, end(again, 0.5))
    run.tick(20.0)
    assert [(b.next, b.attempts) for b in of(BadAnswer, run.seen)] == [("reasked", 1), ("reasked", 2)]
    assert [(e.outcome, e.attempts) for e in of(LogicalRequestEnded, run.seen)] == [("success", 3)]
    assert run.observer.tracked()["bad_answers"] == 0


def test_a_failure_that_is_not_a_bad_answer_is_not_reasked_by_a_changed_body() -> None:
    run = Run()
    first = asking(0.0, FIRST)
    changed = asking(0.5, REASKS["a higher max_tokens"])
    run(first, AttemptEnded(first.attempt, 0.1, "429", scenario="s"), changed, end(changed, 0.6))
    run.tick(20.0)
    assert of(BadAnswer, run.seen) == [] and of(Retry, run.seen) == []


def test_bad_answers_awaiting_a_reask_are_bounded_and_each_decided_once() -> None:
    run = Run(Settings(max_tracked=50, retry_window=1.0))
    for n in range(1000):
        body = {"messages": [{"role": "user", "content": f"question {n}"}]}
        attempt = asking(n * 0.001, body, origin=f"10.0.{n % 7}.1")
        run(attempt, bad(attempt, n * 0.001 + 0.0005))
    assert run.observer.tracked()["bad_answers"] <= 50
    run.tick(100.0)
    assert run.observer.tracked()["bad_answers"] == 0
    assert [b.next for b in of(BadAnswer, run.seen)] == ["carried_on"] * 1000


@budget(100)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from(["bad", "good", "429"]), st.floats(0.0, 3.0)),
        min_size=1,
        max_size=30,
    )
)
def test_every_bad_answer_is_decided_exactly_once(steps: list[tuple[int, str, float]]) -> None:
    # Four conversations asked in any order, each answer bad, good or a 429, at any gaps: every
    # bad answer ends as one re-ask or one carrying on, never both, never neither.
    run = Run(Settings(retry_window=2.0))
    at, bad_answers = 0.0, 0
    for conversation, answer, gap in steps:
        at += gap
        body = {"messages": [{"role": "user", "content": f"question {conversation}"}]}
        attempt = asking(at, body)
        if answer == "bad":
            bad_answers += 1
            run(attempt, bad(attempt, at + 0.01))
        else:
            run(attempt, end(attempt, at + 0.01, "" if answer == "good" else "429"))
    run.tick(at + 100.0)
    assert len(of(BadAnswer, run.seen)) == bad_answers
    assert run.observer.tracked()["bad_answers"] == 0 and run.observer.tracked()["awaiting"] == 0
