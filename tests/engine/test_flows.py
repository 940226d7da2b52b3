import gc
import random

from brownout.classify.request import RequestInfo
from brownout.engine.engine import Decision
from brownout.engine.flows import REPORT_EVERY
from brownout.engine.flows import FlowState
from brownout.engine.flows import FlowTable
from brownout.engine.flows import StreamSession
from brownout.faults.base import FaultRun
from brownout.faults.error import ErrorFault
from brownout.faults.outcome import Outcome

INFO = RequestInfo("openai", "chat", "gpt-4o", True, "openai-python")


class Flow:
    """Any object a flow table can key by (mitmproxy's flows, here a stand-in)."""


def test_a_table_keeps_one_state_per_flow_and_forgets_it_with_the_flow() -> None:
    table = FlowTable()
    flow = Flow()
    assert table.get(flow) is None
    state = table.of(flow)
    assert table.of(flow) is state and table.get(flow) is state and len(table) == 1
    del flow, state
    gc.collect()
    assert len(table) == 0


def test_labels_before_and_after_classification() -> None:
    assert FlowState().labels() == ("unknown", "other", "")
    assert FlowState(provider="anthropic").labels() == ("anthropic", "other", "")
    assert FlowState(provider="openai", info=INFO).labels() == ("openai", "chat", "gpt-4o")


def test_the_summary_is_plain_data_and_says_what_the_fault_did() -> None:
    assert FlowState().summary() == {}
    assert FlowState(provider="openai", route="openai").summary() == {"provider": "openai", "route": "openai"}
    fault = ErrorFault(status=429)
    rng = random.Random(1)
    state = FlowState(provider="openai", info=INFO, decision=Decision("s", "throttle", fault, rng))
    state.run = FaultRun(INFO, rng, outcome=Outcome.ANSWERED)
    summary = state.summary()
    assert summary == {
        "provider": "openai",
        "endpoint": "chat",
        "model": "gpt-4o",
        "stream": True,
        "client": "openai-python",
        "scenario": "s",
        "rule": "throttle",
        "fault": "error",
        "outcome": "answered",
    }
    assert all(type(value) in (str, bool) for value in summary.values())  # tnetstring can save it
    assert state.outcome is Outcome.ANSWERED and state.scenario == "s" and state.fault == "error"


def test_a_stream_session_counts_events_in_batches_and_times_the_first() -> None:
    counted: list[int] = []
    session = StreamSession(count_events=counted.append)
    session.sent(b"data: 1")
    assert session.first_event_at is None
    session.sent(b"\n\n" + b"data: x\n\n" * (REPORT_EVERY - 1))
    assert session.first_event_at is not None and counted == [REPORT_EVERY]
    session.sent(b"data: last\n\n")
    session.report()
    assert counted == [REPORT_EVERY, 1] and session.counter.events == REPORT_EVERY + 1
