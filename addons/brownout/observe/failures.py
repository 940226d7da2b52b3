"""What an attempt's end means for the client: a usable answer, or the failure a retry follows.

Pure: the status and what brownout's fault did (`brownout.faults.outcome`) in, the `after` label
of a retry that may follow out ("" when the client got a usable answer).
"""

from __future__ import annotations

from brownout.faults.outcome import BAD_ANSWER
from brownout.faults.outcome import CLIENT_STOPS_AT
from brownout.faults.outcome import IDLE
from brownout.faults.outcome import NO_ANSWER
from brownout.faults.outcome import SPOILS_ANSWER
from brownout.faults.outcome import Outcome

UPSTREAM_ERROR = "upstream_error"


def failure_of_response(status: int, outcome: Outcome, fault: str, upstream_broke: bool = False) -> str:
    """A complete answer: "" when usable, else its status, the fault that spoiled a 200, or
    `upstream_error` when brownout ended it because the upstream failed mid-answer (went idle)."""
    if status >= 400:
        return str(status)
    if outcome in SPOILS_ANSWER:
        return fault or str(outcome)
    if upstream_broke:
        return UPSTREAM_ERROR
    return ""


def failure_of_error(outcome: Outcome, fault: str, response_status: int | None, upstream_broke: bool = False) -> str:
    """An attempt that ended in a transport error rather than an answer."""
    if outcome in NO_ANSWER:
        return str(outcome)
    if outcome in CLIENT_STOPS_AT:
        # The client stopped reading an answer the content fault had already changed: it reacted
        # to the fault (an SDK helper raising on a missing usage object, an app stopping at a
        # finish reason), so what it got is the fault, not a body that broke off.
        return fault or str(outcome)
    if fault.startswith("stream_") and outcome not in IDLE:
        return fault
    if outcome == Outcome.FAULT_ERROR:
        return str(outcome)  # the fault's own code raised; what followed is not what a fault meant
    if upstream_broke:
        return UPSTREAM_ERROR
    if response_status is not None:
        return str(response_status) if response_status >= 400 else "aborted"
    return "error"


_BREAKS = {
    Outcome.CUT: "cut",
    Outcome.RESET: "cut",
    Outcome.STALLED: "stalled",
    Outcome.ERRORED: "errored",
    Outcome.CORRUPTED: "corrupted",
}


def is_bad_answer(status: int, outcome: Outcome) -> bool:
    """A 200 a content fault spoiled (emptied, truncated, refused, filtered, bad JSON, a bad tool
    call): the client got a whole answer and must judge it itself. A content fault that answers
    with an error status (`content_filter` `mode: error`'s 400) is an ordinary failed attempt."""
    return status < 400 and outcome in BAD_ANSWER


def broken_stream(outcome: Outcome, fault: str, ended_in_error: bool) -> str:
    """How a stream fault broke the stream ("" when it did not): `cut`, `errored`, `corrupted`, or
    `stalled` when the stall ended the stream (a stall that resumed delivered the whole answer)."""
    if not fault.startswith("stream_"):
        return ""
    if outcome == Outcome.STALLED and not ended_in_error:
        return ""
    return _BREAKS.get(outcome, "")
