"""The simulator's answers, captured (`data/`: bodies and event streams of each provider, plain,
with a tool call and with structured output), and a content fault run on them as the hooks run it:
a body through `on_response`, a stream through its plan in uneven chunks."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from anthropic.types import Message
from anthropic.types import RawMessageStreamEvent
from google.genai.types import GenerateContentResponse
from openai.types.chat import ChatCompletion
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import Response
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from brownout.classify.request import RequestInfo
from brownout.faults.base import Answer
from brownout.faults.base import FaultRun
from brownout.faults.content.base import ContentFault
from brownout.faults.content.editor import tokens_in
from brownout.faults.outcome import Outcome
from brownout.faults.stream.plan import Send
from brownout.providers.sse import EventSplitter
from brownout.providers.sse import SseEvent
from brownout.providers.sse import format_event

DATA = Path(__file__).parent / "data"
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"],
}
MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]

# Capture name -> (provider, endpoint, the request's body as the simulator got it).
CAPTURES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "openai_chat": ("openai", "chat", {"messages": MESSAGES, "max_tokens": 40}),
    "openai_chat_tools": (
        "openai",
        "chat",
        {
            "messages": MESSAGES,
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}],
        },
    ),
    "openai_chat_schema": (
        "openai",
        "chat",
        {
            "messages": MESSAGES,
            "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": WEATHER}},
        },
    ),
    "azure_chat": ("azure", "chat", {"messages": MESSAGES}),
    "responses": ("openai", "responses", {"input": "What is the weather in Paris?"}),
    "responses_tools": (
        "openai",
        "responses",
        {"input": "Weather?", "tools": [{"type": "function", "name": "get_weather", "parameters": WEATHER}]},
    ),
    "responses_schema": (
        "openai",
        "responses",
        {"input": "Weather?", "text": {"format": {"type": "json_schema", "name": "w", "schema": WEATHER}}},
    ),
    "anthropic": ("anthropic", "messages", {"max_tokens": 64, "messages": MESSAGES}),
    "anthropic_tools": (
        "anthropic",
        "messages",
        {"max_tokens": 64, "messages": MESSAGES, "tools": [{"name": "get_weather", "input_schema": WEATHER}]},
    ),
    "anthropic_schema": (
        "anthropic",
        "messages",
        {
            "max_tokens": 64,
            "messages": MESSAGES,
            "output_config": {"format": {"type": "json_schema", "schema": WEATHER}},
        },
    ),
    "gemini": ("gemini", "generate", {"contents": [{"role": "user", "parts": [{"text": "Weather?"}]}]}),
    "gemini_tools": (
        "gemini",
        "generate",
        {
            "contents": [{"role": "user", "parts": [{"text": "Weather?"}]}],
            "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": WEATHER}]}],
        },
    ),
    "gemini_schema": (
        "gemini",
        "generate",
        {
            "contents": [{"role": "user", "parts": [{"text": "Weather?"}]}],
            "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": WEATHER},
        },
    ),
}
PLAIN = ["openai_chat", "azure_chat", "responses", "anthropic", "gemini"]
TOOLS = ["openai_chat_tools", "responses_tools", "anthropic_tools", "gemini_tools"]
SCHEMAS = ["openai_chat_schema", "responses_schema", "anthropic_schema", "gemini_schema"]


def info_of(name: str, stream: bool) -> RequestInfo:
    provider, endpoint, _ = CAPTURES[name]
    if provider == "gemini" and stream:
        endpoint = "stream-generate"
    return RequestInfo(provider=provider, endpoint=endpoint, model="m", stream=stream)


def armed(fault: ContentFault, name: str, stream: bool, request: dict[str, Any] | None = None) -> FaultRun:
    body = CAPTURES[name][2] if request is None else request
    run = FaultRun(info=info_of(name, stream), rng=random.Random(0), body=json.dumps(body).encode())
    assert asyncio.run(fault.on_request(run)) is None
    return run


def original_body(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((DATA / f"{name}.json").read_bytes())
    return body


def original(name: str, stream: bool) -> dict[str, Any] | bytes:
    """The captured answer as the upstream sent it: its body, or its event stream."""
    return (DATA / f"{name}.sse").read_bytes() if stream else original_body(name)


def edit_body(fault: ContentFault, name: str, request: dict[str, Any] | None = None) -> tuple[Outcome, dict[str, Any]]:
    """The fault on the captured body: its outcome and the body the client gets."""
    run = armed(fault, name, stream=False, request=request)
    raw = (DATA / f"{name}.json").read_bytes()
    answer = Answer(200, {"content-type": "application/json"}, False, raw, raw)
    edited = fault.on_response(run, answer)
    return run.outcome, json.loads(raw if edited is None else edited)


def edit_stream(
    fault: ContentFault, name: str, request: dict[str, Any] | None = None, chunk: int = 97
) -> tuple[Outcome, bytes]:
    """The fault on the captured stream, fed in `chunk`-byte pieces: its plan's outcome and the
    bytes the client gets."""
    run = armed(fault, name, stream=True, request=request)
    plan = fault.plan_run(run)
    raw = (DATA / f"{name}.sse").read_bytes()
    out = [a.data for a in plan.start(0.0) if isinstance(a, Send)]
    for start in range(0, len(raw), chunk):
        out += [a.data for a in plan.feed(raw[start : start + chunk], 0.0) if isinstance(a, Send)]
    out += [a.data for a in plan.end(0.0) if isinstance(a, Send)]
    outcome = plan.outcome if plan.outcome != Outcome.NONE else run.outcome
    return outcome, b"".join(out)


def edited(fault: ContentFault, name: str, stream: bool, chunk: int = 97) -> tuple[Outcome, dict[str, Any] | bytes]:
    """The fault on the captured body or stream of `name`."""
    return edit_stream(fault, name, chunk=chunk) if stream else edit_body(fault, name)


def compared(fault: ContentFault, name: str, stream: bool, chunk: int = 97) -> tuple[Outcome, View, View]:
    """The fault's outcome, and the captured answer as its SDK reads it before and after."""
    outcome, after = edited(fault, name, stream, chunk)
    return outcome, view(name, original(name, stream)), view(name, after)


def events(raw: bytes) -> list[SseEvent]:
    splitter = EventSplitter()
    return [SseEvent(block) for block in splitter.feed(raw) + ([splitter.take_pending()] if splitter.pending else [])]


def payloads(raw: bytes) -> list[tuple[str | None, Any]]:
    """Each event's name and JSON data (the data as text when it is not JSON: `[DONE]`)."""
    found: list[tuple[str | None, Any]] = []
    for event in events(raw):
        if event.is_comment or not event.data:
            continue
        parsed = event.json()
        found.append((event.name, parsed if parsed is not None else event.data))
    return found


@dataclass
class View:
    """An answer as its SDK's types read it: validated, then its text, stop and calls gathered."""

    text: str = ""
    stop: str | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments as JSON text)
    output_tokens: int | None = None
    total_tokens: int | None = None
    refusal: str | None = None
    filter_results: dict[str, Any] | None = None
    safety: list[Any] | None = None
    events: list[str] = field(default_factory=list)  # a stream's event names or types, in order
    pieces: list[str] = field(default_factory=list)  # the text as it came: each part, or each delta

    def add(self, piece: str) -> None:
        self.text += piece
        self.pieces.append(piece)


def text_tokens(seen: View) -> int:
    return sum(tokens_in(piece) for piece in seen.pieces)


def output_after(before: View, after: View) -> int:
    """The output tokens an answer whose text changed reports: what the upstream counted beyond
    the text stays, and the text counts as the client got it (each piece as brownout counts it)."""
    assert before.output_tokens is not None
    return max(0, before.output_tokens - text_tokens(before)) + text_tokens(after)


def view(name: str, answer: dict[str, Any] | bytes) -> View:
    provider, endpoint, _ = CAPTURES[name]
    if isinstance(answer, dict):
        return _BODY_VIEWS[endpoint if provider != "gemini" else "gemini"](answer)
    return _STREAM_VIEWS[endpoint if provider != "gemini" else "gemini"](answer)


def _chat_body(body: dict[str, Any]) -> View:
    completion = ChatCompletion.model_validate(body)
    choice = completion.choices[0]
    calls = [(c.function.name, c.function.arguments) for c in choice.message.tool_calls or () if c.type == "function"]
    usage = completion.usage
    seen = View(
        stop=choice.finish_reason,
        calls=calls,
        output_tokens=usage.completion_tokens if usage else None,
        total_tokens=usage.total_tokens if usage else None,
        refusal=choice.message.refusal,
        filter_results=body["choices"][0].get("content_filter_results"),
    )
    if choice.message.content is not None:
        seen.add(choice.message.content)
    if choice.message.refusal is not None:
        seen.pieces.append(choice.message.refusal)
    return seen


def _chat_stream(raw: bytes) -> View:
    seen = View()
    calls: dict[int, list[str]] = {}
    assert payloads(raw)[-1] == (None, "[DONE]")
    for _, data in payloads(raw)[:-1]:
        if data["object"] == "" and not data["choices"]:
            continue  # Azure's opening frame: the prompt's filter results, not a chunk the SDK types
        chunk = ChatCompletionChunk.model_validate(data)
        if chunk.usage is not None:
            seen.output_tokens, seen.total_tokens = chunk.usage.completion_tokens, chunk.usage.total_tokens
        for choice in chunk.choices:
            if choice.delta.content is not None:
                seen.add(choice.delta.content)
            if choice.delta.refusal:
                seen.refusal = (seen.refusal or "") + choice.delta.refusal
                seen.pieces.append(choice.delta.refusal)
            for call in choice.delta.tool_calls or ():
                held = calls.setdefault(call.index, ["", ""])
                if call.function and call.function.name:
                    held[0] += call.function.name
                if call.function and call.function.arguments:
                    held[1] += call.function.arguments
            if choice.finish_reason:
                seen.stop = choice.finish_reason
                seen.filter_results = data["choices"][0].get("content_filter_results")
    seen.calls = [(name, arguments) for name, arguments in calls.values()]
    return seen


def _response_view(response: Response, seen: View, stream: bool = False) -> View:
    for item in response.output:
        if item.type == "message":
            for part in item.content:
                if part.type == "output_text":
                    seen.text += part.text
                    if not stream:
                        seen.pieces.append(part.text)
                else:
                    seen.refusal = part.refusal
                    if not stream:
                        seen.pieces.append(part.refusal)
        elif item.type == "function_call":
            seen.calls.append((item.name, item.arguments))
    seen.stop = response.status if response.incomplete_details is None else response.incomplete_details.reason
    if response.usage is not None:
        seen.output_tokens, seen.total_tokens = response.usage.output_tokens, response.usage.total_tokens
    return seen


def _responses_body(body: dict[str, Any]) -> View:
    return _response_view(Response.model_validate(body), View())


_RESPONSE_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def _responses_stream(raw: bytes) -> View:
    seen = View()
    streamed = ""
    final = None
    for name, data in payloads(raw):
        event = _RESPONSE_EVENT.validate_python(data)
        assert name == event.type
        seen.events.append(event.type)
        if event.type in ("response.output_text.delta", "response.refusal.delta"):
            seen.pieces.append(event.delta)
        if event.type == "response.output_text.delta":
            streamed += event.delta
        elif event.type == "response.output_text.done":
            assert event.text == streamed, "the done event must hold the text the deltas gave"
        elif event.type in ("response.completed", "response.incomplete"):
            final = event.response
    assert final is not None, "a Responses stream ends with response.completed or response.incomplete"
    _response_view(final, seen, stream=True)
    assert seen.text == streamed
    return seen


def _without_text_arguments(holders: list[dict[str, Any]], key: str) -> list[str | None]:
    """Arguments that are JSON text where the wire holds an object (`bad_json` there) put aside,
    as the SDK's types refuse them (anthropic constructs them unvalidated, google-genai raises)."""
    texts: list[str | None] = []
    for holder in holders:
        value = holder.get(key)
        texts.append(value if isinstance(value, str) else None)
        if isinstance(value, str):
            holder[key] = {}
    return texts


# Stands in for a usage object `usage_missing` took away, where the SDK's types require one.
_NO_USAGE = {"input_tokens": -1, "output_tokens": -1}


def _anthropic_body(body: dict[str, Any]) -> View:
    tool_uses = [block for block in body["content"] if block["type"] == "tool_use"]
    texts = iter(_without_text_arguments(tool_uses, "input"))
    message = Message.model_validate({"usage": _NO_USAGE, **body})
    seen = View(stop=message.stop_reason, output_tokens=message.usage.output_tokens if "usage" in body else None)
    for block in message.content:
        if block.type == "text":
            seen.add(block.text)
        elif block.type == "tool_use":
            seen.calls.append((block.name, next(texts) or json.dumps(block.input)))
    return seen


_ANTHROPIC_EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)


def _anthropic_stream(raw: bytes) -> View:
    seen = View()
    calls: dict[int, list[str]] = {}
    for name, data in payloads(raw):
        if name == "ping":
            continue
        if data["type"] == "message_start":
            data["message"] = {"usage": _NO_USAGE, **data["message"]}
        if data["type"] == "message_delta":
            data = {"usage": _NO_USAGE, **data}
        event = _ANTHROPIC_EVENT.validate_python(data)
        seen.events.append(event.type)
        if event.type == "content_block_start" and event.content_block.type == "tool_use":
            calls[event.index] = [event.content_block.name, ""]
        elif event.type == "content_block_start" and event.content_block.type == "text":
            seen.add(event.content_block.text)
        elif event.type == "content_block_delta" and event.delta.type == "text_delta":
            seen.add(event.delta.text)
        elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
            calls[event.index][1] += event.delta.partial_json
        elif event.type == "message_delta":
            seen.stop = event.delta.stop_reason
            seen.output_tokens = None if event.usage.output_tokens < 0 else event.usage.output_tokens
    assert seen.events[-1] == "message_stop"
    seen.calls = [(name, arguments) for name, arguments in calls.values()]
    return seen


def _gemini_chunk(chunk: dict[str, Any], seen: View) -> None:
    calls = [
        part["functionCall"]
        for part in chunk["candidates"][0].get("content", {}).get("parts", [])
        if "functionCall" in part
    ]
    texts = iter(_without_text_arguments(calls, "args"))
    response = GenerateContentResponse.model_validate(chunk)
    candidate = (response.candidates or [])[0]
    for part in (candidate.content.parts if candidate.content else None) or ():
        if part.text is not None and not part.thought:
            seen.add(part.text)
        if part.function_call is not None:
            seen.calls.append((part.function_call.name or "", next(texts) or json.dumps(part.function_call.args)))
    if candidate.finish_reason is not None:
        seen.stop = candidate.finish_reason.value
        seen.safety = [r.model_dump(exclude_none=True) for r in candidate.safety_ratings or ()]
    usage = response.usage_metadata
    seen.output_tokens = usage.candidates_token_count if usage else None
    seen.total_tokens = usage.total_token_count if usage else None


def _gemini_body(body: dict[str, Any]) -> View:
    seen = View()
    _gemini_chunk(body, seen)
    return seen


def _gemini_stream(raw: bytes) -> View:
    seen = View()
    for _, data in payloads(raw):
        _gemini_chunk(data, seen)
    return seen


_BODY_VIEWS = {
    "chat": _chat_body,
    "responses": _responses_body,
    "messages": _anthropic_body,
    "gemini": _gemini_body,
}
_STREAM_VIEWS = {
    "chat": _chat_stream,
    "responses": _responses_stream,
    "messages": _anthropic_stream,
    "gemini": _gemini_stream,
}


# Where one event of a stream carries a piece of the answer's text, or of a call's arguments: the
# object holding it and its key (None: the event carries none).
Slot = tuple[dict[str, Any], str] | None


def _first(value: object) -> dict[str, Any]:
    return value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else {}


def text_slot(name: str, payload: dict[str, Any]) -> Slot:
    endpoint = CAPTURES[name][1] if CAPTURES[name][0] != "gemini" else "gemini"
    if endpoint == "chat":
        holder = _first(payload.get("choices")).get("delta", {})
        return (holder, "content") if isinstance(holder.get("content"), str) else None
    if endpoint == "responses":
        return (payload, "delta") if payload.get("type") == "response.output_text.delta" else None
    if endpoint == "messages":
        delta = payload.get("delta", {})
        return (delta, "text") if payload.get("type") == "content_block_delta" and "text" in delta else None
    parts = _first(payload.get("candidates")).get("content", {}).get("parts", [])
    texts = [part for part in parts if isinstance(part.get("text"), str) and not part.get("thought")]
    return (texts[0], "text") if texts else None


def arguments_slot(name: str, payload: dict[str, Any]) -> Slot:
    endpoint = CAPTURES[name][1]
    if endpoint == "chat":
        function = _first(_first(payload.get("choices")).get("delta", {}).get("tool_calls")).get("function", {})
        return (function, "arguments") if isinstance(function.get("arguments"), str) else None
    if endpoint == "responses":
        kind = payload.get("type")
        return (payload, "delta") if kind == "response.function_call_arguments.delta" else None
    delta = payload.get("delta", {})
    if payload.get("type") == "content_block_delta" and "partial_json" in delta:
        return delta, "partial_json"
    return None


def pieces_in(name: str, slot: Callable[[str, dict[str, Any]], Slot], raw: bytes) -> list[str]:
    """The pieces `slot` finds in a stream's events, in order (empty ones left out)."""
    found = []
    for _, data in payloads(raw):
        where = slot(name, data) if isinstance(data, dict) else None
        if where is not None and where[0][where[1]]:
            found.append(where[0][where[1]])
    return found


def respoken(name: str, slot: Callable[[str, dict[str, Any]], Slot], pieces: list[str]) -> list[bytes]:
    """The captured stream's events with what `slot` finds said again in `pieces`: its first
    event carrying a piece becomes one event per piece, the others carry an empty one, and the
    events that repeat it whole (Responses' `.done` events, its final response) repeat the new."""
    raw = (DATA / f"{name}.sse").read_bytes()
    before, after = "".join(pieces_in(name, slot, raw)), "".join(pieces)
    out: list[bytes] = []
    spoken = False
    for event in events(raw):
        data = event.json() if event.data.startswith("{") else None
        where = slot(name, data) if isinstance(data, dict) else None
        if not isinstance(data, dict) or where is None:
            repeated = _replaced(data, before, after)
            out.append(event.raw if repeated == data else format_event(json.dumps(repeated), event.name, b"\n"))
            continue
        holder, key = where
        if spoken or not holder[key]:
            holder[key] = ""
            out.append(format_event(json.dumps(data), event.name, b"\n"))
            continue
        spoken = True
        for piece in pieces:
            holder[key] = piece
            out.append(format_event(json.dumps(data), event.name, b"\n"))
    assert spoken, f"{name} has no event carrying such a piece"
    return out


def _replaced(value: Any, before: str, after: str) -> Any:
    if value == before:
        return after
    if isinstance(value, dict):
        return {key: _replaced(item, before, after) for key, item in value.items()}
    if isinstance(value, list):
        return [_replaced(item, before, after) for item in value]
    return value


def fed(fault: ContentFault, name: str, stream: list[bytes]) -> tuple[Outcome, list[bytes]]:
    """The fault's plan fed a stream an event at a time: its outcome and what each feed sent."""
    run = armed(fault, name, stream=True)
    plan = fault.plan_run(run)
    sent = [b"".join(a.data for a in plan.feed(event, 0.0) if isinstance(a, Send)) for event in stream]
    sent.append(b"".join(a.data for a in plan.end(0.0) if isinstance(a, Send)))
    return (plan.outcome if plan.outcome != Outcome.NONE else run.outcome), sent


def most_held(name: str, slot: Callable[[str, dict[str, Any]], Slot], stream: list[bytes], sent: list[bytes]) -> int:
    """The most characters of what `slot` finds that were in and not yet out, after any feed."""
    given = got = most = 0
    for event, out in zip([*stream, b""], sent, strict=True):
        given += sum(map(len, pieces_in(name, slot, event)))
        got += sum(map(len, pieces_in(name, slot, out)))
        most = max(most, given - got)
    return most


def usages(raw: bytes) -> list[Any]:
    """Every usage object in a stream's events, in order, wherever its provider puts it."""
    found: list[Any] = []

    def gather(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("usage", "usageMetadata"):
                    found.append(item)
                else:
                    gather(item)

    for _, data in payloads(raw):
        gather(data)
    return found


def fed_in_pieces(
    fault: ContentFault, name: str, slot: Callable[[str, dict[str, Any]], Slot], whole: str
) -> tuple[Outcome, list[bytes], list[bytes]]:
    """The captured stream with what `slot` finds said again as `whole` in 50-character pieces,
    fed to the fault's plan an event at a time: its outcome, the events fed, what each feed sent."""
    stream = respoken(name, slot, [whole[at : at + 50] for at in range(0, len(whole), 50)])
    outcome, sent = fed(fault, name, stream)
    return outcome, stream, sent
