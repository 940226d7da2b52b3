"""`empty_reply`: close the connection without a single byte of response."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from brownout.faults.base import Duration
from brownout.faults.base import Fault
from brownout.faults.base import FaultRun

if TYPE_CHECKING:
    from mitmproxy import http


class EmptyReplyFault(Fault):
    type_name = "empty_reply"
    summary = "Close the connection (FIN) without sending any response."

    after: Duration = 0.0

    async def on_request(self, flow: http.HTTPFlow, run: FaultRun) -> None:
        if self.after:
            await asyncio.sleep(self.after)
        run.outcome = "empty_reply"
        if flow.killable:
            flow.kill()
