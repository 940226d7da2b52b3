"""Metrics of live control: switches, scenario-file reloads, and the phase each timeline is in.

Registered on the addon's own registry next to `metrics.proxy.Metrics`. The phase gauge is
computed when Prometheus scrapes, from the engine's clock, so it is never stale between requests.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

PHASE = "brownout_timeline_phase"
PHASE_HELP = "1 for the phase an active scenario's timeline is in, 0 for its other phases."

# Each scenario with a timeline: its name, its phases' names in order, and the phase it is in now
# (None while it is off or once its timeline has ended).
Phases = Callable[[], Iterable[tuple[str, list[str], str | None]]]


class TimelineCollector(Collector):
    """`brownout_timeline_phase{scenario, phase}`: a step per phase change, read at scrape time."""

    def __init__(self, phases: Phases) -> None:
        self.phases = phases

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(PHASE, PHASE_HELP, labels=["scenario", "phase"])]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(PHASE, PHASE_HELP, labels=["scenario", "phase"])
        for name, phases, current in self.phases():
            for phase in dict.fromkeys(phases):
                family.add_metric([name, phase], 1.0 if phase == current else 0.0)
        yield family


class ControlMetrics:
    def __init__(self, registry: CollectorRegistry, phases: Phases) -> None:
        self.switches = Counter(
            "brownout_scenario_switches",
            "Scenarios switched on or off (API, ctl, mitmproxy commands, options).",
            ["scenario", "action"],
            registry=registry,
        )
        self.reload_errors = Counter(
            "brownout_scenario_reload_errors",
            "Edits to scenario files that were rejected; the previous version kept running.",
            ["file"],
            registry=registry,
        )
        self.file_ok = Gauge(
            "brownout_scenario_file_ok",
            "1 when a watched scenario file's latest version is the one running, 0 after a rejected edit.",
            ["file"],
            registry=registry,
        )
        registry.register(TimelineCollector(phases))
