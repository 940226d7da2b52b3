import asyncio
import json
import time

import pytest
from mitmproxy import exceptions
from mitmproxy import flow as mflow
from mitmproxy import http
from mitmproxy.test import taddons
from mitmproxy.test import tflow

from brownout.engine.state import Brownout
from brownout.engine.state import ScenarioSwitch
from brownout.hooks.injector import Injector
from brownout.hooks.observer import ClientObserver
from brownout.hooks.phases import PhaseAnnouncer
from brownout.hooks.router import Router
from brownout.metrics.client import ClientMetrics
from brownout.providers import error_reply
from brownout.providers.base import ErrorOptions
from brownout.scenario.compile import parse_scenario

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
SDK = {"user-agent": "AsyncOpenAI/Python 3.54.0", "authorization": "Bearer sk-test"}


def chat_flow(at: float, retry_count: int | None = None, body: dict[str, object] | None = None) -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.live = True
    flow.request.method = "POST"
    flow.request.host = "api.openai.com"
    flow.request.path = "/v1/chat/completions"
    flow.request.headers.clear()
    flow.request.headers.update(SDK)
    if retry_count is not None:
        flow.request.headers["x-stainless-retry-count"] = str(retry_count)
    flow.request.content = json.dumps(body or CHAT).encode()
    flow.request.timestamp_start = at
    return flow


def answer(flow: http.HTTPFlow, status: int, at: float, headers: dict[str, str] | None = None, body: bytes = b"{}"):
    flow.response = http.Response.make(status, body, {"content-type": "application/json", **(headers or {})})
    flow.response.timestamp_end = at


def sample(state: Brownout, name: str, **labels: str) -> float | None:
    return state.metrics.registry.get_sample_value(name, labels)


class Rig:
    """The Router, the Injector and the observer in the order make_addons puts them, driven hook by hook."""

    def __init__(self, scenario: str | None = None) -> None:
        self.state = Brownout()
        if scenario:
            self.state.engine.load(parse_scenario(scenario, "s.yaml", default_name="s"))
            self.state.activate("s")
        self.router = Router(self.state)
        self.injector = Injector(self.state)
        self.observer = ClientObserver(self.state)

    async def request(self, flow: http.HTTPFlow) -> None:
        self.router.requestheaders(flow)
        self.observer.requestheaders(flow)
        await self.injector.request(flow)

    def respond(self, flow: http.HTTPFlow) -> None:
        self.injector.responseheaders(flow)
        self.observer.responseheaders(flow)
        self.injector.response(flow)
        self.observer.response(flow)


async def test_retries_delays_and_retry_after_from_the_answer_the_client_got() -> None:
    rig = Rig()
    with taddons.context(rig.observer, rig.injector):
        t = 1000.0
        for n in range(3):
            flow = chat_flow(t, retry_count=n)
            await rig.request(flow)
            answer(flow, 429, t + 0.01, {"retry-after-ms": "700"})
            rig.respond(flow)
            t += 0.01 + (0.72 if n == 0 else 0.3)  # the second retry comes too early
    labels = {"provider": "openai", "client": "openai-python"}
    assert sample(rig.state, "brownout_client_retries_total", after="429", layer="sdk", **labels) == 2
    assert sample(rig.state, "brownout_client_retry_after_violations_total", **labels) == 1
    assert sample(rig.state, "brownout_client_retry_delay_seconds_sum", **labels) == pytest.approx(1.02)
    assert sample(rig.state, "brownout_client_nonretryable_retries_total", **labels) == 0


async def test_nonretryable_answers_are_read_from_the_body_and_x_should_retry() -> None:
    rig = Rig()
    quota = error_reply("openai", ErrorOptions(kind="insufficient_quota"))
    with taddons.context(rig.observer, rig.injector):
        for n in range(2):
            flow = chat_flow(2000.0 + n, retry_count=n)
            await rig.request(flow)
            answer(flow, 429, 2000.0 + n + 0.01, body=quota.body)
            rig.respond(flow)
        for n in range(2):
            flow = chat_flow(3000.0 + n, retry_count=n, body={**CHAT, "model": "other"})
            await rig.request(flow)
            answer(flow, 503, 3000.0 + n + 0.01, {"x-should-retry": "false"})
            rig.respond(flow)
    assert (
        sample(rig.state, "brownout_client_nonretryable_retries_total", provider="openai", client="openai-python") == 2
    )


async def test_a_streamed_error_body_is_read_while_relayed_unchanged() -> None:
    rig = Rig()
    gemini = error_reply("gemini", ErrorOptions(kind="rate_limit", retry_after=5))
    with taddons.context(rig.observer, rig.injector):
        first = chat_flow(100.0, body={**CHAT, "stream": True})
        await rig.request(first)
        first.response = http.Response.make(429, b"", {"content-type": "application/json"})
        rig.injector.responseheaders(first)
        rig.observer.responseheaders(first)
        relay = first.response.stream
        assert callable(relay)
        relayed = [relay(gemini.body[:40]), relay(gemini.body[40:]), relay(b"")]
        assert relayed == [[gemini.body[:40]], [gemini.body[40:]], []]
        first.response.content = None  # a streamed body is not stored
        first.response.timestamp_end = 100.1
        rig.injector.response(first)
        rig.observer.response(first)
        retry = chat_flow(101.0, body={**CHAT, "stream": True})
        await rig.request(retry)
        answer(retry, 200, 101.5)
        rig.respond(retry)  # counted when it ends
    assert sample(rig.state, "brownout_client_retry_after_violations_total", provider="openai", client="openai-python")


async def test_a_client_that_leaves_while_a_fault_holds_the_flow_abandoned_it() -> None:
    rig = Rig("rules:\n  - fault: {type: timeout}\n")
    with taddons.context(rig.observer, rig.injector):
        flow = chat_flow(time.time())
        flow.request.headers["x-stainless-read-timeout"] = "1.0"
        rig.router.requestheaders(flow)
        rig.observer.requestheaders(flow)
        held = rig.injector.request(flow)
        task = asyncio.ensure_future(held)
        await asyncio.sleep(0.05)
        flow.client_conn.timestamp_end = flow.request.timestamp_start + 1.0
        rig.injector.client_disconnected(flow.client_conn)
        rig.observer.client_disconnected(flow.client_conn)  # while the fault still holds the flow
        await task
        rig.observer.error(flow)  # the fault's kill: already counted
    labels = {"provider": "openai", "endpoint": "chat", "client": "openai-python"}
    assert sample(rig.state, "brownout_client_abandoned_total", **labels) == 1
    assert sample(rig.state, "brownout_client_abandon_wait_seconds_sum", **labels) == pytest.approx(1.0)
    declared = {"provider": "openai", "client": "openai-python"}
    assert sample(rig.state, "brownout_client_abandon_declared_timeout_seconds_sum", **declared) == 1.0


async def test_a_reset_by_brownout_is_not_an_abandonment() -> None:
    rig = Rig("rules:\n  - fault: {type: reset}\n")
    with taddons.context(rig.observer, rig.injector):
        first = chat_flow(time.time(), retry_count=0)
        await rig.request(first)
        assert first.error is not None  # killed by the fault
        rig.observer.client_disconnected(first.client_conn)
        rig.observer.error(first)
        second = chat_flow(time.time() + 0.5, retry_count=1)
        await rig.request(second)
        rig.observer.error(second)  # reset again; counted when it ends
    assert (
        sample(rig.state, "brownout_client_abandoned_total", provider="openai", endpoint="chat", client="openai-python")
        is None
    )
    assert (
        sample(
            rig.state,
            "brownout_client_retries_total",
            provider="openai",
            after="reset",
            client="openai-python",
            layer="sdk",
        )
        == 1
    )


async def test_a_client_disconnect_error_is_an_abandonment() -> None:
    rig = Rig()
    with taddons.context(rig.observer, rig.injector):
        flow = chat_flow(50.0)
        await rig.request(flow)
        flow.error = mflow.Error("Client disconnected.", timestamp=80.0)
        rig.observer.error(flow)
        rig.observer.client_disconnected(flow.client_conn)  # the same close, reported twice
    labels = {"provider": "openai", "endpoint": "chat", "client": "openai-python"}
    assert sample(rig.state, "brownout_client_abandoned_total", **labels) == 1
    assert sample(rig.state, "brownout_client_abandon_wait_seconds_sum", **labels) == 30.0


async def test_requests_brownout_did_not_classify_are_not_watched() -> None:
    rig = Rig()
    with taddons.context(rig.observer, rig.injector):
        flow = tflow.tflow()
        flow.live = True
        await rig.request(flow)
        flow.response = http.Response.make(500)
        rig.observer.response(flow)
    assert rig.observer._watched == {} and rig.observer._by_client == {}


def test_families_register_once_per_registry() -> None:
    state = Brownout()
    ClientObserver(state)
    ClientObserver(state)  # a second observer on the same registry registers nothing twice
    assert ClientMetrics.on(state.metrics.registry) is ClientMetrics.on(state.metrics.registry)
    assert ClientMetrics.on(Brownout().metrics.registry) is not ClientMetrics.on(state.metrics.registry)


def test_window_options_are_durations() -> None:
    observer = ClientObserver(Brownout())
    with taddons.context(observer) as tctx:
        tctx.configure(observer, brownout_retry_window="5s", brownout_fallback_window="2m")
        assert observer.observer.settings.retry_window == 5.0
        assert observer.observer.settings.fallback_window == 120.0
        with pytest.raises(exceptions.OptionsError, match="brownout_retry_window"):
            tctx.configure(observer, brownout_retry_window="soon")


async def test_switching_a_scenario_off_starts_the_recovery_clock() -> None:
    rig = Rig("rules:\n  - fault: {type: error, status: 500}\n")
    with taddons.context(rig.observer, rig.injector):
        failed = chat_flow(time.time())
        await rig.request(failed)
        rig.respond(failed)
        rig.state.deactivate("s")
        ok = chat_flow(time.time() + 0.25, body={**CHAT, "model": "m2"})
        await rig.request(ok)
        answer(ok, 200, ok.request.timestamp_start + 0.1)
        rig.respond(ok)
    count = sample(rig.state, "brownout_client_recovery_seconds_count", scenario="s", provider="openai")
    assert count == 1
    # 0.25 s of the flows' clocks and the test's own run time, which a loaded machine stretches.
    assert 0.2 <= (sample(rig.state, "brownout_client_recovery_seconds_sum", scenario="s", provider="openai") or 0) < 2


async def test_a_timeline_phase_end_starts_the_recovery_clock() -> None:
    clock = [0.0]
    rig = Rig()
    rig.state.engine.clock = lambda: clock[0]
    rig.state.load(
        parse_scenario(
            "name: replay\nrules:\n  - {name: down, fault: {type: error, status: 503}}\n"
            "timeline:\n  phases:\n    - {name: outage, duration: 30s, rules: [down]}\n"
            "    - {name: healthy, rules: []}\n"
        )
    )
    rig.state.activate("replay")
    announcer = PhaseAnnouncer(rig.state)
    switches: list[ScenarioSwitch] = []
    rig.state.listeners.append(switches.append)
    with taddons.context(rig.observer, rig.injector):
        announcer.tick()
        failed = chat_flow(time.time())
        await rig.request(failed)
        rig.respond(failed)
        assert failed.response is not None and failed.response.status_code == 503
        clock[0] = 30.5  # the outage phase ended half a second ago
        announcer.tick()
        assert [(s.active, s.phase) for s in switches] == [(False, "outage")]
        ok = chat_flow(time.time() + 0.25, body={**CHAT, "model": "m2"})
        await rig.request(ok)
        answer(ok, 200, ok.request.timestamp_start + 0.1)
        rig.respond(ok)
    seconds = sample(rig.state, "brownout_client_recovery_seconds_sum", scenario="replay", provider="openai")
    # 0.5 s before the tick, plus 0.25 s, plus the test's own run time (room for a loaded machine)
    assert seconds is not None and 0.7 <= seconds < 2.5


async def test_a_client_that_leaves_after_usage_missing_broke_it_is_not_an_abandonment() -> None:
    # The anthropic stream helper raises AttributeError on a missing usage object and closes
    # early: the fault broke the client, which did not time out or give up by itself.
    rig = Rig("rules:\n  - fault: {type: usage_missing}\n")
    completion = {
        "id": "c",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    with taddons.context(rig.observer, rig.injector):
        flow = chat_flow(10.0, retry_count=0)
        await rig.request(flow)
        answer(flow, 200, 10.5, body=json.dumps(completion).encode())
        rig.injector.responseheaders(flow)
        rig.injector.response(flow)
        assert "usage" not in json.loads(flow.response.content or b"{}")  # the fault acted
        flow.error = mflow.Error("Client disconnected.", timestamp=10.6)
        rig.observer.error(flow)
        again = chat_flow(11.0, retry_count=0)
        await rig.request(again)
        answer(again, 200, 11.2, body=json.dumps(completion).encode())
        rig.respond(again)
    labels = {"provider": "openai", "client": "openai-python"}
    assert sample(rig.state, "brownout_client_abandoned_total", endpoint="chat", **labels) is None
    assert sample(rig.state, "brownout_client_retries_total", after="usage_missing", layer="app", **labels) == 1
