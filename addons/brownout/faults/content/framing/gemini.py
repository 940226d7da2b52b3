"""Gemini `generateContent` and `streamGenerateContent`: every chunk of a stream has the body's
shape. Text in each candidate's `content.parts[].text` (thought parts, `thought: true`, are not the
answer), tool calls as `functionCall` parts whose `args` is an object, the stop in `finishReason`
(`SAFETY` with the candidate's `safetyRatings`), usage in `usageMetadata` (in every chunk of a
stream, counted so far). Gemini parses the model's calls itself: a call whose edited arguments
no longer parse as an object is taken out of the candidate, which ends `MALFORMED_FUNCTION_CALL`,
as Gemini answers a call the model wrote and it could not read."""

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
MALFORMED = "MALFORMED_FUNCTION_CALL"
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


def _edit_candidate(candidate: dict[str, Any], editor: Editor, malformed: set[int]) -> None:
    index = candidate["index"] if isinstance(candidate.get("index"), int) else 0
    content = candidate.get("content")
    parts = dicts(content.get("parts")) if isinstance(content, dict) else []
    kept: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part.get("text"), str) and not part.get("thought"):
            part["text"] = editor.text(part["text"])
        call = part.get("functionCall")
        if editor.edits_tools and isinstance(call, dict) and isinstance(call.get("name"), str):
            called = call["name"]
            call["name"] = editor.tool_name(called)
            arguments = json.dumps(call.get("args", {}), separators=(",", ":"))
            args = arguments_object(editor.tool_arguments(called, arguments), call.get("args", {}))
            if not isinstance(args, dict):
                # What else the part holds (a thought signature) stays; the call does not.
                malformed.add(index)
                del part["functionCall"]
                if not part:
                    continue
            else:
                call["args"] = args
        kept.append(part)
    if isinstance(content, dict) and len(kept) < len(parts):
        # What preceded the unreadable call stays; a candidate with nothing left has no content.
        if kept:
            content["parts"] = kept
        else:
            del candidate["content"]
            content = None
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
    if index in malformed:
        candidate["finishReason"] = MALFORMED
    elif stop is not None:
        candidate["finishReason"] = FINISH_REASON[stop]
        if stop == "filter":
            candidate["safetyRatings"] = blocked_ratings()


def _without_calls(usage: dict[str, Any], editors: Editors) -> None:
    """Usage once a malformed call was taken out: Gemini counts no candidate tokens for a call it
    could not read, only the text the client still gets (the total moves with them)."""
    before = usage.get("candidatesTokenCount")
    if not isinstance(before, int) or isinstance(before, bool):
        return
    after = sum(editor.sent for editor in editors.by_index.values())
    if after:
        usage["candidatesTokenCount"] = after
    else:
        del usage["candidatesTokenCount"]
    if isinstance(usage.get("totalTokenCount"), int):
        usage["totalTokenCount"] = max(0, usage["totalTokenCount"] + after - before)


def edit_chunk(chunk: dict[str, Any], editors: Editors, malformed: set[int]) -> bool:
    """Edit one chunk (or a body) in place; False when nothing of it is left to send (a stream's
    chunk that held only the call taken out)."""
    candidates = dicts(chunk.get("candidates"))
    for candidate in candidates:
        _edit_candidate(candidate, editors.of(candidate.get("index", 0)), malformed)
    edit_usage(chunk, "usageMetadata", editors, "candidatesTokenCount", "totalTokenCount")
    if not malformed:
        return True
    if isinstance(chunk.get("usageMetadata"), dict):
        _without_calls(chunk["usageMetadata"], editors)
    left = [candidate for candidate in candidates if set(candidate) - {"index"}]
    if len(left) == len(candidates):
        return True
    chunk["candidates"] = left
    return bool(left)


def edit_body(body: dict[str, Any], new: NewEditor) -> bool:
    editors = Editors(new)
    for candidate in dicts(body.get("candidates")):
        editors.of(candidate.get("index", 0)).begin(sum(tokens_in(p["text"]) for p in _answer_parts(candidate)))
    edit_chunk(body, editors, set())
    return editors.acted


class GenerateStreamPlan(ContentPlan):
    """Each chunk edited whole: its text parts, a function call (which arrives whole; one taken
    out leaves a chunk that held only it unsent), and in the chunk with the `finishReason` any
    held text and the stop; usage follows the text so far."""

    def __init__(self, new: NewEditor, applied: Outcome) -> None:
        super().__init__(GeminiStream(), Editors(new, stream=True), applied)
        self.malformed: set[int] = set()  # candidates whose call was taken out

    def edit(self, name: str | None, payload: dict[str, Any]) -> list[bytes] | None:
        if "candidates" not in payload and "usageMetadata" not in payload:
            return None
        if not edit_chunk(payload, self.editors, self.malformed):
            return []
        return [self.event(name, payload)]
