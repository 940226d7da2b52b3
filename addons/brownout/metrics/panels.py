"""The dashboard's panels as a table: rows of panels, each with its queries, unit and what moves it.

Adding a panel is one `Panel(...)` line in `ROWS`. Every query selects `job=~"$job",
instance=~"$instance"` and reads counters through `rate()` over `$__rate_interval`, so the
dashboard works for one proxy or many; `cumulative=True` marks the few panels that read a total
since the proxy started (an event too rare for a rate). `brownout.metrics.dashboard` turns the
table into Grafana's JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

RATE_INTERVAL = "$__rate_interval"
SELECTOR = 'job=~"$job", instance=~"$instance"'


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    queries: tuple[Query, ...]
    moved_by: str  # what makes it move: the README's panel table and the live check's run say the same
    kind: str = "timeseries"  # timeseries | stat | state-timeline | bargauge
    description: str = ""
    width: int = 8  # of 24 columns; a row's panels fill lines left to right, a line ends once 24 wide
    height: int = 8
    stack: bool = False
    cumulative: bool = False  # reads totals since the proxy started instead of rates
    mappings: tuple[tuple[str, str, str], ...] = ()  # (value, text, color) for state timelines


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


# -- query helpers: each returns PromQL text with the job/instance selector in place


def sel(metric: str, *matchers: str) -> str:
    return f"{metric}{{{', '.join((SELECTOR, *matchers))}}}"


def rate(metric: str, *matchers: str) -> str:
    return f"rate({sel(metric, *matchers)}[{RATE_INTERVAL}])"


def sum_rate(metric: str, by: str = "", *matchers: str) -> str:
    return f"sum by ({by}) ({rate(metric, *matchers)})" if by else f"sum({rate(metric, *matchers)})"


def by_rate(metric: str, by: str, legend: str, *matchers: str) -> tuple[Query, ...]:
    return (Query(sum_rate(metric, by, *matchers), legend),)


def quantile(histogram: str, q: float, by: str) -> str:
    return f"histogram_quantile({q}, sum by (le, {by}) ({rate(histogram + '_bucket')}))"


def quantiles(histogram: str, by: str, qs: Sequence[float] = (0.5, 0.95, 0.99), label: str = "") -> tuple[Query, ...]:
    legend = " ".join(f"{{{{{name.strip()}}}}}" for name in by.split(","))
    prefix = f"{label} " if label else ""
    return tuple(Query(quantile(histogram, q, by), f"{legend} {prefix}p{round(q * 100)}") for q in qs)


def mean(histogram: str, by: str, label: str = "mean") -> Query:
    legend = " ".join(f"{{{{{name.strip()}}}}}" for name in by.split(","))
    expr = f"{sum_rate(histogram + '_sum', by)} / {sum_rate(histogram + '_count', by)}"
    return Query(expr, f"{legend} {label}")


def share(metric: str, part: str, by: str = "") -> str:
    """The share of `metric`'s rate whose series match `part`; no matching series counts as 0."""
    return f"({sum_rate(metric, by, part)} or {sum_rate(metric, by)} * 0) / {sum_rate(metric, by)}"


ON_OFF = (("0", "off", "transparent"), ("1", "on", "red"))
LINK = (("0", "down", "red"), ("1", "up", "green"))
PHASE = (("0", "", "transparent"), ("1", "current", "blue"))

REQUESTS = "brownout_requests_total"
FAULTS = "brownout_faults_injected_total"
FAILED = 'code!~"[23].."'
NOW = "brownout_scenario_active"


def one(expr: str, legend: str = "") -> tuple[Query, ...]:
    return (Query(expr, legend),)


def stat(title: str, unit: str, expr: str, moved_by: str, description: str = "") -> Panel:
    return Panel(title, unit, one(expr), moved_by, kind="stat", width=4, height=4, description=description)


# One entry per panel: title, unit, queries, what moves it; then layout and kind.
# fmt: off
ROWS: tuple[Row, ...] = (
    Row("Overview", (
        stat("Scenarios on", "short", f"sum(max by (scenario) ({sel(NOW)}))", "switching any scenario on"),
        stat("Requests", "reqps", sum_rate(REQUESTS), "any traffic"),
        stat("Failed answers", "percentunit", share(REQUESTS, FAILED), "error, timeout and reset faults",
             "Share of answers that were not 2xx/3xx: error statuses, resets, hangs, abandonments."),
        stat("Faults injected", "cps", sum_rate(FAULTS), "any fault firing"),
        stat("Requests in flight", "short", f"sum({sel('brownout_inflight_requests')})",
             "latency and timeout faults holding requests"),
        stat("Retry storms now", "short", f"sum(max by (provider) ({sel('brownout_client_retry_storm_active')}))",
             "quick retries under a 100% error scenario",
             "Providers under a retry storm: 10+ retries in 10 s, at least one per first attempt."),
        Panel("Scenarios", "short", one(f"max by (scenario) ({sel(NOW)})", "{{scenario}}"),
              "switching scenarios on and off", kind="state-timeline", width=12, height=6, mappings=ON_OFF),
        Panel("Timeline phase", "short",
              one(f"max by (scenario, phase) ({sel('brownout_timeline_phase')})", "{{scenario}}: {{phase}}"),
              "a scenario with a timeline switched on", kind="state-timeline", width=12, height=6, mappings=PHASE),
        Panel("Requests by provider and status", "reqps",
              by_rate(REQUESTS, "provider, code", "{{provider}} {{code}}"),
              "any traffic; error faults add their status", width=12, stack=True),
        Panel("Faults injected by type", "cps", by_rate(FAULTS, "fault, scenario", "{{fault}} ({{scenario}})"),
              "any fault firing", width=12, stack=True),
        Panel("Upstream errors (brownout's 502, not faults)", "reqps",
              by_rate("brownout_upstream_errors_total", "provider, cause", "{{provider}} {{cause}}"),
              "an upstream brownout cannot reach (refused, DNS, TLS, timeout)", width=12, stack=True,
              description="Requests brownout answered with its own labelled 502 (x-brownout: upstream-error) "
              "because it could not reach the upstream; injected faults are not counted here."),
    )),
    Row("Client behaviour", (
        Panel("Retries by provider and cause", "reqps",
              by_rate("brownout_client_retries_total", "provider, after", "{{provider}} after {{after}}"),
              "errors the SDK retries (429, 5xx, resets, timeouts)", stack=True),
        Panel("Attempts per logical request", "short",
              (mean("brownout_client_attempts", "provider"),
               *quantiles("brownout_client_attempts", "provider", (0.95,))),
              "retried errors", description="1 is a clean call; the openai and anthropic SDKs stop at 3."),
        Panel("Logical requests by outcome", "reqps",
              by_rate("brownout_client_attempts_count", "provider, outcome", "{{provider}} {{outcome}}"),
              "failures the client gives up on, abandonments", stack=True),
        Panel("Retry delay (client backoff)", "s",
              quantiles("brownout_client_retry_delay_seconds", "provider", (0.5, 0.95)),
              "retried errors; a Retry-After the SDK obeys lengthens it"),
        Panel("Retries before Retry-After elapsed", "percentunit",
              one(f"{sum_rate('brownout_client_retry_after_violations_total', 'provider, client')}"
                  f" / {sum_rate('brownout_client_retries_total', 'provider, client')}", "{{provider}} {{client}}"),
              "a Retry-After the SDK ignores (google-genai ignores them all)",
              description="Share of retries sent before the wait the failed answer asked for had elapsed."),
        Panel("Retries of non-retryable errors", "cps",
              by_rate("brownout_client_nonretryable_retries_total", "provider, client", "{{provider}} {{client}}"),
              "insufficient_quota, 400, 401 retried anyway"),
        Panel("Abandoned attempts", "cps",
              by_rate("brownout_client_abandoned_total", "provider, endpoint", "{{provider}} {{endpoint}}"),
              "a timeout fault and a client timeout shorter than the hang"),
        Panel("Observed client timeouts", "s",
              (*quantiles("brownout_client_abandon_wait_seconds", "provider", (0.5,), "waited"),
               *quantiles("brownout_client_abandon_declared_timeout_seconds", "provider", (0.5,), "declared")),
              "a timeout fault and a client timeout shorter than the hang",
              description="How long clients waited before they closed, beside the timeout their SDK declared."),
        Panel("Fallbacks", "cps",
              by_rate("brownout_client_fallbacks_total", "from_provider, to_provider",
                      "{{from_provider}} → {{to_provider}}"),
              "an app that moves the conversation to another provider after a failure"),
        Panel("Time to fall back", "s",
              quantiles("brownout_client_fallback_seconds", "from_provider, to_provider", (0.5, 0.95)),
              "an app that moves the conversation to another provider after a failure"),
        Panel("Recovery time after switch-off", "s",
              one(f"sum by (scenario, provider) ({sel('brownout_client_recovery_seconds_sum')})"
                  f" / sum by (scenario, provider) ({sel('brownout_client_recovery_seconds_count')})",
                  "{{scenario}} {{provider}}"),
              "a scenario switched off while traffic flows", kind="bargauge", cumulative=True,
              description="Mean since the proxy started: switch-off to the start of the first attempt that "
              "then succeeded."),
        Panel("429 answers", "reqps", by_rate(REQUESTS, "provider", "{{provider}}", 'code="429"'),
              "rate_limit buckets running dry, 429 error faults"),
        Panel("Bad answers by fault: re-asked or carried on", "cps",
              by_rate("brownout_client_bad_answers_total", "fault, next", "{{fault}} {{next}}"),
              "content faults (empty_answer, truncate, refusal...); an app that checks the answer re-asks",
              width=24, stack=True,
              description="200 answers a content fault spoiled, by what the client did next: reasked (asked again "
              "in the same conversation) or carried_on (took the answer: counted once the retry window ran out)."),
    )),
    Row("Latency", (
        Panel("Request duration", "s", quantiles("brownout_request_duration_seconds", "provider"),
              "any traffic; latency and timeout faults", width=12),
        Panel("Time to first byte", "s", quantiles("brownout_time_to_first_byte_seconds", "provider"),
              "any traffic; latency faults", width=12),
        Panel("Request duration p95 by endpoint", "s",
              one(quantile("brownout_request_duration_seconds", 0.95, "provider, endpoint"),
                  "{{provider}} {{endpoint}}"),
              "any traffic", width=12),
        Panel("Requests in flight by provider", "short",
              one(f"sum by (provider) ({sel('brownout_inflight_requests')})", "{{provider}}"),
              "latency and timeout faults holding requests", width=12),
    )),
    Row("Overload", (
        Panel("Offered load against capacity", "reqps",
              # max, not sum: on a fleet every replica reads the fleet's load against the one capacity.
              (Query(f"max by (pool) ({sel('brownout_overload_offered_rps')})", "{{pool}} offered"),
               Query(f"max by (pool) ({sel('brownout_overload_capacity_rps')})", "{{pool}} capacity")),
              "an overload rule's traffic; a phase that cuts its capacity", width=12,
              description="The load an overload rule's provider is offered, retries included, against the capacity "
              "it serves now (cut by a phase, halved or so while degraded). Load that stays above the line after "
              "the cut has passed is the clients' retries keeping it down. On a fleet every replica reads the "
              "fleet's load; of replicas each alone, the busiest one shows."),
        Panel("Overloaded providers", "short",
              one(f"max by (pool) ({sel('brownout_overload_degraded')})", "{{pool}}"),
              "load above an overload rule's capacity; hysteresis holds it", kind="state-timeline", width=12,
              height=6, mappings=ON_OFF),
        Panel("Shed answers", "reqps", by_rate("brownout_overload_shed_total", "pool", "{{pool}}"),
              "load above an overload rule's capacity", width=12, stack=True,
              description="Requests answered with the provider's overload error (503, 529) because the load was "
              "above capacity."),
        Panel("Queueing delay", "s", quantiles("brownout_overload_queue_delay_seconds", "pool", (0.5, 0.95)),
              "load above an overload rule's capacity", width=12),
    )),
    Row("Streams", (
        Panel("Streams by outcome", "cps",
              by_rate("brownout_streams_total", "provider, outcome", "{{provider}} {{outcome}}"),
              "streamed calls; stream faults end them cut, stalled, errored, corrupted", stack=True),
        Panel("Broken streams", "percentunit",
              one(share("brownout_streams_total", 'outcome!="completed"', "provider"), "{{provider}}"),
              "stream_cut, stream_stall, stream_error, stream_corrupt; clients leaving mid-stream",
              description="Share of event streams that did not complete for the client."),
        Panel("Time to first event", "s", quantiles("brownout_stream_time_to_first_event_seconds", "provider"),
              "streamed calls; latency faults and stream_slow's first_event_delay",
              description="Request start to the first whole SSE event the client received: time to first token."),
        Panel("Events relayed", "eps", by_rate("brownout_stream_events_total", "provider", "{{provider}}"),
              "streamed calls; stream_slow thins them, cuts end them", width=12),
        Panel("Time-based stream faults live", "bool_on_off",
              one(f"min({sel('brownout_stream_adapter_enabled')})"),
              "always on where mitmproxy fits (0: stream faults run content-only)", kind="stat", width=12,
              description="Whether stalls, pacing and timed cuts apply; 0 when brownout runs content-only."),
    )),
    Row("Fleet", (
        stat("Replicas", "short", f"count({sel('brownout_build_info')})", "replicas starting and stopping",
             "Replicas Prometheus scrapes now, of the instances picked above."),
        stat("Replicas on Redis", "short", f"sum({sel('brownout_redis_up')})", "replicas started with --redis",
             "Replicas whose link to the fleet's Redis is up: fewer than the replicas means some serve alone."),
        Panel("Redis link by replica", "short", one(f"max by (instance) ({sel('brownout_redis_up')})", "{{instance}}"),
              "Redis stopping and coming back", kind="state-timeline", width=16, height=4, mappings=LINK,
              description="Down: the replica serves the state it last knew and rejoins when Redis answers."),
        Panel("Redis errors by replica", "cps", by_rate("brownout_redis_errors_total", "instance", "{{instance}}"),
              "Redis unreachable or too slow", width=12,
              description="Failed Redis commands and lost connections: each replica goes on with its last state."),
        Panel("Scenarios on by replica", "short", one(f"sum by (instance) ({sel(NOW)})", "{{instance}}"),
              "switching scenarios; a replica that missed a switch stands apart", width=12,
              description="A fleet on one Redis draws one line: a replica apart from the others serves another state."),
        Panel("Decided alone (Redis out of reach)", "reqps",
              by_rate("brownout_redis_fallbacks_total", "instance, shared", "{{instance}} {{shared}}"),
              "rate_limit, overload and counting rules' traffic while Redis is away", width=24, height=6,
              description="Requests a replica decided with its own buckets, counts or offered load because the "
              "fleet's Redis was out of reach: meanwhile each replica enforces each limit alone."),
    )),
)
# fmt: on


def panels() -> list[Panel]:
    return [panel for row in ROWS for panel in row.panels]
