"""What an attempt's end means for the client: a usable answer, or the failure a retry follows.

Pure: the status and what brownout's fault did (`brownout.faults.outcome`) in, the `after` label
of a retry that may follow out ("" when the client got a usable answer).
"""

from __future__ import annotations

from brownout.faults.outcome import IDLE
from brownout.faults.outcome import NO_ANSWER
from brownout.faults.outcome import SPOILS_ANSWER
from brownout.faults.outcome import Outcome


def failure_of_response(status: int, outcome: Outcome, fault: str) -> str:
    """A complete answer: "" when usable, else its status, or the fault that spoiled a 200."""
    if status >= 400:
        return str(status)
    if outcome in SPOILS_ANSWER:
        return fault or str(outcome)
    return ""


def failure_of_error(outcome: Outcome, fault: str, response_status: int | None) -> str:
    """An attempt that ended in a transport error rather than an answer."""
    if outcome in NO_ANSWER:
        return str(outcome)
    if fault.startswith("stream_") and outcome not in IDLE:
        return fault
    if response_status is not None:
        return str(response_status) if response_status >= 400 else "aborted"
    return "error"
