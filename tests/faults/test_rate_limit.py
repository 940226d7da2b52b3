import json

import pytest
from mitmproxy import http
from mitmproxy.test import taddons
from mitmproxy.test import tflow

from brownout.faults.rate_limit import RateLimitFault
from brownout.injector import Injector
from brownout.scenario import ScenarioError
from brownout.scenario import parse_scenario
from brownout.state import Brownout


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
    assert flows[3].metadata["brownout"]["outcome"] == "429"
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
        flow = chat_flow(host="api.anthropic.com", model="claude-sonnet-4-5", stream=True)
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
    _, tokens = fault.limiter.state("claude-sonnet-4-5")
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
