"""Gemini `generateContent` and `streamGenerateContent`: every chunk of a stream has the body's
shape. Text in each candidate's `content.parts[].text` (thought parts, `thought: true`, are not the
answer), tool calls as `functionCall` parts whose `args` is an object, the stop in `finishReason`
(`SAFETY` with the candidate's `safetyRatings`), usage in `usageMetadata` (in every chunk of a
stream, counted so far)."""

from __future__ import annotations

import json
from typing import Any

from brownout.faults.content.editor import Editor
from brownout.faults.content.editor import Stop
from brownout.faults.content.editor import tokens_in
from brownout.faults.content.framing.common import ContentPlan
from brownout.faults.content.framing.common import Editors
from brownout.faults.content.framing.common import NewEditor
from brownout.faults.content.framing.common import arguments_object
from brownout.faults.content.framing.common import dicts
from brownout.faults.content.framing.common import edit_usage
from brownout.faults.outcome import Outcome
from brownout.providers.dialects import GeminiStream

FINISH_REASON: dict[Stop, str] = {"length": "MAX_TOKENS", "filter": "SAFETY", "normal": "STOP"}
_CATEGORIES = (
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
)


def blocked_ratings() -> list[dict[str, Any]]:
    """A candidate's safety ratings when its output was blocked: one category blocked."""
    return [
        {"category": category, "probability": "NEGLIGIBLE"}
        if category != "HARM_CATEGORY_DANGEROUS_CONTENT"
        else {"category": category, "probability": "HIGH", "blocked": True}
        for category in _CATEGORIES
    ]


def _answer_parts(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content")
    parts = dicts(content.get("parts")) if isinstance(content, dict) else []
    return [part for part in parts if isinstance(part.get("text"), str) and not part.get("thought")]


def _edit_candidate(candidate: dict[str, Any], editor: Editor) -> None:
    content = candidate.get("content")
    parts = dicts(content.get("parts")) if isinstance(content, dict) else []
    for part in parts:
        if isinstance(part.get("text"), str) and not part.get("thought"):
            part["text"] = editor.text(part["text"])
        call = part.get("functionCall")
        if editor.edits_tools and isinstance(call, dict) and isinstance(call.get("name"), str):
            called = call["name"]
            call["name"] = editor.tool_name(called)
            arguments = json.dumps(call.get("args", {}), separators=(",", ":"))
            call["args"] = arguments_object(editor.tool_arguments(called, arguments), call.get("args", {}))
    if not candidate.get("finishReason"):
        return
    tail = editor.text_end()
    if tail:
        texts = _answer_parts(candidate)
        if texts:
            texts[-1]["text"] += tail
        elif isinstance(content, dict):
            content.setdefault("parts", []).append({"text": tail})
        else:
            candidate["content"] = {"parts": [{"text": tail}], "role": "model"}
    stop = editor.stop()
    if stop is not None:
        candidate["finishReason"] = FINISH_REASON[stop]
        if stop == "filter":
            candidate["safetyRatings"] = blocked_ratings()


def edit_chunk(chunk: dict[str, Any], editors: Editors) -> None:
    for candidate in dicts(chunk.get("candidates")):
        _edit_candidate(candidate, editors.of(candidate.get("index", 0)))
    edit_usage(chunk, "usageMetadata", editors, "candidatesTokenCount", "totalTokenCount")


def edit_body(body: dict[str, Any], new: NewEditor) -> bool:
    editors = Editors(new)
    for candidate in dicts(body.get("candidates")):
        editors.of(candidate.get("index", 0)).begin(sum(tokens_in(p["text"]) for p in _answer_parts(candidate)))
    edit_chunk(body, editors)
    return editors.acted


class GenerateStreamPlan(ContentPlan):
    """Each chunk edited whole: its text parts, a function call (which arrives whole), and in the
    chunk with the `finishReason` any held text and the stop; usage follows the text so far."""

    def __init__(self, new: NewEditor, applied: Outcome) -> None:
        super().__init__(GeminiStream(), Editors(new, stream=True), applied)

    def edit(self, name: str | None, payload: dict[str, Any]) -> list[bytes] | None:
        if "candidates" not in payload and "usageMetadata" not in payload:
            return None
        edit_chunk(payload, self.editors)
        return [self.event(name, payload)]
