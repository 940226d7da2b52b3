"""Tell what an AI-API request is: provider, endpoint, model, stream flag, client.

Pure functions over plain data (method, host, path, headers, body) so they are tested
without a proxy. The proxy-facing addon only translates a flow into these arguments.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from brownout.classify.asks import asks_of
from brownout.classify.clients import client_family
from brownout.classify.encoding import decode_body

PROVIDERS = ("openai", "anthropic", "gemini", "azure", "openai-compatible")

ENDPOINTS = (
    "chat",
    "responses",
    "completions",
    "embeddings",
    "messages",
    "count_tokens",
    "generate",
    "stream-generate",
    "models",
    "images",
    "audio",
    "moderations",
    "other",
)

_AZURE_HOST_SUFFIXES = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")

# Gemini and Vertex put the model in the path: .../models/{model}:{method}
_GEMINI_METHOD = re.compile(r"/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$")
_AZURE_DEPLOYMENT = re.compile(r"/openai/deployments/(?P<deployment>[^/]+)/")
# Claude on Vertex AI: the Messages API behind a Vertex path, the model in it, `stream` told by the
# method (anthropic SDK `lib/vertex/_client.py` `_prepare_options`).
_VERTEX_ANTHROPIC = re.compile(
    r"/publishers/anthropic/models/(?P<model>[^/:]+):(?P<method>streamRawPredict|rawPredict)$"
)
# Claude in Azure AI Foundry: `https://{resource}.services.ai.azure.com/anthropic/v1/messages`
# (anthropic SDK `lib/foundry.py`), the Anthropic wire format on an Azure host.
_FOUNDRY_ANTHROPIC = re.compile(r"/anthropic/v1/messages(?:/count_tokens)?$")
# Gemini's OpenAI-compatible API (`/v1beta/openai/chat/completions`, ai.google.dev/gemini-api/docs/openai)
# and Vertex's (`.../endpoints/openapi/chat/completions`, cloud.google.com/vertex-ai/generative-ai/docs/
# migrate/openai/overview).
_GOOGLE_OPENAI = re.compile(r"/v1(?:beta)?/openai/|/endpoints/openapi/")
# Bedrock's OpenAI-compatible APIs (docs.aws.amazon.com/bedrock/latest/userguide/
# inference-chat-completions-mantle.html, inference-responses-api.html): `/v1/...` or
# `/openai/v1/...` on `bedrock-runtime.{region}.amazonaws.com` and `bedrock-mantle.{region}.api.aws`.
_BEDROCK_OPENAI = re.compile(r"/v1/(?:chat/completions|responses)$")

_GEMINI_ENDPOINTS = {
    "generateContent": "generate",
    "streamGenerateContent": "stream-generate",
    "embedContent": "embeddings",
    "batchEmbedContents": "embeddings",
    "countTokens": "count_tokens",
}

# Path suffixes of the OpenAI family (OpenAI, Azure, vLLM, Ollama...), longest first.
_OPENAI_SUFFIXES = (
    ("/chat/completions", "chat"),
    ("/completions", "completions"),
    ("/embeddings", "embeddings"),
    ("/moderations", "moderations"),
    ("/models", "models"),
)
_OPENAI_SEGMENTS = (("/responses", "responses"), ("/images/", "images"), ("/audio/", "audio"))


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What brownout knows about one request, in bounded, label-safe values."""

    provider: str
    endpoint: str
    model: str
    stream: bool
    client: str = "other"
    key_hash: str = ""
    # Where a provider's format is served from when that changes the wire: "google" for the
    # OpenAI-compatible endpoints of Gemini and Vertex (their errors are a JSON list), "bedrock"
    # for Bedrock's OpenAI-compatible endpoint, "vertex" and "foundry" for Claude there; "" otherwise.
    platform: str = ""
    # The request offered the model function tools; it asked for JSON (a JSON mode or schema).
    tools: bool = False
    structured_output: bool = False


@dataclass(frozen=True, slots=True)
class RequestView:
    """A request as brownout reads it, once per flow: headers by lower-case name (the first value
    of a repeated one), the JSON body (empty when it is not a JSON object) and `content`, the body's
    bytes with their Content-Encoding undone (`classify.encoding`; as sent when they are not
    encoded, do not decode or would expand too far). `refused` says why the body was not read
    (a decompression bomb); "" when it was."""

    headers: Mapping[str, str]
    body: Mapping[str, object]
    content: bytes = b""
    refused: str = ""


def read_view(headers: Mapping[str, str], raw: bytes, content_encoding: str = "") -> RequestView:
    """The view of a request with these headers and raw body; `content_encoding` is the whole
    Content-Encoding (every field of a repeated header, joined by commas)."""
    if not content_encoding:
        return RequestView(headers, parse_json_body(raw), raw)
    decoded = decode_body(raw, content_encoding)
    if decoded.content is None:
        return RequestView(headers, {}, raw, decoded.refused)
    return RequestView(headers, parse_json_body(decoded.content), decoded.content)


def provider_for_host(host: str) -> str | None:
    """The provider a hostname belongs to, or None when the host alone does not tell."""
    host = host.lower().rstrip(".")
    # `eu.api.openai.com`, `us.api.openai.com`: OpenAI's data-residency hosts, the same API.
    if host == "api.openai.com" or host.endswith(".api.openai.com"):
        return "openai"
    if host == "api.anthropic.com":
        return "anthropic"
    if host == "generativelanguage.googleapis.com" or host.endswith("aiplatform.googleapis.com"):
        return "gemini"
    if host.endswith(_AZURE_HOST_SUFFIXES):
        return "azure"
    return None


def is_azure_host(host: str) -> bool:
    return host.lower().rstrip(".").endswith(_AZURE_HOST_SUFFIXES)


def _openai_endpoint(path: str) -> str | None:
    for suffix, endpoint in _OPENAI_SUFFIXES:
        if path.endswith(suffix):
            return endpoint
    for segment, endpoint in _OPENAI_SEGMENTS:
        if segment in path or path.endswith(segment.rstrip("/")):
            return endpoint
    return None


def _anthropic_endpoint(path: str) -> str | None:
    if path.endswith("/messages/count_tokens"):
        return "count_tokens"
    if path.endswith("/messages"):
        return "messages"
    if path.endswith("/complete"):
        return "completions"
    if path.endswith("/models") or "/models/" in path:
        return "models"
    return None


def platform_provider(provider: str | None, host: str, path: str) -> tuple[str | None, str]:
    """The wire format a platform path speaks where it differs from its host's, and the platform:
    Claude on Vertex (a Google host) and in Azure AI Foundry (an Azure host) speak Anthropic's;
    the OpenAI-compatible endpoints of Gemini, Vertex and Bedrock speak OpenAI's."""
    # The refined provider is accepted too: the Router has already applied this once (its
    # provider is then the hint) and the path alone is specific enough.
    if provider in (None, "gemini", "anthropic") and _VERTEX_ANTHROPIC.search(path):
        return "anthropic", "vertex"
    if provider == "azure" and _FOUNDRY_ANTHROPIC.search(path):
        return "anthropic", "foundry"
    if provider in (None, "gemini", "openai-compatible") and _GOOGLE_OPENAI.search(path):
        return "openai-compatible", "google"
    if provider in (None, "openai-compatible") and _is_bedrock_host(host) and _BEDROCK_OPENAI.search(path):
        return "openai-compatible", "bedrock"
    return provider, ""


def _is_bedrock_host(host: str) -> bool:
    name = host.lower().rstrip(".")
    return (name.startswith("bedrock-runtime.") and name.endswith(".amazonaws.com")) or (
        name.startswith("bedrock-mantle.") and name.endswith(".api.aws")
    )


def guess_provider(path: str) -> str | None:
    """Provider family from the path alone, for hosts that are not a known API."""
    if _GEMINI_METHOD.search(path):
        return "gemini"
    if _AZURE_DEPLOYMENT.search(path + "/"):
        return "azure"
    if path.endswith(("/messages", "/messages/count_tokens")):
        return "anthropic"
    if _openai_endpoint(path):
        return "openai-compatible"
    return None


def parse_json_body(body: bytes | None) -> Mapping[str, object]:
    """The request body as a JSON object, or an empty mapping when it is not one."""
    if not body or body[:1] not in (b"{", b" ", b"\n", b"\r", b"\t"):
        return {}
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def plain_headers(fields: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Raw header fields as a dict with lower-case names (the first value of a repeated one).

    One pass over mitmproxy's `headers.fields`: the functions here look up a dozen names, and
    each lookup in mitmproxy's own multidict scans and decodes every field again.
    """
    headers: dict[str, str] = {}
    for name, value in fields:
        headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


_KEY_SALT = os.urandom(16)


def api_key_hash(headers: Mapping[str, str], query: str = "") -> str:
    """A salted, truncated hash of the caller's API key: tells clients apart, never reveals keys."""
    key = (
        headers.get("authorization", "").removeprefix("Bearer ").strip()
        or headers.get("x-api-key", "")
        or headers.get("api-key", "")
        or headers.get("x-goog-api-key", "")
    )
    if not key and query:
        key = (parse_qs(query).get("key") or [""])[0]
    if not key:
        return ""
    return hashlib.sha256(_KEY_SALT + key.encode()).hexdigest()[:16]


def classify(
    *,
    host: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes | Mapping[str, object] | None,
    provider_hint: str | None = None,
) -> RequestInfo | None:
    """Classify a request; None when it is not an AI-API call brownout knows.

    `path` may carry a query string. `body` is the raw body or its JSON object, already parsed.
    `provider_hint` is the provider a routing prefix named; it wins over the host, because a
    prefix may point at a simulator on localhost.
    """
    path_only, _, query = path.partition("?")
    provider, platform = platform_provider(provider_hint or provider_for_host(host), host, path_only)
    provider = provider or guess_provider(path_only)
    if provider is None:
        return None
    parsed = body if isinstance(body, Mapping) else parse_json_body(body)
    model_value = parsed.get("model")
    model = model_value if isinstance(model_value, str) else ""
    stream = parsed.get("stream") is True

    endpoint: str | None
    if provider == "gemini":
        match = _GEMINI_METHOD.search(path_only)
        if match:
            model = match.group("model")
            endpoint = _GEMINI_ENDPOINTS.get(match.group("method"), "other")
            stream = endpoint == "stream-generate"
        else:
            endpoint = "models" if "/models" in path_only else None
    elif provider == "anthropic":
        endpoint = _anthropic_endpoint(path_only)
        vertex = _VERTEX_ANTHROPIC.search(path_only)
        if vertex and vertex.group("model") == "count-tokens":
            endpoint = "count_tokens"
        elif vertex:
            model = vertex.group("model")
            endpoint = "messages"
            stream = vertex.group("method") == "streamRawPredict"
    else:
        endpoint = _openai_endpoint(path_only)
        deployment = _AZURE_DEPLOYMENT.search(path_only + "/")
        if deployment and not model:
            model = deployment.group("deployment")
    endpoint = endpoint or "other"
    asks = asks_of(provider, endpoint, parsed)
    return RequestInfo(
        provider=provider,
        endpoint=endpoint,
        model=model,
        stream=stream,
        client=client_family(headers),
        key_hash=api_key_hash(headers, query),
        platform=platform,
        tools=bool(asks.tools),
        structured_output=asks.structured,
    )
