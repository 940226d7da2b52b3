"""Every built-in scenario, exercised with the official SDKs: its faults reach a real client.

Each scenario is applied to the SDK's requests alone with the `x-brownout-scenario` header (a
timeline's rules all apply then, whatever its phase), and the SDKs call through the proxy until
one of the scenario's faults has fired. Clients are impatient (0.5 s timeout, no retries), so a
hang or a slow stream shows as the SDK's timeout instead of a wait.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Awaitable
from collections.abc import Callable

import anthropic
import openai
import pytest
from google import genai
from google.genai import types as genai_types

from brownout.cli.runner import RunningProxy
from brownout.scenario.compile import load_scenario
from brownout.scenario.library import library_files
from conftest import StartProxy

HEADER = "x-brownout-scenario"
MESSAGES = [{"role": "user", "content": "Library check."}]
LIBRARY = sorted(path.stem for path in library_files())
MOST_CALLS = 60

Call = Callable[[RunningProxy, str], Awaitable[object]]


async def openai_chat(proxy: RunningProxy, name: str) -> object:
    async with openai.AsyncOpenAI(
        base_url=f"{proxy.url}/openai/v1", api_key="sk-lib", max_retries=0, timeout=0.5, default_headers={HEADER: name}
    ) as client:
        return await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]


async def openai_stream(proxy: RunningProxy, name: str) -> object:
    async with openai.AsyncOpenAI(
        base_url=f"{proxy.url}/openai/v1", api_key="sk-lib", max_retries=0, timeout=0.5, default_headers={HEADER: name}
    ) as client:
        stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        return [chunk async for chunk in stream]


async def anthropic_messages(proxy: RunningProxy, name: str, stream: bool = False) -> object:
    async with anthropic.AsyncAnthropic(
        base_url=f"{proxy.url}/anthropic",
        api_key="sk-ant-lib",
        max_retries=0,
        timeout=0.5,
        default_headers={HEADER: name},
    ) as client:
        if not stream:
            return await client.messages.create(model="claude-sonnet-4-6", max_tokens=30, messages=MESSAGES)  # type: ignore[arg-type]
        async with client.messages.stream(model="claude-sonnet-4-6", max_tokens=30, messages=MESSAGES) as events:  # type: ignore[arg-type]
            return [event async for event in events]


async def gemini_generate(proxy: RunningProxy, name: str) -> object:
    client = genai.Client(
        api_key="lib",
        http_options=genai_types.HttpOptions(base_url=f"{proxy.url}/gemini", timeout=500, headers={HEADER: name}),
    )
    try:
        return await client.aio.models.generate_content(model="gemini-2.5-flash", contents="Library check.")
    finally:
        await client.aio.aclose()


CALLS: list[Call] = [
    openai_chat,
    openai_stream,
    anthropic_messages,
    lambda proxy, name: anthropic_messages(proxy, name, stream=True),
    gemini_generate,
]


def fired(proxy: RunningProxy, scenario: str) -> float:
    return sum(
        sample.value
        for family in proxy.state.metrics.faults.collect()
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels["scenario"] == scenario
    )


def test_every_scenario_says_what_it_reproduces() -> None:
    for path in library_files():
        scenario = load_scenario(path)
        assert scenario.description and len(scenario.reproduces) > 40, path.name


@pytest.mark.parametrize("name", LIBRARY)
async def test_the_scenario_reaches_the_sdks(name: str, start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    assert name in proxy.state.engine.scenarios  # the built-in library loads, switched off
    for call in itertools.islice(itertools.cycle(CALLS), MOST_CALLS):
        # What the SDK raises is the fault's business (other tests check each); here it must fire.
        with contextlib.suppress(Exception):
            await call(proxy, name)
        if fired(proxy, name):
            break
    assert fired(proxy, name) >= 1, f"no fault of {name} fired in {MOST_CALLS} SDK calls"
