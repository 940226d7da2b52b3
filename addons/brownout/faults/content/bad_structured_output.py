"""`bad_structured_output`: a request that asked for JSON (a JSON mode or a JSON schema) gets text
that is not JSON (`not_json`: the model's chatter before it), or JSON its schema refuses
(`schema_violation`: a required key missing, else a value of the wrong type). Requests that asked
for no JSON pass untouched (counted not applied)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from typing import Literal

from brownout.classify.asks import Asks
from brownout.classify.request import RequestInfo
from brownout.faults.content.base import ContentFault
from brownout.faults.content.editor import MAX_HELD
from brownout.faults.content.editor import Editor
from brownout.faults.content.editor import Held
from brownout.faults.outcome import Outcome

# What a chatty model says before the JSON it was asked for.
CHATTER = "Sure! Here is the JSON you asked for:\n"


class BadStructuredOutputFault(ContentFault):
    type_name = "bad_structured_output"
    summary = "JSON asked for, and the answer is not JSON or breaks the request's schema."
    applied = Outcome.BAD_STRUCTURED_OUTPUT

    mode: Literal["not_json", "schema_violation"] = "not_json"

    def fits(self, info: RequestInfo, asks: Asks) -> bool:
        return asks.structured

    def editor(self, asks: Asks) -> Editor:
        return Chatter(asks) if self.mode == "not_json" else Violation(asks)


class Chatter(Editor):
    """Words before the JSON: the answer no longer parses."""

    def edit_text(self, piece: str) -> str:
        if not piece or self.acted:
            return piece
        self.acted = True
        return CHATTER + piece


class Violation(Editor):
    """Holds the JSON text until it is whole, then gives it back with its schema broken. On a
    stream at most `MAX_HELD` characters are held: past that the text goes out unedited as it
    comes and the answer is left as it is (not applied)."""

    def __init__(self, asks: Asks) -> None:
        super().__init__(asks)
        self.held = Held()

    def begin(self, text_tokens: int | None) -> None:
        # A whole body is in memory already: holding its text costs nothing more.
        self.held = Held(MAX_HELD if text_tokens is None else None)

    def edit_text(self, piece: str) -> str:
        out = self.held.add(piece)
        return "" if out is None else out

    def text(self, piece: str) -> str:
        out = super().text(piece)
        if self.held.over:
            self._unedited()
        return out

    def text_end(self) -> str:
        out = super().text_end()
        if not self.acted:
            self._unedited()
        return out

    def end_text(self) -> str:
        if self.held.over:
            return ""
        text = self.held.take()
        broken = violated(text, self.asks.schema)
        if broken is None:
            return text
        self.acted = True
        return broken

    def _unedited(self) -> None:
        """The text the client got is the upstream's, only sent in fewer pieces: its usage stays."""
        self.sent = self.seen
        self.changed = False


def violated(text: str, schema: Mapping[str, Any] | None) -> str | None:
    """JSON `schema` refuses: its first required key gone; else its first property's value of
    the wrong type; without a schema (any JSON asked for) an array in place of the object. None
    when `text` is not a JSON object."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    if schema is None:
        return json.dumps([value])
    required = schema.get("required")
    missing = [key for key in required if key in value] if isinstance(required, list) else []
    if missing:
        del value[missing[0]]
        return json.dumps(value)
    properties = schema.get("properties")
    typed = [key for key in properties if key in value] if isinstance(properties, dict) else []
    if typed:
        key = typed[0]
        value[key] = 0 if isinstance(value[key], str) else "not a " + type(value[key]).__name__
        return json.dumps(value)
    return json.dumps([value])
