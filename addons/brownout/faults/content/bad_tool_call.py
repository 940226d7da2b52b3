"""`bad_tool_call`: the answer's tool call is broken: arguments that are not valid JSON
(`bad_json`), arguments without one of the tool's required ones (`missing_argument`), or a call
of a tool the request did not offer (`unknown_tool`). Requests that offered no tools, and answers
without a tool call, pass untouched (counted not applied)."""

from __future__ import annotations

from typing import Literal

from brownout.classify.asks import Asks
from brownout.classify.request import RequestInfo
from brownout.faults.content.base import ContentFault
from brownout.faults.outcome import Outcome


class BadToolCallFault(ContentFault):
    type_name = "bad_tool_call"
    summary = "A tool call with arguments that do not parse, miss a required one, or name an unoffered tool."
    applied = Outcome.BAD_TOOL_CALL

    mode: Literal["bad_json", "missing_argument", "unknown_tool"] = "bad_json"

    def fits(self, info: RequestInfo, asks: Asks) -> bool:
        return bool(asks.tools)
