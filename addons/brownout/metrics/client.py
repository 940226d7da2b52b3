"""The client-behaviour metric families, and how each observation lands in them.

They register on the shared registry (`state.metrics.registry`), once per registry: asking
again for the same registry returns the same families, so building the addons twice (a
script reload, a test) never registers a name twice.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram

from brownout.classify.clients import CLIENT_FAMILIES
from brownout.metrics.registry import LLM_BUCKETS
from brownout.metrics.registry import OTHER
from brownout.metrics.registry import families
from brownout.observe.events import Abandoned
from brownout.observe.events import BadAnswer
from brownout.observe.events import BrokenStream
from brownout.observe.events import Fallback
from brownout.observe.events import Hang
from brownout.observe.events import LogicalRequestEnded
from brownout.observe.events import Observation
from brownout.observe.events import Recovered
from brownout.observe.events import Retry
from brownout.observe.events import RetryStorm

# Attempts per logical request: the SDKs' defaults are 3 (Stainless) and 5 (google-genai retry
# options); Claude Code goes to 10; beyond that is a loop.
ATTEMPT_BUCKETS = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50)


def client_label(client: str) -> str:
    return client if client in CLIENT_FAMILIES else OTHER


class ClientMetrics:
    @classmethod
    def on(cls, registry: CollectorRegistry) -> ClientMetrics:
        """The families on this registry, registered the first time they are asked for."""
        return families(registry, cls)

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.retries = Counter(
            "brownout_client_retries",
            "Retries: attempts that repeat a failed one; `after` is what the failed attempt got, `layer` who "
            "retried (sdk: the SDK's numbered retry; app: a retry above the SDK, or from a plain HTTP client; "
            "unknown: an SDK that does not number its attempts).",
            ["provider", "after", "client", "layer"],
            registry=r,
        )
        self.retry_delay = Histogram(
            "brownout_client_retry_delay_seconds",
            "Gap between a failed attempt's end and its retry's start.",
            ["provider", "client"],
            buckets=LLM_BUCKETS,
            registry=r,
        )
        self.violations = Counter(
            "brownout_client_retry_after_violations",
            "Retries sent before the failed attempt's Retry-After (retry-after, retry-after-ms, Gemini RetryInfo) "
            "elapsed.",
            ["provider", "client"],
            registry=r,
        )
        self.nonretryable = Counter(
            "brownout_client_nonretryable_retries",
            "Retries of answers that must not be retried: 400, 401, 403, 404, 413, 422, insufficient_quota, "
            "spend limits, "
            "x-should-retry: false.",
            ["provider", "client"],
            registry=r,
        )
        self.no_backoff = Counter(
            "brownout_client_retries_without_backoff",
            "Retries that did not back off: sent within 0.1 s of the failure, or waiting less than 1.1 times the "
            "previous retry of the same request (a retry that waited out Retry-After is not counted).",
            ["provider", "client"],
            registry=r,
        )
        self.attempts = Histogram(
            "brownout_client_attempts",
            "Attempts per logical request, observed when it ends (success, a failure nobody retried, abandonment).",
            ["provider", "client", "outcome"],
            buckets=ATTEMPT_BUCKETS,
            registry=r,
        )
        self.abandoned = Counter(
            "brownout_client_abandoned",
            "Attempts the client closed before the response ended.",
            ["provider", "endpoint", "client"],
            registry=r,
        )
        self.abandon_wait = Histogram(
            "brownout_client_abandon_wait_seconds",
            "How long the client waited before it closed: its real timeout.",
            ["provider", "endpoint", "client"],
            buckets=LLM_BUCKETS,
            registry=r,
        )
        self.abandon_declared = Histogram(
            "brownout_client_abandon_declared_timeout_seconds",
            "The timeout the SDK declared (x-stainless-read-timeout, x-stainless-timeout, x-server-timeout) "
            "on the attempts it abandoned.",
            ["provider", "client"],
            buckets=LLM_BUCKETS,
            registry=r,
        )
        self.broken_streams = Counter(
            "brownout_client_broken_streams",
            "Streams that broke (cut, stalled, errored, corrupted; `broken`), by whether the client asked again "
            "(`reissued` true) or took the broken answer (false).",
            ["provider", "client", "broken", "reissued"],
            registry=r,
        )
        self.bad_answers = Counter(
            "brownout_client_bad_answers",
            "Answers a content fault spoiled (`fault`), by what the client did next: asked again in the same "
            "conversation (`reasked`) or took the answer (`carried_on`, counted when the retry window ran out).",
            ["provider", "client", "fault", "next"],
            registry=r,
        )
        self.hangs = Counter(
            "brownout_client_hangs",
            "Attempts a timeout fault held without an answer: the client gave up (`gave_up`) or waited the whole "
            "hang out (`waited_out`: no effective read timeout).",
            ["provider", "client", "outcome"],
            registry=r,
        )
        self.hang_wait = Histogram(
            "brownout_client_hang_wait_seconds",
            "How long a client waited under a hang before it gave up or brownout closed.",
            ["provider", "client", "outcome"],
            buckets=LLM_BUCKETS,
            registry=r,
        )
        self.gave_up = Counter(
            "brownout_client_gave_up",
            "Logical requests the client gave up (no retry within the window) while the fault that failed them "
            "was still on.",
            ["provider", "client"],
            registry=r,
        )
        self.fallbacks = Counter(
            "brownout_client_fallbacks",
            "Conversations that moved to another provider or model after a failure.",
            ["from_provider", "to_provider"],
            registry=r,
        )
        self.fallback_seconds = Histogram(
            "brownout_client_fallback_seconds",
            "A conversation's first failure to the start of its fallback attempt.",
            ["from_provider", "to_provider"],
            buckets=LLM_BUCKETS,
            registry=r,
        )
        self.recovery = Histogram(
            "brownout_client_recovery_seconds",
            "A scenario's switch-off to the start of the first attempt that then succeeded, per provider it hit.",
            ["scenario", "provider"],
            buckets=LLM_BUCKETS,
            registry=r,
        )
        self.storms = Counter(
            "brownout_client_retry_storms",
            "Retry storms: in 10 s, at least 10 retries to a provider and at least one per first attempt.",
            ["provider"],
            registry=r,
        )
        self.storm_active = Gauge(
            "brownout_client_retry_storm_active",
            "1 while a retry storm against the provider lasts.",
            ["provider"],
            registry=r,
        )

    def record(self, observation: Observation) -> None:
        match observation:
            case Retry(provider=provider, client=client):
                client = client_label(client)
                self.retries.labels(
                    provider=provider, after=observation.after, client=client, layer=observation.layer
                ).inc()
                if observation.delay is not None:
                    self.retry_delay.labels(provider=provider, client=client).observe(observation.delay)
                # Touched on every retry so a clean client shows 0 rather than no series.
                violations = self.violations.labels(provider=provider, client=client)
                nonretryable = self.nonretryable.labels(provider=provider, client=client)
                no_backoff = self.no_backoff.labels(provider=provider, client=client)
                if observation.violation:
                    violations.inc()
                if observation.nonretryable:
                    nonretryable.inc()
                if observation.no_backoff:
                    no_backoff.inc()
            case LogicalRequestEnded():
                client = client_label(observation.client)
                self.attempts.labels(provider=observation.provider, client=client, outcome=observation.outcome).observe(
                    observation.attempts
                )
                if observation.while_faulted:
                    self.gave_up.labels(provider=observation.provider, client=client).inc()
            case BrokenStream(provider=provider):
                self.broken_streams.labels(
                    provider=provider,
                    client=client_label(observation.client),
                    broken=observation.broken,
                    reissued="true" if observation.reissued else "false",
                ).inc()
            case BadAnswer(provider=provider):
                self.bad_answers.labels(
                    provider=provider,
                    client=client_label(observation.client),
                    fault=observation.fault,
                    next=observation.next,
                ).inc()
            case Hang(provider=provider):
                client = client_label(observation.client)
                outcome = "gave_up" if observation.gave_up else "waited_out"
                self.hangs.labels(provider=provider, client=client, outcome=outcome).inc()
                self.hang_wait.labels(provider=provider, client=client, outcome=outcome).observe(observation.waited)
            case Abandoned(provider=provider, endpoint=endpoint):
                client = client_label(observation.client)
                self.abandoned.labels(provider=provider, endpoint=endpoint, client=client).inc()
                if observation.waited is not None:
                    self.abandon_wait.labels(provider=provider, endpoint=endpoint, client=client).observe(
                        observation.waited
                    )
                if observation.declared_timeout is not None:
                    self.abandon_declared.labels(provider=provider, client=client).observe(observation.declared_timeout)
            case Fallback():
                labels = {"from_provider": observation.from_provider, "to_provider": observation.to_provider}
                self.fallbacks.labels(**labels).inc()
                self.fallback_seconds.labels(**labels).observe(observation.seconds)
            case Recovered():
                self.recovery.labels(scenario=observation.scenario, provider=observation.provider).observe(
                    observation.seconds
                )
            case RetryStorm(provider=provider):
                if observation.active:
                    self.storms.labels(provider=provider).inc()
                self.storm_active.labels(provider=provider).set(1 if observation.active else 0)
