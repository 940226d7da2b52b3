import subprocess

from brownout.engine.state import Brownout
from brownout.metrics.client import ClientMetrics
from brownout.observe.events import Abandoned
from brownout.observe.events import BadAnswer
from brownout.observe.events import BrokenStream
from brownout.observe.events import Fallback
from brownout.observe.events import Hang
from brownout.observe.events import LogicalRequestEnded
from brownout.observe.events import Recovered
from brownout.observe.events import Retry
from brownout.observe.events import RetryStorm
from conftest import need_tool

OBSERVATIONS = [
    Retry("openai", "openai-python", "429", 0.7, violation=False, nonretryable=False, layer="sdk"),
    Retry("openai", "openai-python", "429", 0.01, violation=True, nonretryable=True, layer="app", no_backoff=True),
    Retry("anthropic", "some-new-sdk", "529", None, violation=False, nonretryable=False),
    LogicalRequestEnded("openai", "chat", "openai-python", 3, "failure", while_faulted=True),
    LogicalRequestEnded("openai", "chat", "openai-python", 1, "failure"),
    BrokenStream("openai", "openai-python", "cut", reissued=True),
    BrokenStream("openai", "openai-python", "corrupted", reissued=False),
    Hang("openai", "openai-python", 1.0, gave_up=True),
    Hang("openai", "openai-python", 3.0, gave_up=False),
    Abandoned("openai", "chat", "openai-python", 1.02, 1.0),
    Abandoned("gemini", "generate", "google-genai-python", None, None),
    Fallback("openai", "anthropic", "gpt-4o", "claude", 1.5),
    Recovered("outage", "openai", 2.5),
    RetryStorm("openai", True, 12, 4),
    BadAnswer("openai", "openai-python", "truncate", "reasked"),
    BadAnswer("openai", "openai-python", "bad_tool_call", "carried_on"),
]


def metrics_with_observations() -> Brownout:
    state = Brownout()
    client_metrics = ClientMetrics.on(state.metrics.registry)
    for observation in OBSERVATIONS:
        client_metrics.record(observation)
    return state


def test_each_observation_lands_in_its_family() -> None:
    state = metrics_with_observations()

    def value(name: str, **labels: str) -> float | None:
        return state.metrics.registry.get_sample_value(name, labels)

    openai = {"provider": "openai", "client": "openai-python"}
    assert value("brownout_client_retries_total", after="429", layer="sdk", **openai) == 1
    assert value("brownout_client_retries_total", after="429", layer="app", **openai) == 1
    assert value("brownout_client_retries_without_backoff_total", **openai) == 1
    assert value("brownout_client_gave_up_total", **openai) == 1
    assert value("brownout_client_broken_streams_total", broken="cut", reissued="true", **openai) == 1
    assert value("brownout_client_broken_streams_total", broken="corrupted", reissued="false", **openai) == 1
    assert value("brownout_client_hangs_total", outcome="gave_up", **openai) == 1
    assert value("brownout_client_bad_answers_total", fault="truncate", next="reasked", **openai) == 1
    assert value("brownout_client_bad_answers_total", fault="bad_tool_call", next="carried_on", **openai) == 1
    assert value("brownout_client_hang_wait_seconds_sum", outcome="waited_out", **openai) == 3.0
    assert value("brownout_client_retry_delay_seconds_count", **openai) == 2
    assert value("brownout_client_retry_after_violations_total", **openai) == 1
    assert value("brownout_client_nonretryable_retries_total", **openai) == 1
    # An unknown SDK name is bounded to `other`; a retry with no known delay observes none.
    anthropic = {"provider": "anthropic", "client": "other"}
    assert value("brownout_client_retries_total", after="529", layer="unknown", **anthropic) == 1
    assert value("brownout_client_retry_delay_seconds_count", **anthropic) is None
    assert value("brownout_client_retry_after_violations_total", **anthropic) == 0  # present, at 0
    assert value("brownout_client_attempts_sum", outcome="failure", **openai) == 4
    assert value("brownout_client_abandoned_total", endpoint="chat", **openai) == 1
    assert value("brownout_client_abandon_wait_seconds_sum", endpoint="chat", **openai) == 1.02
    assert value("brownout_client_abandon_declared_timeout_seconds_sum", **openai) == 1.0
    gemini = {"provider": "gemini", "endpoint": "generate", "client": "google-genai-python"}
    assert value("brownout_client_abandoned_total", **gemini) == 1
    assert value("brownout_client_abandon_wait_seconds_count", **gemini) is None
    route = {"from_provider": "openai", "to_provider": "anthropic"}
    assert value("brownout_client_fallbacks_total", **route) == 1
    assert value("brownout_client_fallback_seconds_sum", **route) == 1.5
    assert value("brownout_client_recovery_seconds_sum", scenario="outage", provider="openai") == 2.5
    assert value("brownout_client_retry_storms_total", provider="openai") == 1
    assert value("brownout_client_retry_storm_active", provider="openai") == 1


def test_the_exposition_passes_promtool() -> None:
    promtool = need_tool("promtool", "it lints metric names and types")
    exposition = metrics_with_observations().metrics.render()
    checked = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=30)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
