"""The truth matrix: client shapes whose true behaviour each case controls or knows, and the figures
brownout's exporter reports for them, asserted exactly.

Every case runs real clients (the official Python and Node SDKs, the Vercel AI SDK, tenacity, plain
httpx) through an in-process brownout in front of the simulator, under one scenario, and waits
until every logical request has ended (a short retry window). `TRUTH` is the table the README's
"How brownout reads your client" section shows; a test keeps the two in step.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
import tenacity
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from brownout.cli.runner import RunningProxy
from conftest import StartProxy
from required_tools import need_tool
from silent_upstream import SilentUpstream

NODE_CLIENTS = Path(__file__).resolve().parents[1] / "clients" / "node"
MESSAGES = [{"role": "user", "content": "What is a brownout?"}]
WINDOW = 2.0  # the retry window: a failure nobody retried within it ends its logical request

Labels = dict[str, str]


@dataclass(frozen=True)
class Case:
    name: str
    truth: str  # what the client really does, in words (the README's table)
    scenario: str  # the rules (YAML) the proxy runs
    expect: dict[tuple[str, tuple[tuple[str, str], ...]], float]  # (metric, labels) -> exact value
    window: float = WINDOW
    reports: str = ""  # what brownout reports, in words (the README's table)
    # (metric, labels) -> (lowest, highest): a wall-clock figure, with room above for a loaded machine
    within: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, float]] = field(default_factory=dict)
    silent_upstream: bool = False  # OpenAI's upstream accepts and never answers (else: the simulator)
    options: dict[str, str] = field(default_factory=dict)  # more proxy options


def m(name: str, value: float, **labels: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], float]:
    return (name, tuple(sorted(labels.items()))), value


def rule(fault: str, provider: str = "openai") -> str:
    return f"rules:\n  - match: {{provider: {provider}}}\n    fault: {fault}\n"


def once(fault: str) -> str:
    """A rule on OpenAI that fires once in all: the request after it is answered whole."""
    return f"rules:\n  - match: {{provider: openai}}\n    times: 1\n    fault: {fault}\n"


OPENAI_PY = {"provider": "openai", "client": "openai-python"}
RETRIES = "brownout_client_retries_total"
VIOLATIONS = "brownout_client_retry_after_violations_total"
NO_BACKOFF = "brownout_client_retries_without_backoff_total"
ATTEMPTS_SUM = "brownout_client_attempts_sum"
ATTEMPTS_COUNT = "brownout_client_attempts_count"
BROKEN = "brownout_client_broken_streams_total"
HANGS = "brownout_client_hangs_total"
HANG_WAIT = "brownout_client_hang_wait_seconds_sum"
ABANDONED = "brownout_client_abandoned_total"
GAVE_UP = "brownout_client_gave_up_total"
REQUESTS = "brownout_requests_total"
INFLIGHT = "brownout_inflight_requests"
UPSTREAM_ERRORS = "brownout_upstream_errors_total"
CHAT_4O = {"provider": "openai", "endpoint": "chat", "model": "gpt-4o"}
NONRETRYABLE = "brownout_client_nonretryable_retries_total"
BAD_ANSWERS = "brownout_client_bad_answers_total"


# -- the clients, one function per shape: each makes its calls against `url` (the proxy)


async def openai_sdk(url: str) -> None:
    async with openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth") as client:
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]


async def anthropic_sdk(url: str) -> None:
    async with anthropic.AsyncAnthropic(base_url=f"{url}/anthropic", api_key="sk-ant-truth") as client:
        with pytest.raises(anthropic.APIStatusError):
            await client.messages.create(model="claude-sonnet-4-6", max_tokens=20, messages=MESSAGES)  # type: ignore[arg-type]


async def anthropic_spend_limit(url: str) -> None:
    async with anthropic.AsyncAnthropic(base_url=f"{url}/anthropic", api_key="sk-ant-truth") as client:
        # The SDK picks the class from `details.error_code`, and retries it anyway: it is a 429.
        with pytest.raises(anthropic.EnforcedSpendLimitReachedError):
            await client.messages.create(model="claude-sonnet-4-6", max_tokens=20, messages=MESSAGES)  # type: ignore[arg-type]


async def genai_sdk(url: str) -> None:
    # jitter=0 would read as unset (the SDK does `options.jitter or 1.0`): a small one keeps the waits known.
    retry = genai_types.HttpRetryOptions(attempts=3, initial_delay=0.5, exp_base=2, jitter=0.05)
    client = genai.Client(
        api_key="truth", http_options=genai_types.HttpOptions(base_url=f"{url}/gemini", retry_options=retry)
    )
    with pytest.raises(genai_errors.ServerError):
        await client.aio.models.generate_content(model="gemini-2.5-flash", contents="What is a brownout?")
    await client.aio.aclose()


async def node(shape: str, url: str) -> None:
    if not (NODE_CLIENTS / "node_modules").is_dir():
        pytest.skip(f"the Node clients are not installed: cd {NODE_CLIENTS} && npm ci --ignore-scripts")
    process = await asyncio.create_subprocess_exec(
        need_tool("node", "the truth matrix drives the official Node SDKs"),
        "truth.mjs",
        shape,
        url,
        cwd=NODE_CLIENTS,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode(errors="replace")
    assert json.loads(out)["outcome"] != "ok", out  # the fault reached the SDK as an error


async def app_loop(url: str) -> None:
    """An app retrying the SDK (retries off) itself: 4 attempts, 0.2 s apart, Retry-After unread."""
    async with openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth", max_retries=0) as client:
        for attempt in range(4):
            try:
                await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
            except openai.RateLimitError:
                if attempt < 3:
                    await asyncio.sleep(0.2)


async def tenacity_loop(url: str) -> None:
    """tenacity around the SDK (retries off): 3 attempts, exponential waits 0.2 s then 0.4 s."""
    async with openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth", max_retries=0) as client:
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(3), wait=tenacity.wait_exponential(multiplier=0.2), reraise=True
        )
        with pytest.raises(openai.InternalServerError):
            async for attempt in retrying:
                with attempt:
                    await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]


async def sdk_and_app(url: str) -> None:
    """The SDK retries once, and the app calls the SDK a second time when the first call fails."""
    async with openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth", max_retries=1) as client:
        for _ in range(2):
            try:
                await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
            except openai.InternalServerError:
                await asyncio.sleep(0.3)


async def gateway(url: str) -> None:
    """A gateway: the SDK retries twice, then the gateway re-sends twice through fresh SDK calls
    (retries off) 20-40 ms after each failure, byte-identical."""
    async with (
        openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth", max_retries=2) as sdk,
        openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth", max_retries=0) as resend,
    ):
        with pytest.raises(openai.InternalServerError):
            await sdk.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
        for pause in (0.02, 0.04):
            await asyncio.sleep(pause)
            with pytest.raises(openai.InternalServerError):
                await resend.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]


async def two_keys(url: str) -> None:
    """Two apps with their own API keys send the same body at once; each SDK retries once."""

    async def one(key: str) -> None:
        async with openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key=key, max_retries=1) as client:
            with pytest.raises(openai.InternalServerError):
                await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]

    await asyncio.gather(one("sk-first"), one("sk-second"))


async def again_after_success(url: str) -> None:
    """The same request twice in a row, both answered."""
    async with openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth") as client:
        for _ in range(2):
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]


async def _stream(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    async for _ in stream:
        pass


async def stream_reissued(url: str) -> None:
    """A streaming app that asks again once when its stream breaks."""
    async with openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth", max_retries=0) as client:
        for _ in range(2):
            try:
                await _stream(client)
                return
            except openai.APIConnectionError:
                await asyncio.sleep(0.2)


async def stream_taken(url: str) -> None:
    """A streaming app that shows what it got when the stream breaks, and moves on."""
    async with openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth", max_retries=0) as client:
        with pytest.raises(openai.APIConnectionError):
            await _stream(client)


async def stream_truncated(url: str) -> None:
    """A streaming app that keeps reading until the stream ends; it ends early but cleanly, so the SDK
    raises nothing and the app takes the truncated answer as whole."""
    async with openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth", max_retries=0) as client:
        stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        finish = [choice.finish_reason async for chunk in stream for choice in chunk.choices]
    assert not any(finish)  # no finish reason ever came


async def no_read_timeout(url: str) -> None:
    """The SDK's default 600 s timeout against a 2 s hang: it waits the hang out."""
    async with openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth", max_retries=0) as client:
        with pytest.raises(openai.APIConnectionError):
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]


async def one_second_timeout(url: str) -> None:
    """A 1 s timeout against a hang that lasts until the client gives up."""
    async with openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth", max_retries=0, timeout=1.0) as c:
        with pytest.raises(openai.APITimeoutError):
            await c.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]


async def gives_up_during_a_hold(url: str) -> None:
    """A 0.5 s timeout against a 30 s latency hold: the SDK gives up long before the hold ends."""
    async with openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth", max_retries=0, timeout=0.5) as c:
        with pytest.raises(openai.APITimeoutError):
            await c.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]


async def retries_a_silent_upstream(url: str) -> None:
    """SDK retries 1 against an upstream that never answers: brownout's 504 at its first-byte limit, twice."""
    async with openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth", max_retries=1, timeout=30) as c:
        with pytest.raises(openai.InternalServerError):
            await c.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]


async def httpx_hammer(url: str) -> None:
    """A plain HTTP loop that retries at once, three times in all, ignoring Retry-After."""
    body = {"model": "gpt-4o", "messages": MESSAGES}
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(3):
            response = await client.post(
                f"{url}/openai/v1/chat/completions", json=body, headers={"authorization": "Bearer sk-x"}
            )
            assert response.status_code == 429


async def reasks_an_empty_answer(url: str) -> None:
    """An app that checks the answer has text and asks once more when it has none."""
    async with openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth", max_retries=0) as client:
        for _ in range(2):
            answer = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
            if answer.choices[0].message.content:
                return
    raise AssertionError("asked twice, no text either time")


async def takes_an_empty_answer(url: str) -> None:
    """An app that shows whatever the model said, even nothing, and moves on."""
    async with openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth", max_retries=0) as client:
        answer = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == ""  # the fault reached the app, which carried on


async def reasks_a_cut_stream(url: str) -> None:
    """A streaming app that reads the finish reason and asks again when the answer stopped at the length limit."""
    async with openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth", max_retries=0) as client:
        finishes = []
        for _ in range(2):
            stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
            finish = [
                choice.finish_reason async for chunk in stream for choice in chunk.choices if choice.finish_reason
            ]
            finishes.append(finish[-1])
            if finish[-1] != "length":
                break
    assert finishes == ["length", "stop"]


async def same_question_after_a_usage_spike(url: str) -> None:
    """The same question twice; the first answer's usage is ten times too high, the text whole."""
    async with openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth", max_retries=0) as client:
        usage = []
        for _ in range(2):
            answer = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
            assert answer.choices[0].message.content and answer.usage
            usage.append(answer.usage.completion_tokens)
    assert usage[0] == 10 * usage[1]


def _chat_client(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/openai/v1", api_key="sk-truth", max_retries=0)


async def instructor_style_reask(url: str) -> None:
    """An instructor-style app: it validates the JSON it asked for and, when it does not parse,
    re-asks with the bad answer and the validation error appended to the conversation."""
    messages: list[dict[str, str]] = [{"role": "user", "content": "Describe Paris as a JSON object."}]
    async with _chat_client(url) as client:
        for _ in range(2):
            answer = await client.chat.completions.create(
                model="gpt-4o",
                messages=messages,  # type: ignore[arg-type]
                response_format={"type": "json_object"},
            )
            content = answer.choices[0].message.content or ""
            try:
                json.loads(content)
                return
            except ValueError as exc:
                messages += [
                    {"role": "assistant", "content": content},
                    {"role": "user", "content": f"Validation error: {exc}. Answer again with valid JSON only."},
                ]
    raise AssertionError("asked twice, no JSON either time")


async def raises_max_tokens(url: str) -> None:
    """An app that reads finish_reason and, after a length stop, asks the same again with a higher max_tokens."""
    async with _chat_client(url) as client:
        first = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=50)  # type: ignore[arg-type]
        assert first.choices[0].finish_reason == "length"
        second = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=1000)  # type: ignore[arg-type]
        assert second.choices[0].finish_reason == "stop"


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


async def sends_the_tool_error_back(url: str) -> None:
    """A tool loop that, when a call's arguments do not parse, sends the error back as the tool's
    result in the same conversation and lets the model try again."""
    messages: list[dict[str, object]] = [{"role": "user", "content": "What is the weather in Paris?"}]
    async with _chat_client(url) as client:
        for _ in range(2):
            answer = await client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
            message = answer.choices[0].message
            if not message.tool_calls:
                return
            messages.append(message.model_dump(exclude_none=True))
            try:
                [json.loads(call.function.arguments) for call in message.tool_calls]  # type: ignore[union-attr]
                return  # a call it can run: the loop would go on from here
            except ValueError as exc:
                for call in message.tool_calls:
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": f"error: {exc}"})
    raise AssertionError("the bad call came twice")


async def new_question_after_an_empty_answer(url: str) -> None:
    """An app that takes an empty answer and goes on to its next, unrelated question."""
    async with _chat_client(url) as client:
        first = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
        assert first.choices[0].message.content == ""
        other = [{"role": "user", "content": "And what is a blackout?"}]
        second = await client.chat.completions.create(model="gpt-4o", messages=other)  # type: ignore[arg-type]
        assert second.choices[0].message.content


CLIENTS: dict[str, Callable[[str], Awaitable[None]]] = {
    "openai-python": openai_sdk,
    "anthropic-python": anthropic_sdk,
    "anthropic-python, spend limit": anthropic_spend_limit,
    "google-genai-python": genai_sdk,
    "openai-node": lambda url: node("openai-node", url),
    "anthropic-node": lambda url: node("anthropic-node", url),
    "vercel-ai": lambda url: node("vercel-ai", url),
    "app loop around the SDK": app_loop,
    "tenacity around the SDK": tenacity_loop,
    "SDK retries, then the app": sdk_and_app,
    "gateway re-send": gateway,
    "two API keys at once": two_keys,
    "the same request after a success": again_after_success,
    "stream re-issued after a cut": stream_reissued,
    "stream taken after a cut": stream_taken,
    "stream ended early, cleanly": stream_truncated,
    "no read timeout against a hang": no_read_timeout,
    "1 s timeout against a hang": one_second_timeout,
    "httpx loop ignoring Retry-After": httpx_hammer,
    "gives up during a latency hold": gives_up_during_a_hold,
    "SDK retry against a silent upstream": retries_a_silent_upstream,
    "app re-asks after an empty answer": reasks_an_empty_answer,
    "app takes an empty answer": takes_an_empty_answer,
    "stream re-asked after a length stop": reasks_a_cut_stream,
    "the same question after a usage spike": same_question_after_a_usage_spike,
    "instructor-style re-ask after bad JSON": instructor_style_reask,
    "max_tokens raised after a length stop": raises_max_tokens,
    "tool error sent back after a bad tool call": sends_the_tool_error_back,
    "a new question after an empty answer": new_question_after_an_empty_answer,
}

RETRY_AFTER_MS = "{type: error, status: 429, retry_after_ms: 300}"
TRUTH = [
    Case(
        "openai-python",
        "SDK defaults: 2 retries, honouring retry-after-ms 300",
        rule(RETRY_AFTER_MS),
        dict(
            [
                m(RETRIES, 2, after="429", layer="sdk", **OPENAI_PY),
                m(VIOLATIONS, 0, **OPENAI_PY),
                m(NO_BACKOFF, 0, **OPENAI_PY),
                m(ATTEMPTS_SUM, 3, outcome="failure", **OPENAI_PY),
                m(GAVE_UP, 1, **OPENAI_PY),
            ]
        ),
        reports="2 retries (sdk), 0 violations, 3 attempts, given up under the fault",
    ),
    Case(
        "anthropic-python",
        "SDK defaults: 2 retries after 529, exponential backoff",
        rule("{type: error, status: 529}", "anthropic"),
        dict(
            [
                m(RETRIES, 2, provider="anthropic", client="anthropic-python", after="529", layer="sdk"),
                m(NO_BACKOFF, 0, provider="anthropic", client="anthropic-python"),
                m(ATTEMPTS_SUM, 3, provider="anthropic", client="anthropic-python", outcome="failure"),
            ]
        ),
        reports="2 retries (sdk), backed off",
    ),
    Case(
        "anthropic-python, spend limit",
        "SDK defaults: 2 retries of a 429 whose details.error_code is enforced_spend_limit_reached",
        rule("{type: error, kind: enforced_spend_limit_reached}", "anthropic"),
        dict(
            [
                m(RETRIES, 2, provider="anthropic", client="anthropic-python", after="429", layer="sdk"),
                m(NONRETRYABLE, 2, provider="anthropic", client="anthropic-python"),
            ]
        ),
        reports="2 retries (sdk), both of an answer that must not be retried",
    ),
    Case(
        "google-genai-python",
        "retries on: 3 attempts, waits 0.5 s then 1 s (jitter 0.05 s), unnumbered",
        rule("{type: error, status: 503}", "gemini"),
        dict(
            [
                m(RETRIES, 2, provider="gemini", client="google-genai-python", after="503", layer="unknown"),
                m(NO_BACKOFF, 0, provider="gemini", client="google-genai-python"),
                m(ATTEMPTS_SUM, 3, provider="gemini", client="google-genai-python", outcome="failure"),
            ]
        ),
        reports="2 retries (layer unknown: no numbering), backed off",
    ),
    Case(
        "openai-node",
        "SDK defaults: 2 retries, honouring retry-after-ms 300",
        rule(RETRY_AFTER_MS),
        dict(
            [
                m(RETRIES, 2, provider="openai", client="openai-node", after="429", layer="sdk"),
                m(VIOLATIONS, 0, provider="openai", client="openai-node"),
                m(ATTEMPTS_SUM, 3, provider="openai", client="openai-node", outcome="failure"),
            ]
        ),
        reports="2 retries (sdk), 0 violations",
    ),
    Case(
        "anthropic-node",
        "SDK defaults: 2 retries after 529",
        rule("{type: error, status: 529}", "anthropic"),
        dict(
            [
                m(RETRIES, 2, provider="anthropic", client="anthropic-node", after="529", layer="sdk"),
                m(ATTEMPTS_SUM, 3, provider="anthropic", client="anthropic-node", outcome="failure"),
            ]
        ),
        reports="2 retries (sdk)",
    ),
    Case(
        "vercel-ai",
        "generateText with maxRetries 1 (it waits 2 s), unnumbered",
        rule("{type: error, status: 503}"),
        dict(
            [
                m(RETRIES, 1, provider="openai", client="vercel-ai", after="503", layer="unknown"),
                m(NO_BACKOFF, 0, provider="openai", client="vercel-ai"),
                m(ATTEMPTS_SUM, 2, provider="openai", client="vercel-ai", outcome="failure"),
            ]
        ),
        window=4.0,
        reports="1 retry (layer unknown), backed off",
    ),
    Case(
        "app loop around the SDK",
        "SDK retries off; the app tries 4 times 0.2 s apart against Retry-After 1 s",
        rule("{type: error, status: 429, retry_after: 1s}"),
        dict(
            [
                m(RETRIES, 3, after="429", layer="app", **OPENAI_PY),
                m(VIOLATIONS, 3, **OPENAI_PY),
                m(NO_BACKOFF, 2, **OPENAI_PY),
                m(ATTEMPTS_SUM, 4, outcome="failure", **OPENAI_PY),
            ]
        ),
        reports="3 retries (app), 3 violations, 2 without backoff",
    ),
    Case(
        "tenacity around the SDK",
        "SDK retries off; tenacity: 3 attempts, waits 0.2 s then 0.4 s",
        rule("{type: error, status: 500}"),
        dict(
            [
                m(RETRIES, 2, after="500", layer="app", **OPENAI_PY),
                m(NO_BACKOFF, 0, **OPENAI_PY),
                m(ATTEMPTS_SUM, 3, outcome="failure", **OPENAI_PY),
            ]
        ),
        reports="2 retries (app), backed off",
    ),
    Case(
        "SDK retries, then the app",
        "the SDK retries once per call; the app calls twice: 4 attempts",
        rule("{type: error, status: 500}"),
        dict(
            [
                m(RETRIES, 2, after="500", layer="sdk", **OPENAI_PY),
                m(RETRIES, 1, after="500", layer="app", **OPENAI_PY),
                m(ATTEMPTS_SUM, 4, outcome="failure", **OPENAI_PY),
                m(ATTEMPTS_COUNT, 1, outcome="failure", **OPENAI_PY),
            ]
        ),
        reports="3 retries: 2 sdk, 1 app; one logical request of 4 attempts",
    ),
    Case(
        "gateway re-send",
        "the SDK retries twice, then the gateway re-sends twice 20-40 ms later: 5 attempts",
        rule("{type: error, status: 500}"),
        dict(
            [
                m(RETRIES, 2, after="500", layer="sdk", **OPENAI_PY),
                m(RETRIES, 2, after="500", layer="app", **OPENAI_PY),
                m(NO_BACKOFF, 2, **OPENAI_PY),
                m(ATTEMPTS_SUM, 5, outcome="failure", **OPENAI_PY),
            ]
        ),
        reports="4 retries: 2 sdk, 2 app (both without backoff); 5 attempts",
    ),
    Case(
        "two API keys at once",
        "two apps, own keys, same body, same moment; each SDK retries once",
        rule("{type: error, status: 500}"),
        dict(
            [
                m(RETRIES, 2, after="500", layer="sdk", **OPENAI_PY),
                m(ATTEMPTS_SUM, 4, outcome="failure", **OPENAI_PY),
                m(ATTEMPTS_COUNT, 2, outcome="failure", **OPENAI_PY),
            ]
        ),
        reports="2 logical requests of 2 attempts each (not merged)",
    ),
    Case(
        "the same request after a success",
        "the same body twice in a row, both answered",
        "rules:\n  - match: {provider: anthropic}\n    fault: {type: error, status: 500}\n",
        dict(
            [
                m(ATTEMPTS_SUM, 2, outcome="success", **OPENAI_PY),
                m(ATTEMPTS_COUNT, 2, outcome="success", **OPENAI_PY),
            ]
        ),
        reports="2 logical requests, 0 retries",
    ),
    Case(
        "stream re-issued after a cut",
        "every stream is cut after 3 events; the app asks again once",
        rule("{type: stream_cut, after_events: 3}"),
        dict(
            [
                m(RETRIES, 1, after="stream_cut", layer="app", **OPENAI_PY),
                m(BROKEN, 1, broken="cut", reissued="true", **OPENAI_PY),
                m(BROKEN, 1, broken="cut", reissued="false", **OPENAI_PY),
            ]
        ),
        reports="1 retry after stream_cut; broken streams: 1 re-issued, then 1 taken",
    ),
    Case(
        "stream taken after a cut",
        "the stream is cut after 3 events; the app keeps what it got",
        rule("{type: stream_cut, after_events: 3}"),
        dict(
            [
                m(BROKEN, 1, broken="cut", reissued="false", **OPENAI_PY),
                m(ATTEMPTS_SUM, 1, outcome="failure", **OPENAI_PY),
            ]
        ),
        reports="1 broken stream taken, 0 retries",
    ),
    Case(
        "stream ended early, cleanly",
        "the stream ends after 3 events without a terminator or finish reason; the SDK raises nothing",
        rule("{type: stream_cut, after_events: 3, mode: end}"),
        dict(
            [m(BROKEN, 1, broken="cut", reissued="false", **OPENAI_PY), m(RETRIES, 0, after="stream_cut", **OPENAI_PY)]
        ),
        reports="1 broken stream taken as whole (the silent truncation), 0 retries",
    ),
    Case(
        "no read timeout against a hang",
        "the SDK's 600 s timeout against a 2 s hang",
        rule("{type: timeout, hang: 2s}"),
        dict([m(HANGS, 1, outcome="waited_out", **OPENAI_PY), m(ABANDONED, 0, endpoint="chat", **OPENAI_PY)]),
        within={m(HANG_WAIT, 0, outcome="waited_out", **OPENAI_PY)[0]: (1.9, 3.0)},
        reports="1 hang waited out, about 2 s",
    ),
    Case(
        "1 s timeout against a hang",
        "timeout=1.0 against a hang until the client gives up",
        rule("{type: timeout}"),
        dict([m(HANGS, 1, outcome="gave_up", **OPENAI_PY), m(ABANDONED, 1, endpoint="chat", **OPENAI_PY)]),
        within={m(HANG_WAIT, 0, outcome="gave_up", **OPENAI_PY)[0]: (0.9, 2.5)},
        reports="1 hang given up after about 1 s; 1 abandonment",
    ),
    Case(
        "httpx loop ignoring Retry-After",
        "a plain HTTP loop: 3 attempts at once against Retry-After 1 s",
        rule("{type: error, status: 429, retry_after: 1s}"),
        dict(
            [
                m(RETRIES, 2, provider="openai", client="generic", after="429", layer="app"),
                m(VIOLATIONS, 2, provider="openai", client="generic"),
                m(NO_BACKOFF, 2, provider="openai", client="generic"),
            ]
        ),
        reports="2 retries (app), 2 violations, 2 without backoff",
    ),
    Case(
        "gives up during a latency hold",
        "timeout=0.5 against a 30 s latency hold",
        rule("{type: latency, delay: 30s}"),
        dict(
            [
                m(ABANDONED, 1, endpoint="chat", **OPENAI_PY),
                m(REQUESTS, 1, code="abandoned", **CHAT_4O),
                m(REQUESTS, 0, code="error", **CHAT_4O),
                m(INFLIGHT, 0, provider="openai"),
            ]
        ),
        reports="1 abandonment; the request counted abandoned and out of flight when the client left",
    ),
    Case(
        "SDK retry against a silent upstream",
        "max_retries=1; the upstream accepts and never answers; brownout's first-byte limit 1 s",
        rule("{type: error, status: 500}", "anthropic"),  # no fault on OpenAI
        dict(
            [
                m(RETRIES, 1, after="504", layer="sdk", **OPENAI_PY),
                m(ATTEMPTS_SUM, 2, outcome="failure", **OPENAI_PY),
                m(REQUESTS, 2, code="504", **CHAT_4O),
                m(UPSTREAM_ERRORS, 2, provider="openai", cause="timeout"),
                m(ABANDONED, 0, endpoint="chat", **OPENAI_PY),
            ]
        ),
        silent_upstream=True,
        options={"brownout_first_byte_timeout": "1s"},
        reports="2 attempts answered with brownout's 504, 1 retry after 504, 0 abandonments",
    ),
    Case(
        "app re-asks after an empty answer",
        "SDK retries off; the first answer is a 200 with no text, and the app asks once more",
        once("{type: empty_answer}"),
        dict(
            [
                m(RETRIES, 1, after="empty_answer", layer="app", **OPENAI_PY),
                m(BAD_ANSWERS, 1, fault="empty_answer", next="reasked", **OPENAI_PY),
                m(NO_BACKOFF, 0, **OPENAI_PY),
                m(ATTEMPTS_SUM, 2, outcome="success", **OPENAI_PY),
                m(ATTEMPTS_COUNT, 1, outcome="success", **OPENAI_PY),
                m(GAVE_UP, 0, **OPENAI_PY),
            ]
        ),
        reports="1 bad answer re-asked: 1 retry (app) after empty_answer, not judged for backoff; "
        "one logical request of 2 attempts, answered",
    ),
    Case(
        "app takes an empty answer",
        "SDK retries off; the answer is a 200 with no text, and the app shows it and moves on",
        rule("{type: empty_answer}"),
        dict(
            [
                m(RETRIES, 0, after="empty_answer", layer="app", **OPENAI_PY),
                m(BAD_ANSWERS, 1, fault="empty_answer", next="carried_on", **OPENAI_PY),
                m(ATTEMPTS_SUM, 1, outcome="failure", **OPENAI_PY),
                m(GAVE_UP, 0, **OPENAI_PY),
            ]
        ),
        reports="1 bad answer carried on (taken, not given up); 0 retries",
    ),
    Case(
        "stream re-asked after a length stop",
        "the first stream stops after 3 tokens with finish_reason length; the app asks again",
        once("{type: truncate, tokens: 3}"),
        dict(
            [
                m(RETRIES, 1, after="truncate", layer="app", **OPENAI_PY),
                m(BAD_ANSWERS, 1, fault="truncate", next="reasked", **OPENAI_PY),
                m(ATTEMPTS_SUM, 2, outcome="success", **OPENAI_PY),
                m(BROKEN, 0, broken="cut", reissued="true", **OPENAI_PY),
            ]
        ),
        reports="1 bad answer re-asked: 1 retry (app) after truncate, answered; no broken stream (the stream "
        "itself was whole)",
    ),
    Case(
        "the same question after a usage spike",
        "the same body twice; the first answer's usage figures are ten times too high, its text whole",
        once("{type: usage_spike, factor: 10}"),
        dict(
            [
                m(RETRIES, 0, after="usage_spike", layer="app", **OPENAI_PY),
                m(ATTEMPTS_SUM, 2, outcome="success", **OPENAI_PY),
                m(ATTEMPTS_COUNT, 2, outcome="success", **OPENAI_PY),
            ]
        ),
        reports="2 logical requests, 0 retries (a usage spike spoils the bill, not the answer)",
    ),
    *(
        Case(
            name,
            truth,
            once(fault),
            dict(
                [
                    m(RETRIES, 1, after=after, layer="app", **OPENAI_PY),
                    m(BAD_ANSWERS, 1, fault=after, next="reasked", **OPENAI_PY),
                    m(BAD_ANSWERS, 0, fault=after, next="carried_on", **OPENAI_PY),
                    m(NO_BACKOFF, 0, **OPENAI_PY),
                    m(ATTEMPTS_SUM, 2, outcome="success", **OPENAI_PY),
                    m(ATTEMPTS_COUNT, 1, outcome="success", **OPENAI_PY),
                    m(GAVE_UP, 0, **OPENAI_PY),
                ]
            ),
            reports=f"1 bad answer re-asked though the body changed: 1 retry (app) after {after}; "
            "one logical request of 2 attempts, answered",
        )
        for name, truth, fault, after in [
            (
                "instructor-style re-ask after bad JSON",
                "the JSON asked for does not parse; the app appends the answer and the validation error and asks again",
                "{type: bad_structured_output, mode: not_json}",
                "bad_structured_output",
            ),
            (
                "max_tokens raised after a length stop",
                "finish_reason is length; the app asks the same messages again with a higher max_tokens",
                "{type: truncate, tokens: 3}",
                "truncate",
            ),
            (
                "tool error sent back after a bad tool call",
                "the call's arguments do not parse; the app sends the error back as the tool's result",
                "{type: bad_tool_call, mode: bad_json}",
                "bad_tool_call",
            ),
        ]
    ),
    Case(
        "a new question after an empty answer",
        "SDK retries off; the app takes the empty answer and asks an unrelated question next",
        once("{type: empty_answer}"),
        dict(
            [
                m(RETRIES, 0, after="empty_answer", layer="app", **OPENAI_PY),
                m(BAD_ANSWERS, 1, fault="empty_answer", next="carried_on", **OPENAI_PY),
                m(BAD_ANSWERS, 0, fault="empty_answer", next="reasked", **OPENAI_PY),
                m(ATTEMPTS_COUNT, 1, outcome="failure", **OPENAI_PY),
                m(ATTEMPTS_COUNT, 1, outcome="success", **OPENAI_PY),
                m(GAVE_UP, 0, **OPENAI_PY),
            ]
        ),
        reports="1 bad answer carried on; 0 retries (the new question is a new request)",
    ),
]


def _values(proxy: RunningProxy, case: Case) -> dict[tuple[str, tuple[tuple[str, str], ...]], float | None]:
    registry = proxy.state.metrics.registry
    keys = list(case.expect) + list(case.within)
    return {key: registry.get_sample_value(key[0], dict(key[1])) for key in keys}


def _settled(values: dict[tuple[str, tuple[tuple[str, str], ...]], float | None], case: Case) -> bool:
    exact = all((values[key] or 0.0) == value for key, value in case.expect.items())
    close = all(values[key] is not None and low <= values[key] <= high for key, (low, high) in case.within.items())  # type: ignore[operator]
    return exact and close


@pytest.mark.parametrize("case", TRUTH, ids=[case.name for case in TRUTH])
async def test_truth_matrix(case: Case, start_proxy: StartProxy) -> None:
    async with contextlib.AsyncExitStack() as stack:
        settings: dict[str, object] = {}
        if case.silent_upstream:
            silent = await stack.enter_async_context(SilentUpstream())
            settings["upstreams"] = [f"openai={silent.url}/openai"]
        options = {"brownout_retry_window": f"{case.window:g}s", **case.options}
        proxy = await start_proxy(case.scenario, extra_options=options, **settings)
        await CLIENTS[case.name](proxy.url)
        await _judged(proxy, case)


async def _judged(proxy: RunningProxy, case: Case) -> None:
    # Every logical request ends once its retry window has run out (the observer ticks each second).
    deadline = time.monotonic() + case.window + 4.0
    values = _values(proxy, case)
    while not _settled(values, case) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        values = _values(proxy, case)
    await asyncio.sleep(1.2)  # and nothing more arrives after that
    values = _values(proxy, case)
    wrong = {
        f"{name}{dict(labels)}": (values[(name, labels)], want)
        for (name, labels), want in case.expect.items()
        if (values[(name, labels)] or 0.0) != want
    }
    assert not wrong, f"{case.name}: (brownout, truth) = {wrong}"
    for key, (low, high) in case.within.items():
        got = values[key]
        assert got is not None and low <= got <= high, f"{case.name}: {key[0]} = {got}, truth {low}-{high}"


def test_the_matrix_has_every_shape_the_issue_asks_for() -> None:
    assert len(TRUTH) >= 14 and {case.name for case in TRUTH} == set(CLIENTS)
