"""Announce timeline phase changes in the proxy's log, as they happen.

The phase itself is computed from the clock wherever it is needed (the engine, the status,
the metric); this addon only looks four times a second and logs a line when a phase turns,
and tells the state's listeners that the phase which ended is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from brownout.engine.state import Brownout
from brownout.engine.state import ScenarioSwitch

log = logging.getLogger(__name__)

INTERVAL = 0.25


class PhaseAnnouncer:
    def __init__(self, state: Brownout) -> None:
        self.state = state
        self._seen: dict[str, tuple[int | None, int]] = {}  # scenario -> (phase index, cycle)
        self._task: asyncio.Task[None] | None = None
        state.listeners.append(self._switched)

    def _switched(self, switch: ScenarioSwitch) -> None:
        # Switched off and on again between two ticks, a timeline starts over unseen: forget it
        # at every switch of the whole scenario, and the next tick announces its phase afresh.
        if not switch.phase:
            self._seen.pop(switch.scenario, None)

    def tick(self) -> list[str]:
        """Log (and return) a line for each active timeline whose phase changed since the last tick."""
        engine = self.state.engine
        lines = []
        now: dict[str, tuple[int | None, int]] = {}
        for name in engine.active:
            at = engine.phase(name)
            timeline = engine.scenarios[name].timeline
            if at is None or timeline is None:
                continue
            now[name] = (at.index, at.cycle)
            before = self._seen.get(name)
            if before == now[name]:
                continue
            if before is not None and before[0] is not None:
                # The phase that just ended counts as switched off (the observer times the
                # client's recovery from it); it ended `elapsed` seconds ago.
                ended = timeline.phases[before[0]].name
                self.state.notify(ScenarioSwitch(name, active=False, phase=ended, at=time.time() - at.elapsed))
            if at.ended:
                lines.append(f"brownout: {name}: timeline ended; no rule fires until it is switched on again")
            else:
                assert at.index is not None
                left = f", {at.remaining:.0f}s" if at.remaining is not None else ", until switched off"
                lines.append(f"brownout: {name}: phase {at.name} ({at.index + 1}/{len(timeline.phases)}{left})")
        self._seen = now
        for line in lines:
            log.info(line)
        return lines

    def running(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def done(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        with contextlib.suppress(ValueError):
            self.state.listeners.remove(self._switched)

    async def _loop(self) -> None:
        while True:
            self.tick()
            await asyncio.sleep(INTERVAL)
