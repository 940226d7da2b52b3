"""`bad_tool_call`: the answer's tool call is broken: arguments that are not valid JSON
(`bad_json`), arguments without one of the tool's required ones (`missing_argument`), or a call
of a tool the request did not offer (`unknown_tool`). Requests that offered no tools, and answers
without a tool call, pass untouched (counted not applied), as does `bad_json` on a non-streamed
Anthropic answer; on Gemini, whose `args` is an object, `bad_json` is the call Gemini could not
read: no call, `finishReason: MALFORMED_FUNCTION_CALL` (the Gemini framing does that)."""

from __future__ import annotations

import json
import re
from typing import Literal

from brownout.classify.asks import Asks
from brownout.classify.request import RequestInfo
from brownout.faults.content.base import ContentFault
from brownout.faults.content.editor import Editor
from brownout.faults.outcome import Outcome

# A key with its quotes, where the arguments' first one is.
_FIRST_KEY = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*):')
# The name a call gets under `unknown_tool`: no request offers it.
UNKNOWN_TOOL = "brownout_unknown_tool"
ToolMode = Literal["bad_json", "missing_argument", "unknown_tool"]


class BadToolCallFault(ContentFault):
    type_name = "bad_tool_call"
    summary = "A tool call with arguments that do not parse, miss a required one, or name an unoffered tool."
    applied = Outcome.BAD_TOOL_CALL

    mode: ToolMode = "bad_json"

    def fits(self, info: RequestInfo, asks: Asks) -> bool:
        if self.mode == "bad_json" and info.provider == "anthropic" and not info.stream:
            # Anthropic parses a whole answer's call server-side: `input` is always an object, and
            # arguments that do not parse reach a client only as a stream's JSON text.
            return False
        return bool(asks.tools)

    def editor(self, asks: Asks) -> Editor:
        return BreakingCalls(asks, self.mode)


class BreakingCalls(Editor):
    edits_tools = True

    def __init__(self, asks: Asks, mode: ToolMode) -> None:
        super().__init__(asks)
        self.mode = mode

    def edits_arguments(self) -> bool:
        # `unknown_tool` only renames the call: its arguments flow as they come.
        return self.mode != "unknown_tool"

    def tool_name(self, name: str) -> str:
        if self.mode != "unknown_tool":
            return name
        self.acted = True
        return UNKNOWN_TOOL

    def tool_arguments(self, name: str, arguments: str) -> str:
        if self.mode == "bad_json":
            self.acted = True
            return unquoted(arguments)
        if self.mode == "missing_argument":
            return self._without_one(name, arguments)
        return arguments

    def _without_one(self, name: str, arguments: str) -> str:
        try:
            value = json.loads(arguments)
        except ValueError:
            return arguments
        if not isinstance(value, dict) or not value:
            return arguments
        required = self.asks.tools.get(name, {}).get("required")
        named = [key for key in required if key in value] if isinstance(required, list) else []
        del value[(named or list(value))[0]]
        self.acted = True
        return json.dumps(value, separators=(",", ":"))


def unquoted(arguments: str) -> str:
    """The arguments with their first key unquoted, `{city: "Paris"}`, as a model writing JavaScript
    gives them: no JSON parser takes it, not even one reading a stream's partial JSON (a cut-off
    object would still parse there). Arguments without a key get a stray comma, `{,}`."""
    broken, found = _FIRST_KEY.subn(r"\1\2:", arguments, count=1)
    if found:
        return broken
    stripped = arguments.rstrip()
    return stripped[:-1] + ",}" if stripped.endswith("}") else stripped + ",}"
