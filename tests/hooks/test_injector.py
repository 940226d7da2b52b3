import asyncio
import json
import time

import pytest
from mitmproxy import http
from mitmproxy.test import taddons
from mitmproxy.test import tflow

from brownout.engine.state import Brownout
from brownout.faults.base import Fault
from brownout.faults.base import FaultRun
from brownout.hooks.injector import Injector
from brownout.scenario.compile import parse_scenario
from conftest import chat_flow
from conftest import state_with


async def test_error_fault_answers_in_place_and_marks_the_flow() -> None:
    state = state_with("rules:\n  - name: throttle\n    fault: {type: error, status: 429, retry_after: 2s}\n")
    injector = Injector(state)
    with taddons.context(injector):
        flow = chat_flow()
        await injector.request(flow)
    assert flow.response is not None and flow.response.status_code == 429
    assert flow.response.headers["retry-after"] == "2"
    assert json.loads(flow.response.content or b"")["error"]["code"] == "rate_limit_exceeded"
    assert flow.marked == ":boom:" and "s / throttle: error(status=429" in flow.comment
    assert flow.metadata["brownout"] | {} == {
        "provider": "openai",
        "endpoint": "chat",
        "model": "gpt-4o",
        "stream": False,
        "client": "other",
        "scenario": "s",
        "rule": "throttle",
        "fault": "error",
        "outcome": "answered",
    }
    labels = {"scenario": "s", "rule": "throttle", "fault": "error", "provider": "openai"}
    assert state.metrics.registry.get_sample_value("brownout_faults_injected_total", labels) == 1


async def test_no_active_scenario_leaves_the_flow_untouched() -> None:
    state = Brownout()
    injector = Injector(state)
    with taddons.context(injector):
        flow = chat_flow()
        before = flow.request.get_state()
        await injector.request(flow)
    assert flow.response is None and flow.request.get_state() == before and not flow.marked


async def test_latency_does_not_block_other_flows() -> None:
    state = state_with("rules:\n  - match: {model: slow}\n    fault: {type: latency, delay: 300ms}\n")
    injector = Injector(state)
    with taddons.context(injector):
        done: dict[str, list[float]] = {"slow": [], "fast": []}
        start = time.monotonic()

        async def one(model: str) -> None:
            await injector.request(chat_flow(model))
            done[model].append(time.monotonic() - start)

        await asyncio.gather(*(one("slow") for _ in range(50)), one("fast"))
        total = time.monotonic() - start
    # Order, not wall-clock bounds: a garbage collection may pause the whole loop at any point.
    assert done["fast"][0] < min(done["slow"])  # it never waits behind the 300 ms ones
    assert len(done["slow"]) == 50 and min(done["slow"]) >= 0.29
    assert total < 1.5  # the 50 delays ran together, not one after another (15 s)


async def test_timeout_ends_when_the_client_leaves() -> None:
    state = state_with("rules:\n  - fault: {type: timeout}\n")
    injector = Injector(state)
    with taddons.context(injector):
        flow = chat_flow()
        task = asyncio.create_task(injector.request(flow))
        await asyncio.sleep(0.05)
        assert not task.done()
        injector.client_disconnected(flow.client_conn)
        await asyncio.wait_for(task, 1)
    assert flow.metadata["brownout"]["outcome"] == "abandoned"
    assert flow.error is not None  # killed


async def test_timeout_with_hang_closes_after_it() -> None:
    state = state_with("rules:\n  - fault: {type: timeout, hang: 100ms}\n")
    injector = Injector(state)
    with taddons.context(injector):
        flow = chat_flow()
        start = time.monotonic()
        await asyncio.wait_for(injector.request(flow), 5)  # a hang that never ends fails here
    # It closes after its 100 ms, not before; the upper bound leaves room for a loaded machine.
    assert 0.09 < time.monotonic() - start < 1.0
    assert flow.metadata["brownout"]["outcome"] == "timeout" and flow.error is not None


async def test_malformed_truncates_the_upstream_body() -> None:
    state = state_with("rules:\n  - fault: {type: malformed, keep: 0.5}\n")
    injector = Injector(state)
    with taddons.context(injector):
        flow = chat_flow()
        await injector.request(flow)
        assert flow.response is None  # it waits for the upstream's answer
        body = json.dumps({"id": "chatcmpl-1", "choices": []}).encode()
        flow.response = http.Response.make(200, body, {"content-type": "application/json"})
        injector.responseheaders(flow)
        injector.response(flow)
    assert flow.response.raw_content == body[: len(body) // 2]
    assert flow.response.headers["content-length"] == str(len(body) // 2)
    assert flow.metadata["brownout"]["outcome"] == "malformed_truncate"


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
async def test_malformed_cuts_a_compressed_body_inside_its_coding(coding: str) -> None:
    """The JSON is cut and encoded again with the same coding, so the client's decompressor works
    and its JSON parser fails (the fault this is), with the headers as the upstream sent them."""
    state = state_with("rules:\n  - fault: {type: malformed, keep: 0.5}\n")
    injector = Injector(state)
    body = json.dumps({"id": "chatcmpl-1", "choices": [{"message": {"content": "x" * 200}}]}).encode()
    with taddons.context(injector):
        flow = chat_flow()
        await injector.request(flow)
        flow.response = http.Response.make(200, b"", {"content-type": "application/json", "content-encoding": coding})
        flow.response.content = body  # mitmproxy encodes it with the response's coding
        assert flow.response.raw_content != body
        injector.responseheaders(flow)
        injector.response(flow)
    assert flow.response.headers["content-encoding"] == coding
    assert flow.response.get_content(strict=True) == body[: len(body) // 2]
    assert flow.metadata["brownout"]["outcome"] == "malformed_truncate"


async def test_stream_requests_and_event_streams_are_relayed_unbuffered() -> None:
    injector = Injector(Brownout())
    with taddons.context(injector):
        flow = chat_flow(stream=True)
        await injector.request(flow)
        flow.response = http.Response.make(200, b"", {"content-type": "application/json"})
        injector.responseheaders(flow)
        assert flow.response.stream is True
        other = tflow.tflow(resp=True)
        other.response.headers["content-type"] = "text/event-stream; charset=utf-8"
        injector.responseheaders(other)
        assert other.response.stream is True
        plain = tflow.tflow(resp=True)
        injector.responseheaders(plain)
        assert plain.response.stream is False


@pytest.mark.usefixtures("own_fault_registry")
async def test_a_failing_fault_falls_back_to_pass_through(caplog: pytest.LogCaptureFixture) -> None:
    class ExplodingFault(Fault):
        type_name = "test_exploding"

        async def on_request(self, flow: http.HTTPFlow, run: FaultRun) -> None:
            raise RuntimeError("bug in a fault")

    state = state_with("rules:\n  - fault: {type: test_exploding}\n")
    injector = Injector(state)
    with taddons.context(injector):
        flow = chat_flow()
        await injector.request(flow)
    assert flow.response is None and flow.error is None
    assert flow.metadata["brownout"]["outcome"] == "fault_error"
    assert state.metrics.registry.get_sample_value("brownout_fault_errors_total", {"fault": "test_exploding"}) == 1
    assert "passing the flow through" in caplog.text


class BrokenCounts:
    """Shared counts whose store fails in a way nobody foresaw (a bug, a new Redis error)."""

    async def add(self, count: str, carried: int = 0) -> int | None:
        raise RuntimeError("the store broke")

    async def take(self, count: str, limit: int, carried: int = 0) -> bool | None:
        raise RuntimeError("the store broke")

    async def carry(self, count: str, carried: int) -> bool:
        raise RuntimeError("the store broke")


async def test_a_decision_that_raises_passes_the_flow_through_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = state_with("rules:\n  - times: 2\n    fault: {type: error, status: 503}\n")
    state.engine.shared_counts = BrokenCounts()
    injector = Injector(state)
    with taddons.context(injector):
        flows = [chat_flow() for _ in range(3)]
        for flow in flows:
            await injector.request(flow)
    assert all(flow.response is None and flow.error is None for flow in flows)
    assert state.metrics.registry.get_sample_value("brownout_fault_errors_total", {"fault": "decision"}) == 3
    assert caplog.text.count("choosing a fault failed") == 1


async def test_override_header_applies_one_scenario_and_is_stripped() -> None:
    state = Brownout()
    state.engine.load(parse_scenario("rules:\n  - fault: {type: error, status: 503}\n", default_name="outage"))
    injector = Injector(state)
    with taddons.context(injector):
        plain = chat_flow()
        await injector.request(plain)
        assert plain.response is None  # nothing is on
        targeted = chat_flow()
        targeted.request.headers["X-Brownout-Scenario"] = " outage "
        await injector.request(targeted)
        assert targeted.response is not None and targeted.response.status_code == 503
        assert "x-brownout-scenario" not in targeted.request.headers
        assert targeted.metadata["brownout"]["override"] == "outage"
        passing = chat_flow()
        state.engine.load(
            parse_scenario("rules:\n  - {match: {model: nothing}, fault: {type: reset}}\n", default_name="n")
        )
        passing.request.headers["x-brownout-scenario"] = "n"
        await injector.request(passing)
        assert passing.response is None and "x-brownout-scenario" not in passing.request.headers  # never upstream
        unknown = chat_flow()
        unknown.request.headers["x-brownout-scenario"] = "nope"
        await injector.request(unknown)
    assert unknown.response is not None and unknown.response.status_code == 400
    message = json.loads(unknown.response.content or b"")["error"]["message"]
    assert message == "brownout: x-brownout-scenario: unknown scenario 'nope'; loaded: n, outage"


def _answered(flow: http.HTTPFlow, status: int = 200) -> None:
    """The upstream's answer arrives (for a flow the Injector let through)."""
    if flow.response is None:
        flow.response = http.Response.make(status, b'{"ok": true}', {"content-type": "application/json"})


async def _statuses(injector: Injector, upstream: list[int], between: object = None) -> list[int]:
    """One request after another, each answered by the fault or else by `upstream`'s next status;
    `between` (a callable) runs after each; the statuses the client got."""
    statuses = []
    with taddons.context(injector):
        for status in upstream:
            flow = chat_flow()
            await injector.request(flow)
            _answered(flow, status)
            statuses.append(flow.response.status_code)  # type: ignore[union-attr]
            injector.response(flow)
            if callable(between):
                between()
    return statuses


async def test_first_fails_the_first_two_attempts_of_each_request_then_lets_it_through() -> None:
    state = state_with("rules:\n  - first: 2\n    fault: {type: error, kind: overloaded}\n")
    # Two logical requests of three attempts, one after the other.
    assert await _statuses(Injector(state), [200] * 6) == [503, 503, 200, 503, 503, 200]


async def test_first_counts_a_failed_upstream_answer_as_a_failure_too() -> None:
    """The attempt the rule let through failed upstream: the client's retry is the same request's."""
    state = state_with("rules:\n  - first: 1\n    fault: {type: error, status: 500}\n")
    # 1st: the fault; 2nd: through, and the upstream fails it; 3rd: through.
    assert await _statuses(Injector(state), [200, 502, 200]) == [500, 502, 200]


async def test_an_overload_rule_gives_its_place_back_when_the_flow_ends() -> None:
    state = state_with("rules:\n  - name: pool\n    fault: {type: overload, concurrency: 1, queue_delay: 0s}\n")
    injector = Injector(state)
    fault = state.engine.scenarios["s"].rules[0].fault
    with taddons.context(injector):
        first = chat_flow()
        await injector.request(first)
        assert first.response is None  # admitted: it goes upstream
        pool = next(pool for _, pool in fault.pools.items())  # type: ignore[attr-defined]
        assert pool.underway == 1
        first.error = tflow.terr()
        injector.error(first)  # the upstream failed: its place is free
        assert pool.underway == 0
        second = chat_flow()
        await injector.request(second)
        _answered(second)
        injector.response(second)
        assert pool.underway == 0
    labels = {"scenario": "s", "rule": "pool", "pool": "openai"}
    assert state.metrics.registry.get_sample_value("brownout_overload_offered_requests_total", labels) == 2
    assert state.metrics.registry.get_sample_value("brownout_overload_queue_delay_seconds_count", labels) == 2
    assert state.metrics.registry.get_sample_value("brownout_overload_offered_rps", labels) == 2.0
    assert state.metrics.registry.get_sample_value("brownout_overload_capacity_concurrency", labels) == 1.0


async def test_an_overloaded_provider_sheds_with_its_own_error_and_counts_it() -> None:
    state = state_with("rules:\n  - name: pool\n    fault: {type: overload, rps: 1, queue_delay: 0s}\n")
    statuses = await _statuses(Injector(state), [200] * 12)
    shed = statuses.count(503)
    assert statuses[0] == 200 and shed >= 6
    labels = {"scenario": "s", "rule": "pool", "pool": "openai"}
    assert state.metrics.registry.get_sample_value("brownout_overload_shed_total", labels) == shed
    assert state.metrics.registry.get_sample_value("brownout_overload_degraded", labels) == 1.0


async def test_first_takes_the_retry_after_of_the_failure_into_account() -> None:
    state = state_with("rules:\n  - first: 1\n    fault: {type: error, status: 429, retry_after: 60s}\n")
    state.engine.retry_window = 1.0
    clock = [0.0]
    state.engine.clock = lambda: clock[0]

    def wait() -> None:
        clock[0] += 30.0  # the client waits half the minute it was asked to: still its retry

    assert await _statuses(Injector(state), [200, 200], between=wait) == [429, 200]
