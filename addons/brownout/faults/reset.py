"""`reset`: reset the connection (TCP RST on HTTP/1, RST_STREAM on HTTP/2)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from brownout.faults.base import Duration
from brownout.faults.base import Fault
from brownout.faults.base import FaultRun

if TYPE_CHECKING:
    from mitmproxy import http


class ResetFault(Fault):
    type_name = "reset"
    summary = "Reset the connection: a TCP RST on HTTP/1.1, RST_STREAM on HTTP/2."

    after: Duration = 0.0

    async def on_request(self, flow: http.HTTPFlow, run: FaultRun) -> None:
        if self.after:
            await asyncio.sleep(self.after)
        run.reset_client()
        run.outcome = "reset"
        if flow.killable:
            flow.kill()
