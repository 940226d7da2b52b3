"""Each provider's answer as the content faults edit it: a whole JSON body (`edit_body`) and an
event stream (a plan that edits its events as they pass). `body_framing` and `stream_plan` pick
the provider's by the request's classification."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from brownout.classify.request import RequestInfo
from brownout.faults.content.framing import anthropic
from brownout.faults.content.framing import chat
from brownout.faults.content.framing import gemini
from brownout.faults.content.framing import responses
from brownout.faults.content.framing.common import NewEditor
from brownout.faults.outcome import Outcome
from brownout.faults.stream.plan import StreamPlan

# Edits a body in place with editors the factory makes; True when one of them changed it.
BodyEdit = Callable[[dict[str, Any], NewEditor], bool]


def body_framing(info: RequestInfo) -> BodyEdit | None:
    """How this request's JSON answer is edited; None for endpoints that answer no text."""
    if info.provider == "anthropic":
        return anthropic.edit_body if info.endpoint == "messages" else None
    if info.provider == "gemini":
        return gemini.edit_body if info.endpoint in ("generate", "stream-generate") else None
    if info.endpoint == "responses":
        return responses.edit_body
    if info.endpoint == "chat":
        return partial(chat.edit_body, azure=info.provider == "azure")
    return None


class Untouched(StreamPlan):
    """A stream the fault does not act on: relayed as it comes, counted not applied."""

    outcome = Outcome.NOT_APPLIED


def untouched() -> StreamPlan:
    return Untouched()


def stream_plan(info: RequestInfo, new: NewEditor, applied: Outcome) -> StreamPlan:
    """The plan that edits this request's event stream."""
    if info.provider == "anthropic":
        return anthropic.MessagesPlan(new, applied) if info.endpoint == "messages" else untouched()
    if info.provider == "gemini":
        return gemini.GenerateStreamPlan(new, applied) if info.endpoint == "stream-generate" else untouched()
    if info.endpoint == "responses":
        return responses.ResponsesPlan(new, applied)
    if info.endpoint == "chat":
        return chat.ChatPlan(new, applied, azure=info.provider == "azure")
    return untouched()
