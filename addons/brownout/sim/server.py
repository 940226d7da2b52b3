"""The simulated upstream's HTTP side: routing, pacing, and the server object.

One catch-all aiohttp handler routes by regular expression, so that every unknown path under a
provider's prefix gets that provider's 404 envelope (aiohttp's router would answer 405s and
plain-text 404s instead). Generation endpoints wait as a model would: `first_token_delay`, then
one token every `1 / tokens_per_second`; streams write and flush each event on its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from functools import partial
from types import TracebackType
from typing import Any
from typing import Self

from aiohttp import web
from multidict import CIMultiDict

from brownout.sim import anthropic
from brownout.sim import gemini
from brownout.sim import openai
from brownout.sim.common import Stamp
from brownout.sim.common import StreamPlan
from brownout.sim.common import Turn
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

    def turn(self, model: str, prompt: tuple[str, str], cap: int | None) -> Turn:
        """Decide the reply: words chosen by the last user message, cut by the output cap."""
        last_user, all_prose = prompt
        words = reply_words(last_user, self.reply_tokens)
        truncated = cap is not None and 0 <= cap < len(words)
        if truncated and cap is not None:
            words = words[:cap]
        return Turn(
            model=model,
            pieces=tuple(token_pieces(words)),
            truncated=truncated,
            prompt_tokens=usage_tokens(all_prose),
            stamp=self.stamp,
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
                await self._sleep_until(self._token_due(index))
                await response.write(frame)
            for frame in plan.tail:
                await response.write(frame)
            await response.write_eof()
        except ConnectionError:
            # The client hung up mid-stream (a timeout, a cancel): nothing left to do.
            log.debug("client left during %s", self.request.path)
        return response


Handler = Callable[[Call], Awaitable[web.StreamResponse]]


# --- OpenAI and Azure OpenAI --------------------------------------------------------------


def _openai_model(call: Call, azure: bool) -> str:
    """The model the answer names: Azure's deployment from the path, else the body's model."""
    if azure and "deployment" in call.params:
        return call.params["deployment"]
    model = call.body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("you must provide a model parameter", "model")
    return model


def _openai_headers(call: Call, azure: bool, model: str, content_type: str, tokens: int, ms: int) -> Headers:
    if azure:
        return openai.azure_headers(call.stamp, content_type, ms, tokens, model)
    return openai.headers(call.stamp, content_type, ms, tokens)


async def _openai_generation(
    call: Call,
    azure: bool,
    prompt: Callable[[dict[str, Any]], tuple[str, str]],
    cap: Callable[[dict[str, Any]], int | None],
    stream_plan: Callable[[dict[str, Any], Turn], StreamPlan],
    complete_body: Callable[[dict[str, Any], Turn], bytes],
) -> web.StreamResponse:
    """Chat Completions and Responses differ only in how they read the prompt and write the answer."""
    model = _openai_model(call, azure)
    turn = call.turn(model, prompt(call.body), cap(call.body))
    if call.body.get("stream") is True:
        stream_headers = partial(_openai_headers, call, azure, model, openai.EVENT_STREAM, turn.total_tokens)
        return await call.stream(stream_plan(call.body, turn), stream_headers)
    await call.generate(turn.completion_tokens)
    headers = _openai_headers(call, azure, model, openai.JSON, turn.total_tokens, call.processing_ms())
    return call.reply(complete_body(call.body, turn), headers)


async def openai_chat(call: Call, azure: bool) -> web.StreamResponse:
    return await _openai_generation(
        call, azure, openai.chat_prompt, openai.chat_cap, openai.chat_stream, openai.chat_completion
    )


async def openai_responses(call: Call, azure: bool) -> web.StreamResponse:
    return await _openai_generation(
        call, azure, openai.responses_prompt, openai.responses_cap, openai.response_stream, openai.response_body
    )


async def openai_embeddings(call: Call, azure: bool) -> web.StreamResponse:
    model = _openai_model(call, azure)
    if not openai.embedding_inputs(call.body):
        raise BadRequest("'input' is a required property", "input")
    body = openai.embeddings_body(call.body, model)
    tokens = sum(count for _, count in openai.embedding_inputs(call.body))
    headers = _openai_headers(call, azure, model, openai.JSON, tokens, call.processing_ms())
    return call.reply(body, headers)


async def openai_models(call: Call) -> web.StreamResponse:
    headers = _openai_headers(call, False, "", openai.JSON, 0, call.processing_ms())
    return call.reply(openai.models_body(), headers)


async def openai_model(call: Call) -> web.StreamResponse:
    headers = _openai_headers(call, False, "", openai.JSON, 0, call.processing_ms())
    return call.reply(openai.model_body(call.params["model"]), headers)


# --- Anthropic ----------------------------------------------------------------------------


def _anthropic_model(call: Call) -> str:
    model = call.body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: Field required")
    return model


async def anthropic_messages(call: Call) -> web.StreamResponse:
    model = _anthropic_model(call)
    turn = call.turn(model, anthropic.messages_prompt(call.body), anthropic.messages_cap(call.body))
    if call.body.get("stream") is True:
        plan = anthropic.message_stream(call.body, turn)

        def stream_headers(ms: int) -> Headers:
            return anthropic.headers(call.stamp, anthropic.EVENT_STREAM, ms, turn.prompt_tokens, turn.completion_tokens)

        return await call.stream(plan, stream_headers)
    await call.generate(turn.completion_tokens)
    headers = anthropic.headers(
        call.stamp,
        anthropic.JSON,
        call.processing_ms(),
        turn.prompt_tokens,
        turn.completion_tokens,
    )
    return call.reply(anthropic.message_body(call.body, turn), headers)


async def anthropic_count_tokens(call: Call) -> web.StreamResponse:
    _anthropic_model(call)
    tokens = usage_tokens(anthropic.messages_prompt(call.body)[1])
    headers = anthropic.headers(call.stamp, anthropic.JSON, call.processing_ms(), tokens, 0)
    return call.reply(anthropic.count_tokens_body(tokens), headers)


# --- Gemini -------------------------------------------------------------------------------


def _gemini_turn(call: Call) -> Turn:
    return call.turn(
        call.params["model"],
        gemini.contents_prompt(call.body),
        gemini.generation_cap(call.body),
    )


async def gemini_generate(call: Call) -> web.StreamResponse:
    turn = _gemini_turn(call)
    await call.generate(turn.completion_tokens)
    headers = gemini.headers(call.stamp, gemini.JSON, call.processing_ms())
    return call.reply(gemini.generate_body(turn), headers)


async def gemini_stream(call: Call) -> web.StreamResponse:
    turn = _gemini_turn(call)
    if call.request.query.get("alt") == "sse":
        plan, content_type = gemini.sse_stream(turn), gemini.EVENT_STREAM
    else:
        plan, content_type = gemini.array_stream(turn), gemini.JSON
    return await call.stream(plan, partial(gemini.headers, call.stamp, content_type))


async def gemini_embed(call: Call) -> web.StreamResponse:
    body = gemini.embed_body(call.body, call.params["model"])
    return call.reply(body, gemini.headers(call.stamp, gemini.JSON, call.processing_ms()))


async def gemini_batch_embed(call: Call) -> web.StreamResponse:
    body = gemini.batch_embed_body(call.body, call.params["model"])
    return call.reply(body, gemini.headers(call.stamp, gemini.JSON, call.processing_ms()))


async def gemini_count_tokens(call: Call) -> web.StreamResponse:
    tokens = usage_tokens(gemini.count_tokens_prompt(call.body))
    headers = gemini.headers(call.stamp, gemini.JSON, call.processing_ms())
    return call.reply(gemini.count_tokens_body(tokens), headers)


# --- routing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    key: str  # the request counter's name for this endpoint
    method: str
    pattern: re.Pattern[str]
    handler: Handler


def _route(key: str, method: str, pattern: str, handler: Handler) -> Route:
    return Route(key, method, re.compile(pattern), handler)


_DEPLOYMENT = r"/azure/openai/deployments/(?P<deployment>[^/]+)"
_GEMINI_MODEL = r"/gemini/(?P<version>v1beta|v1)/models/(?P<model>[^/:]+)"

_OPENAI_CHAT = partial(openai_chat, azure=False)
_OPENAI_RESPONSES = partial(openai_responses, azure=False)
_OPENAI_EMBEDDINGS = partial(openai_embeddings, azure=False)
_AZURE_CHAT = partial(openai_chat, azure=True)
_AZURE_RESPONSES = partial(openai_responses, azure=True)
_AZURE_EMBEDDINGS = partial(openai_embeddings, azure=True)

ROUTES: tuple[Route, ...] = (
    _route("openai.chat", "POST", r"/openai/v1/chat/completions", _OPENAI_CHAT),
    _route("openai.responses", "POST", r"/openai/v1/responses", _OPENAI_RESPONSES),
    _route("openai.embeddings", "POST", r"/openai/v1/embeddings", _OPENAI_EMBEDDINGS),
    _route("openai.models", "GET", r"/openai/v1/models", openai_models),
    _route("openai.model", "GET", r"/openai/v1/models/(?P<model>[^/]+)", openai_model),
    _route("azure.chat", "POST", _DEPLOYMENT + r"/chat/completions", _AZURE_CHAT),
    _route("azure.embeddings", "POST", _DEPLOYMENT + r"/embeddings", _AZURE_EMBEDDINGS),
    # Azure's newer "v1" surface takes the model from the body, like OpenAI.
    _route("azure.chat", "POST", r"/azure/openai/v1/chat/completions", _AZURE_CHAT),
    _route("azure.responses", "POST", r"/azure/openai/v1/responses", _AZURE_RESPONSES),
    _route("azure.embeddings", "POST", r"/azure/openai/v1/embeddings", _AZURE_EMBEDDINGS),
    _route("anthropic.messages", "POST", r"/anthropic/v1/messages", anthropic_messages),
    _route(
        "anthropic.count_tokens",
        "POST",
        r"/anthropic/v1/messages/count_tokens",
        anthropic_count_tokens,
    ),
    _route("gemini.generate", "POST", _GEMINI_MODEL + ":generateContent", gemini_generate),
    _route("gemini.stream", "POST", _GEMINI_MODEL + ":streamGenerateContent", gemini_stream),
    _route("gemini.embed", "POST", _GEMINI_MODEL + ":embedContent", gemini_embed),
    _route("gemini.batch_embed", "POST", _GEMINI_MODEL + ":batchEmbedContents", gemini_batch_embed),
    _route("gemini.count_tokens", "POST", _GEMINI_MODEL + ":countTokens", gemini_count_tokens),
)

PROVIDERS = ("openai", "azure", "anthropic", "gemini")


def provider_of(path: str) -> str | None:
    """The provider whose prefix starts `path` (its errors speak that provider's envelope)."""
    first = path.lstrip("/").split("/", 1)[0]
    return first if first in PROVIDERS else None


def error_response(
    provider: str | None, status: int, message: str, stamp: Stamp, param: str | None = None
) -> web.Response:
    """A 400 or 404 in the envelope of the provider the path belongs to."""
    if provider == "openai":
        type_ = "invalid_request_error"
        headers = [
            ("content-type", openai.JSON),
            ("openai-version", "2020-10-01"),
            ("x-request-id", "req_" + stamp.ident("x-request-id", 32)),
        ]
        body = openai.error_body(message, type_, None, param)
    elif provider == "azure":
        request_id = stamp.uuid("apim-request-id")
        headers = [
            ("content-type", openai.JSON),
            ("apim-request-id", request_id),
            ("x-request-id", request_id),
        ]
        if status == 404:
            body = openai.azure_error_body("404", message)
        else:
            body = openai.error_body(message, "invalid_request_error", None, param)
    elif provider == "anthropic":
        request_id = anthropic.request_id(stamp)
        headers = [("content-type", anthropic.JSON), ("request-id", request_id)]
        type_ = "not_found_error" if status == 404 else "invalid_request_error"
        body = anthropic.error_body(type_, message, request_id)
    elif provider == "gemini":
        rpc = "NOT_FOUND" if status == 404 else "INVALID_ARGUMENT"
        headers = gemini.headers(stamp, gemini.JSON, FIXED_PROCESSING_MS)
        body = gemini.error_body(status, rpc, message)
    else:
        headers = [("content-type", "text/plain; charset=utf-8")]
        body = f"{status}: {message}".encode()
    return web.Response(status=status, body=body, headers=CIMultiDict(headers))


def _not_found_message(provider: str | None, method: str, path: str) -> str:
    if provider == "openai":
        # The real API names the path it saw, i.e. without the simulator's prefix.
        return f"Invalid URL ({method} {path.removeprefix('/openai')})"
    if provider == "azure":
        return "Resource not found"
    if provider == "gemini":
        return f"The requested URL {path.removeprefix('/gemini')} was not found on this server."
    return "Not Found"


_INVALID_JSON = {
    "openai": (
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
        "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
        "sent was not valid JSON. If you have trouble figuring out how to fix this, please "
        "contact us through our help center at help.openai.com.)"
    ),
    "azure": "The request body is not valid JSON.",
    "anthropic": "There was an error parsing the body of your request as JSON.",
    "gemini": "Invalid JSON payload received. Unexpected token.",
}


def _float_header(request: web.Request, name: str, default: float) -> float:
    try:
        value = float(request.headers[name])
    except (KeyError, ValueError):
        return default
    return value if value >= 0 else default


def _int_header(request: web.Request, name: str, default: int) -> int:
    try:
        value = int(request.headers[name])
    except (KeyError, ValueError):
        return default
    return min(value, MAX_REPLY_TOKENS) if value >= 0 else default


def _stamp(config: SimConfig, request: web.Request, raw: bytes) -> Stamp:
    if config.fixed_clock is None:
        return Stamp(created=int(time.time()))
    # Method, path and query (model, alt=sse, api-version) plus the body identify a request.
    seed = hashlib.sha256(request.method.encode() + b" " + request.path_qs.encode() + b"\n" + raw).digest()
    return Stamp(created=int(config.fixed_clock), seed=seed)


async def dispatch(request: web.Request) -> web.StreamResponse:
    """Route one request, count it, and answer in the right provider's format."""
    config = request.app[CONFIG_KEY]
    counter = request.app[REQUESTS_KEY]
    started = asyncio.get_running_loop().time()
    raw = await request.read()
    stamp = _stamp(config, request, raw)
    provider = provider_of(request.path)

    match: re.Match[str] | None = None
    route: Route | None = None
    for candidate in ROUTES:
        match = candidate.pattern.fullmatch(request.path)
        if match is not None and request.method == candidate.method:
            route = candidate
            break
    if route is None or match is None:
        counter[f"{provider or 'other'}.unknown"] += 1
        message = _not_found_message(provider, request.method, request.path)
        return error_response(provider, 404, message, stamp)

    counter[route.key] += 1
    body: dict[str, Any] = {}
    if request.method == "POST":
        try:
            parsed = json.loads(raw) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            parsed = None
        if not isinstance(parsed, dict):
            message = _INVALID_JSON.get(provider or "", "Invalid JSON body.")
            return error_response(provider, 400, message, stamp)
        body = parsed

    call = Call(
        request=request,
        params=match.groupdict(),
        body=body,
        stamp=stamp,
        started=started,
        reply_tokens=_int_header(request, TOKENS_HEADER, config.reply_tokens),
        tokens_per_second=_float_header(request, TPS_HEADER, config.tokens_per_second),
        first_token_delay=_float_header(request, FIRST_TOKEN_DELAY_HEADER, config.first_token_delay),
    )
    try:
        return await route.handler(call)
    except BadRequest as error:
        return error_response(provider, 400, error.message, stamp, error.param)


def build_app(config: SimConfig) -> web.Application:
    """The simulator as an aiohttp application (mount it, or serve it with `SimServer`)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[CONFIG_KEY] = config
    app[REQUESTS_KEY] = Counter()
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


class SimServer:
    """The simulator on a TCP port; `async with SimServer(config) as sim: sim.url ...`."""

    def __init__(self, config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SimConfig()
        self.host = host
        self.port = port
        self.app = build_app(self.config)
        self.requests: Counter[str] = self.app[REQUESTS_KEY]
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        # A wildcard bind is reached through loopback.
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        host = "[::1]" if host == "::" else f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("SimServer already started")
        # A short shutdown grace: close() should not wait a minute for a stalled stream.
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info("brownout sim listening on %s", self.url)

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def run_sim(host: str, port: int, config: SimConfig) -> None:
    """Serve until cancelled (Ctrl-C in `brownout sim`)."""
    async with SimServer(config, host, port):
        await asyncio.Event().wait()
