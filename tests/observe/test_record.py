import json

import pytest

from brownout.observe.events import AttemptEnded
from brownout.observe.events import AttemptStarted
from brownout.observe.events import ClientAbandoned
from brownout.observe.events import FaultsSwitched
from brownout.observe.events import Settings
from brownout.observe.record import RecordError
from brownout.observe.record import RunRecord
from brownout.observe.record import read

EVENTS = [
    AttemptStarted("a1", 1.0, "openai", "chat", "gpt-4o", "openai-python", "k@127.0.0.1", "fp", "c", "127.0.0.1", 0),
    AttemptEnded("a1", 1.1, "429", retry_after=0.5, scenario="s", fault="error"),
    AttemptStarted("a2", 2.0, "openai", "chat", retry_count=1, declared_timeout=600.0),
    ClientAbandoned("a2", 3.0, scenario="s", fault="timeout"),
    FaultsSwitched("s", False, 4.0, phase="outage"),
]


def test_a_record_round_trips_through_its_json_lines() -> None:
    lines: list[str] = []
    record = RunRecord(Settings(retry_window=4.0), started=0.5, sink=lines.append)
    for event in EVENTS:
        record.add(event)
    assert len(lines) == len(EVENTS)
    again = read(list(record.lines()), "run.jsonl")
    assert list(again.events) == EVENTS and again.settings.retry_window == 4.0 and again.started == 0.5
    assert json.loads(next(record.lines()))["format"] == "brownout-record"


def test_a_full_record_drops_its_oldest_events_and_says_how_many() -> None:
    record = RunRecord(limit=2)
    for event in EVENTS[:3]:
        record.add(event)
    assert list(record.events) == EVENTS[1:3] and record.dropped == 1
    snapshot = record.snapshot()
    record.clear()
    assert len(snapshot.events) == 2 and not record.events and record.dropped == 0


@pytest.mark.parametrize(
    "lines,message",
    [
        ([], "empty"),
        (['{"hello": 1}'], "not a brownout record"),
        (['{"format": "brownout-record", "version": 99}'], "record version 99"),
        (['{"format": "brownout-record", "version": 1}', "not json"], "run.jsonl:2: not JSON"),
        (['{"format": "brownout-record", "version": 1}', '{"type": "Nope"}'], "run.jsonl:2: unknown event type"),
        (['{"format": "brownout-record", "version": 1}', '{"type": "AttemptEnded"}'], "run.jsonl:2: AttemptEnded"),
    ],
)
def test_a_broken_record_names_the_line(lines: list[str], message: str) -> None:
    with pytest.raises(RecordError, match=message):
        read(lines, "run.jsonl")
