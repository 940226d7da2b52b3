"""The Responses API: text in `output[]` message items' `output_text` parts (a stream's
`response.output_text.delta` / `.done`), a refusal as a `refusal` part (`response.refusal.delta` /
`.done`), tool calls as `function_call` items (`response.function_call_arguments.delta` / `.done`),
a length or filter stop as `status: incomplete` with `incomplete_details.reason` (a stream's last
event `response.incomplete` instead of `response.completed`), usage in `usage`."""

from __future__ import annotations

from typing import Any

from brownout.faults.content.editor import Editor
from brownout.faults.content.editor import Stop
from brownout.faults.content.editor import tokens_in
from brownout.faults.content.framing.common import ContentPlan
from brownout.faults.content.framing.common import Editors
from brownout.faults.content.framing.common import HeldCall
from brownout.faults.content.framing.common import NewEditor
from brownout.faults.content.framing.common import dicts
from brownout.faults.content.framing.common import edit_usage
from brownout.faults.outcome import Outcome
from brownout.providers.dialects import OpenAIResponses

INCOMPLETE: dict[Stop, str] = {"length": "max_output_tokens", "filter": "content_filter"}


def _text_part(part: dict[str, Any], editor: Editor, text: str) -> None:
    """An `output_text` part carrying `text` as the client gets it (a `refusal` part when refusing)."""
    if editor.refuses:
        part.clear()
        part.update({"type": "refusal", "refusal": text})
    else:
        part["text"] = text


def _stop(response: dict[str, Any], editor: Editor) -> bool:
    """The response marked incomplete for a length or filter stop; True when it was."""
    stop = editor.stop()
    if stop not in INCOMPLETE:
        return False
    response["status"] = "incomplete"
    response["incomplete_details"] = {"reason": INCOMPLETE[stop]}
    for item in dicts(response.get("output")):
        if item.get("type") == "message":
            item["status"] = "incomplete"
    return True


class SentText:
    """A text part as the client got it, without holding it: the stretches it shares with the
    upstream's text (ranges of it) and what the editors wrote instead. The upstream's events that
    close the part repeat its text whole, and the part is rebuilt from each of them."""

    def __init__(self) -> None:
        self.pieces: list[str | tuple[int, int]] = []
        self.at = 0  # characters of the upstream's text so far

    def add(self, upstream: str, sent: str) -> None:
        start, self.at = self.at, self.at + len(upstream)
        if sent != upstream:
            if sent:
                self.pieces.append(sent)
            return
        last = self.pieces[-1] if self.pieces else None
        if isinstance(last, tuple) and last[1] == start:
            self.pieces[-1] = (last[0], self.at)
        elif sent:
            self.pieces.append((start, self.at))

    def text(self, upstream: object) -> str:
        """The part as sent, given the upstream's whole text of it."""
        whole = upstream if isinstance(upstream, str) else ""
        return "".join(whole[piece[0] : piece[1]] if isinstance(piece, tuple) else piece for piece in self.pieces)


def edit_body(body: dict[str, Any], new: NewEditor) -> bool:
    editors = Editors(new)
    editor = editors.of(0)
    items = dicts(body.get("output"))
    parts = [
        part
        for item in items
        if item.get("type") == "message"
        for part in dicts(item.get("content"))
        if part.get("type") == "output_text" and isinstance(part.get("text"), str)
    ]
    editor.begin(sum(tokens_in(part["text"]) for part in parts))
    for part in parts:
        _text_part(part, editor, editor.text(part["text"]) + editor.text_end())
    if editor.edits_tools:
        for item in items:
            if item.get("type") == "function_call" and isinstance(item.get("name"), str):
                called = item["name"]
                item["name"] = editor.tool_name(called)
                item["arguments"] = editor.tool_arguments(called, str(item.get("arguments") or ""))
    _stop(body, editor)
    if edit_usage(body, "usage", editors, "output_tokens", "total_tokens"):
        body.setdefault("usage", None)
    return editors.acted


class ResponsesPlan(ContentPlan):
    """Deltas edited in place; the `.done` events and the final response carry what the client got.
    A held structured answer or call's arguments go out as one delta just before its `.done`
    (arguments not edited, or grown past `MAX_HELD`, are not held)."""

    def __init__(self, new: NewEditor, applied: Outcome) -> None:
        super().__init__(OpenAIResponses(), Editors(new, stream=True), applied)
        self.texts: dict[tuple[str, int], SentText] = {}  # (item id, content index) -> the text sent
        self.calls: dict[str, HeldCall] = {}  # item id -> its arguments
        self.edited: dict[str, str] = {}  # item id -> the arguments sent, edited

    @property
    def editor(self) -> Editor:
        return self.editors.of(0)

    def edit(self, name: str | None, payload: dict[str, Any]) -> list[bytes] | None:
        kind = payload.get("type")
        editor = self.editor
        if kind == "response.output_item.added":
            item = payload.get("item")
            if isinstance(item, dict) and item.get("type") == "function_call" and editor.edits_tools:
                self.calls[str(item.get("id"))] = HeldCall(editor, str(item.get("name", "")))
                item["name"] = editor.tool_name(str(item.get("name", "")))
                return [self.event(name, payload)]
            return None
        if kind == "response.content_part.added" and editor.refuses:
            part = payload.get("part")
            if isinstance(part, dict) and part.get("type") == "output_text":
                _text_part(part, editor, "")
                return [self.event(name, payload)]
            return None
        if kind == "response.output_text.delta":
            return self._text_delta(payload)
        if kind == "response.output_text.done":
            return self._text_done(payload)
        if kind == "response.content_part.done":
            part = payload.get("part")
            key = (str(payload.get("item_id")), payload.get("content_index", 0))
            if isinstance(part, dict) and part.get("type") == "output_text" and key in self.texts:
                _text_part(part, editor, self.texts[key].text(part.get("text")))
                return [self.event(name, payload)]
            return None
        if kind in ("response.function_call_arguments.delta", "response.function_call_arguments.done"):
            return self._arguments(name, payload)
        if kind == "response.output_item.done":
            item = payload.get("item")
            if isinstance(item, dict):
                self._final_item(item)
                if item.get("type") == "message" and editor.stop() in INCOMPLETE:
                    item["status"] = "incomplete"
                return [self.event(name, payload)]
            return None
        if kind in ("response.completed", "response.incomplete"):
            return [self._final(name, payload)]
        return None

    def _text_delta(self, payload: dict[str, Any]) -> list[bytes] | None:
        delta = payload.get("delta")
        if not isinstance(delta, str):
            return None
        editor = self.editor
        payload["delta"] = sent = editor.text(delta)
        key = (str(payload.get("item_id")), payload.get("content_index", 0))
        self.texts.setdefault(key, SentText()).add(delta, sent)
        return [self._delta_event(payload)]

    def _delta_event(self, payload: dict[str, Any]) -> bytes:
        if self.editor.refuses:
            payload["type"] = "response.refusal.delta"
        return self.event(payload["type"], payload)

    def _text_done(self, payload: dict[str, Any]) -> list[bytes]:
        editor = self.editor
        key = (str(payload.get("item_id")), payload.get("content_index", 0))
        out: list[bytes] = []
        tail = editor.text_end()
        if tail:
            extra: dict[str, Any] = {
                k: payload[k] for k in ("item_id", "output_index", "content_index") if k in payload
            }
            delta: dict[str, Any] = {"type": "response.output_text.delta", **extra, "delta": tail, "logprobs": []}
            delta["sequence_number"] = payload.get("sequence_number", 0)
            out.append(self._delta_event(delta))
            self.texts.setdefault(key, SentText()).add("", tail)
        upstream = payload.get("text", "")
        text = self.texts[key].text(upstream) if key in self.texts else upstream
        if editor.refuses:
            payload.pop("text", None)
            payload.pop("logprobs", None)
            payload["type"] = "response.refusal.done"
            payload["refusal"] = text
        else:
            payload["text"] = text
        out.append(self.event(payload["type"], payload))
        return out

    def _arguments(self, name: str | None, payload: dict[str, Any]) -> list[bytes] | None:
        call = self.calls.get(str(payload.get("item_id")))
        if call is None:
            return None
        if payload.get("type") == "response.function_call_arguments.delta":
            piece = str(payload.get("delta", ""))
            sent = call.piece(piece)
            if sent == piece:
                return None
            payload["delta"] = sent
            return [self.event(name, payload)]
        item_id = str(payload.get("item_id"))
        edited = call.end(str(payload.get("arguments", "")))
        if edited is None:
            return None
        self.edited[item_id] = edited
        extra: dict[str, Any] = {k: payload[k] for k in ("item_id", "output_index") if k in payload}
        delta: dict[str, Any] = {"type": "response.function_call_arguments.delta", **extra, "delta": edited}
        delta["sequence_number"] = payload.get("sequence_number", 0)
        payload["arguments"] = edited
        return [self.event(delta["type"], delta), self.event(name, payload)]

    def _final_item(self, item: dict[str, Any]) -> None:
        """An output item as the client got it, in `output_item.done` and the final response."""
        item_id = str(item.get("id"))
        if item.get("type") == "message":
            for index, part in enumerate(dicts(item.get("content"))):
                if part.get("type") == "output_text" and (item_id, index) in self.texts:
                    _text_part(part, self.editor, self.texts[(item_id, index)].text(part.get("text")))
        call = self.calls.get(item_id)
        if item.get("type") == "function_call" and call is not None:
            item["name"] = self.editor.tool_name(call.name)
            item["arguments"] = self.edited.get(item_id, item.get("arguments", ""))

    def _final(self, name: str | None, payload: dict[str, Any]) -> bytes:
        response = payload.get("response")
        if not isinstance(response, dict):
            return self.event(name, payload)
        for item in dicts(response.get("output")):
            self._final_item(item)
        if _stop(response, self.editor):
            payload["type"] = name = "response.incomplete"
        if edit_usage(response, "usage", self.editors, "output_tokens", "total_tokens"):
            response.setdefault("usage", None)
        return self.event(name, payload)
