"""Anthropic Messages: text in `content[]` `text` blocks (a stream's `text_delta`s between
`content_block_start` and `content_block_stop`), tool calls as `tool_use` blocks whose `input` is
an object (a stream's `input_json_delta` pieces of JSON text), the stop in `stop_reason` (a
stream's `message_delta`), usage in `usage` (`message_start` and `message_delta` in a stream)."""

from __future__ import annotations

import json
from typing import Any

from brownout.faults.content.editor import Stop
from brownout.faults.content.editor import tokens_in
from brownout.faults.content.framing.common import ContentPlan
from brownout.faults.content.framing.common import Editors
from brownout.faults.content.framing.common import HeldCall
from brownout.faults.content.framing.common import NewEditor
from brownout.faults.content.framing.common import arguments_object
from brownout.faults.content.framing.common import dicts
from brownout.faults.content.framing.common import edit_usage
from brownout.faults.outcome import Outcome
from brownout.providers.dialects import AnthropicMessages

# `refusal` is the stop Anthropic's safety classifiers end a message with (Claude 4 and later).
STOP_REASON: dict[Stop, str] = {"length": "max_tokens", "filter": "refusal", "normal": "end_turn"}


def edit_body(body: dict[str, Any], new: NewEditor) -> bool:
    editors = Editors(new)
    editor = editors.of(0)
    blocks = dicts(body.get("content"))
    texts = [block for block in blocks if block.get("type") == "text" and isinstance(block.get("text"), str)]
    editor.begin(sum(tokens_in(block["text"]) for block in texts))
    for block in blocks:
        if block in texts:
            block["text"] = editor.text(block["text"]) + editor.text_end()
        elif block.get("type") == "tool_use" and editor.edits_tools and isinstance(block.get("name"), str):
            called = block["name"]
            block["name"] = editor.tool_name(called)
            arguments = json.dumps(block.get("input", {}), separators=(",", ":"))
            block["input"] = arguments_object(editor.tool_arguments(called, arguments), block.get("input", {}))
    stop = editor.stop()
    if stop is not None:
        body["stop_reason"] = STOP_REASON[stop]
        body["stop_sequence"] = None
    edit_usage(body, "usage", editors, "output_tokens")
    return editors.acted


class MessagesPlan(ContentPlan):
    """Deltas edited in place; a held structured answer or tool input goes out as one delta just
    before its block's `content_block_stop` (input not edited, or grown past `MAX_HELD`, is not
    held); the stop and usage changed in `message_delta`."""

    def __init__(self, new: NewEditor, applied: Outcome) -> None:
        super().__init__(AnthropicMessages(), Editors(new, stream=True), applied)
        self.blocks: dict[int, str] = {}  # index -> block type
        self.calls: dict[int, HeldCall] = {}  # block index -> its input JSON

    def edit(self, name: str | None, payload: dict[str, Any]) -> list[bytes] | None:
        editor = self.editors.of(0)
        kind = payload.get("type")
        index = payload.get("index", 0) if isinstance(payload.get("index"), int) else 0
        if kind == "message_start":
            message = payload.get("message")
            if isinstance(message, dict) and edit_usage(message, "usage", self.editors, "output_tokens"):
                return [self.event(name, payload)]
            return None
        if kind == "content_block_start":
            block = payload.get("content_block")
            if not isinstance(block, dict):
                return None
            self.blocks[index] = str(block.get("type"))
            if block.get("type") == "text" and isinstance(block.get("text"), str) and block["text"]:
                block["text"] = editor.text(block["text"])
            elif block.get("type") == "tool_use" and editor.edits_tools:
                self.calls[index] = HeldCall(editor, str(block.get("name", "")))
                block["name"] = editor.tool_name(str(block.get("name", "")))
            else:
                return None
            return [self.event(name, payload)]
        if kind == "content_block_delta":
            delta = payload.get("delta")
            if not isinstance(delta, dict):
                return None
            if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                delta["text"] = editor.text(delta["text"])
            elif delta.get("type") == "input_json_delta" and index in self.calls:
                piece = str(delta.get("partial_json", ""))
                sent = self.calls[index].piece(piece)
                if sent == piece:
                    return None
                delta["partial_json"] = sent
            else:
                return None
            return [self.event(name, payload)]
        if kind == "content_block_stop":
            return self._block_stop(index, name, payload)
        if kind == "message_delta":
            delta = payload.get("delta")
            stop = editor.stop()
            if isinstance(delta, dict) and stop is not None:
                delta["stop_reason"] = STOP_REASON[stop]
                delta["stop_sequence"] = None
            edit_usage(payload, "usage", self.editors, "output_tokens")
            return [self.event(name, payload)]
        return None

    def _block_stop(self, index: int, name: str | None, payload: dict[str, Any]) -> list[bytes] | None:
        editor = self.editors.of(0)
        delta: dict[str, Any]
        if self.blocks.get(index) == "text":
            tail = editor.text_end()
            if not tail:
                return None
            delta = {"type": "text_delta", "text": tail}
        elif index in self.calls:
            edited = self.calls.pop(index).end()
            if edited is None:
                return None
            delta = {"type": "input_json_delta", "partial_json": edited}
        else:
            return None
        extra = {"type": "content_block_delta", "index": index, "delta": delta}
        return [self.event("content_block_delta", extra), self.event(name, payload)]
