import asyncio
import json
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from mitmproxy import http
from mitmproxy.test import taddons
from mitmproxy.test import tflow

from brownout.cli.runner import ProxySettings
from brownout.cli.runner import RunningProxy
from brownout.engine.state import Brownout
from brownout.faults.rate_limit.fault import RateLimitFault
from brownout.hooks.injector import Injector
from brownout.scenario.compile import parse_scenario
from brownout.scenario.yaml_lines import ScenarioError
from brownout.sim import SimConfig
from brownout.sim import SimServer


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def chat_flow(
    model: str = "gpt-4o", key: str = "sk-one", stream: bool = False, host: str = "api.openai.com"
) -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.live = True
    flow.request.host = host
    flow.request.path = "/v1/messages" if host == "api.anthropic.com" else "/v1/chat/completions"
    flow.request.headers["authorization"] = f"Bearer {key}"
    flow.request.content = json.dumps({"model": model, "stream": stream, "max_tokens": 100, "messages": []}).encode()
    return flow


def limited(attrs: str) -> tuple[Brownout, RateLimitFault, Clock]:
    state = Brownout()
    state.engine.load(parse_scenario(f"rules:\n  - fault: {{type: rate_limit, {attrs}}}\n", default_name="rl"))
    state.activate("rl")
    fault = state.engine.scenarios["rl"].rules[0].fault
    assert isinstance(fault, RateLimitFault)
    clock = Clock()
    fault.limiter.clock = clock
    return state, fault, clock


def upstream_answer(flow: http.HTTPFlow, usage: int) -> None:
    body = {
        "id": "chatcmpl-1",
        "choices": [],
        "usage": {"prompt_tokens": usage - 1, "completion_tokens": 1, "total_tokens": usage},
    }
    flow.response = http.Response.make(200, json.dumps(body).encode(), {"content-type": "application/json"})


async def test_requests_over_the_burst_get_openais_429_and_the_rest_carry_headers() -> None:
    state, _, clock = limited("rpm: 600, burst: 3")
    injector = Injector(state)
    with taddons.context(injector):
        flows = [chat_flow() for _ in range(4)]
        for flow in flows:
            await injector.request(flow)
        for flow in flows[:3]:
            assert flow.response is None  # goes upstream
            upstream_answer(flow, 10)
            injector.responseheaders(flow)
            injector.response(flow)
    remaining = [flow.response.headers["x-ratelimit-remaining-requests"] for flow in flows[:3]]  # type: ignore[union-attr]
    assert remaining == ["2", "1", "0"]
    assert flows[0].response.headers["x-ratelimit-limit-requests"] == "600"  # type: ignore[union-attr]
    refused = flows[3].response
    assert refused is not None and refused.status_code == 429
    assert refused.headers["retry-after-ms"] == "100" and refused.headers["retry-after"] == "1"
    assert json.loads(refused.content or b"")["error"]["code"] == "rate_limit_exceeded"
    assert flows[3].metadata["brownout"]["outcome"] == "answered"
    assert flows[0].metadata["brownout"]["outcome"] == "admitted"


async def test_per_key_buckets_and_per_model_buckets() -> None:
    state, _, _ = limited("rpm: 60, burst: 1, per: key")
    injector = Injector(state)
    with taddons.context(injector):
        flows = [chat_flow(key="sk-a"), chat_flow(key="sk-b"), chat_flow(key="sk-a"), chat_flow(key="sk-a", model="o3")]
        for flow in flows:
            await injector.request(flow)
    assert [f.response.status_code if f.response else "upstream" for f in flows] == [
        "upstream",
        "upstream",
        429,
        "upstream",
    ]

    state, _, _ = limited("rpm: 60, burst: 1")
    injector = Injector(state)
    with taddons.context(injector):
        flows = [chat_flow(key="sk-a"), chat_flow(key="sk-b")]
        for flow in flows:
            await injector.request(flow)
    assert flows[0].response is None and flows[1].response is not None  # one bucket per model for every key


async def test_token_charge_is_settled_from_the_answers_usage() -> None:
    state, fault, clock = limited("tpm: 6000")
    injector = Injector(state)
    with taddons.context(injector):
        flow = chat_flow()
        await injector.request(flow)
        charged = flow.request.raw_content and (len(flow.request.raw_content) + 3) // 4 + 100
        upstream_answer(flow, 30)
        injector.responseheaders(flow)
        assert flow.response.headers["x-ratelimit-remaining-tokens"] == str(6000 - charged)  # type: ignore[union-attr]
        injector.response(flow)
    _, tokens = fault.limiter.state("gpt-4o")
    assert tokens is not None and tokens.remaining == 6000 - 30


async def test_streamed_answers_pass_unchanged_and_their_usage_is_read() -> None:
    state, fault, _ = limited("rpm: 100, tpm: 100000")
    injector = Injector(state)
    with taddons.context(injector):
        flow = chat_flow(host="api.anthropic.com", model="claude-haiku-4-5", stream=True)
        await injector.request(flow)
        flow.response = http.Response.make(200, b"", {"content-type": "text/event-stream"})
        injector.responseheaders(flow)
        stream = flow.response.stream
        assert callable(stream)
        events = [
            b'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":40,',
            b'"output_tokens":1}}}\n\nevent: message_delta\n'
            b'data: {"type":"message_delta","usage":{"output_tokens":60}}\n\n',
        ]
        relayed = [list(stream(chunk)) for chunk in events] + [list(stream(b""))]  # type: ignore[arg-type]
        injector.response(flow)
    assert relayed == [[events[0]], [events[1]], []]  # never b"" for the end
    assert flow.response.headers["anthropic-ratelimit-requests-remaining"] == "99"
    _, tokens = fault.limiter.state("claude-haiku-4-5")
    assert tokens is not None and tokens.remaining == 100000 - 100


@pytest.mark.parametrize(
    "attrs,problem",
    [
        (
            "burst: 5",
            "rules[0].fault: a rate_limit fault needs `rpm` (requests per minute), `tpm` (tokens per minute) or both",
        ),
        ("tpm: 100, burst: 5", "rules[0].fault: `burst` caps the request bucket, so it needs `rpm`"),
        ("rpm: 0", "rules[0].fault.rpm: Input should be greater than 0, got 0"),
        ("rpm: 10, per: org", "rules[0].fault.per: Input should be 'model' or 'key', got 'org'"),
        (
            "rpm: 10, rmp: 5",
            "rules[0].fault.rmp: unknown key for fault 'rate_limit'; allowed: type, rpm, tpm, burst, per",
        ),
    ],
)
def test_bad_attributes(attrs: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(f"rules:\n  - fault: {{type: rate_limit, {attrs}}}\n", "s.yaml", default_name="s")
    assert str(info.value) == f"s.yaml:2: {problem}"


# ---------------------------------------------------------------- end to end, official SDKs


@pytest.fixture
async def limited_proxy(tmp_path: Path) -> AsyncIterator[RunningProxy]:
    (tmp_path / "limits.yaml").write_text(
        "rules:\n"
        "  - {name: rpm, match: {provider: openai}, fault: {type: rate_limit, rpm: 600, burst: 10}}\n"
        "  - {name: tpm, match: {provider: anthropic}, fault: {type: rate_limit, rpm: 60, tpm: 100000}}\n"
    )
    async with SimServer(SimConfig(tokens_per_second=0, reply_tokens=8)) as sim:
        settings = ProxySettings(
            port=0,
            admin_port=0,
            upstreams=[f"openai={sim.url}/openai", f"anthropic={sim.url}/anthropic"],
            library=str(tmp_path / "none"),
            scenarios=[str(tmp_path / "limits.yaml")],
            termlog=False,
        )
        async with RunningProxy(settings) as proxy:
            yield proxy


def ask(client: openai.AsyncOpenAI) -> Awaitable[Any]:
    return client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=8
    )


async def test_a_burst_of_30_against_600_rpm_with_burst_10(limited_proxy: RunningProxy) -> None:
    client = openai.AsyncOpenAI(base_url=f"{limited_proxy.url}/openai/v1", api_key="sk-test", max_retries=0)
    async with client:
        results = await asyncio.gather(*(ask(client) for _ in range(30)), return_exceptions=True)
        passed = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, openai.RateLimitError)]
        assert len(passed) + len(refused) == 30, [r for r in results if isinstance(r, BaseException)]
        # The burst, plus what refilled (10 a second) while the 30 arrived.
        assert 10 <= len(passed) <= 13
        assert sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in passed)[-10:] == list(range(10))
        for error in refused:
            assert error.status_code == 429 and error.code == "rate_limit_exceeded" and error.type == "requests"
            headers = error.response.headers
            assert headers["x-ratelimit-limit-requests"] == "600" and headers["x-ratelimit-remaining-requests"] == "0"
            assert headers["x-request-id"].startswith("req_") and headers["retry-after"] == "1"
            assert 0 < int(headers["retry-after-ms"]) <= 100
            assert "on requests per min (RPM): Limit 600, Used 600, Requested 1" in error.message

        # Honouring a refusal's delay leads to success.
        await asyncio.sleep(int(refused[-1].response.headers["retry-after-ms"]) / 1000)
        assert (await ask(client)).http_response.status_code == 200
        try:
            await ask(client)
            await ask(client)  # the bucket is (nearly) empty: one of these is refused
        except openai.RateLimitError as error:
            await asyncio.sleep(int(error.response.headers["retry-after"]))
            assert (await ask(client)).http_response.status_code == 200

        # The SDK's own retries honour it too.
        patient = client.with_options(max_retries=3)
        await asyncio.gather(*(ask(client) for _ in range(12)), return_exceptions=True)  # empty the bucket
        assert (await ask(patient)).http_response.status_code == 200

        # From a full bucket, sequential requests count down one by one (refill may add one back).
        await asyncio.sleep(1.1)
        remaining = [int((await ask(client)).headers["x-ratelimit-remaining-requests"]) for _ in range(6)]
        assert remaining[0] == 9
        assert all(0 <= before - after <= 1 for before, after in zip(remaining, remaining[1:], strict=False))
        assert remaining[-1] <= 5


async def test_anthropic_stream_usage_settles_the_token_bucket(limited_proxy: RunningProxy) -> None:
    client = anthropic.AsyncAnthropic(base_url=f"{limited_proxy.url}/anthropic", api_key="sk-ant-test", max_retries=0)
    fault = limited_proxy.state.engine.scenarios["limits"].rules[1].fault
    assert isinstance(fault, RateLimitFault)
    fault.limiter.clock = lambda: 1000.0  # time stands still: no refill blurs the figures
    async with client:
        async with client.messages.stream(
            model="claude-haiku-4-5", max_tokens=1000, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            final = await stream.get_final_message()
            headers = stream.response.headers
        used = final.usage.input_tokens + final.usage.output_tokens
        assert headers["anthropic-ratelimit-requests-limit"] == "60"
        assert headers["anthropic-ratelimit-requests-remaining"] == "59"
        assert headers["anthropic-ratelimit-tokens-limit"] == "100000"
        assert int(headers["anthropic-ratelimit-tokens-remaining"]) <= 100000 - 1000  # the output cap was charged
        assert headers["anthropic-ratelimit-requests-reset"].endswith("Z")
        _, tokens = fault.limiter.state("claude-haiku-4-5")
        assert tokens is not None and tokens.remaining == 100000 - used  # the estimate was settled to the usage

        # Anthropic's 429 once the request bucket (burst = 60) is spent.
        for _ in range(60):
            try:
                await client.messages.create(
                    model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
                )
            except anthropic.RateLimitError as error:
                assert error.status_code == 429
                assert error.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
                assert error.response.headers["retry-after"] == "1"  # one request a second refills
                assert error.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
                break
        else:
            pytest.fail("60 requests a minute should run out within 60 quick requests after one")
