"""Prometheus metrics on a registry the addon owns (a script reload never registers twice).

Label values come from bounded sets only: providers, endpoints, status codes, fault and
scenario names from the loaded files, and models through `ModelLabels`.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram
from prometheus_client import generate_latest

from brownout import __version__
from brownout.faults.outcome import NO_ANSWER
from brownout.faults.outcome import SPOILS_ANSWER
from brownout.faults.outcome import Outcome
from brownout.metrics.registry import LLM_BUCKETS
from brownout.metrics.registry import ModelLabels

# `code` values of an attempt that ended without a complete answer (beside the statuses).
ENDED_CODES = ("reset", "timeout", "empty_reply", "aborted", "abandoned", "upstream_error", "fault_error", "error")


def ended_code(
    outcome: Outcome,
    *,
    client_left: bool,
    answer_started: bool,
    cut_by_fault: bool = False,
    error_status: int | None = None,
    upstream_broke: bool = False,
) -> str:
    """The `code` of an attempt that ended in an error rather than a complete answer, as its
    client saw it: the fault's closing (`reset`, `timeout`, `empty_reply`), a stream fault's break
    (`aborted`), the client leaving first, during a hold too (`abandoned`), the status of the error
    page mitmproxy sent in the upstream's place (`error_status`), the fault's own code raising
    (`fault_error`), the upstream breaking off after its headers went out (`upstream_error`), or
    `error` for anything else."""
    if outcome in NO_ANSWER:
        return str(outcome)
    if outcome in SPOILS_ANSWER:
        return "aborted"  # a fault broke the answer; a client that then stops reading reacts to that
    if outcome == Outcome.ABANDONED or client_left:
        return "abandoned"
    if cut_by_fault or outcome in (Outcome.STALLED, Outcome.SLOWED):
        return "aborted"  # a stream fault ended the stream it was holding back or pacing
    if error_status is not None:
        return str(error_status)
    if outcome == Outcome.FAULT_ERROR:
        return "fault_error"
    if upstream_broke or answer_started:
        return "upstream_error"
    return "error"


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.models = ModelLabels()
        self.requests = Counter(
            "brownout_requests",
            "Requests the proxy answered or relayed.",
            ["provider", "endpoint", "model", "code"],
            registry=r,
        )
        self.faults = Counter(
            "brownout_faults_injected",
            "Faults that fired.",
            ["scenario", "rule", "fault", "provider"],
            registry=r,
        )
        self.fault_errors = Counter(
            "brownout_fault_errors",
            "Exceptions raised inside fault code; the flow fell back to pass-through.",
            ["fault"],
            registry=r,
        )
        self.upstream_errors = Counter(
            "brownout_upstream_errors",
            "Requests brownout answered with its own 502 because it could not reach the upstream (not a fault).",
            ["provider", "cause"],
            registry=r,
        )
        self.duration = Histogram(
            "brownout_request_duration_seconds",
            "Request start to response end, as the client saw it.",
            ["provider", "endpoint"],
            buckets=LLM_BUCKETS,
            registry=r,
        )
        self.ttfb = Histogram(
            "brownout_time_to_first_byte_seconds",
            "Request start to the first response byte.",
            ["provider", "endpoint"],
            buckets=LLM_BUCKETS,
            registry=r,
        )
        self.inflight = Gauge(
            "brownout_inflight_requests",
            "Requests under way.",
            ["provider"],
            registry=r,
        )
        self.scenario_active = Gauge(
            "brownout_scenario_active",
            "1 while a scenario is on.",
            ["scenario"],
            registry=r,
        )
        self.scenarios_loaded = Gauge(
            "brownout_scenarios_loaded",
            "Scenarios in the library of the running proxy.",
            registry=r,
        )
        self.build_info = Gauge(
            "brownout_build_info",
            "Always 1; the version is in the label.",
            ["version"],
            registry=r,
        )
        self.build_info.labels(version=__version__).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def set_scenarios(self, loaded: Iterable[str], active: Iterable[str]) -> None:
        """Keep `brownout_scenario_active` at 0/1 for every loaded scenario, so a switch is a step."""
        active_set = set(active)
        names = set(loaded)
        for name in names:
            self.scenario_active.labels(scenario=name).set(1 if name in active_set else 0)
        self.scenarios_loaded.set(len(names))
