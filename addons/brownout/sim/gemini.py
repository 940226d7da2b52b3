"""The Gemini API's wire format (generativelanguage.googleapis.com): pure builders.

Shapes follow `reference/providers.md` §4 and the google-genai types. Non-streamed bodies are
indented by two spaces. `streamGenerateContent?alt=sse` frames are `data: <json>` ended by
CRLF CRLF, with the proto serializer's `": "` / `","` spacing and no terminator event. Without
`alt=sse` the API streams one JSON array whose elements arrive one by one: `[` + element, then
`\\n,\\r\\n` + element..., then `\\n]` (the element separator is as seen from live traffic and
parsers of it; no byte capture was at hand to confirm the CR).
"""

from __future__ import annotations

import json
from typing import Any

from brownout.classify.conversation import last_user_text
from brownout.classify.conversation import text_of
from brownout.providers.base import pretty_json
from brownout.sim.common import URLSAFE
from brownout.sim.common import Stamp
from brownout.sim.common import StreamPlan
from brownout.sim.common import Turn
from brownout.sim.common import int_field
from brownout.sim.text import embedding_vector
from brownout.sim.text import prose

JSON = "application/json; charset=UTF-8"
EVENT_STREAM = "text/event-stream"


def contents_prompt(body: dict[str, Any]) -> tuple[str, str]:
    """(the last user turn's text, all the prompt's prose) of a generateContent body."""
    return last_user_text(body), prose([body.get("systemInstruction"), body.get("contents"), body.get("tools")])


def generation_cap(body: dict[str, Any]) -> int | None:
    config = body.get("generationConfig")
    return int_field(config, "maxOutputTokens") if isinstance(config, dict) else None


def count_tokens_prompt(body: dict[str, Any]) -> str:
    """countTokens takes `contents` or a whole `generateContentRequest`."""
    inner = body.get("generateContentRequest")
    return contents_prompt(inner if isinstance(inner, dict) else body)[1]


def headers(stamp: Stamp, content_type: str, processing_ms: int) -> list[tuple[str, str]]:
    """The Google front end's headers on a successful answer."""
    result = [
        ("content-type", content_type),
        ("vary", "Origin, X-Origin, Referer"),
        ("server", "scaffolding on HTTPServer2"),
        ("x-xss-protection", "0"),
        ("x-frame-options", "SAMEORIGIN"),
        ("x-content-type-options", "nosniff"),
        ("server-timing", f"gfet4t7; dur={processing_ms}"),
        ("alt-svc", 'h3=":443"; ma=2592000,h3-29=":443"; ma=2592000'),
    ]
    if content_type.startswith("text/event-stream"):
        result.insert(1, ("content-disposition", "attachment"))
    return result


def _response_id(turn: Turn) -> str:
    return turn.stamp.ident("response-id", 23, URLSAFE)


def _chunk(
    turn: Turn, response_id: str, parts: list[dict[str, Any]], candidates_tokens: int, finished: bool
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finished:
        candidate["finishReason"] = "MAX_TOKENS" if turn.truncated else "STOP"
    candidate["index"] = 0
    usage: dict[str, Any] = {
        "promptTokenCount": turn.prompt_tokens,
        "candidatesTokenCount": candidates_tokens,
        "totalTokenCount": turn.prompt_tokens + candidates_tokens + turn.reasoning_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": turn.prompt_tokens}],
    }
    if turn.reasoning_tokens:
        # Thinking is counted apart from the candidates, and in the total.
        usage["thoughtsTokenCount"] = turn.reasoning_tokens
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": turn.model, "responseId": response_id}


def _thought(text: str) -> dict[str, Any]:
    return {"text": text, "thought": True}


def _function_call(turn: Turn) -> dict[str, Any]:
    try:
        args = json.loads(turn.text)
    except ValueError:  # arguments cut by the output cap: the call arrives without them
        args = {}
    return {"functionCall": {"name": turn.tool_name, "args": args}}


def generate_body(turn: Turn) -> bytes:
    """A non-streamed GenerateContentResponse: [thoughts], then the text or a function call."""
    parts = [_thought(turn.thinking_text)] if turn.show_thinking and turn.thinking else []
    parts.append(_function_call(turn) if turn.tool_name is not None else {"text": turn.text})
    return pretty_json(_chunk(turn, _response_id(turn), parts, turn.answer_tokens, True))


def _stream_chunks(turn: Turn) -> list[dict[str, Any]]:
    """One response per token (thoughts first when shown); the last one carries the finish reason.

    A function call comes whole in one response, as the API sends it. An empty reply still gets
    one (empty) chunk, so the stream always says how it finished.
    """
    response_id = _response_id(turn)
    chunks = []
    if turn.show_thinking:
        chunks = [_chunk(turn, response_id, [_thought(piece)], 0, False) for piece in turn.thinking]
    if turn.tool_name is not None:
        return [*chunks, _chunk(turn, response_id, [_function_call(turn)], turn.answer_tokens, True)]
    pieces = turn.pieces or ("",)
    last = len(pieces) - 1
    return chunks + [
        # candidatesTokenCount is cumulative, as in the live stream.
        _chunk(turn, response_id, [{"text": piece}], min(index + 1, turn.answer_tokens), index == last)
        for index, piece in enumerate(pieces)
    ]


def _hidden(turn: Turn) -> int:
    """Ticks of thinking the stream does not show (without includeThoughts)."""
    return 0 if turn.show_thinking else turn.reasoning_tokens


def sse_frame(payload: dict[str, Any]) -> bytes:
    # Google's proto JSON printer puts a space after colons and none after commas.
    text = json.dumps(payload, separators=(",", ": "), ensure_ascii=False)
    return b"data: " + text.encode() + b"\r\n\r\n"


def sse_stream(turn: Turn) -> StreamPlan:
    """`streamGenerateContent?alt=sse`: every frame is a token, nothing before or after."""
    return StreamPlan((), tuple(sse_frame(chunk) for chunk in _stream_chunks(turn)), (), lead=_hidden(turn))


def array_stream(turn: Turn) -> StreamPlan:
    """`streamGenerateContent` without `alt=sse`: one JSON array, element by element."""
    frames = [
        (b"[" if index == 0 else b"\n,\r\n") + pretty_json(chunk) for index, chunk in enumerate(_stream_chunks(turn))
    ]
    return StreamPlan((), tuple(frames), (b"\n]",), lead=_hidden(turn))


def embedding_dimensions(request: dict[str, Any], model: str) -> int:
    requested = int_field(request, "outputDimensionality")
    if requested is not None and requested > 0:
        return requested
    return 3072 if "gemini-embedding" in model else 768


def _embed_text(request: dict[str, Any]) -> str:
    content = request.get("content")
    return text_of(content.get("parts")) if isinstance(content, dict) else ""


def embed_body(request: dict[str, Any], model: str) -> bytes:
    """`:embedContent` answers one `embedding`."""
    values = embedding_vector(_embed_text(request), embedding_dimensions(request, model))
    return pretty_json({"embedding": {"values": values}})


def batch_embed_body(body: dict[str, Any], model: str) -> bytes:
    """`:batchEmbedContents` answers one embedding per request, in order."""
    requests = body.get("requests")
    embeddings = [
        {"values": embedding_vector(_embed_text(item), embedding_dimensions(item, model))}
        for item in (requests if isinstance(requests, list) else [])
        if isinstance(item, dict)
    ]
    return pretty_json({"embeddings": embeddings})


def count_tokens_body(tokens: int) -> bytes:
    return pretty_json({"totalTokens": tokens, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}]})
