"""`reset`: reset the connection (TCP RST on HTTP/1, RST_STREAM on HTTP/2)."""

from __future__ import annotations

from brownout.faults.base import ClosingFault
from brownout.faults.outcome import Outcome


class ResetFault(ClosingFault):
    type_name = "reset"
    summary = "Reset the connection: a TCP RST on HTTP/1.1, RST_STREAM on HTTP/2."
    reset = True
    closed = Outcome.RESET
