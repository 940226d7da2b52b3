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

# "Until the client gives up" still needs an end, so a forgotten client cannot pin a flow forever.
# An hour is six times the official SDKs' 600 s default timeout.
LONGEST_HANG = 3600.0


class TimeoutFault(Fault):
    type_name = "timeout"
    summary = "Accept, send nothing for `hang`, then close (absent: until the client gives up)."

    hang: Duration | None = None

    async def on_request(self, run: FaultRun) -> Reply | Hangup | None:
        limit = LONGEST_HANG if self.hang is None else self.hang
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.client_gone.wait(), timeout=limit)
        run.outcome = Outcome.ABANDONED if run.client_gone.is_set() else Outcome.TIMEOUT
        return Hangup()
