"""Verdicts: what a team can act on, per client and provider, each with its evidence.

Pure: a `Replay` in, verdicts out. Each verdict is `pass`, `fail` or `not_exercised` (the run never
put the client in the situation the verdict is about), never a guess; its evidence says what was
counted, and a failing verdict says what to change. The definitions are the README's ("Verdicts").
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal

from brownout.observe.events import Abandoned
from brownout.observe.events import BadAnswer
from brownout.observe.events import BrokenStream
from brownout.observe.events import Fallback
from brownout.observe.events import Hang
from brownout.observe.events import LogicalRequestEnded
from brownout.observe.events import Observation
from brownout.observe.events import Retry
from brownout.observe.events import Settings
from brownout.report.replay import Attempt
from brownout.report.replay import Replay

Value = Literal["pass", "fail", "not_exercised"]
VERDICTS = (
    "retries_transient",
    "retry_after",
    "non_retryable",
    "backoff",
    "timeout",
    "broken_streams",
    "bad_answers",
    "fallback",
    "recovery",
    "retry_storm",
    "gives_up",
)
# What a verdict is about, in one line each (the report's table and the README say the same).
QUESTIONS = {
    "retries_transient": "retries transient errors (429, 5xx, 529, dropped connections)",
    "retry_after": "waits as long as Retry-After asks",
    "non_retryable": "does not retry what must not be retried (400, 401, 403, 404, 413, 422, quota)",
    "backoff": "backs off between retries",
    "timeout": "gives up on a hung request (an effective read timeout)",
    "broken_streams": "asks again when a stream breaks instead of taking a partial answer",
    "bad_answers": "asks again after a bad answer (empty, cut at the length limit, refused, filtered, "
    "bad JSON, a bad tool call) instead of taking it",
    "fallback": "moves to another provider or model when one keeps failing",
    "recovery": "succeeds again once the outage ends",
    "retry_storm": "does not flood a failing provider with retries",
    "gives_up": "stops trying within a budget instead of retrying forever",
}
ADVICE = {
    "retries_transient": "Retry 429, 5xx, 529 and dropped connections a few times with backoff "
    "(the official SDKs do with max_retries >= 2; a loop above them must too).",
    "retry_after": "Wait at least what retry-after-ms / Retry-After asks before the next attempt "
    "(openai-node falls back to its own backoff above 60 s; openai-python gives up above 120 s).",
    "non_retryable": "Do not retry 400, 401, 403, 404, 413, 422, insufficient_quota or x-should-retry: false; "
    "fix the request or the account instead.",
    "backoff": "Wait longer before each retry, with jitter (0.5 s x 2^n, capped), or wait out Retry-After.",
    "timeout": "Set a read timeout well under the SDKs' 600 s default (e.g. timeout=30) so a hung provider fails fast.",
    "broken_streams": "Check that a stream ended with its terminator or finish reason, and ask again when it did not.",
    "bad_answers": "Check finish/stop reasons (length, content_filter, refusal), validate structured output and "
    "tool arguments against their schema, and re-ask (with the error) or report the failure instead of using it.",
    "fallback": "When a provider keeps failing, send the conversation to a second provider or model.",
    "recovery": "After the provider recovers the client should succeed again soon: check circuit breakers and "
    "cached errors.",
    "retry_storm": "Cap retries and add jitter: a burst of retries keeps an overloaded provider down.",
    "gives_up": "Bound the attempts per request (the SDKs stop after 3) and the time spent, then report the error.",
}
# Failures worth retrying (`after` labels).
TRANSIENT_WORDS = frozenset(
    {"reset", "empty_reply", "timeout", "aborted", "upstream_error", "error", "malformed", "unknown"}
)
# A request that takes more attempts than this under a fault is retrying forever (gives_up fails).
ATTEMPT_BUDGET = 10


def is_transient(after: str) -> bool:
    if after.isdigit():
        status = int(after)
        return status in (408, 409, 429) or status >= 500
    return after in TRANSIENT_WORDS


@dataclass(frozen=True, slots=True)
class Verdict:
    name: str
    value: Value
    summary: str  # one line: what was seen
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def advice(self) -> str:
        return ADVICE[self.name] if self.value == "fail" else ""

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.value,
            "question": QUESTIONS[self.name],
            "summary": self.summary,
            "evidence": self.evidence,
            "advice": self.advice,
        }


@dataclass(slots=True)
class Subject:
    """Everything the run says about one client at one provider."""

    client: str
    provider: str
    attempts: list[Attempt] = field(default_factory=list)
    observations: list[tuple[float, Observation]] = field(default_factory=list)

    def of[T](self, kind: type[T]) -> list[T]:
        return [o for _, o in self.observations if isinstance(o, kind)]


def subjects(run: Replay) -> list[Subject]:
    """One subject per (client, provider) that made attempts, in a stable order."""
    found: dict[tuple[str, str], Subject] = {}
    for attempt in run.attempts:
        key = (attempt.started.client, attempt.started.provider)
        found.setdefault(key, Subject(*key)).attempts.append(attempt)
    for at, observation in run.observations:
        owner = _key_of(observation)
        if owner is not None and owner in found:
            found[owner].observations.append((at, observation))
    return [found[key] for key in sorted(found)]


def _key_of(observation: Observation) -> tuple[str, str] | None:
    match observation:
        case Retry() | BrokenStream() | BadAnswer() | Hang() | LogicalRequestEnded() | Abandoned():
            return observation.client, observation.provider
        case Fallback():
            return observation.client, observation.from_provider
    return None


def _verdict(name: str, value: Value, summary: str, **evidence: Any) -> Verdict:
    return Verdict(name, value, summary, evidence)


def _not_exercised(name: str, why: str) -> Verdict:
    return Verdict(name, "not_exercised", why)


def retries_transient(s: Subject, settings: Settings) -> Verdict:
    retried = [r for r in s.of(Retry) if is_transient(r.after)]
    never = [
        e for e in s.of(LogicalRequestEnded) if e.outcome != "success" and e.attempts == 1 and is_transient(e.after)
    ]
    if never:
        afters = sorted({e.after for e in never})
        return _verdict(
            "retries_transient",
            "fail",
            f"{len(never)} request(s) failed with {', '.join(afters)} and were never retried",
            never_retried=len(never),
            after=afters,
            retried=len(retried),
        )
    if retried:
        return _verdict(
            "retries_transient", "pass", f"{len(retried)} retries of transient failures", retried=len(retried)
        )
    return _not_exercised("retries_transient", "no transient failure reached this client")


def retry_after(s: Subject, settings: Settings) -> Verdict:
    asked = [r for r in s.of(Retry) if r.retry_after is not None and r.delay is not None]
    if not asked:
        return _not_exercised("retry_after", "no retry followed an answer with Retry-After")
    early = [r for r in asked if r.violation]
    pairs = [{"asked": round(r.retry_after or 0.0, 3), "waited": round(r.delay or 0.0, 3)} for r in asked]
    if early:
        worst = min(early, key=lambda r: (r.delay or 0.0) - (r.retry_after or 0.0))
        return _verdict(
            "retry_after",
            "fail",
            f"{len(early)} of {len(asked)} retries came early "
            f"(asked {worst.retry_after:g} s, waited {worst.delay:.2f} s)",
            early=len(early),
            retries=len(asked),
            waits=pairs[:20],
        )
    return _verdict(
        "retry_after", "pass", f"all {len(asked)} retries waited as asked", retries=len(asked), waits=pairs[:20]
    )


def non_retryable(s: Subject, settings: Settings) -> Verdict:
    wrong = [r for r in s.of(Retry) if r.nonretryable]
    seen = sum(1 for a in s.attempts if a.ended is not None and a.ended.nonretryable)
    if wrong:
        afters = sorted({r.after for r in wrong})
        return _verdict(
            "non_retryable",
            "fail",
            f"{len(wrong)} retries of {', '.join(afters)} that cannot succeed",
            retries=len(wrong),
            after=afters,
        )
    if seen:
        return _verdict("non_retryable", "pass", f"{seen} non-retryable answers, none retried", answers=seen)
    return _not_exercised("non_retryable", "no non-retryable answer reached this client")


def backoff(s: Subject, settings: Settings) -> Verdict:
    # A re-ask after a bad answer follows a 200, which asks for no wait: not judged here.
    timed = [r for r in s.of(Retry) if r.delay is not None and not r.reask]
    if not timed:
        return _not_exercised("backoff", "no retry with a known delay")
    flat = [r for r in timed if r.no_backoff]
    delays = [round(r.delay or 0.0, 3) for r in timed]
    if flat:
        return _verdict(
            "backoff",
            "fail",
            f"{len(flat)} of {len(timed)} retries did not back off (delays {_spread(delays)})",
            without_backoff=len(flat),
            retries=len(timed),
            delays=delays[:20],
        )
    return _verdict(
        "backoff", "pass", f"{len(timed)} retries backed off (delays {_spread(delays)})", delays=delays[:20]
    )


def timeout(s: Subject, settings: Settings) -> Verdict:
    hangs = s.of(Hang)
    abandoned = s.of(Abandoned)
    declared = sorted({a.declared_timeout for a in abandoned if a.declared_timeout is not None})
    waited_out = [h for h in hangs if not h.gave_up]
    if waited_out:
        longest = max(h.waited for h in waited_out)
        return _verdict(
            "timeout",
            "fail",
            f"waited out a {longest:.1f} s hang: no read timeout shorter than that",
            waited_out=len(waited_out),
            longest_wait=round(longest, 3),
            declared_timeouts=declared,
        )
    # A hang the client gave up on is also an abandonment: the abandonments are every give-up.
    waits = [a.waited for a in abandoned if a.waited is not None]
    if abandoned:
        typical = statistics.median(waits) if waits else None
        summary = "gave up on hung requests" + (f" after {typical:.1f} s" if typical is not None else "")
        return _verdict(
            "timeout",
            "pass",
            summary,
            gave_up=len(abandoned),
            median_wait=None if typical is None else round(typical, 3),
            declared_timeouts=declared,
        )
    return _not_exercised("timeout", "no request hung (use a `timeout` fault)")


def broken_streams(s: Subject, settings: Settings) -> Verdict:
    broken = s.of(BrokenStream)
    if not broken:
        return _not_exercised("broken_streams", "no stream broke")
    taken = [b for b in broken if not b.reissued and b.attempts == 1]
    kinds = sorted({b.broken for b in broken})
    if taken:
        return _verdict(
            "broken_streams",
            "fail",
            f"{len(taken)} broken stream(s) ({', '.join(sorted({b.broken for b in taken}))}) taken as the answer, "
            "never asked again",
            taken=len(taken),
            reissued=sum(1 for b in broken if b.reissued),
            breaks=kinds,
        )
    return _verdict(
        "broken_streams", "pass", f"asked again after each broken stream ({', '.join(kinds)})", breaks=kinds
    )


def bad_answers(s: Subject, settings: Settings) -> Verdict:
    seen = s.of(BadAnswer)
    if not seen:
        return _not_exercised("bad_answers", "no bad answer (a content fault) reached this client")
    # Only a first answer taken fails it: a re-ask that got a bad answer again and stopped there
    # did ask again (gives_up judges how long it went on).
    taken = [b for b in seen if b.next == "carried_on" and b.attempts == 1]
    faults = sorted({b.fault for b in seen})
    reasked = sum(1 for b in seen if b.next == "reasked")
    if taken:
        return _verdict(
            "bad_answers",
            "fail",
            f"{len(taken)} bad answer(s) ({', '.join(sorted({b.fault for b in taken}))}) taken, never asked again",
            taken=len(taken),
            reasked=reasked,
            faults=faults,
        )
    return _verdict(
        "bad_answers",
        "pass",
        f"asked again after each bad answer ({', '.join(faults)})",
        reasked=reasked,
        faults=faults,
    )


def fallback(s: Subject, settings: Settings) -> Verdict:
    moved = s.of(Fallback)
    given_up = [e for e in s.of(LogicalRequestEnded) if e.while_faulted]
    if moved:
        places = sorted({f"{f.to_provider}/{f.to_model}" if f.to_model else f.to_provider for f in moved})
        fastest = min(f.seconds for f in moved)
        return _verdict(
            "fallback",
            "pass",
            f"fell back to {', '.join(places)} ({fastest:.1f} s after the first failure)",
            fallbacks=len(moved),
            to=places,
            fastest_seconds=round(fastest, 3),
        )
    if given_up:
        return _verdict(
            "fallback",
            "fail",
            f"{len(given_up)} request(s) given up while the outage held, with no fallback",
            given_up=len(given_up),
        )
    return _not_exercised("fallback", "no request was given up while a fault held")


def recovery(s: Subject, switches: Sequence[Any]) -> Verdict:
    results: list[float] = []
    stuck = 0
    for switch in switches:
        if switch.active:
            continue
        hit = any(a.scenario == switch.scenario and (a.end or 0.0) <= switch.time for a in s.attempts)
        if not hit:
            continue
        after = [a for a in s.attempts if a.started.time >= switch.time and a.done]
        if not after:
            continue
        good = [a for a in after if a.succeeded]
        if good:
            results.append(min(a.started.time for a in good) - switch.time)
        else:
            stuck += 1
    if stuck:
        return _verdict(
            "recovery",
            "fail",
            f"still failing after {stuck} outage(s) ended",
            outages_not_recovered=stuck,
            recovered_seconds=[round(r, 3) for r in results],
        )
    if results:
        return _verdict(
            "recovery",
            "pass",
            f"succeeded again {max(results):.1f} s after the outage ended",
            recovered_seconds=[round(r, 3) for r in results],
        )
    return _not_exercised("recovery", "no outage ended while this client was calling")


def retry_storm(s: Subject, settings: Settings) -> Verdict:
    retries = sorted(at for at, o in s.observations if isinstance(o, Retry))
    if not retries:
        return _not_exercised("retry_storm", "no retries")
    firsts = sorted(a.started.time for a in s.attempts if not a.retry)
    window = settings.storm_window
    peak, peak_firsts = 0, 0
    start = 0
    for end, at in enumerate(retries):
        while retries[start] < at - window:
            start += 1
        count = end - start + 1
        if count > peak:
            peak = count
            peak_firsts = sum(1 for t in firsts if at - window <= t <= at)
    storming = peak >= settings.storm_min_retries and peak >= settings.storm_ratio * peak_firsts
    if storming:
        return _verdict(
            "retry_storm",
            "fail",
            f"{peak} retries within {window:g} s for {peak_firsts} first attempts",
            peak_retries=peak,
            first_attempts=peak_firsts,
            window_seconds=window,
        )
    return _verdict(
        "retry_storm", "pass", f"at most {peak} retries within {window:g} s", peak_retries=peak, window_seconds=window
    )


def gives_up(s: Subject, settings: Settings) -> Verdict:
    faulted = [a for a in s.attempts if a.faulted and not a.succeeded]
    if not faulted:
        return _not_exercised("gives_up", "no fault made this client's requests fail")
    ends = s.of(LogicalRequestEnded)
    longest = max((e.attempts for e in ends), default=0)
    endless = [e for e in ends if e.attempts > ATTEMPT_BUDGET]
    if endless:
        return _verdict(
            "gives_up",
            "fail",
            f"{len(endless)} request(s) took more than {ATTEMPT_BUDGET} attempts (up to {longest})",
            over_budget=len(endless),
            most_attempts=longest,
        )
    return _verdict("gives_up", "pass", f"at most {longest} attempts per request", most_attempts=longest)


def _spread(values: list[float]) -> str:
    if len(values) <= 4:
        return ", ".join(f"{v:g} s" for v in values)
    return f"{min(values):g}-{max(values):g} s"


JUDGES: dict[str, Callable[[Subject, Settings], Verdict]] = {
    "retries_transient": retries_transient,
    "retry_after": retry_after,
    "non_retryable": non_retryable,
    "backoff": backoff,
    "timeout": timeout,
    "broken_streams": broken_streams,
    "bad_answers": bad_answers,
    "fallback": fallback,
    "retry_storm": retry_storm,
    "gives_up": gives_up,
}


def judge(subject: Subject, run: Replay, settings: Settings) -> dict[str, Verdict]:
    verdicts = {name: JUDGES[name](subject, settings) for name in JUDGES}
    verdicts["recovery"] = recovery(subject, run.switches)
    return {name: verdicts[name] for name in VERDICTS}


def combine(verdicts: Sequence[Verdict]) -> Value:
    """One value for several subjects' verdicts: fail if any failed, pass if any passed."""
    values = {v.value for v in verdicts}
    return "fail" if "fail" in values else "pass" if "pass" in values else "not_exercised"
