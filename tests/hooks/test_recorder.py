"""What `brownout_requests_total{code}` and the in-flight gauge say, beside what the client saw:
real clients through a real proxy, for the ends that are neither a fault's nor a plain answer."""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
import pytest
from mitmproxy import http

from brownout.engine.flows import FlowState
from brownout.faults.base import Fault
from brownout.faults.base import FaultRun
from brownout.faults.outcome import Outcome
from brownout.hooks.recorder import Recorder
from brownout.metrics.proxy import ended_code
from conftest import StartProxy
from silent_upstream import ClosingUpstream

CHAT = {"provider": "openai", "endpoint": "chat", "model": "gpt-4o"}
MESSAGES = [{"role": "user", "content": "hi"}]


def value(proxy: object, name: str, **labels: str) -> float | None:
    return proxy.state.metrics.registry.get_sample_value(name, labels)  # type: ignore[attr-defined]


async def test_a_client_that_leaves_during_a_latency_hold_ends_it(start_proxy: StartProxy) -> None:
    proxy = await start_proxy("rules:\n  - fault: {type: latency, delay: 30s}\n")
    client = openai.AsyncOpenAI(base_url=f"{proxy.url}/openai/v1", api_key="sk-test", max_retries=0, timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    left = time.monotonic()
    while value(proxy, "brownout_inflight_requests", provider="openai") and time.monotonic() - left < 5:
        await asyncio.sleep(0.05)
    assert value(proxy, "brownout_inflight_requests", provider="openai") == 0  # not after 30 s
    assert value(proxy, "brownout_requests_total", **CHAT, code="abandoned") == 1
    assert value(proxy, "brownout_requests_total", **CHAT, code="error") is None
    assert value(proxy, "brownout_client_abandoned_total", provider="openai", endpoint="chat", client="openai-python")


async def test_an_upstream_that_closes_without_answering_is_brownouts_labelled_502(start_proxy: StartProxy) -> None:
    async with ClosingUpstream() as closing:
        upstream = closing.url
        proxy = await start_proxy(upstreams=[f"openai={upstream}/openai"])
        client = openai.AsyncOpenAI(base_url=f"{proxy.url}/openai/v1", api_key="sk-test", max_retries=0)
        with pytest.raises(openai.InternalServerError) as raised:
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert raised.value.status_code == 502
    assert raised.value.response.headers["x-brownout"] == "upstream-error"
    assert raised.value.response.headers["x-brownout-cause"] == "closed"
    assert f"the upstream {upstream} closed the connection without answering" in raised.value.message
    assert value(proxy, "brownout_requests_total", **CHAT, code="502") == 1  # not "error"
    assert value(proxy, "brownout_upstream_errors_total", provider="openai", cause="closed") == 1


async def test_mitmproxys_own_error_page_is_counted_by_its_status(start_proxy: StartProxy) -> None:
    """Not an AI-API request (the forward port, another host): mitmproxy's page, counted as a 502."""
    async with ClosingUpstream() as closing:
        proxy = await start_proxy(forward_port=0)
        async with httpx.AsyncClient(proxy=f"http://127.0.0.1:{proxy.forward_port}") as client:
            answer = await client.get(f"{closing.url}/index.html")
    assert answer.status_code == 502 and "x-brownout" not in answer.headers
    labels = {"provider": "unknown", "endpoint": "other", "model": "none"}
    assert value(proxy, "brownout_requests_total", **labels, code="502") == 1


async def test_a_fault_that_raises_passes_the_flow_through_and_is_counted_as_what_the_client_got(
    start_proxy: StartProxy, own_fault_registry: None
) -> None:
    class ExplodingFault(Fault):
        type_name = "test_exploding"

        async def on_request(self, run: FaultRun) -> None:
            raise RuntimeError("bug in a fault")

    proxy = await start_proxy("rules:\n  - fault: {type: test_exploding}\n")
    client = openai.AsyncOpenAI(base_url=f"{proxy.url}/openai/v1", api_key="sk-test", max_retries=0)
    await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert value(proxy, "brownout_requests_total", **CHAT, code="200") == 1
    assert value(proxy, "brownout_fault_errors_total", fault="test_exploding") == 1


def test_the_code_of_an_attempt_without_a_complete_answer() -> None:
    def code(outcome: Outcome = Outcome.NONE, **kwargs: object) -> str:
        given = {"client_left": False, "answer_started": False, **kwargs}
        return ended_code(outcome, **given)  # type: ignore[arg-type]

    assert code(Outcome.RESET) == "reset" and code(Outcome.TIMEOUT) == "timeout"
    assert code(Outcome.EMPTY_REPLY, client_left=True) == "empty_reply"
    assert code(Outcome.CUT, answer_started=True) == "aborted"
    assert code(Outcome.ERRORED, client_left=True) == "aborted"  # reacting to the break
    assert code(Outcome.STALLED, answer_started=True) == "aborted"
    assert code(Outcome.SLOWED, answer_started=True, client_left=True) == "abandoned"
    assert code(Outcome.ABANDONED) == "abandoned"
    assert code(Outcome.DELAYED, client_left=True) == "abandoned"  # left during a latency hold
    assert code(client_left=True, answer_started=True) == "abandoned"  # left mid-stream
    assert code(error_status=502) == "502"  # mitmproxy's page
    assert code(Outcome.FAULT_ERROR) == "fault_error"
    assert code(answer_started=True) == "upstream_error"  # the upstream broke off mid-body
    assert code(upstream_broke=True) == "upstream_error"
    assert code(answer_started=True, cut_by_fault=True) == "aborted"
    assert code() == "error"


async def test_the_recorder_reads_mitmproxys_messages() -> None:
    from mitmproxy import flow as mflow
    from mitmproxy.test import taddons
    from mitmproxy.test import tflow

    from brownout.engine.state import Brownout

    state = Brownout()
    recorder = Recorder(state)
    with taddons.context(recorder):
        for message, response in (("Client disconnected.", False), ("server closed connection", True)):
            flow: http.HTTPFlow = tflow.tflow(resp=response)
            here: FlowState = state.flows.of(flow)
            here.provider = "openai"
            recorder.requestheaders(flow)
            flow.error = mflow.Error(message)
            recorder.error(flow)
    labels = {"provider": "openai", "endpoint": "other", "model": "none"}
    assert state.metrics.registry.get_sample_value("brownout_requests_total", {**labels, "code": "abandoned"}) == 1
    assert state.metrics.registry.get_sample_value("brownout_requests_total", {**labels, "code": "upstream_error"}) == 1
