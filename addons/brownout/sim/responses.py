"""OpenAI's Responses API as the simulator answers it: the response object, plain and as its
named SSE events (`response.created` ... `response.completed`), `reference/providers.md` §1.5."""

from __future__ import annotations

from typing import Any

from brownout.classify.conversation import last_user_text
from brownout.providers.base import compact_json
from brownout.providers.base import pretty_json
from brownout.sim.common import URLSAFE
from brownout.sim.common import StreamPlan
from brownout.sim.common import Turn
from brownout.sim.common import int_field
from brownout.sim.openai import include_obfuscation
from brownout.sim.openai import padding
from brownout.sim.openai import tool_call_id
from brownout.sim.text import prose


def responses_prompt(body: dict[str, Any]) -> tuple[str, str]:
    """(the last user input's text, all the prompt's prose) of a Responses API body."""
    return last_user_text(body), prose([body.get("instructions"), body.get("input"), body.get("tools")])


def responses_cap(body: dict[str, Any]) -> int | None:
    return int_field(body, "max_output_tokens")


def _response_ids(turn: Turn) -> tuple[str, str]:
    """The response's id and its answer item's (a message, or a function call)."""
    prefix = "fc_" if turn.tool_name is not None else "msg_"
    return "resp_" + turn.stamp.ident("resp", 48), prefix + turn.stamp.ident("resp-msg", 48)


def _reasoning_id(turn: Turn) -> str:
    return "rs_" + turn.stamp.ident("resp-reasoning", 48)


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


def _function_call_item(turn: Turn, item_id: str, status: str, arguments: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": tool_call_id(turn),
        "name": turn.tool_name,
    }


def _reasoning_item(turn: Turn, summary: str | None, encrypted: bool = False) -> dict[str, Any]:
    """A reasoning item: its summary only when the request asked for one, and its reasoning as
    opaque `encrypted_content` only when the request's `include` asked for that (what a
    stateless client, `store: false`, sends back on its next turn)."""
    parts = [] if summary is None else [{"type": "summary_text", "text": summary}]
    item: dict[str, Any] = {"id": _reasoning_id(turn), "type": "reasoning", "summary": parts}
    if encrypted:
        item["encrypted_content"] = "gAAAAA" + turn.stamp.ident("encrypted-reasoning", 120, URLSAFE)
    return item


def wants_encrypted_reasoning(body: dict[str, Any]) -> bool:
    include = body.get("include")
    return isinstance(include, list) and "reasoning.encrypted_content" in include


def _answer_item(turn: Turn, item_id: str, status: str) -> dict[str, Any]:
    if turn.tool_name is not None:
        return _function_call_item(turn, item_id, status, turn.text)
    return _message_item(item_id, status, [_output_part(turn.text)])


def _final_output(body: dict[str, Any], turn: Turn, item_id: str, status: str) -> list[dict[str, Any]]:
    output = []
    if turn.thinking:
        summary = turn.thinking_text if turn.show_thinking else None
        output.append(_reasoning_item(turn, summary, wants_encrypted_reasoning(body)))
    output.append(_answer_item(turn, item_id, status))
    return output


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
    requested = body.get("reasoning")
    asked: dict[str, Any] = requested if isinstance(requested, dict) else {}
    reasoning = {
        "effort": asked.get("effort", "medium" if turn.thinking else None),
        "summary": asked.get("summary"),
    }
    usage = (
        {
            "input_tokens": turn.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": turn.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": turn.reasoning_tokens},
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
        "reasoning": reasoning,
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
    """A non-streamed Responses API `response` object: [reasoning,] then the message or call."""
    response_id, item_id = _response_ids(turn)
    status = "incomplete" if turn.truncated else "completed"
    return pretty_json(_response(body, turn, response_id, status, _final_output(body, turn, item_id, status)))


def named_event(event: str, payload: dict[str, Any]) -> bytes:
    """A named SSE frame whose data repeats the name in `type` (Responses, Anthropic)."""
    return b"event: " + event.encode() + b"\ndata: " + compact_json(payload) + b"\n\n"


def response_stream(body: dict[str, Any], turn: Turn) -> StreamPlan:
    """The Responses API event sequence: [a reasoning item,] then one message or function call.

    There is no `[DONE]`. A reasoning item's summary streams only when the request asked for a
    summary. Frames that open or close an item are sent with the next paced frame, so the pace
    stays one frame per token.
    """
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

    def padded(fields: dict[str, Any]) -> dict[str, Any]:
        if obfuscate:
            fields["obfuscation"] = padding(turn.stamp, f"resp-{sequence}")
        return fields

    in_progress = _response(body, turn, response_id, "in_progress", [])
    head = [event("response.created", {"response": in_progress})]
    head.append(event("response.in_progress", {"response": in_progress}))
    tokens: list[bytes] = []
    pending: list[bytes] = []  # frames that go out with the next paced one
    answer_index = 0
    if turn.thinking:
        reasoning_id = _reasoning_id(turn)
        head.append(event("response.output_item.added", {"output_index": 0, "item": _reasoning_item(turn, None)}))
        if turn.show_thinking:
            where = {"item_id": reasoning_id, "output_index": 0, "summary_index": 0}
            empty = {"type": "summary_text", "text": ""}
            head.append(event("response.reasoning_summary_part.added", {**where, "part": empty}))
            tokens = [
                event("response.reasoning_summary_text.delta", padded({**where, "delta": piece}))
                for piece in turn.thinking
            ]
            summary = {"type": "summary_text", "text": turn.thinking_text}
            pending.append(event("response.reasoning_summary_text.done", {**where, "text": turn.thinking_text}))
            pending.append(event("response.reasoning_summary_part.done", {**where, "part": summary}))
        summary_text = turn.thinking_text if turn.show_thinking else None
        done_item = _reasoning_item(turn, summary_text, wants_encrypted_reasoning(body))
        pending.append(event("response.output_item.done", {"output_index": 0, "item": done_item}))
        answer_index = 1
    position = {"item_id": item_id, "output_index": answer_index}
    if turn.tool_name is not None:
        opening = _function_call_item(turn, item_id, "in_progress", "")
        pending.append(event("response.output_item.added", {"output_index": answer_index, "item": opening}))
    else:
        opening = _message_item(item_id, "in_progress", [])
        pending.append(event("response.output_item.added", {"output_index": answer_index, "item": opening}))
        pending.append(event("response.content_part.added", {**position, "content_index": 0, "part": _output_part("")}))
    for piece in turn.pieces:
        if turn.tool_name is not None:
            frame = event("response.function_call_arguments.delta", padded({**position, "delta": piece}))
        else:
            fields = {**position, "content_index": 0, "delta": piece, "logprobs": []}
            frame = event("response.output_text.delta", padded(fields))
        if pending and not turn.thinking:
            head.extend(pending)  # nothing paced before the answer: its opening goes out at once
        elif pending:
            frame = b"".join(pending) + frame
        pending = []
        tokens.append(frame)
    tail = pending
    item = _answer_item(turn, item_id, final_status)
    if turn.tool_name is not None:
        tail.append(event("response.function_call_arguments.done", {**position, "arguments": turn.text}))
    else:
        text_at = {**position, "content_index": 0}
        tail.append(event("response.output_text.done", {**text_at, "text": turn.text, "logprobs": []}))
        tail.append(event("response.content_part.done", {**text_at, "part": _output_part(turn.text)}))
    tail.append(event("response.output_item.done", {"output_index": answer_index, "item": item}))
    final = _response(body, turn, response_id, final_status, _final_output(body, turn, item_id, final_status))
    tail.append(event(f"response.{final_status}", {"response": final}))
    hidden = 0 if turn.show_thinking else turn.reasoning_tokens
    return StreamPlan(tuple(head), tuple(tokens), tuple(tail), lead=hidden)
