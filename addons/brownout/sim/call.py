"""One request to the simulator on its way through a handler: its knobs (pace, reply length,
the per-request `x-sim-*` headers), its body, and how its answer is written and paced."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from brownout.sim.asks import NOTHING
from brownout.sim.asks import Ask
from brownout.sim.common import Stamp
from brownout.sim.common import StreamPlan
from brownout.sim.common import Turn
from brownout.sim.schema import SchemaError
from brownout.sim.schema import instance
from brownout.sim.text import json_pieces
from brownout.sim.text import reply_words
from brownout.sim.text import token_pieces
from brownout.sim.text import usage_tokens

log = logging.getLogger(__name__)

# Per-request knobs (documented in the package docstring).
TOKENS_HEADER = "x-sim-tokens"
TPS_HEADER = "x-sim-tps"
FIRST_TOKEN_DELAY_HEADER = "x-sim-first-token-delay"

# Upper bound on x-sim-tokens, so one header cannot make the simulator build gigabytes.
MAX_REPLY_TOKENS = 100_000
# aiohttp refuses bodies over 1 MiB by default; long prompts and inline images are larger.
# Anthropic's own limit is 32 MB, so twice that covers every provider.
MAX_BODY_BYTES = 64 * 1024 * 1024
# How many tokens a reasoning model thinks before it answers.
THINKING_TOKENS = 12
# What processing-time headers say on a fixed clock: any constant keeps bodies reproducible.
FIXED_PROCESSING_MS = 100


@dataclass(slots=True)
class SimConfig:
    """How the simulated model behaves.

    `tokens_per_second` paces generation (0: as fast as possible); `first_token_delay` is
    waited before generation starts; `reply_tokens` is the reply length in words; a
    `fixed_clock` (Unix seconds) makes every timestamp that value and every id a hash of the
    request, so identical requests get byte-identical answers.
    """

    tokens_per_second: float = 50.0
    first_token_delay: float = 0.0
    reply_tokens: int = 24
    fixed_clock: float | None = None

    def __post_init__(self) -> None:
        if self.tokens_per_second < 0:
            raise ValueError("tokens_per_second must be >= 0 (0 means unpaced)")
        if self.first_token_delay < 0:
            raise ValueError("first_token_delay must be >= 0")
        if not 0 <= self.reply_tokens <= MAX_REPLY_TOKENS:
            raise ValueError(f"reply_tokens must be between 0 and {MAX_REPLY_TOKENS}")


CONFIG_KEY: web.AppKey[SimConfig] = web.AppKey("brownout_sim_config", SimConfig)
REQUESTS_KEY: web.AppKey[Counter[str]] = web.AppKey("brownout_sim_requests", Counter)

Headers = list[tuple[str, str]]


class BadRequest(Exception):
    """A request the real API would refuse with a 400; `message` is the API's wording."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(slots=True)
class Call:
    """One request on its way through a handler, with its knobs already read."""

    request: web.Request
    params: dict[str, str]
    body: dict[str, Any]
    stamp: Stamp
    started: float  # event-loop time of arrival
    reply_tokens: int
    tokens_per_second: float
    first_token_delay: float
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)

    def turn(self, model: str, prompt: tuple[str, str], cap: int | None, ask: Ask = NOTHING) -> Turn:
        """Decide the reply: words chosen by the last user message (or the tool call or JSON
        the request asks for), cut by the output cap, after reasoning if the model reasons."""
        last_user, all_prose = prompt
        words = reply_words(last_user, self.reply_tokens)
        try:
            pieces = answer_pieces(ask, words)
        except SchemaError as error:
            raise BadRequest(f"Invalid schema: {error}") from error
        truncated = cap is not None and 0 <= cap < len(pieces)
        if truncated and cap is not None:
            pieces = pieces[:cap]
        thinking = token_pieces(reply_words("reasoning\x00" + last_user, THINKING_TOKENS)) if ask.reasoning else []
        return Turn(
            model=model,
            pieces=tuple(pieces),
            truncated=truncated,
            prompt_tokens=usage_tokens(all_prose),
            stamp=self.stamp,
            tool_name=ask.tool.name if ask.tool else None,
            thinking=tuple(thinking),
            show_thinking=ask.show_reasoning,
        )

    def processing_ms(self) -> int:
        if self.stamp.fixed:
            return FIXED_PROCESSING_MS
        return max(1, round((self.loop.time() - self.started) * 1000))

    def _token_due(self, index: int) -> float:
        """When token `index` (0-based) is ready: after the first-token delay, one per tick."""
        ticks = (index + 1) / self.tokens_per_second if self.tokens_per_second > 0 else 0.0
        return self.started + self.first_token_delay + ticks

    async def _sleep_until(self, deadline: float) -> None:
        # Deadlines (not cumulative sleeps) keep a long stream from drifting behind its pace.
        delay = deadline - self.loop.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def generate(self, tokens: int) -> None:
        """Wait as long as generating `tokens` tokens takes, for a non-streamed answer."""
        await self._sleep_until(self._token_due(tokens - 1))

    def reply(self, body: bytes, headers: Headers, status: int = 200) -> web.Response:
        return web.Response(status=status, body=body, headers=CIMultiDict(headers))

    async def stream(self, plan: StreamPlan, headers_for: Callable[[int], Headers]) -> web.StreamResponse:
        """Send `plan` event by event: head at once, tokens paced, tail at the end.

        Headers go out when generation starts (after the first-token delay), as a real API
        answers a streaming request once its first event is ready.
        """
        await self._sleep_until(self._token_due(-1))
        headers = CIMultiDict(headers_for(self.processing_ms()))
        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(self.request)
        try:
            for frame in plan.head:
                await response.write(frame)
            for index, frame in enumerate(plan.tokens):
                await self._sleep_until(self._token_due(plan.lead + index))
                await response.write(frame)
            for frame in plan.tail:
                await response.write(frame)
            await response.write_eof()
        except ConnectionError:
            # The client hung up mid-stream (a timeout, a cancel): nothing left to do.
            log.debug("client left during %s", self.request.path)
        return response


def answer_pieces(ask: Ask, words: list[str]) -> list[str]:
    """The reply's token pieces: a tool's JSON arguments, a structured answer, or prose."""
    if ask.tool is not None:
        arguments = instance(ask.tool.parameters)
        # Arguments are an object whatever the schema says (every API parses them into one).
        return json_pieces(arguments if isinstance(arguments, dict) else {})
    if ask.schema is not None:
        return json_pieces(instance(ask.schema))
    if ask.json_object:
        return json_pieces({"answer": " ".join(words)})
    return token_pieces(words)


Handler = Callable[[Call], Awaitable[web.StreamResponse]]
