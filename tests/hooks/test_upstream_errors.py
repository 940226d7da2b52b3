"""An unreachable upstream: brownout's labelled 502, at once, logged once per cause, counted."""

import logging
import time

import anthropic
import httpx
import openai
import pytest

from brownout.mitm import upstream_answer
from conftest import StartProxy
from conftest import free_port


def dead_upstream() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


async def test_the_sdks_get_brownouts_502_at_once(start_proxy: StartProxy, caplog: pytest.LogCaptureFixture) -> None:
    dead = dead_upstream()
    proxy = await start_proxy(upstreams=[f"openai={dead}/openai", f"anthropic={dead}/anthropic"])
    gpt = openai.AsyncOpenAI(base_url=f"{proxy.url}/openai/v1", api_key="sk-test", max_retries=0)
    claude = anthropic.AsyncAnthropic(base_url=f"{proxy.url}/anthropic", api_key="sk-ant-test", max_retries=0)
    with caplog.at_level(logging.WARNING, "brownout.hooks.upstream_errors"):
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(openai.InternalServerError) as raised:
                await gpt.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            assert time.monotonic() - started < 2.0  # at once: not after the 10 s connect timeout
        error = raised.value
        assert error.status_code == 502
        assert error.response.headers["x-brownout"] == "upstream-error"
        assert f"brownout could not reach the upstream {dead} (refused:" in error.message
        with pytest.raises(anthropic.InternalServerError) as raised_claude:
            await claude.messages.create(
                model="claude-sonnet-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
            )
        assert "brownout could not reach the upstream" in raised_claude.value.message
    lines = [r.getMessage() for r in caplog.records if r.name == "brownout.hooks.upstream_errors"]
    assert len(lines) == 1  # one upstream, one cause: logged once
    assert lines[0].startswith(f"brownout: cannot reach upstream {dead} for openai (refused:")
    registry = proxy.state.metrics.registry
    assert registry.get_sample_value("brownout_upstream_errors_total", {"provider": "openai", "cause": "refused"}) == 3
    assert (
        registry.get_sample_value("brownout_upstream_errors_total", {"provider": "anthropic", "cause": "refused"}) == 1
    )
    assert (
        registry.get_sample_value(
            "brownout_faults_injected_total", {"scenario": "", "rule": "", "fault": "", "provider": "openai"}
        )
        is None
    )
    codes = {"provider": "openai", "endpoint": "chat", "model": "gpt-4o", "code": "502"}
    assert registry.get_sample_value("brownout_requests_total", codes) == 3
    await gpt.close()
    await claude.close()


async def test_other_traffic_keeps_mitmproxys_page(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(forward_port=0)
    dead = dead_upstream()
    async with httpx.AsyncClient(proxy=f"http://127.0.0.1:{proxy.forward_port}") as client:
        answer = await client.get(f"{dead}/index.html")
    assert answer.status_code == 502
    assert "x-brownout" not in answer.headers
    assert answer.headers["content-type"] == "text/html"


def test_the_patch_fits_the_installed_mitmproxy() -> None:
    assert upstream_answer.check() == []
    assert upstream_answer.install()
