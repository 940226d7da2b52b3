"""`empty_reply`: close the connection without a single byte of response."""

from __future__ import annotations

from brownout.faults.base import ClosingFault
from brownout.faults.outcome import Outcome


class EmptyReplyFault(ClosingFault):
    type_name = "empty_reply"
    summary = "Close the connection (FIN) without sending any response."
    closed = Outcome.EMPTY_REPLY
