"""Outages that answer back, end to end: the real proxy in front of the simulator, the official
openai SDK as the clients.

- `first: 2` against openai-python: with its default two retries every call succeeds on its third
  attempt; with one retry every call fails; brownout's client metrics count exactly that.
- A surge with metastable overload: the same surge (a short phase cutting the capacity to a
  tenth) meets two populations of clients, each on its own pool (`per: model`). Clients that retry
  at once keep the provider overloaded after the phase ends, for as long as they run; clients with
  the SDK's exponential backoff and jitter let it recover within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

import httpx
import openai

from brownout.cli.runner import RunningProxy
from brownout.scenario.compile import parse_scenario
from conftest import StartProxy

WINDOW = "2s"  # the retry window: a failure nobody retried ends its logical request this soon
CALLS = 4

FIRST_2 = """\
name: fails-twice
rules:
  - name: twice
    first: 2
    fault: {type: error, kind: overloaded}
"""


def sample(proxy: RunningProxy, name: str, **labels: str) -> float:
    return proxy.state.metrics.registry.get_sample_value(name, labels) or 0.0


async def settled(proxy: RunningProxy, name: str, labels: dict[str, str], want: float, within: float = 8.0) -> float:
    """The metric once it reaches `want`, or as it stands after `within` seconds (the observer
    ends a logical request that failed only when its retry window has run out)."""
    deadline = time.monotonic() + within
    while sample(proxy, name, **labels) != want and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return sample(proxy, name, **labels)


async def calls(proxy: RunningProxy, max_retries: int, same: bool = False) -> list[int | BaseException]:
    """`CALLS` calls at once, each its own conversation (or, `same`, all one request's twins); the
    retries each took, or what it raised."""
    async with openai.AsyncOpenAI(
        base_url=f"{proxy.url}/openai/v1", api_key="sk-first", max_retries=max_retries
    ) as client:

        async def one(index: int) -> int:
            raw = await client.chat.completions.with_raw_response.create(
                model="gpt-4o", messages=[{"role": "user", "content": "twin" if same else f"call {index}"}]
            )
            return raw.retries_taken

        return await asyncio.gather(*(one(i) for i in range(CALLS)), return_exceptions=True)


async def test_first_2_against_openai_python_retries(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(FIRST_2, extra_options={"brownout_retry_window": WINDOW})
    client = {"provider": "openai", "client": "openai-python"}

    # Default retries (2): every call fails twice with 503 server_is_overloaded, then succeeds.
    assert await calls(proxy, max_retries=2) == [2] * CALLS
    success = {**client, "outcome": "success"}
    assert await settled(proxy, "brownout_client_attempts_count", success, CALLS) == CALLS
    assert sample(proxy, "brownout_client_attempts_sum", **success) == 3 * CALLS
    retries = {**client, "after": "503", "layer": "sdk"}
    assert sample(proxy, "brownout_client_retries_total", **retries) == 2 * CALLS
    assert sample(proxy, "brownout_requests_total", provider="openai", endpoint="chat", model="gpt-4o", code="503") == (
        2 * CALLS
    )
    assert sample(proxy, "brownout_requests_total", provider="openai", endpoint="chat", model="gpt-4o", code="200") == (
        CALLS
    )

    # One retry: both attempts of every call fail, and the SDK raises the overload error.
    outcomes = await calls(proxy, max_retries=1)
    assert all(isinstance(outcome, openai.InternalServerError) for outcome in outcomes), outcomes
    assert {outcome.status_code for outcome in outcomes} == {503}  # type: ignore[union-attr]
    failure = {**client, "outcome": "failure"}
    assert await settled(proxy, "brownout_client_attempts_count", failure, CALLS) == CALLS
    assert sample(proxy, "brownout_client_attempts_sum", **failure) == 2 * CALLS
    assert sample(proxy, "brownout_client_retries_total", **retries) == 3 * CALLS  # one more per call
    assert sample(proxy, "brownout_client_gave_up_total", **client) == CALLS
    assert sample(proxy, "brownout_client_attempts_count", **success) == CALLS  # none of these succeeded
    fired = {"scenario": "fails-twice", "rule": "twice", "fault": "error", "provider": "openai"}
    assert sample(proxy, "brownout_faults_injected_total", **fired) == 4 * CALLS


async def test_first_2_holds_for_identical_calls_under_way_together(start_proxy: StartProxy) -> None:
    """One prompt sent by several tasks at once: each call is a logical request of its own."""
    proxy = await start_proxy(FIRST_2, extra_options={"brownout_retry_window": WINDOW})
    assert await calls(proxy, max_retries=2, same=True) == [2] * CALLS


# -- the surge

CAPACITY = 20.0  # requests per second per pool
RATE = 5.0  # new calls per second per population
STEADY, SURGE, AFTER = 3.0, 4.0, 12.0  # seconds: before the surge, the surge, clients running after it
AT_ONCE, BACKOFF = "surge-at-once", "surge-backoff"  # the models, one pool each
MOST_ATTEMPTS = 20  # the retry-at-once app's loop

SURGE_SCENARIO = f"""\
name: surge
seed: 14
rules:
  - name: capacity
    fault: {{type: overload, rps: {CAPACITY:g}, per: model, hysteresis: 0.5, queue_delay: 200ms, max_queue_delay: 1s}}
timeline:
  phases:
    - {{name: steady, duration: {STEADY:g}s}}
    - {{name: surge, duration: {SURGE:g}s, capacity: {{capacity: 0.1}}}}
    - {{name: after}}
"""


@dataclass
class Population:
    model: str
    attempts: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, status)
    calls: int = 0
    failed_calls: int = 0

    def shed_after(self, moment: float) -> list[float]:
        return [at for at, status in self.attempts if status == 503 and at >= moment]


async def run_population(
    proxy: RunningProxy, population: Population, start: float, stop: float, call: Callable[..., Awaitable[None]]
) -> None:
    """A new call every 1/RATE s from `start` until `stop` (seconds on the test's clock), each its
    own task and conversation; at `stop` the app shuts down, abandoning calls under way."""

    def record(response: httpx.Response) -> None:
        population.attempts.append((time.monotonic() - start, response.status_code))

    async def on_response(response: httpx.Response) -> None:
        record(response)

    http = openai.DefaultAsyncHttpxClient(event_hooks={"response": [on_response]})
    retries = 0 if population.model == AT_ONCE else openai.DEFAULT_MAX_RETRIES
    async with openai.AsyncOpenAI(
        base_url=f"{proxy.url}/openai/v1", api_key=f"sk-{population.model}", max_retries=retries, http_client=http
    ) as client:
        tasks: list[asyncio.Task[None]] = []
        for index in itertools.count():
            due = start + index / RATE
            if due >= stop:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            population.calls += 1
            tasks.append(asyncio.create_task(call(client, population, f"{population.model} call {index}")))
        await asyncio.sleep(max(0.0, stop - time.monotonic()))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def retry_at_once(client: openai.AsyncOpenAI, population: Population, prompt: str) -> None:
    """An app that retries the SDK's call (its retries off) the moment it fails."""
    for _ in range(MOST_ATTEMPTS):
        try:
            await client.chat.completions.create(model=AT_ONCE, messages=[{"role": "user", "content": prompt}])
            return
        except openai.APIStatusError:
            continue
    population.failed_calls += 1


async def sdk_backoff(client: openai.AsyncOpenAI, population: Population, prompt: str) -> None:
    """The SDK's defaults: two retries, exponential backoff from 0.5 s with jitter."""
    try:
        await client.chat.completions.create(model=BACKOFF, messages=[{"role": "user", "content": prompt}])
    except openai.APIStatusError:
        population.failed_calls += 1


async def watch_degraded(proxy: RunningProxy, start: float, seen: dict[str, list[float]], until: float) -> None:
    """brownout's own view: when each pool was degraded (its gauge), every 50 ms."""
    while time.monotonic() < start + until:
        for model in (AT_ONCE, BACKOFF):
            labels = {"scenario": "surge", "rule": "capacity", "pool": f"openai/{model}"}
            if sample(proxy, "brownout_overload_degraded", **labels) == 1.0:
                seen[model].append(time.monotonic() - start)
        await asyncio.sleep(0.05)


async def test_a_surge_is_kept_up_by_clients_that_retry_at_once_and_let_go_by_clients_that_back_off(
    start_proxy: StartProxy,
) -> None:
    proxy = await start_proxy()
    proxy.state.engine.load(parse_scenario(SURGE_SCENARIO, "surge.yaml"))
    at_once, backoff = Population(AT_ONCE), Population(BACKOFF)
    stop = STEADY + SURGE + AFTER
    surge_end = STEADY + SURGE
    degraded: dict[str, list[float]] = {AT_ONCE: [], BACKOFF: []}
    start = time.monotonic()
    proxy.state.activate("surge")
    await asyncio.gather(
        run_population(proxy, at_once, start, start + stop, retry_at_once),
        run_population(proxy, backoff, start, start + stop, sdk_backoff),
        watch_degraded(proxy, start, degraded, stop + 1.5),
    )
    with contextlib.suppress(KeyError):
        proxy.state.deactivate("surge")

    def recovery(population: Population) -> float:
        """Seconds from the surge's end to the last overload error the population got."""
        shed = population.shed_after(surge_end)
        return max(shed) - surge_end if shed else 0.0

    def degraded_for(model: str) -> float:
        after = [at for at in degraded[model] if at >= surge_end]
        return max(after) - surge_end if after else 0.0

    at_once_recovery, backoff_recovery = recovery(at_once), recovery(backoff)
    figures = (
        f"recovery after the surge: retry at once {at_once_recovery:.1f} s (degraded {degraded_for(AT_ONCE):.1f} s), "
        f"backoff {backoff_recovery:.1f} s (degraded {degraded_for(BACKOFF):.1f} s); attempts {len(at_once.attempts)} "
        f"vs {len(backoff.attempts)} for {at_once.calls} and {backoff.calls} calls"
    )
    print(figures)
    # Both fell over in the surge.
    assert at_once.shed_after(STEADY) and backoff.shed_after(STEADY), figures
    assert not [at for at, status in at_once.attempts + backoff.attempts if status == 503 and at < STEADY], figures
    # The clients that back off let it recover within seconds, and it stayed up while they ran on.
    assert backoff_recovery < 6.0, figures
    assert degraded_for(BACKOFF) < 6.5, figures
    # The clients that retry at once kept it overloaded for as long as they ran after the surge.
    assert at_once_recovery > AFTER - 2.0, figures
    assert degraded_for(AT_ONCE) > AFTER - 1.0, figures
    assert at_once_recovery - backoff_recovery > 5.0, figures
    # Once they stopped, it recovered too: the capacity was back all along.
    assert degraded_for(AT_ONCE) < AFTER + 1.5, figures
