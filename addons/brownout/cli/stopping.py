"""Stopping with a grace period, on Ctrl-C or SIGTERM: shared by `brownout run` and the demo.

The first signal asks to stop: nothing new starts, and what is under way (the proxy's requests
and streams, the demo's calls) may finish within a grace period; a second signal stops at once.
Kubernetes stops a pod this way: SIGTERM, then SIGKILL after `terminationGracePeriodSeconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopping:
    def __init__(self) -> None:
        self.asked = asyncio.Event()  # the first signal: stop, letting what is under way finish
        self.now = asyncio.Event()  # the second: stop at once

    def signalled(self) -> None:
        (self.now if self.asked.is_set() else self.asked).set()

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.signalled)

    def uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)

    async def settle(
        self,
        under_way: Callable[[], int],
        grace: float,
        report: Callable[[int], None] | None = None,
        step: float = 0.1,
    ) -> int:
        """Wait until nothing is under way, the grace period is over or a second signal came;
        how many are still under way then. `report` hears the count at every step."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while (left := under_way()) and not self.now.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            if report is not None:
                report(left)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.now.wait(), timeout=min(step, remaining))
        return under_way()
