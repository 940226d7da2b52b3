"""`reset`: reset the connection (TCP RST on HTTP/1, RST_STREAM on HTTP/2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from brownout.faults.base import ClosingFault
from brownout.faults.base import FaultRun

if TYPE_CHECKING:
    from mitmproxy import http


class ResetFault(ClosingFault):
    type_name = "reset"
    summary = "Reset the connection: a TCP RST on HTTP/1.1, RST_STREAM on HTTP/2."

    def close(self, flow: http.HTTPFlow, run: FaultRun) -> None:
        run.reset_client()
        run.outcome = "reset"
