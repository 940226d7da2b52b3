"""Each `error` fault makes the official SDK raise exactly what it raises against the real API."""

from __future__ import annotations

import re
import time

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from brownout.cli.runner import RunningProxy
from conftest import StartProxy

MESSAGES = [{"role": "user", "content": "Say hello."}]


def attempts(proxy: RunningProxy, provider: str, code: str) -> float:
    total = 0.0
    for family in proxy.state.metrics.registry.collect():
        for sample in family.samples:
            if (
                sample.name == "brownout_requests_total"
                and sample.labels["provider"] == provider
                and sample.labels["code"] == code
            ):
                total += sample.value
    return total


def openai_client(proxy: RunningProxy, **kwargs: object) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{proxy.url}/openai/v1", api_key="sk-test", **kwargs)  # type: ignore[arg-type]


def anthropic_client(proxy: RunningProxy, **kwargs: object) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=f"{proxy.url}/anthropic", api_key="sk-ant-test", **kwargs)  # type: ignore[arg-type]


def gemini_client(proxy: RunningProxy, attempts: int = 1) -> genai.Client:
    retry = genai_types.HttpRetryOptions(attempts=attempts, initial_delay=0.05, max_delay=0.1)
    return genai.Client(
        api_key="g-test", http_options=genai_types.HttpOptions(base_url=f"{proxy.url}/gemini", retry_options=retry)
    )


async def test_openai_rate_limit_after_the_sdks_own_retries(start_proxy: StartProxy) -> None:
    proxy = await start_proxy("rules:\n  - fault: {type: error, status: 429, retry_after_ms: 50}\n")
    client = openai_client(proxy)  # production default: 2 retries
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.code == "rate_limit_exceeded" and info.value.type == "tokens"
    assert info.value.request_id and info.value.request_id.startswith("req_")
    assert attempts(proxy, "openai", "429") == 3


async def test_openai_insufficient_quota_is_retried_by_the_sdk_unless_told_not_to(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(
        "rules:\n"
        "  - {match: {model: told}, fault: {type: error, kind: insufficient_quota, should_retry: false}}\n"
        "  - fault: {type: error, kind: insufficient_quota}\n"
    )
    client = openai_client(proxy, max_retries=1)
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert (info.value.code, info.value.type) == ("insufficient_quota", "insufficient_quota")
    assert attempts(proxy, "openai", "429") == 2  # retried although it can never succeed
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="told", messages=MESSAGES)  # type: ignore[arg-type]
    assert attempts(proxy, "openai", "429") == 3  # x-should-retry: false stopped the retry


@pytest.mark.parametrize(
    "fault,status,code,text",
    [
        ("{type: error, status: 500}", 500, "server_error", "An error occurred while processing your request"),
        ("{type: error, kind: overloaded}", 503, "server_is_overloaded", "currently overloaded"),
        ("{type: error, kind: cloudflare_html}", 502, None, "<center>cloudflare</center>"),
        ("{type: error, kind: bad_gateway}", 502, "502", "Bad gateway."),  # the SDK makes the integer a str
    ],
)
async def test_openai_server_errors(start_proxy: StartProxy, fault: str, status: int, code: object, text: str) -> None:
    proxy = await start_proxy(f"rules:\n  - fault: {fault}\n")
    client = openai_client(proxy, max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.status_code == status
    assert info.value.code == code
    assert text in str(info.value.body) or text in info.value.response.text


async def test_azure_rate_limit(start_proxy: StartProxy) -> None:
    proxy = await start_proxy("rules:\n  - fault: {type: error, status: 429}\n")
    client = openai.AsyncAzureOpenAI(
        azure_endpoint=f"{proxy.url}/azure/myres.openai.azure.com",
        api_key="az-test",
        api_version="2024-10-21",
        max_retries=0,
    )
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model="gpt4o-deployment", messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.code == "429"
    assert info.value.response.headers["retry-after-ms"] == "6000"


async def test_anthropic_overloaded_after_retries(start_proxy: StartProxy) -> None:
    proxy = await start_proxy("rules:\n  - fault: {type: error, status: 529, retry_after_ms: 50}\n")
    client = anthropic_client(proxy)  # production default: 2 retries
    with pytest.raises(anthropic.OverloadedError) as info:
        await client.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.status_code == 529
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert info.value.request_id == info.value.body["request_id"]  # type: ignore[index]
    assert attempts(proxy, "anthropic", "529") == 3


@pytest.mark.parametrize(
    "fault,error,status",
    [
        ("{type: error, kind: rate_limit}", anthropic.RateLimitError, 429),
        ("{type: error, status: 500}", anthropic.InternalServerError, 500),
        ("{type: error, kind: authentication}", anthropic.AuthenticationError, 401),
    ],
)
async def test_anthropic_errors(start_proxy: StartProxy, fault: str, error: type[Exception], status: int) -> None:
    proxy = await start_proxy(f"rules:\n  - fault: {fault}\n")
    client = anthropic_client(proxy, max_retries=0)
    with pytest.raises(error) as info:
        await client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.status_code == status  # type: ignore[attr-defined]


async def test_gemini_quota_and_unavailable(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(
        "rules:\n"
        "  - {match: {model: gemini-2.5-flash}, fault: {type: error, status: 429, retry_after: 30s}}\n"
        "  - {match: {model: gemini-2.5-pro}, fault: {type: error, kind: high_demand}}\n"
    )
    client = gemini_client(proxy)  # the SDK's default: no retries
    with pytest.raises(genai_errors.ClientError) as quota:
        await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert (quota.value.code, quota.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"} in quota.value.details["error"][
        "details"
    ]
    with pytest.raises(genai_errors.ServerError) as busy:
        await client.aio.models.generate_content(model="gemini-2.5-pro", contents="hi")
    assert (busy.value.code, busy.value.status) == (503, "UNAVAILABLE")
    assert "high demand" in (busy.value.message or "")


async def test_gemini_retries_when_configured(start_proxy: StartProxy) -> None:
    proxy = await start_proxy("rules:\n  - fault: {type: error, status: 503}\n")
    with pytest.raises(genai_errors.ServerError):
        await gemini_client(proxy, attempts=3).aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert attempts(proxy, "gemini", "503") == 3


async def test_rules_match_per_request(start_proxy: StartProxy) -> None:
    """Only the matching provider and stream flag are hit; everything else gets the real answer."""
    proxy = await start_proxy(
        "rules:\n  - match: {provider: openai, stream: true}\n    fault: {type: error, status: 500}\n"
    )
    client = openai_client(proxy, max_retries=0)
    plain = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert plain.choices[0].message.content
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    reply = await anthropic_client(proxy).messages.create(
        model="claude-haiku-4-5",
        max_tokens=50,
        messages=MESSAGES,  # type: ignore[arg-type]
    )
    assert reply.content[0].text  # type: ignore[union-attr]


async def test_anthropic_429_tells_the_sdk_when_and_why(start_proxy: StartProxy) -> None:
    """Anthropic's 429 as the docs and captures give it (`docs/wire-formats.md`): `retry-after` in
    whole seconds (the SDK waits it), the `anthropic-ratelimit-*` family with RFC 3339 resets,
    `x-should-retry: true`; `details.error_code` picks the SDK's class."""
    proxy = await start_proxy(
        "rules:\n"
        "  - {match: {model: ramp}, fault: {type: error, kind: ramp_limit_exceeded}}\n"
        "  - fault: {type: error, kind: rate_limit}\n"
    )
    client = anthropic_client(proxy, max_retries=1)
    started = time.monotonic()
    with pytest.raises(anthropic.RateLimitError) as info:
        await client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES)  # type: ignore[arg-type]
    waited = time.monotonic() - started
    headers = info.value.response.headers
    assert headers["retry-after"] == "1" and headers["x-should-retry"] == "true"
    assert 0.9 <= waited < 3  # the one retry waited the retry-after second, not a 0.5 s backoff
    for family in ("requests", "input-tokens", "output-tokens", "tokens"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", headers[f"anthropic-ratelimit-{family}-reset"])
        assert int(headers[f"anthropic-ratelimit-{family}-limit"]) >= int(
            headers[f"anthropic-ratelimit-{family}-remaining"]
        )
    assert info.value.error_code is None and info.value.request_id == info.value.body["request_id"]  # type: ignore[index]
    with pytest.raises(anthropic.RampLimitExceededError) as ramp:
        await anthropic_client(proxy, max_retries=0).messages.create(
            model="ramp",
            max_tokens=50,
            messages=MESSAGES,  # type: ignore[arg-type]
        )
    assert ramp.value.error_code == "ramp_limit_exceeded"


async def test_anthropic_mid_stream_error_carries_its_request_id(start_proxy: StartProxy) -> None:
    proxy = await start_proxy("rules:\n  - fault: {type: stream_error, after_events: 2}\n")
    client = anthropic_client(proxy, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as info:
        async with client.messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES) as stream:  # type: ignore[arg-type]
            async for _ in stream:
                pass
    assert info.value.type == "overloaded_error"
    assert re.fullmatch(r"req_011C[0-9A-Za-z]{20}", info.value.body["request_id"])  # type: ignore[index]


async def test_openai_429_sends_an_integer_retry_after_the_sdk_waits(start_proxy: StartProxy) -> None:
    proxy = await start_proxy("rules:\n  - fault: {type: error, status: 429}\n")
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as info:
        await openai_client(proxy, max_retries=1).chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.response.headers["retry-after"] == "1"
    assert info.value.response.headers["x-ratelimit-reset-tokens"] == "644ms"
    assert 0.9 <= time.monotonic() - started < 3  # openai 3.x waits a retry-after up to 120 s exactly


async def test_gemini_openai_compatible_errors_are_a_json_list(start_proxy: StartProxy) -> None:
    """Gemini's OpenAI-compatible endpoint answers errors as Google's envelope in a list
    (`[{"error": {...}}]`, issue 15 and `docs/wire-formats.md`): openai-python raises by status and
    keeps the list as `body`, with no `code`."""
    proxy = await start_proxy("rules:\n  - fault: {type: error, status: 429}\n")
    client = openai.AsyncOpenAI(base_url=f"{proxy.url}/gemini/v1beta/openai", api_key="g-test", max_retries=0)
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)  # type: ignore[arg-type]
    body = info.value.body
    assert isinstance(body, list) and body[0]["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert body[0]["error"]["code"] == 429 and info.value.code is None
