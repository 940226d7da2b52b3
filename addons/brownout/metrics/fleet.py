"""Metrics of a fleet's shared state: whether this replica reaches its Redis, and how often it failed.

Read at scrape time from the link (`brownout.fleet.link`), so they are never stale; exposed only
by a replica started with `--redis`.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

UP = "brownout_redis_up"
UP_HELP = "1 while this replica reaches the fleet's Redis, 0 while it serves its last known state."
ERRORS = "brownout_redis_errors"
ERRORS_HELP = "Redis commands and connections that failed or timed out (each a time the replica went on alone)."


class FleetCollector(Collector):
    """`brownout_redis_up` and `brownout_redis_errors_total`, from the link's own state."""

    def __init__(self, up: Callable[[], bool], errors: Callable[[], int]) -> None:
        self.up = up
        self.errors = errors

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(UP, UP_HELP), CounterMetricFamily(ERRORS, ERRORS_HELP)]

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(UP, UP_HELP, value=1.0 if self.up() else 0.0)
        yield CounterMetricFamily(ERRORS, ERRORS_HELP, value=float(self.errors()))
