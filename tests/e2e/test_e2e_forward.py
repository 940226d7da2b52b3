"""Forward-proxy mode (HTTPS_PROXY + mitmproxy's CA): the provider is told by host name."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from brownout.cli.runner import RunningProxy
from conftest import StartProxy

SCENARIO = (
    "rules:\n"
    "  - match: {provider: openai}\n    fault: {type: error, status: 429, retry_after_ms: 10}\n"
    "  - match: {provider: anthropic}\n    fault: {type: error, kind: overloaded}\n"
)


@pytest.fixture
async def forward_proxy(start_proxy: StartProxy, tmp_path: Path) -> RunningProxy:
    # connection_strategy=lazy (brownout's default) means a fault that answers in place never
    # connects upstream, so the real API hosts are never contacted from this test.
    return await start_proxy(SCENARIO, forward_port=0, extra_options={"confdir": str(tmp_path)})


def ca_file(tmp_path: Path) -> str:
    return str(tmp_path / "mitmproxy-ca-cert.pem")


def trusting(tmp_path: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file(tmp_path))


async def test_sdks_through_https_proxy_hit_faults_by_host(forward_proxy: RunningProxy, tmp_path: Path) -> None:
    proxy_url = f"http://127.0.0.1:{forward_proxy.forward_port}"
    http_client = httpx.AsyncClient(proxy=proxy_url, verify=trusting(tmp_path))
    client = openai.AsyncOpenAI(api_key="sk-test", http_client=http_client, max_retries=1)
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "rate_limit_exceeded"
    # anthropic 2.x ships its own httpx fork; its default client class takes the same arguments.
    claude = anthropic.AsyncAnthropic(
        api_key="k",
        http_client=anthropic.DefaultAsyncHttpxClient(proxy=proxy_url, verify=trusting(tmp_path)),
        max_retries=0,
    )
    with pytest.raises(anthropic.OverloadedError):
        await claude.messages.create(
            model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    faults = {
        sample.labels["provider"]: sample.value
        for family in forward_proxy.state.metrics.registry.collect()
        for sample in family.samples
        if sample.name == "brownout_faults_injected_total"
    }
    assert faults == {"openai": 2.0, "anthropic": 1.0}


async def test_readme_recipe_with_environment_variables(forward_proxy: RunningProxy, tmp_path: Path) -> None:
    """HTTPS_PROXY plus SSL_CERT_FILE, as the README says, with an unmodified SDK client."""
    program = textwrap.dedent(
        """
        import openai
        client = openai.OpenAI(api_key="sk-test", max_retries=0)
        try:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        except openai.RateLimitError as exc:
            print("raised", type(exc).__name__, exc.code)
        """
    )
    done = await _run(program, proxy_env(forward_proxy, tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "raised RateLimitError rate_limit_exceeded"


def proxy_env(proxy: RunningProxy, tmp_path: Path) -> dict[str, str]:
    """The README's two variables for an unmodified app: HTTPS_PROXY and SSL_CERT_FILE."""
    env = {**os.environ, "HTTPS_PROXY": f"http://127.0.0.1:{proxy.forward_port}", "SSL_CERT_FILE": ca_file(tmp_path)}
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    return env


async def _run(program: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import asyncio

    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60
    )


OFFLINE_PROGRAM = textwrap.dedent(
    """
    import openai
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    print("answered", reply.model, bool(reply.choices[0].message.content))
    try:
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-brownout-scenario": "openai-total-outage"},
        )
    except (openai.APIStatusError, openai.APIConnectionError) as exc:
        print("raised", type(exc).__name__)
    """
)


async def test_forward_mode_offline_reaches_the_simulator(start_proxy: StartProxy, tmp_path: Path) -> None:
    """HTTPS_PROXY to api.openai.com with `--upstream openai=<sim>`: the simulator answers and a
    library scenario fires, with no network beyond loopback."""
    proxy = await start_proxy(forward_port=0, extra_options={"confdir": str(tmp_path)})  # upstreams: the sim
    done = await _run(OFFLINE_PROGRAM, proxy_env(proxy, tmp_path))
    assert done.returncode == 0, done.stderr
    answered, raised = done.stdout.strip().splitlines()
    assert answered == "answered gpt-4o-2024-08-06 True"  # the simulator names the snapshot, as the API does
    assert raised in ("raised InternalServerError", "raised APIConnectionError", "raised APIStatusError")
    registry = proxy.state.metrics.registry
    served = registry.get_sample_value(
        "brownout_requests_total", {"provider": "openai", "endpoint": "chat", "model": "gpt-4o", "code": "200"}
    )
    assert served == 1
    fired = sum(
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "brownout_faults_injected_total" and sample.labels["scenario"] == "openai-total-outage"
    )
    assert fired == 1
