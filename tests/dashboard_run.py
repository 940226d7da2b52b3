"""A scripted rehearsal that moves every panel of the dashboard, in about 15 seconds.

The simulator is the upstream; the official openai, anthropic and google-genai clients are the
apps, each configured the way one kind of production client is (an SDK that obeys Retry-After,
one that ignores a long one, a short timeout, a fallback to another provider). Which client meets
which fault is chosen by the model it asks for, so one scenario serves them all at once:

- storm (openai, 3 retries, 6 at once), `storm-*`: 429 with retry-after-ms 50. Retries, 429s, a
  retry storm.
- quota (openai, 2 retries), `quota-*`: 429 insufficient_quota. Retries of non-retryable errors.
- hang (openai, 0.5 s timeout), `hang-*`: a timeout fault that never answers. Abandonments,
  observed and declared timeouts.
- limited (openai, 1 retry), `limited-*`: a rate_limit bucket, 60 a minute, burst 2. 429s whose
  Retry-After the SDK obeys.
- fallback (openai without retries, then anthropic), `fallback-*`: 503 with x-should-retry false.
  Fallbacks and the time to fall back.
- impatient (google-genai, 3 attempts, 0.2 s backoff), `gemini-impatient`: 429 with a 5 s
  RetryInfo, which google-genai ignores. Retries before Retry-After elapsed.
- streams (openai, anthropic), `stream-cut`, `stream-slow`, `claude-stream-error`, `gpt-4o`:
  stream_cut after 3 events, stream_slow 300 ms to the first event, stream_error after 2, and a
  clean stream. The streams row.
- steady (openai, anthropic, gemini): 500, 529 and 503 on some calls, gemini 1.5 s slow. Attempts
  per request, backoff, latency, requests in flight, and recovery once the outage is off.
- unreachable (openai's Azure client, no retries): the proxy's upstream for `UNREACHABLE` is a
  port nobody listens on (the test sets it), so brownout answers with its own 502. Upstream
  errors, which are not faults.
- crowd (openai, no retries, 8 at once), `crowd-*`: an overload rule with a capacity of 4
  requests a second. Offered load over capacity, the degraded state, sheds, queueing delay.
- checker (openai, no retries), `bad-reask`: empty_answer on half the calls; the app reads the
  answer and, when it has no text, asks once more in the same conversation. Bad answers re-asked
  (and carried on when the second answer is empty too).
- taker (openai, no retries), `bad-carry`: truncate to 4 tokens; the app shows what came. Bad
  answers carried on, counted once the retry window runs out.

`dash-outage` (those rules) is switched on at the start and off while the steady apps still run,
which gives annotations and recovery times; `dash-timeline` loops two short phases.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import aiohttp
import anthropic
import openai
from google import genai
from google.genai import types as genai_types

OUTAGE = """\
name: dash-outage
description: Every kind of client trouble at once, chosen by the model the client asks for.
seed: 11
rules:
  - name: storm
    match: {provider: openai, model: "storm-*"}
    fault: {type: error, status: 429, retry_after_ms: 50}
  - name: quota
    match: {provider: openai, model: "quota-*"}
    fault: {type: error, kind: insufficient_quota}
  - name: hang
    match: {provider: openai, model: "hang-*"}
    fault: {type: timeout}
  - name: bucket
    match: {provider: openai, model: "limited-*"}
    fault: {type: rate_limit, rpm: 60, burst: 2}
  - name: down
    match: {provider: openai, model: "fallback-*"}
    fault: {type: error, status: 503, should_retry: false}
  - name: retry-info
    match: {provider: gemini, model: "gemini-impatient"}
    fault: {type: error, kind: rate_limit, retry_after: 5s}
  - name: crowded
    match: {provider: openai, model: "crowd-*"}
    fault: {type: overload, rps: 4, queue_delay: 100ms, max_queue_delay: 300ms}
  - name: cut
    match: {provider: openai, model: "stream-cut", stream: true}
    fault: {type: stream_cut, after_events: 3}
  - name: slow-start
    match: {provider: openai, model: "stream-slow", stream: true}
    fault: {type: stream_slow, first_event_delay: 300ms}
  - name: mid-stream-error
    match: {provider: anthropic, model: "claude-stream-error", stream: true}
    fault: {type: stream_error, after_events: 2}
  - name: empty
    match: {provider: openai, model: "bad-reask"}
    probability: 0.5
    fault: {type: empty_answer}
  - name: cut-short
    match: {provider: openai, model: "bad-carry"}
    fault: {type: truncate, tokens: 4}
  - name: flaky
    match: {provider: openai, model: "gpt-4o-mini"}
    probability: 0.4
    fault: {type: error, status: 500}
  - name: overloaded
    match: {provider: anthropic, model: "claude-haiku-4-5"}
    probability: 0.3
    fault: {type: error, kind: overloaded}
  - name: high-demand
    match: {provider: gemini}
    probability: 0.3
    fault: {type: error, kind: high_demand}
  - name: slow
    match: {provider: gemini}
    fault: {type: latency, delay: 1500ms}
"""

TIMELINE = """\
name: dash-timeline
description: Two short phases, looping, for the timeline panel.
rules:
  - name: jitter
    match: {provider: azure}
    fault: {type: latency, delay: 10ms}
timeline:
  loop: true
  phases:
    - {name: calm, duration: 2s, rules: []}
    - {name: rough, duration: 2s}
"""

SCENARIOS = {"dash-outage": OUTAGE, "dash-timeline": TIMELINE}
# The provider whose upstream the rehearsal's proxy cannot reach; no other app calls it.
UNREACHABLE = "azure"
# The observer's retry window, short so a failure nobody retries closes within the run.
RETRY_WINDOW = "2s"


@dataclass
class Tally:
    """What the apps saw, for the failure message when a panel stays empty."""

    calls: Counter[str] = field(default_factory=Counter)
    raised: Counter[str] = field(default_factory=Counter)

    def __str__(self) -> str:
        return f"calls {dict(self.calls)}, raised {dict(self.raised)}"


class Apps:
    """The rehearsal's clients, all pointed at one proxy."""

    def __init__(self, proxy_url: str) -> None:
        def oai(key: str, **options: Any) -> openai.AsyncOpenAI:
            return openai.AsyncOpenAI(base_url=f"{proxy_url}/openai/v1", api_key=f"sk-dash-{key}", **options)

        def ant(key: str, **options: Any) -> anthropic.AsyncAnthropic:
            return anthropic.AsyncAnthropic(base_url=f"{proxy_url}/anthropic", api_key=f"sk-ant-{key}", **options)

        self.storm = oai("storm", max_retries=3)
        self.quota = oai("quota", max_retries=2)
        self.hang = oai("hang", max_retries=1, timeout=0.5)
        self.limited = oai("limited", max_retries=1)
        self.fallback_from = oai("fallback", max_retries=0)
        self.fallback_to = ant("fallback", max_retries=0)
        # google-genai retries with its own backoff and never reads Retry-After or RetryInfo.
        self.impatient = genai.Client(
            api_key="dash-impatient",
            http_options=genai_types.HttpOptions(
                base_url=f"{proxy_url}/gemini",
                retry_options=genai_types.HttpRetryOptions(attempts=3, initial_delay=0.2, max_delay=0.5, jitter=0.1),
            ),
        )
        self.crowd = oai("crowd", max_retries=0)
        self.checker = oai("checker", max_retries=0)
        self.taker = oai("taker", max_retries=0)
        self.stream_openai = oai("stream", max_retries=0)
        self.stream_anthropic = ant("stream", max_retries=0)
        self.steady_openai = oai("steady", max_retries=2)
        self.steady_anthropic = ant("steady", max_retries=2)
        self.gemini = genai.Client(
            api_key="dash-gemini",
            http_options=genai_types.HttpOptions(
                base_url=f"{proxy_url}/gemini", retry_options=genai_types.HttpRetryOptions(attempts=2)
            ),
        )
        self.unreachable = openai.AsyncAzureOpenAI(
            azure_endpoint=f"{proxy_url}/{UNREACHABLE}/dash.openai.azure.com",
            api_key="dash-unreachable",
            api_version="2024-10-21",
            max_retries=0,
        )
        self.tally = Tally()
        self._serial = itertools.count()

    async def close(self) -> None:
        for client in (
            self.storm,
            self.quota,
            self.hang,
            self.limited,
            self.fallback_from,
            self.fallback_to,
            self.crowd,
            self.checker,
            self.taker,
            self.stream_openai,
            self.stream_anthropic,
            self.steady_openai,
            self.steady_anthropic,
            self.unreachable,
        ):
            await client.close()
        for gemini in (self.gemini, self.impatient):
            with contextlib.suppress(Exception):
                await gemini.aio.aclose()

    def prompt(self, app: str) -> str:
        # Unique per call: the same conversation at two providers is how brownout sees a fallback.
        return f"{app} call {next(self._serial)}: what is a brownout?"

    async def attempt(self, app: str, call: Awaitable[object]) -> bool:
        return await self.answer(app, call) is not None

    async def answer(self, app: str, call: Awaitable[Any]) -> Any:
        """The call's answer, or None when it raised."""
        self.tally.calls[app] += 1
        try:
            return await call
        except Exception as exc:  # the SDK's own exception is the app's business; count it
            self.tally.raised[f"{app}: {type(exc).__name__}"] += 1
            return None

    def openai_chat(self, client: openai.AsyncOpenAI, model: str, app: str, prompt: str | None = None) -> Any:
        return client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt or self.prompt(app)}]
        )

    def anthropic_message(
        self, client: anthropic.AsyncAnthropic, model: str, app: str, prompt: str | None = None
    ) -> Any:
        return client.messages.create(
            model=model, max_tokens=50, messages=[{"role": "user", "content": prompt or self.prompt(app)}]
        )

    # -- one call of each app

    async def storm_burst(self) -> None:
        await asyncio.gather(
            *(self.attempt("storm", self.openai_chat(self.storm, f"storm-{i}", "storm")) for i in range(6))
        )

    async def crowd_burst(self) -> None:
        await asyncio.gather(
            *(self.attempt("crowd", self.openai_chat(self.crowd, f"crowd-{i % 2}", "crowd")) for i in range(8))
        )

    async def quota_call(self) -> None:
        await self.attempt("quota", self.openai_chat(self.quota, "quota-1", "quota"))

    async def hang_call(self) -> None:
        await self.attempt("hang", self.openai_chat(self.hang, "hang-1", "hang"))

    async def limited_burst(self) -> None:
        calls = [self.openai_chat(self.limited, "limited-1", "limited") for _ in range(3)]
        await asyncio.gather(*(self.attempt("limited", call) for call in calls))

    async def fallback_call(self) -> None:
        prompt = self.prompt("fallback")
        if not await self.attempt("fallback", self.openai_chat(self.fallback_from, "fallback-1", "fallback", prompt)):
            await self.attempt(
                "fallback (anthropic)", self.anthropic_message(self.fallback_to, "claude-sonnet-4-6", "fb", prompt)
            )

    async def checked_call(self) -> None:
        """Asks at most twice: again, in the same conversation, only when the answer has no text."""
        prompt = self.prompt("checker")
        for _ in range(2):
            answer = await self.answer("checker", self.openai_chat(self.checker, "bad-reask", "checker", prompt))
            if answer is None or answer.choices[0].message.content:
                return
            self.tally.raised["checker: empty answer"] += 1

    async def taken_call(self) -> None:
        answer = await self.answer("taker", self.openai_chat(self.taker, "bad-carry", "taker"))
        if answer is not None and answer.choices[0].finish_reason == "length":
            self.tally.raised["taker: cut short, shown anyway"] += 1

    async def impatient_call(self) -> None:
        call = self.impatient.aio.models.generate_content(model="gemini-impatient", contents=self.prompt("impatient"))
        await self.attempt("impatient", call)

    async def openai_stream(self, model: str) -> None:
        stream = await self.stream_openai.chat.completions.create(
            model=model, messages=[{"role": "user", "content": self.prompt("stream")}], stream=True
        )
        async for _ in stream:
            pass

    async def anthropic_stream(self) -> None:
        async with self.stream_anthropic.messages.stream(
            model="claude-stream-error", max_tokens=50, messages=[{"role": "user", "content": self.prompt("stream")}]
        ) as stream:
            await stream.get_final_message()

    async def stream_calls(self) -> None:
        await asyncio.gather(
            self.attempt("stream cut", self.openai_stream("stream-cut")),
            self.attempt("stream slow", self.openai_stream("stream-slow")),
            self.attempt("stream ok", self.openai_stream("gpt-4o")),
            self.attempt("stream error", self.anthropic_stream()),
        )

    async def unreachable_call(self) -> None:
        await self.attempt("unreachable", self.openai_chat(self.unreachable, "dash-deployment", "unreachable"))

    async def steady_calls(self) -> None:
        await asyncio.gather(
            self.attempt("steady openai", self.openai_chat(self.steady_openai, "gpt-4o-mini", "steady openai")),
            self.attempt(
                "steady anthropic",
                self.anthropic_message(self.steady_anthropic, "claude-haiku-4-5", "steady anthropic"),
            ),
            self.attempt(
                "steady gemini",
                self.gemini.aio.models.generate_content(model="gemini-2.5-flash", contents=self.prompt("gemini")),
            ),
        )


async def limited_alone(proxy_url: str, calls: int = 3) -> None:
    """A few calls to the rate-limited model, for a replica whose Redis is away (the Fleet row's
    requests decided alone); the official client, no retries."""
    async with openai.AsyncOpenAI(base_url=f"{proxy_url}/openai/v1", api_key="sk-dash-alone", max_retries=0) as app:
        for n in range(calls):
            with contextlib.suppress(openai.APIError):
                await app.chat.completions.create(model="limited-1", messages=[{"role": "user", "content": f"{n}"}])


async def repeat(call: Callable[[], Awaitable[None]], seconds: float, pause: float) -> None:
    """Call again and again for `seconds` (the last call may run over), `pause` between calls."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await call()
        await asyncio.sleep(pause)


async def switch(admin_url: str, name: str, on: bool) -> None:
    action = "activate" if on else "deactivate"
    async with aiohttp.ClientSession() as http:
        json_type = {"Content-Type": "application/json"}  # what the admin port asks of a state change
        async with http.post(f"{admin_url}/api/scenarios/{name}/{action}", headers=json_type) as answer:
            if answer.status != 200:
                raise AssertionError(f"{action} {name}: {answer.status} {await answer.text()}")


async def rehearse(proxy_url: str, admin_url: str, outage_seconds: float = 8.0, after_seconds: float = 3.0) -> Tally:
    """The whole run: both scenarios on, every app busy; the outage off while the steady apps go on."""
    apps = Apps(proxy_url)
    try:
        await switch(admin_url, "dash-outage", True)
        await switch(admin_url, "dash-timeline", True)
        steady = asyncio.create_task(repeat(apps.steady_calls, outage_seconds + after_seconds, 0.2))
        await asyncio.gather(
            repeat(apps.storm_burst, outage_seconds, 0.5),
            repeat(apps.quota_call, outage_seconds, 0.2),
            repeat(apps.crowd_burst, outage_seconds, 0.3),
            repeat(apps.hang_call, outage_seconds, 0.2),
            repeat(apps.limited_burst, outage_seconds, 0.5),
            repeat(apps.fallback_call, outage_seconds, 0.3),
            repeat(apps.impatient_call, outage_seconds, 0.2),
            repeat(apps.checked_call, outage_seconds, 0.3),
            repeat(apps.taken_call, outage_seconds, 0.3),
            repeat(apps.stream_calls, outage_seconds, 0.2),
            repeat(apps.unreachable_call, outage_seconds, 0.3),
        )
        await switch(admin_url, "dash-outage", False)
        await steady
        await switch(admin_url, "dash-timeline", False)
    finally:
        await apps.close()
    return apps.tally
