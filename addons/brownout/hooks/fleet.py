"""`brownout_redis` (`brownout run --redis URL`): this replica joins a fleet sharing its state on Redis.

Without it, nothing here runs and brownout is one replica alone. With it, the link
(`brownout.fleet.link`) connects in the background once mitmproxy runs (a Redis that is down at
start is retried like any outage: the proxy serves meanwhile), and the shared switches
(`brownout.fleet.switches`) follow the fleet. The listeners are in place from the option on, before
`brownout_scenarios` switches anything on, so the switches made at start are shared too: this addon
comes before `Config` in the bundle.
"""

from __future__ import annotations

import asyncio
import logging

from brownout.control import actions as control
from brownout.engine.state import Brownout
from brownout.fleet import counting
from brownout.fleet.fallbacks import Fallbacks
from brownout.fleet.link import RedisLink
from brownout.fleet.link import display_url
from brownout.fleet.link import url_problem
from brownout.fleet.switches import SharedSwitches
from brownout.metrics.fleet import FleetCollector

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 2.0  # seconds the stop waits for the link to close


class Fleet:
    def __init__(self, state: Brownout) -> None:
        self.state = state
        self.link: RedisLink | None = None
        self.switches: SharedSwitches | None = None
        self._running = False
        self._collector: FleetCollector | None = None
        self._fallbacks: Fallbacks | None = None

    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option(
            "brownout_redis",
            str,
            "",
            "Redis URL (redis://HOST[:PORT][/DB]) a fleet of replicas shares its switches, uploads, timelines, "
            "counters and rate-limit buckets through; empty: this replica alone.",
        )

    def configure(self, updated: set[str]) -> None:
        from mitmproxy import ctx
        from mitmproxy import exceptions

        if "brownout_redis" not in updated:
            return
        url = ctx.options.brownout_redis
        if self.link is not None and url == self.link.url:
            return
        if url:
            problem = url_problem(url)
            if problem:
                raise exceptions.OptionsError(f"brownout_redis: {problem}")
        self._leave()
        if url:
            self._join(url)

    def _join(self, url: str) -> None:
        self.link = RedisLink(url)
        self.switches = SharedSwitches(self.link, self.state, control.parse_text)
        self.state.fleet = self.switches.status
        if self._collector is None:
            self._collector = FleetCollector(self._up, self._errors)
            self.state.metrics.registry.register(self._collector)
        if self._fallbacks is None:
            self._fallbacks = Fallbacks(self.state.metrics.registry)
        # Buckets, counts and offered load on the same link (brownout.fleet.counting).
        counting.share(self.state, self.link, self._fallbacks)
        log.info("brownout: sharing this replica's state with the fleet on %s", display_url(url))
        if self._running:
            self._start(self.link, self.switches)

    def _leave(self) -> None:
        link, switches = self.link, self.switches
        self.link = self.switches = None
        self.state.fleet = None
        counting.unshare(self.state)
        if link is not None and switches is not None:
            try:
                asyncio.get_running_loop().create_task(_close(link, switches))
            except RuntimeError:
                pass  # no loop: nothing was started

    @staticmethod
    def _start(link: RedisLink, switches: SharedSwitches) -> None:
        asyncio.get_running_loop().create_task(_start_both(link, switches))

    def _up(self) -> bool:
        return self.link is not None and self.link.up

    def _errors(self) -> int:
        return self.link.errors if self.link is not None else 0

    def running(self) -> None:
        self._running = True
        if self.link is not None and self.switches is not None:
            self._start(self.link, self.switches)

    async def done(self) -> None:
        self._running = False
        link, switches = self.link, self.switches
        if link is not None and switches is not None:
            await _close(link, switches)


async def _start_both(link: RedisLink, switches: SharedSwitches) -> None:
    await switches.start()  # first: its rejoin callback must be in place when the link comes up
    await link.start()


async def _close(link: RedisLink, switches: SharedSwitches) -> None:
    try:
        await asyncio.wait_for(_close_both(link, switches), CLOSE_TIMEOUT)
    except TimeoutError:
        log.warning("brownout: the link to Redis did not close within %g s", CLOSE_TIMEOUT)


async def _close_both(link: RedisLink, switches: SharedSwitches) -> None:
    await switches.close()
    await link.close()
