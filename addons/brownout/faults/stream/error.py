"""`stream_error`: after N events, the provider's own mid-stream error event, then the stream
ends as the provider ends it (`reference/providers.md` §1.4, §1.5, §3.3, §4.2)."""

from __future__ import annotations

from typing import Literal

from brownout.classify.request import RequestInfo
from brownout.faults.bounds import Count
from brownout.faults.outcome import Outcome
from brownout.faults.stream.base import StreamFault
from brownout.faults.stream.plan import Action
from brownout.faults.stream.plan import Cut
from brownout.faults.stream.plan import EventPlan
from brownout.faults.stream.plan import Finish
from brownout.faults.stream.plan import Send
from brownout.faults.stream.plan import StreamPlan
from brownout.providers import EventKindName
from brownout.providers import dialects
from brownout.providers.dialects import Dialect
from brownout.providers.sse import SseEvent


class StreamErrorFault(StreamFault):
    type_name = "stream_error"
    summary = "After N events, the provider's own mid-stream error event, then the end the provider gives it."

    after_events: Count = 0
    kind: EventKindName | None = None
    message: str | None = None
    event: Literal["error", "response.failed"] = "error"
    # Gemini only: `raw_json` sends the error as a bare JSON body after the events (no `data:`).
    framing: Literal["event", "raw_json"] = "event"
    then: Literal["end", "close"] = "end"

    def dialect(self, info: RequestInfo) -> Dialect:
        return dialects.dialect_for(
            info.provider, info.endpoint, responses_form=self.event, gemini_framing=self.framing
        )

    def plan(self, info: RequestInfo) -> StreamPlan:
        return ErrorPlan(self.dialect(info), self.after_events, self.kind, self.message, self.then)


class ErrorPlan(EventPlan):
    """Relays N events; the error takes the place of event N+1, when it arrives."""

    def __init__(self, dialect: Dialect, after_events: int, kind: str | None, message: str | None, then: str) -> None:
        super().__init__(dialect)
        self.after_events = after_events
        self.kind = kind
        self.message = message
        self.then = then

    def on_event(self, event: SseEvent, index: int, now: float) -> list[Action]:
        if index < self.after_events:
            self.dialect.observe(event)
            return [Send(event.raw)]
        self.outcome = Outcome.ERRORED
        error = self.dialect.error_events(self.kind, self.message, self.newline)
        return [Send(error), Cut("close") if self.then == "close" else Finish()]
