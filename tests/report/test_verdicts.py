"""Each verdict from synthetic runs whose right answer is known."""

import itertools

import pytest

from brownout.observe.events import AttemptEnded
from brownout.observe.events import AttemptStarted
from brownout.observe.events import ClientAbandoned
from brownout.observe.events import FaultsSwitched
from brownout.observe.events import Settings
from brownout.observe.record import RunRecord
from brownout.report.build import Report
from brownout.report.build import build

_ids = itertools.count()


class Run:
    def __init__(self, **settings: float) -> None:
        self.record = RunRecord(Settings(**{"retry_window": 5.0, **settings}), started=0.0)  # type: ignore[arg-type]

    def attempt(
        self,
        at: float,
        end: float,
        failure: str = "",
        *,
        client: str = "openai-python",
        provider: str = "openai",
        fingerprint: str = "fp",
        conversation: str = "",
        retry_count: int | None = None,
        scenario: str = "s",
        abandoned: bool = False,
        **ended: object,
    ) -> None:
        attempt = f"a{next(_ids)}"
        self.record.add(
            AttemptStarted(
                attempt, at, provider, "chat", "gpt-4o", client, "key@127.0.0.1", fingerprint, conversation,
                "127.0.0.1", retry_count,
            )
        )  # fmt: skip
        if abandoned:
            self.record.add(ClientAbandoned(attempt, end, scenario=scenario, fault=str(ended.get("fault", ""))))
        else:
            self.record.add(AttemptEnded(attempt, end, failure, scenario=scenario if failure else "", **ended))  # type: ignore[arg-type]

    def switch(self, at: float, active: bool, scenario: str = "s") -> None:
        self.record.add(FaultsSwitched(scenario, active, at))

    def report(self) -> Report:
        return Report(build(self.record))


def test_an_sdk_that_obeys_retry_after_and_backs_off() -> None:
    run = Run()
    run.attempt(0.0, 0.1, "429", retry_count=0, retry_after=0.5)
    run.attempt(0.7, 0.8, "429", retry_count=1, retry_after=0.5)
    run.attempt(1.4, 1.5, "429", retry_count=2, retry_after=1.5)
    report = run.report()
    assert report.verdict("retries_transient") == "pass"
    assert report.verdict("retry_after") == "pass"
    assert report.verdict("backoff") == "pass"
    assert report.verdict("retry_storm") == "pass" and report.verdict("gives_up") == "pass"
    assert report.verdict("non_retryable") == report.verdict("timeout") == "not_exercised"
    assert report.verdict("broken_streams") == report.verdict("recovery") == "not_exercised"
    assert report.verdict("bad_answers") == "not_exercised"
    assert report.verdict("fallback") == "fail"  # given up while the fault held, nowhere else to go
    assert report.retries == 2 and report.attempts == 3 and report.logical_requests == 1


def test_a_loop_that_ignores_retry_after_and_hammers() -> None:
    run = Run(storm_min_retries=4)
    t = 0.0
    for _ in range(6):
        run.attempt(t, t + 0.01, "429", retry_count=0, retry_after=1.0)
        t += 0.05
    report = run.report()
    assert report.verdict("retry_after") == "fail" and report.verdict("backoff") == "fail"
    assert report.verdict("retry_storm") == "fail"
    row = report.rows()[0]["verdicts"]["retry_after"]
    assert row["evidence"]["early"] == 5 and row["advice"] and "came early" in row["summary"]
    assert ("openai-python", "openai", "retry_after") in report.failing()


def test_never_retrying_a_transient_failure_and_retrying_a_permanent_one() -> None:
    run = Run()
    run.attempt(0.0, 0.1, "503", fingerprint="once")
    run.attempt(1.0, 1.1, "400", fingerprint="bad", nonretryable=True)
    run.attempt(1.5, 1.6, "400", fingerprint="bad", nonretryable=True)
    report = run.report()
    assert report.verdict("retries_transient") == "fail" and report.verdict("non_retryable") == "fail"


def test_timeouts_waited_out_or_given_up() -> None:
    patient = Run()
    patient.attempt(0.0, 30.0, "timeout", fault="timeout")
    assert patient.report().verdict("timeout") == "fail"
    careful = Run()
    careful.attempt(0.0, 1.0, abandoned=True, fault="timeout")
    report = careful.report()
    assert report.verdict("timeout") == "pass"
    assert report.rows()[0]["verdicts"]["timeout"]["evidence"]["median_wait"] == 1.0


def test_broken_streams_reissued_or_taken() -> None:
    reissuing = Run()
    reissuing.attempt(0.0, 0.5, "stream_cut", broken="cut", fault="stream_cut")
    reissuing.attempt(0.7, 1.0)
    assert reissuing.report().verdict("broken_streams") == "pass"
    taking = Run()
    taking.attempt(0.0, 0.5, "stream_cut", broken="cut", fault="stream_cut")
    assert taking.report().verdict("broken_streams") == "fail"


def test_bad_answers_reasked_or_taken() -> None:
    reasking = Run()
    reasking.attempt(0.0, 0.1, "truncate", fault="truncate", bad_answer=True, conversation="c1")
    reasking.attempt(0.12, 0.5, fingerprint="more-tokens", conversation="c1")  # at once: a 200 asks no wait
    report = reasking.report()
    assert report.verdict("bad_answers") == "pass"
    assert report.verdict("backoff") == "not_exercised"  # a re-ask after a 200 is not a backoff question
    taking = Run()
    taking.attempt(0.0, 0.1, "empty_answer", fault="empty_answer", bad_answer=True, conversation="c1")
    taking.attempt(0.5, 0.6, fingerprint="other", conversation="c2")  # a new question: carried on
    report = taking.report()
    verdict = report.rows()[0]["verdicts"]["bad_answers"]
    assert verdict["verdict"] == "fail" and verdict["evidence"] == {
        "taken": 1,
        "reasked": 0,
        "faults": ["empty_answer"],
    }
    assert "finish" in verdict["advice"] and "validate" in verdict["advice"]
    assert report.verdict("fallback") == "not_exercised"  # taking an answer is not giving up


def test_fallback_and_recovery() -> None:
    run = Run()
    run.attempt(0.0, 0.1, "503", conversation="c1")
    run.attempt(0.5, 0.6, provider="anthropic", client="openai-python", conversation="c1")
    run.switch(2.0, False)
    run.attempt(2.5, 2.6)
    report = run.report()
    assert report.verdict("fallback", provider="openai") == "pass"
    assert report.verdict("recovery", provider="openai") == "pass"
    stuck = Run()
    stuck.attempt(0.0, 0.1, "503")
    stuck.switch(1.0, False)
    stuck.attempt(20.0, 20.1, "503", scenario="")  # still failing though the fault is off
    assert stuck.report().verdict("recovery") == "fail"


def test_a_client_that_never_gives_up() -> None:
    run = Run(retry_window=60.0, storm_min_retries=100)
    for n in range(12):
        run.attempt(n * 1.0, n * 1.0 + 0.1, "503", retry_count=0)
    assert run.report().verdict("gives_up") == "fail"


def test_the_report_json_has_its_documented_parts() -> None:
    run = Run()
    run.switch(0.0, True)
    run.attempt(0.2, 0.3, "429", retry_after=0.5)
    run.attempt(1.0, 1.1)
    run.switch(2.0, False)
    data = build(run.record)
    assert data["schema"] == "brownout-report/1" and data["attempts"] == 2 and data["open_attempts"] == 0
    assert data["scenarios"] == [{"name": "s", "on": [[0.0, 2.0]]}]
    assert data["retry_waits"] == [{"client": "openai-python", "provider": "openai", "asked": 0.5, "waited": 0.7}]
    assert sum(data["timeline"]["attempts"]) == 2 and sum(data["timeline"]["successes"]) == 1
    assert set(data["overall"]) == set(data["clients"][0]["verdicts"]) and data["providers"]["openai"]
    with pytest.raises(KeyError, match="unknown verdict"):
        Report(data).verdict("nope")
