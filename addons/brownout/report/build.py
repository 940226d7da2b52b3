"""A report as JSON: the one shape that `brownout report --json`, `GET /api/report`, the HTML page
and the pytest plugin all read. Its keys are documented in `docs/report.md` and stable
(`schema` says which version a report follows).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from brownout import __version__
from brownout.observe.events import FaultsSwitched
from brownout.observe.events import LogicalRequestEnded
from brownout.observe.events import Retry
from brownout.observe.record import RunRecord
from brownout.report.replay import Replay
from brownout.report.replay import replay
from brownout.report.verdicts import VERDICTS
from brownout.report.verdicts import Value
from brownout.report.verdicts import combine
from brownout.report.verdicts import judge
from brownout.report.verdicts import subjects

SCHEMA = "brownout-report/1"
# At most this many bins in the timeline, whatever the run's length.
TIMELINE_BINS = 120


def build(record: RunRecord) -> dict[str, Any]:
    """The report of a run, with every open retry window closed as if it had run out."""
    run = replay(record)
    clients = []
    by_provider: dict[str, list[Any]] = {}
    all_verdicts: dict[str, list[Any]] = {name: [] for name in VERDICTS}
    for subject in subjects(run):
        verdicts = judge(subject, run, record.settings)
        for name, verdict in verdicts.items():
            by_provider.setdefault(subject.provider, []).append(verdict)
            all_verdicts[name].append(verdict)
        ends = subject.of(LogicalRequestEnded)
        clients.append(
            {
                "client": subject.client,
                "provider": subject.provider,
                "attempts": len(subject.attempts),
                "failed_attempts": sum(1 for a in subject.attempts if a.done and not a.succeeded),
                "faulted_attempts": sum(1 for a in subject.attempts if a.faulted),
                "logical_requests": len(ends),
                "retries": len(subject.of(Retry)),
                "verdicts": {name: verdict.to_json() for name, verdict in verdicts.items()},
            }
        )
    providers = {
        provider: {name: combine([v for v in verdicts if v.name == name]) for name in VERDICTS}
        for provider, verdicts in sorted(by_provider.items())
    }
    return {
        "schema": SCHEMA,
        "brownout": __version__,
        "started": round(run.started, 3),
        "ended": round(run.ended, 3),
        "seconds": round(max(0.0, run.ended - run.started), 3),
        "attempts": len(run.attempts),
        "open_attempts": run.open_attempts,
        "dropped_events": run.dropped,
        "settings": asdict(record.settings),
        "scenarios": scenario_intervals(run.switches),
        "clients": clients,
        "providers": providers,
        "overall": {name: combine(all_verdicts[name]) for name in VERDICTS},
        "timeline": timeline(run),
        "retry_waits": [
            {"client": o.client, "provider": o.provider, "asked": round(o.retry_after, 3), "waited": round(o.delay, 3)}
            for _, o in run.observations
            if isinstance(o, Retry) and o.retry_after is not None and o.delay is not None
        ][:500],
    }


def scenario_intervals(switches: Sequence[FaultsSwitched]) -> list[dict[str, Any]]:
    """When each scenario was on: `[[from, to], ...]`, `to` null while it still is."""
    intervals: dict[str, list[list[float | None]]] = {}
    for switch in switches:
        if switch.phase:
            continue
        spans = intervals.setdefault(switch.scenario, [])
        if switch.active and (not spans or spans[-1][1] is not None):
            spans.append([round(switch.time, 3), None])
        elif not switch.active and spans and spans[-1][1] is None:
            spans[-1][1] = round(switch.time, 3)
    return [{"name": name, "on": spans} for name, spans in sorted(intervals.items())]


def timeline(run: Replay) -> dict[str, Any]:
    """Attempts, successes and faulted attempts per time bin, from the run's start."""
    span = max(1.0, run.ended - run.started)
    step = max(1.0, math.ceil(span / TIMELINE_BINS))
    bins = int(span // step) + 1
    attempts, successes, faulted = [0] * bins, [0] * bins, [0] * bins

    def index(at: float) -> int:
        return min(bins - 1, max(0, int((at - run.started) // step)))

    for attempt in run.attempts:
        attempts[index(attempt.started.time)] += 1
        end = attempt.end
        if end is None:
            continue
        if attempt.succeeded:
            successes[index(end)] += 1
        if attempt.faulted:
            faulted[index(end)] += 1
    return {
        "start": round(run.started, 3),
        "step": step,
        "attempts": attempts,
        "successes": successes,
        "faulted": faulted,
    }


class Report:
    """A report's JSON, with the questions a test asks of it."""

    def __init__(self, data: dict[str, Any]) -> None:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} report (schema {data.get('schema')!r})")
        self.data = data

    def rows(self, client: str | None = None, provider: str | None = None) -> list[dict[str, Any]]:
        return [
            row
            for row in self.data["clients"]
            if (client is None or row["client"] == client) and (provider is None or row["provider"] == provider)
        ]

    def verdict(self, name: str, client: str | None = None, provider: str | None = None) -> Value:
        """`pass`, `fail` or `not_exercised` for the clients and providers asked about (all by
        default): fail if any of them failed, pass if any passed."""
        if name not in VERDICTS:
            raise KeyError(f"unknown verdict {name!r}; known: {', '.join(VERDICTS)}")
        values = {row["verdicts"][name]["verdict"] for row in self.rows(client, provider)}
        return "fail" if "fail" in values else "pass" if "pass" in values else "not_exercised"

    def failing(self, names: Iterable[str] = VERDICTS) -> list[tuple[str, str, str]]:
        """(client, provider, verdict) for every failing verdict among `names`."""
        wanted = set(names)
        return [
            (row["client"], row["provider"], name)
            for row in self.data["clients"]
            for name, verdict in row["verdicts"].items()
            if name in wanted and verdict["verdict"] == "fail"
        ]

    def total(self, key: str, client: str | None = None, provider: str | None = None) -> int:
        """A count summed over the clients and providers asked about: `attempts`, `retries`,
        `logical_requests`, `failed_attempts`, `faulted_attempts`."""
        return sum(int(row[key]) for row in self.rows(client, provider))

    @property
    def attempts(self) -> int:
        return self.total("attempts")

    @property
    def retries(self) -> int:
        return self.total("retries")

    @property
    def logical_requests(self) -> int:
        return self.total("logical_requests")

    def __repr__(self) -> str:
        failing = ", ".join(f"{c}@{p}: {n}" for c, p, n in self.failing()) or "none failing"
        return f"<brownout report: {self.attempts} attempts, {failing}>"
