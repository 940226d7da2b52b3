"""Metrics of `overload` rules: the load offered against the capacity, sheds, the queue.

Counters and the queueing-delay histogram are counted as each request is offered (the Injector
hands over the fault's run); the gauges are read from the rules' pools when Prometheus scrapes,
on the faults' own clock, so a load that fell away shows as such without a request to tell.

`pool` is the provider (`per: provider`) or `provider/model` (`per: model`, the model bounded as
every `model` label is); pools that share a label are added up.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Hashable
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from brownout.faults.base import FaultRun
from brownout.faults.overload.fault import OverloadFault
from brownout.faults.overload.fault import Queued
from brownout.metrics.registry import ModelLabels

LABELS = ["scenario", "rule", "pool"]
# Queueing delays run from none to the default cap of 10 s (and what a scenario sets above it).
QUEUE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


@dataclass(frozen=True, slots=True)
class OverloadRule:
    """An overload rule in force now: its scenario, its name, its fault, its phase's capacity share."""

    scenario: str
    rule: str
    fault: OverloadFault
    scale: float = 1.0


OverloadRules = Callable[[], Iterable[OverloadRule]]

_GAUGES = {
    "brownout_overload_offered_rps": (
        "Load offered to an overload rule's capacity: attempts per second over its window, retries included."
    ),
    "brownout_overload_capacity_rps": (
        "Requests per second an overload rule's provider serves now (a phase's cut and the degraded state applied)."
    ),
    "brownout_overload_underway_requests": "Requests under way at an overload rule's provider (queued or upstream).",
    "brownout_overload_capacity_concurrency": (
        "Requests at once an overload rule's provider serves now (a phase's cut and the degraded state applied)."
    ),
    "brownout_overload_degraded": (
        "1 while an overload rule's provider is overloaded (hysteresis holds it until the load is well below capacity)."
    ),
}


def pool_label(key: Hashable, models: ModelLabels) -> str:
    if isinstance(key, tuple):
        provider, model = key
        return f"{provider}/{models(str(model))}"
    return str(key)


class OverloadCollector(Collector):
    def __init__(self, rules: OverloadRules, models: ModelLabels) -> None:
        self.rules = rules
        self.models = models

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(name, text, labels=LABELS) for name, text in _GAUGES.items()]

    def collect(self) -> Iterator[Metric]:
        sums: dict[str, dict[tuple[str, str, str], float]] = {name: {} for name in _GAUGES}

        def add(name: str, labels: tuple[str, str, str], value: float, most: bool = False) -> None:
            table = sums[name]
            table[labels] = max(table.get(labels, 0.0), value) if most else table.get(labels, 0.0) + value

        for rule in self.rules():
            for key, reading in rule.fault.readings(rule.scale):
                labels = (rule.scenario, rule.rule, pool_label(key, self.models))
                add("brownout_overload_offered_rps", labels, reading.load)
                add("brownout_overload_underway_requests", labels, reading.underway)
                add("brownout_overload_degraded", labels, 1.0 if reading.degraded else 0.0, most=True)
                if reading.rps is not None:
                    add("brownout_overload_capacity_rps", labels, reading.rps)
                if reading.concurrency is not None:
                    add("brownout_overload_capacity_concurrency", labels, reading.concurrency)
        for name, text in _GAUGES.items():
            family = GaugeMetricFamily(name, text, labels=LABELS)
            for labels, value in sums[name].items():
                family.add_metric(list(labels), value)
            yield family


class OverloadMetrics:
    def __init__(self, registry: CollectorRegistry, rules: OverloadRules, models: ModelLabels) -> None:
        self.models = models
        self.offered = Counter(
            "brownout_overload_offered_requests",
            "Requests offered to an overload rule's capacity, retries included.",
            LABELS,
            registry=registry,
        )
        self.shed = Counter(
            "brownout_overload_shed",
            "Requests an overload rule shed with the provider's overload error.",
            LABELS,
            registry=registry,
        )
        self.queue_delay = Histogram(
            "brownout_overload_queue_delay_seconds",
            "How long each offered request waited in an overload rule's queue (0 below capacity).",
            LABELS,
            buckets=QUEUE_BUCKETS,
            registry=registry,
        )
        registry.register(OverloadCollector(rules, models))

    def record(self, scenario: str, rule: str, run: FaultRun) -> None:
        """A request an overload rule's fault has dealt with (any other run is passed over)."""
        queued = run.state
        if not isinstance(queued, Queued) or not isinstance(queued.fault, OverloadFault):
            return
        labels = (scenario, rule, pool_label(queued.fault.pool_key(run.info), self.models))
        self.offered.labels(*labels).inc()
        self.queue_delay.labels(*labels).observe(queued.verdict.delay)
        if queued.shed:
            self.shed.labels(*labels).inc()
