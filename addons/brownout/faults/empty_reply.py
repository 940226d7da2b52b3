"""`empty_reply`: close the connection without a single byte of response."""

from __future__ import annotations

from typing import TYPE_CHECKING

from brownout.faults.base import ClosingFault
from brownout.faults.base import FaultRun

if TYPE_CHECKING:
    from mitmproxy import http


class EmptyReplyFault(ClosingFault):
    type_name = "empty_reply"
    summary = "Close the connection (FIN) without sending any response."

    def close(self, flow: http.HTTPFlow, run: FaultRun) -> None:
        run.outcome = "empty_reply"  # the kill that follows closes without a byte
