"""What the framings share: the editors of one answer, usage figures, and events written again
in the look their stream uses."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from brownout.faults.content.editor import Editor
from brownout.faults.content.editor import Held
from brownout.faults.outcome import Outcome
from brownout.faults.stream.plan import Action
from brownout.faults.stream.plan import EventPlan
from brownout.faults.stream.plan import Send
from brownout.providers.dialects import Dialect
from brownout.providers.sse import SseEvent
from brownout.providers.sse import format_event

NewEditor = Callable[[], Editor]


class Editors:
    """The editors of one answer: one per choice (OpenAI) or candidate (Gemini) index, made when
    first needed; on a stream each starts not knowing the text's length."""

    def __init__(self, new: NewEditor, stream: bool = False) -> None:
        self.new = new
        self.stream = stream
        self.by_index: dict[int, Editor] = {}

    def of(self, index: object = 0) -> Editor:
        key = index if isinstance(index, int) else 0
        editor = self.by_index.get(key)
        if editor is None:
            editor = self.by_index[key] = self.new()
            if self.stream:
                editor.begin(None)
        return editor

    @property
    def acted(self) -> bool:
        return any(editor.acted for editor in self.by_index.values())

    def usage(self, usage: dict[str, Any], output: str, total: str = "") -> dict[str, Any] | None:
        """A usage object as the client gets it, its token figures following all the text edits."""
        editors = self.by_index.values()
        text = None
        if any(editor.changed for editor in editors):
            text = (sum(editor.seen for editor in editors), sum(editor.sent for editor in editors))
        return self.of(0).usage(usage, output, total, text)


class HeldCall:
    """One streamed tool call's arguments as its editor needs them: held until the call ends
    (at most `MAX_HELD` characters: past that they go out unedited and the call is left as it
    is), or, for an editor that does not change arguments, let through as they come."""

    def __init__(self, editor: Editor, name: str = "") -> None:
        self.editor = editor
        self.name = name  # the tool the upstream called
        self.held = Held() if editor.edits_arguments() else None

    def piece(self, piece: str) -> str:
        """What goes out for this piece of the arguments (nothing while it is held)."""
        if self.held is None:
            return piece
        out = self.held.add(piece)
        return "" if out is None else out

    def end(self, whole: str = "") -> str | None:
        """The arguments edited, when they were held to the call's end (`whole`: the upstream's
        own, where no piece came); None when they went out as they came."""
        if self.held is None or self.held.over:
            return None
        self.held.over = True
        return self.editor.tool_arguments(self.name, self.held.take() or whole)


def dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def edit_usage(holder: dict[str, Any], key: str, editors: Editors, output: str, total: str = "") -> bool:
    """Edit `holder[key]`, a usage object, in place: its figures changed, or the key gone. True
    when there was one."""
    usage = holder.get(key)
    if not isinstance(usage, dict):
        return False
    edited = editors.usage(usage, output, total)
    if edited is None:
        del holder[key]
    else:
        holder[key] = edited
    return True


def scaled(value: Any, factor: float) -> Any:
    """Every token figure in a usage object multiplied (counts are integers; names, tiers are not)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return round(value * factor)
    if isinstance(value, dict):
        return {key: scaled(item, factor) for key, item in value.items()}
    if isinstance(value, list):
        return [scaled(item, factor) for item in value]
    return value


def arguments_object(arguments: str, original: object) -> object:
    """Arguments edited as JSON text, put back where the wire holds an object (Anthropic's
    `input`, Gemini's `args`): the object when they still parse, else the broken text itself."""
    if arguments == json.dumps(original, separators=(",", ":")):
        return original
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return arguments
    return parsed if isinstance(parsed, dict) else arguments


# Gemini writes `{"candidates": [...` (a space after each colon); the others write compact JSON.
_SPACED = re.compile(r'\{"[^"]*": ')


class ContentPlan(EventPlan):
    """A stream's events handed to `edit` as JSON objects; what it returns goes out in their place.
    The run's outcome is the fault's once an editor acted, `not_applied` when the stream ended
    without one acting."""

    def __init__(self, dialect: Dialect, editors: Editors, applied: Outcome) -> None:
        super().__init__(dialect)
        self.editors = editors
        self.applied = applied
        self.spaced = False

    def on_event(self, event: SseEvent, index: int, now: float) -> list[Action]:
        data = event.data
        if not data.startswith("{"):
            return [Send(event.raw)]
        payload = event.json()
        if not isinstance(payload, dict):
            return [Send(event.raw)]
        self.spaced = bool(_SPACED.match(data))
        out = self.edit(event.name, payload)
        if self.editors.acted:
            self.outcome = self.applied
        if out is None:
            return [Send(event.raw)]
        return [Send(raw) for raw in out]

    def edit(self, name: str | None, payload: dict[str, Any]) -> list[bytes] | None:
        """The events to send for this one (None: send it as it came)."""
        return None

    def event(self, name: str | None, payload: dict[str, Any]) -> bytes:
        separators = (",", ": ") if self.spaced else (",", ":")
        return format_event(json.dumps(payload, separators=separators, ensure_ascii=False), name, self.newline)

    def on_end(self, now: float) -> list[Action]:
        if not self.editors.acted:
            self.outcome = Outcome.NOT_APPLIED
        return []
