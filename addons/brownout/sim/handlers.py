"""The simulator's endpoints, one handler each: OpenAI and Azure OpenAI, Anthropic, Gemini. Each
reads its `Call`, builds the provider's answer with the wire-format builders, and writes it
(paced, and streamed event by event where the request asked for a stream)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from aiohttp import web

from brownout.sim import anthropic
from brownout.sim import asks
from brownout.sim import gemini
from brownout.sim import openai
from brownout.sim import responses
from brownout.sim.asks import Ask
from brownout.sim.call import BadRequest
from brownout.sim.call import Call
from brownout.sim.call import Headers
from brownout.sim.common import StreamPlan
from brownout.sim.common import Turn
from brownout.sim.snapshots import snapshot
from brownout.sim.text import usage_tokens

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
    ask: Callable[[dict[str, Any], str], Ask],
    stream_plan: Callable[[dict[str, Any], Turn], StreamPlan],
    complete_body: Callable[[dict[str, Any], Turn], bytes],
) -> web.StreamResponse:
    """Chat Completions and Responses differ only in how they read the prompt and write the answer."""
    model = _openai_model(call, azure)
    # Azure names the deployment; api.openai.com the snapshot behind the alias.
    named = model if azure else snapshot(model)
    turn = call.turn(named, prompt(call.body), cap(call.body), ask(call.body, model))
    if call.body.get("stream") is True:
        stream_headers = partial(_openai_headers, call, azure, model, openai.EVENT_STREAM, turn.total_tokens)
        return await call.stream(stream_plan(call.body, turn), stream_headers)
    await call.generate(turn.completion_tokens)
    headers = _openai_headers(call, azure, model, openai.JSON, turn.total_tokens, call.processing_ms())
    return call.reply(complete_body(call.body, turn), headers)


async def openai_chat(call: Call, azure: bool) -> web.StreamResponse:
    return await _openai_generation(
        call,
        azure,
        openai.chat_prompt,
        openai.chat_cap,
        asks.chat_ask,
        partial(openai.chat_stream, azure=azure),
        partial(openai.chat_completion, azure=azure),
    )


async def openai_responses(call: Call, azure: bool) -> web.StreamResponse:
    return await _openai_generation(
        call,
        azure,
        responses.responses_prompt,
        responses.responses_cap,
        asks.responses_ask,
        responses.response_stream,
        responses.response_body,
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
    turn = call.turn(
        snapshot(model),
        anthropic.messages_prompt(call.body),
        anthropic.messages_cap(call.body),
        asks.anthropic_ask(call.body),
    )
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
        asks.gemini_ask(call.body, call.params["model"]),
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
