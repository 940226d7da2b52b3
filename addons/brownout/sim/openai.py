"""OpenAI's wire formats (and Azure OpenAI's, which shares the bodies): pure builders.

Shapes follow `reference/providers.md` §1 and the openai-python types: Chat Completions (plain
and streamed, with `stream_options.include_usage`), the Responses API (plain and its named SSE
events), embeddings (float or base64) and the model list. Non-streamed bodies are indented as
api.openai.com sends them; streamed frames are compact `data: <json>\\n\\n`.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from brownout.classify.conversation import last_user_text
from brownout.providers.base import compact_json
from brownout.providers.base import pretty_json
from brownout.sim.common import BASE62
from brownout.sim.common import Stamp
from brownout.sim.common import StreamPlan
from brownout.sim.common import Turn
from brownout.sim.common import int_field
from brownout.sim.text import embedding_vector
from brownout.sim.text import float32_bytes
from brownout.sim.text import prose
from brownout.sim.text import usage_tokens

JSON = "application/json"
EVENT_STREAM = "text/event-stream; charset=utf-8"
DONE = b"data: [DONE]\n\n"

# The rate-limit window the simulator advertises; it never enforces it.
REQUEST_LIMIT = 10_000
TOKEN_LIMIT = 30_000_000

# What `GET /v1/models` lists: a few current ids with their real creation times.
MODELS: tuple[tuple[str, int, str], ...] = (
    ("gpt-4o", 1715367049, "system"),
    ("gpt-4o-mini", 1721172741, "system"),
    ("gpt-4.1", 1744316542, "system"),
    ("gpt-4.1-mini", 1744318173, "system"),
    ("o4-mini", 1744225351, "system"),
    ("text-embedding-3-small", 1705948997, "system"),
    ("text-embedding-3-large", 1705953180, "system"),
)


# --- reading requests -------------------------------------------------------------------


def chat_prompt(body: dict[str, Any]) -> tuple[str, str]:
    """(the last user message's text, all the prompt's prose) of a Chat Completions body."""
    return last_user_text(body), prose([body.get("messages"), body.get("tools")])


def chat_cap(body: dict[str, Any]) -> int | None:
    return int_field(body, "max_completion_tokens", "max_tokens")


def include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def include_obfuscation(body: dict[str, Any]) -> bool:
    # The API pads delta events with an `obfuscation` field unless the client opts out.
    options = body.get("stream_options")
    return not (isinstance(options, dict) and options.get("include_obfuscation") is False)


# --- headers ------------------------------------------------------------------------------


def headers(stamp: Stamp, content_type: str, processing_ms: int, tokens: int) -> list[tuple[str, str]]:
    """The headers api.openai.com puts on a successful answer (`reference/providers.md` §1.3)."""
    return [
        ("content-type", content_type),
        ("openai-organization", "user-brownoutsim"),
        ("openai-processing-ms", str(processing_ms)),
        ("openai-project", "proj_" + "0" * 8 + "brownoutsim" + "0" * 5),
        ("openai-version", "2020-10-01"),
        ("x-ratelimit-limit-requests", str(REQUEST_LIMIT)),
        ("x-ratelimit-limit-tokens", str(TOKEN_LIMIT)),
        ("x-ratelimit-remaining-requests", str(REQUEST_LIMIT - 1)),
        ("x-ratelimit-remaining-tokens", str(max(0, TOKEN_LIMIT - tokens))),
        ("x-ratelimit-reset-requests", "6ms"),
        ("x-ratelimit-reset-tokens", "0s"),
        ("x-request-id", "req_" + stamp.ident("x-request-id", 32)),
        ("strict-transport-security", "max-age=31536000; includeSubDomains; preload"),
        ("cf-cache-status", "DYNAMIC"),
        ("server", "cloudflare"),
        ("cf-ray", stamp.ident("cf-ray", 16) + "-SJC"),
        ("alt-svc", 'h3=":443"; ma=86400'),
    ]


def azure_headers(
    stamp: Stamp, content_type: str, processing_ms: int, tokens: int, deployment: str
) -> list[tuple[str, str]]:
    """Azure OpenAI's headers: APIM ids, region, fractional processing time (§5)."""
    request_id = stamp.uuid("apim-request-id")
    fraction = stamp.number("processing-fraction", 0, 9999)
    return [
        ("content-type", content_type),
        ("apim-request-id", request_id),
        ("x-request-id", request_id),
        ("openai-processing-ms", f"{processing_ms}.{fraction:04d}"),
        ("x-ms-region", "East US"),
        ("x-ms-rai-invoked", "true"),
        ("x-ms-deployment-name", deployment),
        ("x-ratelimit-limit-requests", str(REQUEST_LIMIT)),
        ("x-ratelimit-limit-tokens", str(TOKEN_LIMIT)),
        ("x-ratelimit-remaining-requests", str(REQUEST_LIMIT - 1)),
        ("x-ratelimit-remaining-tokens", str(max(0, TOKEN_LIMIT - tokens))),
        ("strict-transport-security", "max-age=31536000; includeSubDomains; preload"),
    ]


# --- Chat Completions ---------------------------------------------------------------------


def _fingerprint(model: str) -> str:
    # A backend fingerprint is stable per model snapshot, not per request.
    return "fp_" + hashlib.sha256(model.encode()).hexdigest()[:10]


def _chat_usage(turn: Turn) -> dict[str, Any]:
    return {
        "prompt_tokens": turn.prompt_tokens,
        "completion_tokens": turn.completion_tokens,
        "total_tokens": turn.total_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": turn.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_id(turn: Turn) -> str:
    return "chatcmpl-" + turn.stamp.ident("chatcmpl", 29, BASE62)


def tool_call_id(turn: Turn) -> str:
    return "call_" + turn.stamp.ident("tool-call", 24, BASE62)


def chat_finish(turn: Turn) -> str:
    if turn.truncated:
        return "length"
    return "tool_calls" if turn.tool_name is not None else "stop"


def _chat_message(turn: Turn) -> dict[str, Any]:
    if turn.tool_name is None:
        return {"role": "assistant", "content": turn.text, "refusal": None, "annotations": []}
    call = {"id": tool_call_id(turn), "type": "function", "function": {"name": turn.tool_name, "arguments": turn.text}}
    return {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None, "annotations": []}


# Azure OpenAI runs every chat request through its content filter and says so in the answer:
# `prompt_filter_results` for the prompt, `content_filter_results` on each choice, every category
# unfiltered at severity "safe" (captures: AbanteAI/archive-old-cli-mentat#429, mlflow/mlflow#12767,
# langroid/langroid#292; see docs/wire-formats.md).
FILTER_CATEGORIES = ("hate", "self_harm", "sexual", "violence")


def content_filter_results() -> dict[str, Any]:
    return {category: {"filtered": False, "severity": "safe"} for category in FILTER_CATEGORIES}


def prompt_filter_results() -> list[dict[str, Any]]:
    return [{"prompt_index": 0, "content_filter_results": content_filter_results()}]


def azure_filter_opening() -> bytes:
    """The frame an Azure chat stream opens with: no choices, empty ids, only the prompt's filter
    results. Code that reads `chunk.choices[0]` on every chunk fails on it."""
    return sse_data(
        {
            "id": "",
            "choices": [],
            "created": 0,
            "model": "",
            "object": "",
            "prompt_filter_results": prompt_filter_results(),
        }
    )


def chat_completion(body: dict[str, Any], turn: Turn, azure: bool = False) -> bytes:
    """A non-streamed `chat.completion` object: a text answer or one tool call; Azure's carries
    its content filter results too."""
    completion: dict[str, Any] = {
        "id": _chat_id(turn),
        "object": "chat.completion",
        "created": turn.stamp.created,
        "model": turn.model,
        "choices": [
            {
                "index": 0,
                "message": _chat_message(turn),
                "logprobs": None,
                "finish_reason": chat_finish(turn),
            }
        ],
        "usage": _chat_usage(turn),
        "service_tier": "default",
        "system_fingerprint": _fingerprint(turn.model),
    }
    if azure:
        completion["prompt_filter_results"] = prompt_filter_results()
        completion["choices"][0]["content_filter_results"] = content_filter_results()
    return pretty_json(completion)


def sse_data(payload: dict[str, Any]) -> bytes:
    """One bare `data:` frame, as Chat Completions streams use (no `event:` line)."""
    return b"data: " + compact_json(payload) + b"\n\n"


def chat_stream(body: dict[str, Any], turn: Turn, azure: bool = False) -> StreamPlan:
    """`chat.completion.chunk` frames: role, one per token (text or tool arguments), finish,
    [usage], `[DONE]`. A reasoning model's reasoning is not sent, only counted in usage. Azure's
    open with the prompt's filter frame; its text chunks carry their filter results, its other
    choices an empty `content_filter_results`."""
    chat_id = _chat_id(turn)
    fingerprint = _fingerprint(turn.model)
    with_usage = include_usage(body)
    obfuscate = include_obfuscation(body)
    serial = 0

    def choice(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        entry: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        if azure:
            entry["content_filter_results"] = content_filter_results() if delta.get("content") else {}
        return entry

    def chunk(delta: dict[str, Any] | None, finish: str | None = None) -> bytes:
        nonlocal serial
        payload: dict[str, Any] = {
            "id": chat_id,
            "object": "chat.completion.chunk",
            "created": turn.stamp.created,
            "model": turn.model,
            "service_tier": "default",
            "system_fingerprint": fingerprint,
            "choices": [] if delta is None else [choice(delta, finish)],
        }
        if with_usage:
            # With include_usage every chunk carries `usage`: null until the last one.
            payload["usage"] = _chat_usage(turn) if delta is None else None
        if obfuscate and delta is not None:
            payload["obfuscation"] = padding(turn.stamp, f"chat-{serial}")
        serial += 1
        return sse_data(payload)

    head: tuple[bytes, ...]
    if turn.tool_name is None:
        head = (chunk({"role": "assistant", "content": "", "refusal": None}),)
        tokens = tuple(chunk({"content": piece}) for piece in turn.pieces)
    else:
        # The first chunk names the call with empty arguments; the arguments follow in pieces.
        opening = {
            "index": 0,
            "id": tool_call_id(turn),
            "type": "function",
            "function": {"name": turn.tool_name, "arguments": ""},
        }
        head = (chunk({"role": "assistant", "content": None, "tool_calls": [opening], "refusal": None}),)
        tokens = tuple(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}) for piece in turn.pieces)
    if azure:
        head = (azure_filter_opening(), *head)
    tail = [chunk({}, chat_finish(turn))]
    if with_usage:
        tail.append(chunk(None))
    tail.append(DONE)
    # Chat Completions never shows reasoning: it only delays the first token.
    return StreamPlan(head, tokens, tuple(tail), lead=turn.reasoning_tokens)


def padding(stamp: Stamp, salt: str) -> str:
    # Real padding evens out frame sizes; a few random characters are enough to look alike.
    return stamp.ident(salt, stamp.number(salt, 1, 15), BASE62)


# --- embeddings and models ----------------------------------------------------------------


def embedding_inputs(body: dict[str, Any]) -> list[tuple[str, int]]:
    """Each input to embed as (the text that seeds its vector, its token count).

    `input` may be a string, a list of strings, a token array or a list of token arrays.
    """
    raw = body.get("input")
    if isinstance(raw, str):
        return [(raw, usage_tokens(raw))]
    if not isinstance(raw, list) or not raw:
        return []
    if all(isinstance(item, int) for item in raw):
        return [(repr(raw), len(raw))]
    inputs: list[tuple[str, int]] = []
    for item in raw:
        if isinstance(item, str):
            inputs.append((item, usage_tokens(item)))
        elif isinstance(item, list):
            inputs.append((repr(item), len(item)))
    return inputs


def embedding_dimensions(body: dict[str, Any], model: str) -> int:
    requested = int_field(body, "dimensions")
    if requested is not None and requested > 0:
        return requested
    return 3072 if "large" in model else 1536


def embeddings_body(body: dict[str, Any], model: str) -> bytes:
    """A `list` of embeddings; base64 (packed little-endian float32) when asked for."""
    dimensions = embedding_dimensions(body, model)
    as_base64 = body.get("encoding_format") == "base64"
    data: list[dict[str, Any]] = []
    tokens = 0
    for index, (text, count) in enumerate(embedding_inputs(body)):
        vector = embedding_vector(text, dimensions)
        encoded: object = base64.b64encode(float32_bytes(vector)).decode() if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens += count
    return pretty_json(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def model_object(model: str, created: int, owner: str = "system") -> dict[str, Any]:
    return {"id": model, "object": "model", "created": created, "owned_by": owner}


def models_body() -> bytes:
    return pretty_json({"object": "list", "data": [model_object(*model) for model in MODELS]})


def model_body(model: str) -> bytes:
    known = {name: (created, owner) for name, created, owner in MODELS}
    created, owner = known.get(model, (1700000000, "system"))
    return pretty_json(model_object(model, created, owner))
