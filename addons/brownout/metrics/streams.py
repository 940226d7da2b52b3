"""The event-stream metric families: what clients received, and how each stream ended."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram

from brownout.faults.outcome import STREAM_ENDS
from brownout.metrics.registry import LLM_BUCKETS


class StreamMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.first_event = Histogram(
            "brownout_stream_time_to_first_event_seconds",
            "Request start to the first complete SSE event sent to the client (time to first token).",
            ["provider", "endpoint"],
            buckets=LLM_BUCKETS,
            registry=registry,
        )
        self.events = Counter(
            "brownout_stream_events",
            "SSE events relayed to clients (injected error events included).",
            ["provider", "endpoint"],
            registry=registry,
        )
        self.streams = Counter(
            "brownout_streams",
            "Event streams by how they ended for the client: " + ", ".join(STREAM_ENDS) + ".",
            ["provider", "endpoint", "outcome"],
            registry=registry,
        )
        self.adapter = Gauge(
            "brownout_stream_adapter_enabled",
            "1 when time-based stream faults are live; 0 when they run content-only (mitmproxy does not fit).",
            registry=registry,
        )
