"""`timeout`: accept the request, send nothing, then close the connection."""

from __future__ import annotations

import asyncio
import contextlib

from brownout.faults.base import Duration
from brownout.faults.base import Fault
from brownout.faults.base import FaultRun
from brownout.faults.base import Hangup
from brownout.faults.outcome import Outcome
from brownout.providers.base import Reply
from brownout.units import LONGEST_WAIT


class TimeoutFault(Fault):
    type_name = "timeout"
    summary = "Accept, send nothing for `hang`, then close (absent: until the client gives up)."

    hang: Duration | None = None

    async def on_request(self, run: FaultRun) -> Reply | Hangup | None:
        # "Until the client gives up" still needs an end, so a forgotten client cannot pin a flow
        # for ever: the longest wait any fault makes (a `hang` is bounded by it too).
        limit = LONGEST_WAIT if self.hang is None else self.hang
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.client_gone.wait(), timeout=limit)
        run.outcome = Outcome.ABANDONED if run.client_gone.is_set() else Outcome.TIMEOUT
        return Hangup()
