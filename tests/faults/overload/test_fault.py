"""The `overload` fault on a virtual clock: its attributes, the provider's own overload errors,
queueing on the flow's own task, places in the capacity given back."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from brownout.classify.request import RequestInfo
from brownout.faults.base import FaultRun
from brownout.faults.base import Hangup
from brownout.faults.outcome import Outcome
from brownout.faults.overload.fault import OverloadFault
from brownout.faults.overload.fault import Queued
from brownout.providers.base import Reply
from brownout.scenario.compile import parse_scenario
from brownout.scenario.yaml_lines import ScenarioError


class VirtualTime:
    """A clock and a queue that moves it instead of sleeping."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []
        self.leave = False  # the client gives up while it waits

    def __call__(self) -> float:
        return self.now

    async def wait(self, seconds: float, gone: asyncio.Event) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        if self.leave:
            gone.set()
        return gone.is_set()


def fault_of(attrs: str) -> tuple[OverloadFault, VirtualTime]:
    scenario = parse_scenario(f"rules:\n  - fault: {{type: overload, {attrs}}}\n", default_name="o")
    fault = scenario.rules[0].fault
    assert isinstance(fault, OverloadFault)
    time = VirtualTime()
    fault.use(time, time.wait)
    return fault, time


def run_for(provider: str = "openai", model: str = "gpt-4o", seed: int = 1, capacity: float = 1.0) -> FaultRun:
    return FaultRun(RequestInfo(provider, "chat", model, False), random.Random(seed), capacity=capacity)


async def flood(fault: OverloadFault, count: int, provider: str = "openai", **kw: object) -> list[object]:
    """`count` requests at the same instant, each ended at once."""
    acts = []
    for _ in range(count):
        run = run_for(provider, **kw)  # type: ignore[arg-type]
        acts.append(await fault.on_request(run))
        fault.on_end(run)
    return acts


async def test_under_capacity_the_request_goes_upstream_untouched() -> None:
    fault, time = fault_of("rps: 5")
    acts = await flood(fault, 5)
    assert acts == [None] * 5 and time.waits == []


@pytest.mark.parametrize(
    ("provider", "status", "marker"),
    [
        ("openai", 503, "server_is_overloaded"),
        ("azure", 503, "server_is_overloaded"),
        ("anthropic", 529, "overloaded_error"),
        ("gemini", 503, "UNAVAILABLE"),
    ],
)
async def test_shed_requests_get_the_providers_own_overload_error(provider: str, status: int, marker: str) -> None:
    fault, time = fault_of("rps: 1, queue_delay: 100ms")
    acts = await flood(fault, 30, provider)
    sheds = [act for act in acts if isinstance(act, Reply)]
    assert sheds and all(reply.status == status and marker in reply.body.decode() for reply in sheds)
    assert time.waits and time.waits[-1] > time.waits[0]  # the queue grew with the excess


async def test_kind_rate_limit_sheds_with_429s_and_retry_after() -> None:
    fault, _ = fault_of("rps: 1, kind: rate_limit, retry_after: 2s")
    sheds = [act for act in await flood(fault, 30, "gemini") if isinstance(act, Reply)]
    assert sheds[0].status == 429 and b"RESOURCE_EXHAUSTED" in sheds[0].body
    fault, _ = fault_of("rps: 1, kind: rate_limit, retry_after: 2s")
    sheds = [act for act in await flood(fault, 30, "openai") if isinstance(act, Reply)]
    assert sheds[0].status == 429 and ("retry-after", "2") in sheds[0].headers


async def test_queued_then_admitted_requests_are_delayed_and_hold_their_place_until_they_end() -> None:
    fault, time = fault_of("concurrency: 1, queue_delay: 1s")
    first = run_for()
    assert await fault.on_request(first) is None and first.outcome == Outcome.ADMITTED
    second = run_for(seed=5)
    await fault.on_request(second)
    assert isinstance(second.state, Queued) and second.state.verdict.ratio == 2.0
    assert time.waits == [1.0]
    pool = first.state.pool  # type: ignore[union-attr]
    fault.on_end(second)
    fault.on_end(second)  # once only
    assert pool.underway == 1
    fault.on_end(first)
    assert pool.underway == 0


async def test_a_client_that_leaves_the_queue_is_hung_up_on_and_frees_its_place() -> None:
    fault, time = fault_of("concurrency: 1, queue_delay: 5s")
    await fault.on_request(run_for())
    time.leave = True
    run = run_for()
    assert await fault.on_request(run) == Hangup()
    assert run.outcome == Outcome.ABANDONED and run.state.pool.underway == 1  # type: ignore[union-attr]


async def test_pools_per_provider_or_per_model() -> None:
    fault, _ = fault_of("rps: 2")
    await flood(fault, 2, model="a")
    assert all(act is None for act in await flood(fault, 2, "anthropic"))  # another provider's pool
    shared = await flood(fault, 10, model="b")
    assert any(isinstance(act, Reply) for act in shared)  # same provider, same pool
    fault, _ = fault_of("rps: 2, per: model")
    await flood(fault, 2, model="a")
    assert all(act is None for act in await flood(fault, 2, model="b"))


async def test_a_phase_capacity_factor_applies_to_the_run() -> None:
    fault, _ = fault_of("rps: 10")
    acts = await flood(fault, 10, capacity=0.2)
    assert any(isinstance(act, Reply) for act in acts)


async def test_the_real_queue_waits_on_the_flows_own_task_until_the_client_leaves() -> None:
    """An overloaded request waits while another flow's request goes on; its client leaving ends
    the wait at once."""
    scenario = parse_scenario("rules:\n  - fault: {type: overload, rps: 1, queue_delay: 60s}\n", default_name="o")
    overload = scenario.rules[0].fault
    assert isinstance(overload, OverloadFault)
    await overload.on_request(run_for())
    queued = run_for(seed=3)
    held = asyncio.create_task(overload.on_request(queued))  # ρ = 2: a minute in the queue
    await asyncio.sleep(0)
    assert not held.done()
    assert await asyncio.wait_for(overload.on_request(run_for("anthropic")), 1.0) is None  # not blocked
    queued.client_gone.set()
    assert await asyncio.wait_for(held, 1.0) == Hangup()


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ("per: model", "needs `rps`"),
        ("rps: 0", "greater than or equal to 0.01"),
        ("rps: .inf", "finite"),
        ("rps: 2000000", "less than or equal to 1000000"),
        ("concurrency: 1000000000001", "less than or equal to 1000000000000"),
        ("rps: 5, queue_delay: 2h", "a duration here is at most 1h"),
        ("rps: 5, hysteresis: 1", "less than 1"),
        ("rps: 5, kind: nope", "unknown error kind"),
        ("rps: 5, window: 0s", "greater than 0"),
    ],
)
def test_bad_attributes_are_named(attrs: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        fault_of(attrs)


def test_describe_and_reply_json() -> None:
    fault, _ = fault_of("rps: 3")
    body = json.loads(fault.shed_reply(RequestInfo("openai", "chat", "gpt-4o", False)).body)
    assert body["error"]["code"] == "server_is_overloaded"
