"""End to end: real SDK clients through the proxy, a real Prometheus scraping the admin port,
and the client-behaviour metrics read back through Prometheus's HTTP API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from brownout.cli.runner import ProxySettings
from brownout.cli.runner import RunningProxy
from brownout.sim import SimServer
from conftest import start_scraped_proxy
from prom import Prometheus

RETRY_WINDOW = "4s"  # short, so a failure nobody retries closes within the test; long enough for a late retry


class Rig:
    """The proxy with one scenario switched on, and a Prometheus scraping its admin port."""

    def __init__(self, proxy: RunningProxy, prometheus: Prometheus) -> None:
        self.proxy = proxy
        self.prom = prometheus

    @property
    def url(self) -> str:
        return self.proxy.url


@pytest.fixture
async def rig(tmp_path: Path, prometheus: Prometheus, sim: SimServer) -> AsyncIterator[Callable[..., Awaitable[Rig]]]:
    """Start the proxy with one scenario (YAML text) switched on, the simulator behind it."""
    running: list[RunningProxy] = []

    async def start(scenario_yaml: str, retry_window: str = RETRY_WINDOW) -> Rig:
        scenario = tmp_path / "scenario.yaml"
        scenario.write_text(scenario_yaml)
        library = tmp_path / "library"
        library.mkdir(exist_ok=True)
        settings = ProxySettings(
            port=0,
            upstreams=[f"{name}={sim.url}/{name}" for name in ("openai", "anthropic", "gemini")],
            scenarios=[str(scenario)],
            library=str(library),
            termlog=False,
            extra_options={"brownout_retry_window": retry_window},
        )
        proxy = await start_scraped_proxy(prometheus, settings)
        running.append(proxy)
        return Rig(proxy, prometheus)

    yield start
    for proxy in running:
        await proxy.stop()


CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "What is a brownout?"}]}
RigFactory = Callable[..., Awaitable[Rig]]


async def test_openai_python_obeys_retry_after_ms(rig: RigFactory) -> None:
    r = await rig("rules:\n  - match: {provider: openai}\n    fault: {type: error, status: 429, retry_after_ms: 700}\n")
    started = time.monotonic()
    async with openai.AsyncOpenAI(base_url=f"{r.url}/openai/v1", api_key="sk-test", max_retries=2) as client:
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert time.monotonic() - started >= 1.4  # it really waited 2 x 0.7 s

    labels = 'provider="openai",client="openai-python"'
    retries = await r.prom.wait_for(f'brownout_client_retries_total{{{labels},after="429"}}', lambda v: v == 2)
    assert retries == 2
    assert await r.prom.value(f"brownout_client_retry_delay_seconds_count{{{labels}}}") == 2
    mean_delay = await r.prom.value(
        f"brownout_client_retry_delay_seconds_sum{{{labels}}} / brownout_client_retry_delay_seconds_count{{{labels}}}"
    )
    # Each retry at least 0.7 s after its 429 (no violation). Ignoring retry-after-ms, the SDK's
    # own backoff would be 0.375-0.5 s, then 0.75-1 s: the first retry a violation, the mean
    # 0.56-0.75. The upper bound leaves a loaded machine half a second a retry, and still fails
    # an SDK that sleeps its backoff on top of retry-after-ms (a mean of 1.26 s at least).
    assert mean_delay is not None and 0.69 <= mean_delay <= 1.2
    assert await r.prom.value(f"brownout_client_retry_after_violations_total{{{labels}}}") == 0
    assert await r.prom.value(f"brownout_client_nonretryable_retries_total{{{labels}}}") == 0
    # The third failure is not retried: the logical request closes after the retry window.
    attempts = f'brownout_client_attempts_sum{{{labels},outcome="failure"}}'
    assert await r.prom.wait_for(attempts, lambda v: v == 3) == 3
    assert await r.prom.value(f'brownout_client_attempts_count{{{labels},outcome="failure"}}') == 1
    assert await r.prom.value('brownout_requests_total{provider="openai",code="429"}') == 3


async def test_an_httpx_client_that_retries_at_once_violates_retry_after(rig: RigFactory) -> None:
    r = await rig("rules:\n  - match: {provider: openai}\n    fault: {type: error, status: 429, retry_after: 2s}\n")
    async with httpx.AsyncClient(base_url=f"{r.url}/openai/v1") as client:
        for _ in range(3):  # the naive loop: ignore Retry-After, try again at once
            answer = await client.post("/chat/completions", json=CHAT, headers={"authorization": "Bearer sk-naive"})
            assert answer.status_code == 429 and answer.headers["retry-after"] == "2"

    labels = 'provider="openai",client="generic"'
    violations = await r.prom.wait_for(f"brownout_client_retry_after_violations_total{{{labels}}}", lambda v: v == 2)
    assert violations == 2  # one per early retry
    assert await r.prom.value(f'brownout_client_retries_total{{{labels},after="429"}}') == 2
    mean_delay = await r.prom.value(
        f"brownout_client_retry_delay_seconds_sum{{{labels}}} / brownout_client_retry_delay_seconds_count{{{labels}}}"
    )
    assert mean_delay is not None and mean_delay < 0.5


async def test_openai_python_retries_insufficient_quota(rig: RigFactory) -> None:
    r = await rig("rules:\n  - fault: {type: error, kind: insufficient_quota}\n")
    async with openai.AsyncOpenAI(base_url=f"{r.url}/openai/v1", api_key="sk-test", max_retries=2) as client:
        with pytest.raises(openai.RateLimitError) as raised:
            await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert raised.value.code == "insufficient_quota"

    labels = 'provider="openai",client="openai-python"'
    wasted = await r.prom.wait_for(f"brownout_client_nonretryable_retries_total{{{labels}}}", lambda v: v == 2)
    assert wasted == 2
    assert await r.prom.value(f'brownout_client_retries_total{{{labels},after="429"}}') == 2


async def test_anthropic_python_retries_529(rig: RigFactory) -> None:
    r = await rig("rules:\n  - match: {provider: anthropic}\n    fault: {type: error, kind: overloaded}\n")
    client = anthropic.AsyncAnthropic(base_url=f"{r.url}/anthropic", api_key="sk-ant-test", max_retries=2)
    async with client:
        with pytest.raises(anthropic.APIStatusError) as raised:
            await client.messages.create(
                model="claude-sonnet-4-6", max_tokens=16, messages=[{"role": "user", "content": "What is a brownout?"}]
            )
    assert raised.value.status_code == 529

    labels = 'provider="anthropic",client="anthropic-python"'
    retries = await r.prom.wait_for(f'brownout_client_retries_total{{{labels},after="529"}}', lambda v: v == 2)
    assert retries == 2
    assert await r.prom.value(f"brownout_client_nonretryable_retries_total{{{labels}}}") == 0
    assert await r.prom.value(f"brownout_client_retry_delay_seconds_count{{{labels}}}") == 2


async def test_a_client_timeout_is_an_abandonment_with_its_wait(rig: RigFactory) -> None:
    r = await rig("rules:\n  - fault: {type: timeout}\n")
    client = openai.AsyncOpenAI(base_url=f"{r.url}/openai/v1", api_key="sk-test", timeout=1.0, max_retries=0)
    async with client:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]

    labels = 'provider="openai",endpoint="chat",client="openai-python"'
    abandoned = await r.prom.wait_for(f"brownout_client_abandoned_total{{{labels}}}", lambda v: v == 1)
    assert abandoned == 1
    waited = await r.prom.value(f"brownout_client_abandon_wait_seconds_sum{{{labels}}}")
    # The client's one-second timeout, as the proxy hears the hang-up: room above for a loaded machine.
    assert waited is not None and 0.95 <= waited <= 2.5
    declared = 'provider="openai",client="openai-python"'
    assert await r.prom.value(f"brownout_client_abandon_declared_timeout_seconds_sum{{{declared}}}") == 1.0
    assert await r.prom.value(f"brownout_client_abandon_declared_timeout_seconds_count{{{declared}}}") == 1
    closed = f'brownout_client_attempts_count{{{declared},outcome="abandoned"}}'
    assert await r.prom.wait_for(closed, lambda v: v == 1) == 1


async def test_an_app_that_falls_back_from_openai_to_anthropic(rig: RigFactory) -> None:
    r = await rig("rules:\n  - match: {provider: openai}\n    fault: {type: error, kind: overloaded}\n")
    question = "What is a brownout?"
    primary = openai.AsyncOpenAI(base_url=f"{r.url}/openai/v1", api_key="sk-test", max_retries=1)
    backup = anthropic.AsyncAnthropic(base_url=f"{r.url}/anthropic", api_key="sk-ant-test", max_retries=0)
    async with primary, backup:
        try:
            await primary.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": question}])
            answered_by = "openai"
        except openai.InternalServerError as exc:
            assert exc.status_code == 503
            reply = await backup.messages.create(
                model="claude-sonnet-4-6", max_tokens=16, messages=[{"role": "user", "content": question}]
            )
            assert reply.content[0].text  # type: ignore[union-attr]
            answered_by = "anthropic"
    assert answered_by == "anthropic"

    labels = 'from_provider="openai",to_provider="anthropic"'
    fallbacks = await r.prom.wait_for(f"brownout_client_fallbacks_total{{{labels}}}", lambda v: v == 1)
    assert fallbacks == 1
    took = await r.prom.value(f"brownout_client_fallback_seconds_sum{{{labels}}}")
    assert took is not None and 0.3 <= took <= 3.0  # one retry (backoff about 0.4-0.5 s), then the fallback
    assert await r.prom.value('brownout_client_retries_total{provider="openai",after="503"}') == 1


async def test_recovery_after_the_scenario_is_switched_off(rig: RigFactory) -> None:
    r = await rig("name: outage\nrules:\n  - match: {provider: openai}\n    fault: {type: error, status: 500}\n")
    async with openai.AsyncOpenAI(base_url=f"{r.url}/openai/v1", api_key="sk-test", max_retries=0) as client:
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        r.proxy.state.deactivate("outage")
        await asyncio.sleep(0.5)  # the app's own pause before it tries again
        reply = await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert reply.choices[0].message.content

    labels = 'scenario="outage",provider="openai"'
    count = await r.prom.wait_for(f"brownout_client_recovery_seconds_count{{{labels}}}", lambda v: v == 1)
    assert count == 1
    seconds = await r.prom.value(f"brownout_client_recovery_seconds_sum{{{labels}}}")
    assert seconds is not None and 0.5 <= seconds <= 1.5


async def test_google_genai_ignores_gemini_retry_info(rig: RigFactory) -> None:
    r = await rig(
        "rules:\n  - match: {provider: gemini}\n    fault: {type: error, kind: rate_limit, retry_after: 5s}\n"
    )
    retry = genai_types.HttpRetryOptions(attempts=3, initial_delay=0.2, jitter=0.1)
    options = genai_types.HttpOptions(base_url=f"{r.url}/gemini", retry_options=retry)
    async with genai.Client(api_key="gemini-test", http_options=options).aio as client:
        with pytest.raises(genai_errors.ClientError) as raised:
            await client.models.generate_content(model="gemini-2.5-flash", contents="What is a brownout?")
    assert raised.value.code == 429
    assert '"retryDelay": "5s"' in json.dumps(raised.value.details)

    labels = 'provider="gemini",client="google-genai-python"'
    violations = await r.prom.wait_for(f"brownout_client_retry_after_violations_total{{{labels}}}", lambda v: v == 2)
    assert violations == 2  # it waited about 0.2 s and 0.4 s where RetryInfo asked 5 s
    assert await r.prom.value(f'brownout_client_retries_total{{{labels},after="429"}}') == 2


async def test_a_client_that_times_out_mid_stream_abandoned_it(rig: RigFactory) -> None:
    # No fault: the upstream itself is slow (one token every 2 s), and the client's read timeout
    # of 1 s fires between two events of a 200 stream that was already under way.
    r = await rig("rules:\n  - match: {provider: gemini}\n    fault: {type: error, status: 500}\n")  # not openai
    client = openai.AsyncOpenAI(base_url=f"{r.url}/openai/v1", api_key="sk-test", timeout=1.0, max_retries=0)
    received = 0
    async with client:
        with pytest.raises(openai.APITimeoutError):
            stream = await client.chat.completions.create(
                **CHAT, stream=True, extra_headers={"x-sim-tps": "0.5", "x-sim-tokens": "5"}
            )
            async for _ in stream:
                received += 1
    assert received >= 1  # the stream had begun

    labels = 'provider="openai",endpoint="chat",client="openai-python"'
    abandoned = await r.prom.wait_for(f"brownout_client_abandoned_total{{{labels}}}", lambda v: v == 1)
    assert abandoned == 1
    waited = await r.prom.value(f"brownout_client_abandon_wait_seconds_sum{{{labels}}}")
    assert waited is not None and 1.0 <= waited <= 3.5
    assert await r.prom.value('brownout_requests_total{provider="openai",code="200"}') is None


async def test_many_clients_retrying_an_outage_make_a_retry_storm(rig: RigFactory) -> None:
    # The default retry window: under a loaded machine a retry may come late, and must still count.
    r = await rig("rules:\n  - match: {provider: openai}\n    fault: {type: error, status: 503}\n", retry_window="30s")

    async def app(n: int) -> None:
        async with openai.AsyncOpenAI(base_url=f"{r.url}/openai/v1", api_key=f"sk-app-{n}", max_retries=2) as client:
            with pytest.raises(openai.InternalServerError):
                await client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": f"question {n}"}]
                )

    await asyncio.gather(*(app(n) for n in range(6)))  # 6 requests, 12 retries within about 2 s

    storms = await r.prom.wait_for('brownout_client_retry_storms_total{provider="openai"}', lambda v: v == 1)
    seen = await r.prom.query('{__name__=~"brownout_client_retr.*",provider="openai"}')
    detail = {s["metric"]["__name__"] + str(sorted(s["metric"].items())): s["value"][1] for s in seen}
    assert storms == 1, detail  # one storm, not one per retry
    # The storm may be scraped before the last retries are: wait for those too.
    retries = await r.prom.wait_for(
        'sum(brownout_client_retries_total{provider="openai",after="503"})', lambda v: v == 12
    )
    assert retries == 12, detail
    # It lasts until fewer than 5 retries fall within 10 s: well after this scrape.
    assert await r.prom.value('brownout_client_retry_storm_active{provider="openai"}') == 1, detail
