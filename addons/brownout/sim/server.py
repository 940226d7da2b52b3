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
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any
from typing import Self

from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE
from multidict import CIMultiDict

from brownout import providers as wire
from brownout.sim import anthropic
from brownout.sim import gemini
from brownout.sim import openai
from brownout.sim.call import CONFIG_KEY
from brownout.sim.call import FIRST_TOKEN_DELAY_HEADER
from brownout.sim.call import FIXED_PROCESSING_MS
from brownout.sim.call import MAX_BODY_BYTES
from brownout.sim.call import MAX_REPLY_TOKENS
from brownout.sim.call import REQUESTS_KEY
from brownout.sim.call import TOKENS_HEADER
from brownout.sim.call import TPS_HEADER
from brownout.sim.call import BadRequest
from brownout.sim.call import Call
from brownout.sim.call import Handler
from brownout.sim.call import SimConfig
from brownout.sim.common import Stamp
from brownout.sim.handlers import anthropic_count_tokens
from brownout.sim.handlers import anthropic_messages
from brownout.sim.handlers import gemini_batch_embed
from brownout.sim.handlers import gemini_count_tokens
from brownout.sim.handlers import gemini_embed
from brownout.sim.handlers import gemini_generate
from brownout.sim.handlers import gemini_stream
from brownout.sim.handlers import openai_chat
from brownout.sim.handlers import openai_embeddings
from brownout.sim.handlers import openai_model
from brownout.sim.handlers import openai_models
from brownout.sim.handlers import openai_responses

log = logging.getLogger(__name__)


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
        body = wire.openai.envelope(message, type_, None, param)
    elif provider == "azure":
        request_id = stamp.uuid("apim-request-id")
        headers = [
            ("content-type", openai.JSON),
            ("apim-request-id", request_id),
            ("x-request-id", request_id),
        ]
        if status == 404:
            body = wire.azure.envelope("404", message)
        else:
            body = wire.openai.envelope(message, "invalid_request_error", None, param)
    elif provider == "anthropic":
        request_id = anthropic.request_id(stamp)
        headers = [("content-type", anthropic.JSON), ("request-id", request_id)]
        type_ = "not_found_error" if status == 404 else "invalid_request_error"
        body = wire.anthropic.error_body(type_, message, request_id)
    elif provider == "gemini":
        rpc = "NOT_FOUND" if status == 404 else "INVALID_ARGUMENT"
        headers = gemini.headers(stamp, gemini.JSON, FIXED_PROCESSING_MS)
        body = wire.gemini.error_body(status, rpc, message)
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


async def _provider_server(request: web.Request, response: web.StreamResponse) -> None:
    """Any answer the handlers left without `Server` (a provider's 404 for an unknown route, say)
    says the provider's, not aiohttp's `Python/... aiohttp/...` (which aiohttp may have set by
    the time this runs)."""
    if response.headers.get("Server", SERVER_SOFTWARE) == SERVER_SOFTWARE:
        server = wire.server_header(request.path.split("/", 2)[1] if request.path.count("/") > 1 else "")
        if server:
            response.headers["Server"] = server


def build_app(config: SimConfig) -> web.Application:
    """The simulator as an aiohttp application (mount it, or serve it with `SimServer`)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.on_response_prepare.append(_provider_server)
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
