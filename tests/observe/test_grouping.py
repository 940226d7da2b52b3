import itertools

import pytest

from brownout.observe.events import Abandoned
from brownout.observe.events import AttemptEnded
from brownout.observe.events import AttemptStarted
from brownout.observe.events import ClientAbandoned
from brownout.observe.events import Fallback
from brownout.observe.events import FaultsSwitched
from brownout.observe.events import LogicalRequestEnded
from brownout.observe.events import Observation
from brownout.observe.events import Recovered
from brownout.observe.events import Retry
from brownout.observe.events import RetryStorm
from brownout.observe.events import Settings
from brownout.observe.grouping import Observer

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
    assert run.tick(t + 6) == [LogicalRequestEnded("openai", "chat", "openai-python", 3, "failure")]


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


def test_a_retry_within_the_tolerance_is_on_time() -> None:
    run = Run(Settings(retry_after_tolerance=0.05))
    a1, a2 = start(0.0), start(1.97)
    run(a1, end(a1, 0.0, "429", retry_after=2.0), a2)
    assert of(Retry, run.seen)[0].violation is False  # type: ignore[attr-defined]


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
    assert of(LogicalRequestEnded, run.seen) == [LogicalRequestEnded("openai", "chat", "openai-python", 1, "failure")]


def test_retry_count_zero_closes_what_waited_for_a_retry() -> None:
    run = Run()
    a1 = start(0.0, retry_count=0)
    run(a1, end(a1, 0.1, "500"))
    run(start(0.2, retry_count=0))
    assert of(Retry, run.seen) == []
    assert of(LogicalRequestEnded, run.seen) == [LogicalRequestEnded("openai", "chat", "openai-python", 1, "failure")]


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
    assert of(LogicalRequestEnded, run.seen) == [LogicalRequestEnded("openai", "chat", "openai-python", 2, "abandoned")]


def test_a_numbered_retry_while_its_attempt_looks_open_abandons_that_attempt() -> None:
    run = Run()
    a1 = start(0.0, retry_count=0)
    a2 = start(3.0, retry_count=1)
    out = run(a1, a2)
    assert of(Abandoned, out) == [Abandoned("openai", "chat", "openai-python", None, None)]
    assert of(Retry, out) == [Retry("openai", "openai-python", "timeout", None, False, False)]
    run(end(a1, 4.0))  # its late end changes nothing
    assert run.observer.inflight() == 1


def test_fallback_to_another_provider_after_failures() -> None:
    run = Run()
    attempts = [start(t, retry_count=n, conversation="c1") for n, t in enumerate((0.0, 0.6, 1.5))]
    for attempt, failed_at in zip(attempts, (0.1, 0.7, 1.6), strict=True):
        run(attempt, end(attempt, failed_at, "503"))
    anthropic = start(1.7, provider="anthropic", model="claude", conversation="c1", identity="other-key@10.0.0.1")
    run(anthropic, end(anthropic, 2.0))
    assert of(Fallback, run.seen) == [Fallback("openai", "anthropic", "gpt-4o", "claude", pytest.approx(1.6))]


def test_fallback_to_another_model_of_the_same_provider() -> None:
    run = Run()
    a1 = start(0.0, conversation="c1")
    run(a1, end(a1, 0.1, "429"), start(0.2, model="gpt-4o-mini", conversation="c1", fingerprint="fp2"))
    assert of(Fallback, run.seen) == [Fallback("openai", "openai", "gpt-4o", "gpt-4o-mini", pytest.approx(0.1))]


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
