"""Prometheus metrics on a registry the addon owns (a script reload never registers twice).

Label values come from bounded sets only: providers, endpoints, status codes, fault and
scenario names from the loaded files, and models through `ModelLabels`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram
from prometheus_client import disable_created_metrics
from prometheus_client import generate_latest

from brownout import __version__

# LLM calls run from milliseconds (embeddings, errors) to minutes (long generations).
LLM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
OTHER = "other"

# `*_created` series double the exposition and no dashboard reads them.
disable_created_metrics()


_families: weakref.WeakKeyDictionary[CollectorRegistry, dict[Any, Any]] = weakref.WeakKeyDictionary()


def families[Families](registry: CollectorRegistry, build: Callable[[CollectorRegistry], Families]) -> Families:
    """A feature's metric families on a registry, registered the first time they are asked for,
    so building a feature's addons twice on one state never registers a metric twice."""
    built = _families.setdefault(registry, {})
    if build not in built:
        built[build] = build(registry)
    result: Families = built[build]
    return result


class ModelLabels:
    """Bounds the `model` label: an explicit allow-list, or the first `limit` distinct models seen."""

    def __init__(self, allow: Iterable[str] = (), limit: int = 20) -> None:
        self.allow = set(allow)
        self.fixed = bool(self.allow)
        self.limit = limit

    def __call__(self, model: str) -> str:
        if not model:
            return "none"
        if model in self.allow:
            return model
        if not self.fixed and len(self.allow) < self.limit:
            self.allow.add(model)
            return model
        return OTHER


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
