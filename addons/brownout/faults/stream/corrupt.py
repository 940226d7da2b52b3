"""`stream_corrupt`: a malformed `data:` line, a duplicated event, or a stream without its terminator."""

from __future__ import annotations

from typing import Literal

from brownout.classify.request import RequestInfo
from brownout.faults.bounds import Count
from brownout.faults.outcome import Outcome
from brownout.faults.stream.base import StreamFault
from brownout.faults.stream.plan import Action
from brownout.faults.stream.plan import EventPlan
from brownout.faults.stream.plan import Send
from brownout.faults.stream.plan import StreamPlan
from brownout.providers.dialects import Dialect
from brownout.providers.sse import SseEvent

CorruptMode = Literal["malformed", "duplicate", "drop_terminator"]


class StreamCorruptFault(StreamFault):
    type_name = "stream_corrupt"
    summary = "Break one event: a malformed data line, a duplicated event, or a dropped terminator."

    mode: CorruptMode = "malformed"
    after_events: Count = 0

    def plan(self, info: RequestInfo) -> StreamPlan:
        return CorruptPlan(self.dialect(info), self.mode, self.after_events)


def malformed(raw: bytes) -> bytes:
    """The event with its first `data:` value cut in half: the framing holds, the JSON does not."""
    lines = raw.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith(b"data:"):
            body = line.rstrip(b"\r\n")
            ending = line[len(body) :]
            value = body[5:].removeprefix(b" ")
            lines[i] = b"data: " + value[: max(1, len(value) // 2)] + ending
            return b"".join(lines)
    return b"data: {" + raw[len(raw.rstrip(b"\r\n")) :]


class CorruptPlan(EventPlan):
    """`malformed` and `duplicate` act on event N+1 (after `after_events` intact ones);
    `drop_terminator` drops the provider's final event wherever it comes."""

    def __init__(self, dialect: Dialect, mode: CorruptMode, after_events: int) -> None:
        super().__init__(dialect)
        self.mode = mode
        self.after_events = after_events

    def on_event(self, event: SseEvent, index: int, now: float) -> list[Action]:
        if self.mode == "drop_terminator":
            if self.dialect.is_terminator(event):
                self.outcome = Outcome.CORRUPTED
                return []
            return [Send(event.raw)]
        if index != self.after_events:
            return [Send(event.raw)]
        self.outcome = Outcome.CORRUPTED
        if self.mode == "duplicate":
            return [Send(event.raw), Send(event.raw)]
        return [Send(malformed(event.raw))]
