"""Upstreams that say nothing: brownout's connect, first-byte and idle-stream limits, against real
silent TCP servers on 127.0.0.1 and the official SDKs (retries off)."""

from __future__ import annotations

import logging
import time

import anthropic
import httpx
import openai
import pytest

from brownout.mitm import upstream_timeouts
from conftest import StartProxy
from silent_upstream import SilentUpstream
from silent_upstream import StallingUpstream
from silent_upstream import full_backlog

MESSAGES = [{"role": "user", "content": "hi"}]
QUICK = {"brownout_connect_timeout": "0.5s", "brownout_first_byte_timeout": "1s", "brownout_stream_idle_timeout": "1s"}


def value(proxy: object, name: str, **labels: str) -> float | None:
    return proxy.state.metrics.registry.get_sample_value(name, labels)  # type: ignore[attr-defined]


async def test_a_silent_upstream_gets_the_client_a_labelled_504_within_the_first_byte_limit(
    start_proxy: StartProxy, caplog: pytest.LogCaptureFixture
) -> None:
    async with SilentUpstream() as silent:
        upstream = silent.url
        proxy = await start_proxy(upstreams=[f"openai={upstream}/openai"], extra_options=QUICK)
        client = openai.AsyncOpenAI(base_url=f"{proxy.url}/openai/v1", api_key="sk-test", max_retries=0, timeout=20)
        with caplog.at_level(logging.WARNING, "brownout.hooks.upstream_errors"):
            for _ in range(2):
                started = time.monotonic()
                with pytest.raises(openai.InternalServerError) as raised:
                    await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
                waited = time.monotonic() - started
                assert 1.0 <= waited < 3.0, waited
        assert silent.requests == 2  # the request did reach the upstream
    error = raised.value
    assert error.status_code == 504
    assert error.response.headers["x-brownout"] == "upstream-error"
    assert error.response.headers["x-brownout-cause"] == "timeout"
    assert error.response.headers["x-brownout-upstream"] == upstream
    assert "brownout timed out waiting for the upstream" in error.message
    assert "first-byte timeout" in error.message
    lines = [r.getMessage() for r in caplog.records if r.name == "brownout.hooks.upstream_errors"]
    assert len(lines) == 1 and lines[0].startswith(f"brownout: upstream {upstream} timed out for openai (timeout:")
    assert value(proxy, "brownout_upstream_errors_total", provider="openai", cause="timeout") == 2
    codes = {"provider": "openai", "endpoint": "chat", "model": "gpt-4o"}
    assert value(proxy, "brownout_requests_total", **codes, code="504") == 2
    assert value(proxy, "brownout_inflight_requests", provider="openai") == 0
    # The client got an answer: no abandonment is counted for the stall.
    assert not value(
        proxy, "brownout_client_abandoned_total", provider="openai", endpoint="chat", client="openai-python"
    )


async def test_a_latency_faults_hold_is_not_the_upstreams_silence(start_proxy: StartProxy) -> None:
    # The simulator answers at once; the fault holds 1.5 s, longer than the 1 s first-byte limit.
    proxy = await start_proxy("rules:\n  - fault: {type: latency, delay: 1.5s}\n", extra_options=QUICK)
    client = openai.AsyncOpenAI(base_url=f"{proxy.url}/openai/v1", api_key="sk-test", max_retries=0)
    started = time.monotonic()
    answer = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert time.monotonic() - started >= 1.5
    assert answer.choices[0].message.content
    assert value(proxy, "brownout_upstream_errors_total", provider="openai", cause="timeout") is None


async def test_an_upstream_that_never_accepts_gets_the_504_within_the_connect_limit(start_proxy: StartProxy) -> None:
    with full_backlog() as port:
        proxy = await start_proxy(upstreams=[f"anthropic=http://127.0.0.1:{port}/anthropic"], extra_options=QUICK)
        client = anthropic.AsyncAnthropic(base_url=f"{proxy.url}/anthropic", api_key="sk-ant-test", max_retries=0)
        started = time.monotonic()
        with pytest.raises(anthropic.APIStatusError) as raised:
            await client.messages.create(model="claude-sonnet-4-6", max_tokens=8, messages=MESSAGES)  # type: ignore[arg-type]
        assert time.monotonic() - started < 2.0
    assert raised.value.status_code == 504
    assert raised.value.response.headers["x-brownout-cause"] == "timeout"
    assert raised.value.body["error"]["type"] == "timeout_error"  # type: ignore[index]
    assert "connect timed out after 0.5 s" in raised.value.message
    assert value(proxy, "brownout_upstream_errors_total", provider="anthropic", cause="timeout") == 1


async def test_a_tls_handshake_that_never_ends_is_a_connect_timeout(start_proxy: StartProxy) -> None:
    async with SilentUpstream() as silent:  # accepts TCP, then says nothing: no ServerHello ever
        proxy = await start_proxy(upstreams=[f"openai=https://127.0.0.1:{silent.port}/openai"], extra_options=QUICK)
        async with httpx.AsyncClient(timeout=20) as client:
            started = time.monotonic()
            answer = await client.post(f"{proxy.url}/openai/v1/chat/completions", json={"model": "gpt-4o"})
            assert time.monotonic() - started < 2.0
    assert answer.status_code == 504
    assert answer.headers["x-brownout-cause"] == "timeout"
    assert "connect timed out after 0.5 s" in answer.json()["error"]["message"]


async def test_a_stream_that_goes_idle_ends_with_the_providers_error_event(start_proxy: StartProxy) -> None:
    async with StallingUpstream(events=2) as stalling:
        proxy = await start_proxy(upstreams=[f"openai={stalling.url}/openai"], extra_options=QUICK)
        client = openai.AsyncOpenAI(base_url=f"{proxy.url}/openai/v1", api_key="sk-test", max_retries=0, timeout=20)
        started = time.monotonic()
        got: list[str] = []
        stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        with pytest.raises(openai.APIError) as raised:
            async for chunk in stream:
                got.extend(choice.delta.content or "" for choice in chunk.choices)
        waited = time.monotonic() - started
    assert 1.0 <= waited < 3.0, waited
    assert "".join(got) == " tok0 tok1"  # what the upstream sent came through first
    assert "went silent" in raised.value.message and "idle-stream timeout" in raised.value.message
    assert value(proxy, "brownout_upstream_errors_total", provider="openai", cause="stream_idle") == 1
    assert value(proxy, "brownout_streams_total", provider="openai", endpoint="chat", outcome="upstream_error") == 1
    assert value(proxy, "brownout_inflight_requests", provider="openai") == 0


async def test_a_body_that_stops_before_anything_went_out_is_answered_504(start_proxy: StartProxy) -> None:
    async with StallingUpstream(stream=False) as stalling:
        proxy = await start_proxy(upstreams=[f"openai={stalling.url}/openai"], extra_options=QUICK)
        client = openai.AsyncOpenAI(base_url=f"{proxy.url}/openai/v1", api_key="sk-test", max_retries=0, timeout=20)
        with pytest.raises(openai.InternalServerError) as raised:
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert raised.value.status_code == 504
    assert "idle-stream timeout" in raised.value.message


async def test_a_limit_of_0_is_no_limit(start_proxy: StartProxy) -> None:
    async with SilentUpstream() as silent:
        proxy = await start_proxy(
            upstreams=[f"openai={silent.url}/openai"], extra_options={**QUICK, "brownout_first_byte_timeout": "0"}
        )
        async with httpx.AsyncClient(timeout=2.0) as client:
            with pytest.raises(httpx.ReadTimeout):  # the client's own limit, not brownout's
                await client.post(f"{proxy.url}/openai/v1/chat/completions", json={"model": "gpt-4o"})
    assert value(proxy, "brownout_upstream_errors_total", provider="openai", cause="timeout") is None


async def test_bad_limits_are_refused_with_the_options_name(start_proxy: StartProxy) -> None:
    from mitmproxy import exceptions

    proxy = await start_proxy()
    for bad in ("soon", "-1s", "inf", "48h"):
        with pytest.raises(exceptions.OptionsError, match="brownout_first_byte_timeout"):
            proxy.master.options.update(brownout_first_byte_timeout=bad)


def test_the_patch_fits_the_installed_mitmproxy() -> None:
    assert upstream_timeouts.check() == []
    assert upstream_timeouts.install()
