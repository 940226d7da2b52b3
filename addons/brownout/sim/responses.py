"""OpenAI's Responses API as the simulator answers it: the response object, plain and as its
named SSE events (`response.created` ... `response.completed`), `reference/providers.md` §1.5."""

from __future__ import annotations

from typing import Any

from brownout.classify.conversation import last_user_text
from brownout.providers.base import compact_json
from brownout.providers.base import pretty_json
from brownout.sim.common import StreamPlan
from brownout.sim.common import Turn
from brownout.sim.common import int_field
from brownout.sim.openai import include_obfuscation
from brownout.sim.openai import padding
from brownout.sim.text import prose


def responses_prompt(body: dict[str, Any]) -> tuple[str, str]:
    """(the last user input's text, all the prompt's prose) of a Responses API body."""
    return last_user_text(body), prose([body.get("instructions"), body.get("input"), body.get("tools")])


def responses_cap(body: dict[str, Any]) -> int | None:
    return int_field(body, "max_output_tokens")


def _response_ids(turn: Turn) -> tuple[str, str]:
    return "resp_" + turn.stamp.ident("resp", 48), "msg_" + turn.stamp.ident("resp-msg", 48)


def _output_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _message_item(item_id: str, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    }


def _response(
    body: dict[str, Any],
    turn: Turn,
    response_id: str,
    status: str,
    output: list[dict[str, Any]],
) -> dict[str, Any]:
    """The `response` object; request settings are echoed back as the API does."""
    done = status in ("completed", "incomplete")
    text_config = body.get("text") if isinstance(body.get("text"), dict) else None
    tools = body.get("tools")
    usage = (
        {
            "input_tokens": turn.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": turn.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": turn.total_tokens,
        }
        if done
        else None
    )
    return {
        "id": response_id,
        "object": "response",
        "created_at": turn.stamp.created,
        "status": status,
        "background": False,
        "completed_at": turn.stamp.created if done else None,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": responses_cap(body),
        "max_tool_calls": None,
        "model": turn.model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": None,
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": None,
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": text_config or {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": tools if isinstance(tools, list) else [],
        "top_logprobs": 0,
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def response_body(body: dict[str, Any], turn: Turn) -> bytes:
    """A non-streamed Responses API `response` object."""
    response_id, item_id = _response_ids(turn)
    status = "incomplete" if turn.truncated else "completed"
    output = [_message_item(item_id, status, [_output_part(turn.text)])]
    return pretty_json(_response(body, turn, response_id, status, output))


def named_event(event: str, payload: dict[str, Any]) -> bytes:
    """A named SSE frame whose data repeats the name in `type` (Responses, Anthropic)."""
    return b"event: " + event.encode() + b"\ndata: " + compact_json(payload) + b"\n\n"


def response_stream(body: dict[str, Any], turn: Turn) -> StreamPlan:
    """The Responses API event sequence for one text message; it has no `[DONE]`."""
    response_id, item_id = _response_ids(turn)
    obfuscate = include_obfuscation(body)
    final_status = "incomplete" if turn.truncated else "completed"
    sequence = 0

    def event(type_: str, fields: dict[str, Any]) -> bytes:
        nonlocal sequence
        # Lifecycle events put the counter before the (large) response object; the others
        # end with it, as the API orders them.
        if "response" in fields:
            payload = {"type": type_, "sequence_number": sequence, **fields}
        else:
            payload = {"type": type_, **fields, "sequence_number": sequence}
        sequence += 1
        return named_event(type_, payload)

    def position() -> dict[str, Any]:
        return {"item_id": item_id, "output_index": 0, "content_index": 0}

    def delta(piece: str) -> bytes:
        fields: dict[str, Any] = {**position(), "delta": piece, "logprobs": []}
        if obfuscate:
            fields["obfuscation"] = padding(turn.stamp, f"resp-{sequence}")
        return event("response.output_text.delta", fields)

    head = (
        event(
            "response.created",
            {"response": _response(body, turn, response_id, "in_progress", [])},
        ),
        event(
            "response.in_progress",
            {"response": _response(body, turn, response_id, "in_progress", [])},
        ),
        event(
            "response.output_item.added",
            {"output_index": 0, "item": _message_item(item_id, "in_progress", [])},
        ),
        event("response.content_part.added", {**position(), "part": _output_part("")}),
    )
    tokens = tuple(delta(piece) for piece in turn.pieces)
    item = _message_item(item_id, final_status, [_output_part(turn.text)])
    tail = (
        event("response.output_text.done", {**position(), "text": turn.text, "logprobs": []}),
        event("response.content_part.done", {**position(), "part": _output_part(turn.text)}),
        event("response.output_item.done", {"output_index": 0, "item": item}),
        event(
            f"response.{final_status}",
            {"response": _response(body, turn, response_id, final_status, [item])},
        ),
    )
    return StreamPlan(head, tokens, tail)
