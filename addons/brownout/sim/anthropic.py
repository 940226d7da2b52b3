"""Anthropic's Messages API wire format: pure builders.

Shapes follow `reference/providers.md` §3 and the anthropic-python types: compact JSON bodies,
named SSE events (`message_start` ... `message_stop`) with a `ping` after the first content
block, `request-id` and the `anthropic-ratelimit-*` family with RFC 3339 resets.
"""

from __future__ import annotations

import json
from typing import Any

from brownout.classify.conversation import last_user_text
from brownout.providers import anthropic as wire
from brownout.providers.base import compact_json
from brownout.sim.common import BASE62
from brownout.sim.common import Stamp
from brownout.sim.common import StreamPlan
from brownout.sim.common import Turn
from brownout.sim.common import int_field
from brownout.sim.text import prose
from brownout.units import rfc3339

JSON = "application/json"
EVENT_STREAM = "text/event-stream; charset=utf-8"


# Advertised per-minute limits (never enforced): tier-4-like numbers.
REQUEST_LIMIT = 4_000
INPUT_TOKEN_LIMIT = 2_000_000
OUTPUT_TOKEN_LIMIT = 400_000

# The API sends this ping with a space after the colon, unlike every other frame.
PING = b'event: ping\ndata: {"type": "ping"}\n\n'


def messages_prompt(body: dict[str, Any]) -> tuple[str, str]:
    """(the last user turn's text, all the prompt's prose) of a Messages body."""
    return last_user_text(body), prose([body.get("system"), body.get("messages"), body.get("tools")])


def messages_cap(body: dict[str, Any]) -> int | None:
    return int_field(body, "max_tokens")


def request_id(stamp: Stamp) -> str:
    # Anthropic ids are base62 after a version prefix: req_011C..., msg_01...
    return "req_011C" + stamp.ident("request-id", 20, BASE62)


def headers(
    stamp: Stamp,
    content_type: str,
    processing_ms: int,
    input_tokens: int,
    output_tokens: int,
) -> list[tuple[str, str]]:
    """The headers of a successful answer (`reference/providers.md` §3.2)."""
    now = rfc3339(stamp.created)
    soon = rfc3339(stamp.created + 1)
    input_left = max(0, INPUT_TOKEN_LIMIT - input_tokens)
    output_left = max(0, OUTPUT_TOKEN_LIMIT - output_tokens)
    result = [
        ("content-type", content_type),
        ("anthropic-ratelimit-input-tokens-limit", str(INPUT_TOKEN_LIMIT)),
        ("anthropic-ratelimit-input-tokens-remaining", str(input_left)),
        ("anthropic-ratelimit-input-tokens-reset", now),
        ("anthropic-ratelimit-output-tokens-limit", str(OUTPUT_TOKEN_LIMIT)),
        ("anthropic-ratelimit-output-tokens-remaining", str(output_left)),
        ("anthropic-ratelimit-output-tokens-reset", soon),
        ("anthropic-ratelimit-requests-limit", str(REQUEST_LIMIT)),
        ("anthropic-ratelimit-requests-remaining", str(REQUEST_LIMIT - 1)),
        ("anthropic-ratelimit-requests-reset", now),
        ("anthropic-ratelimit-tokens-limit", str(INPUT_TOKEN_LIMIT + OUTPUT_TOKEN_LIMIT)),
        ("anthropic-ratelimit-tokens-remaining", str(input_left + output_left)),
        ("anthropic-ratelimit-tokens-reset", now),
        ("request-id", request_id(stamp)),
        ("anthropic-organization-id", wire.ORGANIZATION_ID),
        ("x-envoy-upstream-service-time", str(processing_ms)),
        ("via", "1.1 google"),
        ("cf-cache-status", "DYNAMIC"),
        ("x-robots-tag", "none"),
        ("server", "cloudflare"),
        ("cf-ray", stamp.ident("cf-ray", 16) + "-FRA"),
    ]
    if content_type.startswith("text/event-stream"):
        result.insert(1, ("cache-control", "no-cache"))
    return result


def _message_id(turn: Turn) -> str:
    return "msg_01" + turn.stamp.ident("message-id", 22, BASE62)


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _stop_reason(turn: Turn) -> str:
    if turn.truncated:
        return "max_tokens"
    return "tool_use" if turn.tool_name is not None else "end_turn"


def _tool_use_id(turn: Turn) -> str:
    return "toolu_01" + turn.stamp.ident("tool-use-id", 22, BASE62)


def _signature(turn: Turn) -> str:
    # A real signature is opaque base64 that the API checks when the block is sent back.
    return turn.stamp.ident("signature", 96, BASE62) + "=="


def _tool_input(turn: Turn) -> dict[str, Any]:
    try:
        value = json.loads(turn.text)
    except ValueError:  # arguments cut by max_tokens
        return {}
    return value if isinstance(value, dict) else {}


def _blocks(turn: Turn) -> list[dict[str, Any]]:
    """[a thinking block,] then the text or the tool_use block."""
    blocks: list[dict[str, Any]] = []
    if turn.show_thinking and turn.thinking:
        blocks.append({"type": "thinking", "thinking": turn.thinking_text, "signature": _signature(turn)})
    if turn.tool_name is not None:
        blocks.append(
            {"type": "tool_use", "id": _tool_use_id(turn), "name": turn.tool_name, "input": _tool_input(turn)}
        )
    else:
        blocks.append({"type": "text", "text": turn.text})
    return blocks


def message_body(body: dict[str, Any], turn: Turn) -> bytes:
    """A non-streamed `message` object."""
    return compact_json(
        {
            "id": _message_id(turn),
            "type": "message",
            "role": "assistant",
            "model": turn.model,
            "content": _blocks(turn),
            "stop_reason": _stop_reason(turn),
            "stop_sequence": None,
            "usage": _usage(turn.prompt_tokens, turn.completion_tokens),
        }
    )


def _event(type_: str, fields: dict[str, Any]) -> bytes:
    payload = {"type": type_, **fields}
    return b"event: " + type_.encode() + b"\ndata: " + compact_json(payload) + b"\n\n"


def _block_start(index: int, block: dict[str, Any]) -> bytes:
    return _event("content_block_start", {"index": index, "content_block": block})


def _delta(index: int, delta: dict[str, Any]) -> bytes:
    return _event("content_block_delta", {"index": index, "delta": delta})


def message_stream(body: dict[str, Any], turn: Turn) -> StreamPlan:
    """message_start, content_block_start, ping, one delta per token, then the close.

    A thinking block (thinking_delta per token, then its signature_delta) comes first when the
    request enabled thinking; the reply is a text block or a tool_use block whose input arrives
    as input_json_delta pieces. A later block's start is sent with its first delta, so the pace
    stays one frame per token.
    """
    start: dict[str, Any] = {
        "id": _message_id(turn),
        "type": "message",
        "role": "assistant",
        "model": turn.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        # The API reports a token or so of output at the start; message_delta has the total.
        "usage": _usage(turn.prompt_tokens, 1),
    }
    opening = [_event("message_start", {"message": start})]
    tokens: list[bytes] = []
    closing: list[bytes] = []  # the close of the block before, sent with the next block's start
    index = 0
    if turn.show_thinking and turn.thinking:
        opening.append(_block_start(0, {"type": "thinking", "thinking": "", "signature": ""}))
        tokens = [_delta(0, {"type": "thinking_delta", "thinking": piece}) for piece in turn.thinking]
        closing = [
            _delta(0, {"type": "signature_delta", "signature": _signature(turn)}),
            _event("content_block_stop", {"index": 0}),
        ]
        index = 1
    if turn.tool_name is not None:
        block = {"type": "tool_use", "id": _tool_use_id(turn), "name": turn.tool_name, "input": {}}
        deltas = [_delta(index, {"type": "input_json_delta", "partial_json": piece}) for piece in turn.pieces]
    else:
        block = {"type": "text", "text": ""}
        deltas = [_delta(index, {"type": "text_delta", "text": piece}) for piece in turn.pieces]
    start_block = b"".join([*closing, _block_start(index, block)])
    if index == 0:
        opening.append(start_block)
    elif deltas:
        deltas[0] = start_block + deltas[0]
    else:
        tokens.append(start_block)
    # The API pings once, after the first content block starts.
    head = (*opening, PING)
    tokens.extend(deltas)
    # message_delta usage is cumulative: the SDK overwrites its snapshot with these numbers.
    final_usage = {
        "input_tokens": turn.prompt_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": turn.completion_tokens,
    }
    tail = (
        _event("content_block_stop", {"index": index}),
        _event(
            "message_delta",
            {
                "delta": {"stop_reason": _stop_reason(turn), "stop_sequence": None},
                "usage": final_usage,
            },
        ),
        _event("message_stop", {}),
    )
    return StreamPlan(head, tuple(tokens), tail)


def count_tokens_body(input_tokens: int) -> bytes:
    return compact_json({"input_tokens": input_tokens})
