"""`bad_structured_output`: a request that asked for JSON (a JSON mode or a JSON schema) gets text
that is not JSON (`not_json`: the model's chatter before it), or JSON its schema refuses
(`schema_violation`: a required key missing, else a value of the wrong type). Requests that asked
for no JSON pass untouched (counted not applied)."""

from __future__ import annotations

from typing import Literal

from brownout.classify.asks import Asks
from brownout.classify.request import RequestInfo
from brownout.faults.content.base import ContentFault
from brownout.faults.outcome import Outcome


class BadStructuredOutputFault(ContentFault):
    type_name = "bad_structured_output"
    summary = "JSON asked for, and the answer is not JSON or breaks the request's schema."
    applied = Outcome.BAD_STRUCTURED_OUTPUT

    mode: Literal["not_json", "schema_violation"] = "not_json"

    def fits(self, info: RequestInfo, asks: Asks) -> bool:
        return asks.structured
