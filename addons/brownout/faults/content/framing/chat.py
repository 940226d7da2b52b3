"""OpenAI Chat Completions (and Azure OpenAI's, and the OpenAI-compatible servers'): the text in
each choice's `message.content` (a stream's `delta.content`), the refusal in `refusal`, tool calls
in `tool_calls[].function`, the stop in `finish_reason`, usage in `usage` (a stream's last chunk
before `[DONE]`, when the request asked for it). Azure adds `content_filter_results` per choice."""

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
from brownout.providers.dialects import OpenAIChat

FINISH: dict[Stop, str] = {"length": "length", "filter": "content_filter", "normal": "stop"}
_SAFE = {"filtered": False, "severity": "safe"}


def filtered_results() -> dict[str, Any]:
    """Azure's per-choice filter results when its filter stopped the output (one category filtered)."""
    return {
        "hate": dict(_SAFE),
        "self_harm": dict(_SAFE),
        "sexual": dict(_SAFE),
        "violence": {"filtered": True, "severity": "medium"},
    }


def _stop(choice: dict[str, Any], editor: Editor, azure: bool) -> None:
    stop = editor.stop()
    if stop is None:
        return
    choice["finish_reason"] = FINISH[stop]
    if stop == "filter" and azure:
        choice["content_filter_results"] = filtered_results()


def _put_text(holder: dict[str, Any], editor: Editor, text: str) -> None:
    if editor.refuses:
        holder["content"] = None
        if text:
            holder["refusal"] = text
    else:
        holder["content"] = text


def edit_body(body: dict[str, Any], new: NewEditor, azure: bool = False) -> bool:
    editors = Editors(new)
    for choice in dicts(body.get("choices")):
        editor = editors.of(choice.get("index", 0))
        message = choice.get("message")
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            editor.begin(tokens_in(content))
            _put_text(message, editor, editor.text(content) + editor.text_end())
        if editor.edits_tools:
            for call in dicts(message.get("tool_calls")):
                function = call.get("function")
                if isinstance(function, dict) and isinstance(function.get("name"), str):
                    called = function["name"]
                    function["name"] = editor.tool_name(called)
                    function["arguments"] = editor.tool_arguments(called, str(function.get("arguments") or ""))
        _stop(choice, editor, azure)
    edit_usage(body, "usage", editors, "completion_tokens", "total_tokens")
    return editors.acted


class ChatPlan(ContentPlan):
    """Deltas edited in place; a held structured answer or tool call's arguments go out in the
    choice's finishing chunk, whose `finish_reason` is changed there too. (Calls whose arguments
    are not edited, or grew past `MAX_HELD`, are not held.)"""

    def __init__(self, new: NewEditor, applied: Outcome, azure: bool) -> None:
        super().__init__(OpenAIChat("azure" if azure else "openai"), Editors(new, stream=True), applied)
        self.azure = azure
        self.calls: dict[tuple[int, int], HeldCall] = {}  # (choice, call index) -> its arguments

    def edit(self, name: str | None, payload: dict[str, Any]) -> list[bytes] | None:
        choices = dicts(payload.get("choices"))
        if not choices and not isinstance(payload.get("usage"), dict):
            return None  # Azure's opening frame, the prompt's filter results
        for choice in choices:
            self._choice(choice)
        if edit_usage(payload, "usage", self.editors, "completion_tokens", "total_tokens"):
            payload.setdefault("usage", None)  # a chunk always has the field; without usage, null
        return [self.event(name, payload)]

    def _choice(self, choice: dict[str, Any]) -> None:
        index = choice.get("index", 0) if isinstance(choice.get("index"), int) else 0
        editor = self.editors.of(index)
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            delta = choice["delta"] = {}
        content = delta.get("content")
        if isinstance(content, str):
            _put_text(delta, editor, editor.text(content))
        if editor.edits_tools:
            for call in dicts(delta.get("tool_calls")):
                self._call(index, call, editor)
        if not choice.get("finish_reason"):
            return
        tail = editor.text_end()
        if tail:
            _put_text(delta, editor, tail)
        self._calls_end(index, delta)
        _stop(choice, editor, self.azure)

    def _calls_end(self, index: int, delta: dict[str, Any]) -> None:
        """The choice's held calls' arguments, edited, in its finishing chunk (beside what of
        those calls the chunk itself carries)."""
        ended = [(key[1], call.end()) for key, call in self.calls.items() if key[0] == index]
        edited = {call: arguments for call, arguments in ended if arguments is not None}
        if not edited:
            return
        carried = {c.get("index", 0): c for c in dicts(delta.get("tool_calls")) if isinstance(c.get("function"), dict)}
        for call, arguments in edited.items():
            if call in carried:
                carried[call]["function"]["arguments"] = arguments
            else:
                carried[call] = {"index": call, "function": {"arguments": arguments}}
        delta["tool_calls"] = list(carried.values())

    def _call(self, index: int, call: dict[str, Any], editor: Editor) -> None:
        key = (index, call.get("index", 0) if isinstance(call.get("index"), int) else 0)
        function = call.get("function")
        if not isinstance(function, dict):
            return
        held = self.calls.get(key)
        if held is None:
            held = self.calls[key] = HeldCall(editor)
        if isinstance(function.get("name"), str) and function["name"]:
            held.name = function["name"]
            function["name"] = editor.tool_name(function["name"])
        if isinstance(function.get("arguments"), str):
            function["arguments"] = held.piece(function["arguments"])
