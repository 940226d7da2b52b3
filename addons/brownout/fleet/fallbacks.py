"""How often a replica went on alone because its fleet's shared counts were out of reach.

`brownout_redis_fallbacks_total{shared}` counts, per kind of shared state (`buckets`, `counters`,
`load`), the requests (and usage corrections) that used this replica's own state instead: while
it climbs, the fleet enforces each limit once per replica, not once in all. A command Redis
refuses (out of memory, a read-only replica after a failover, MISCONF) counts here too: for
that request the replica's own state decides, as when Redis is down.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from typing import Literal
from typing import TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client import Counter

from brownout.fleet.link import LinkDown
from brownout.fleet.link import RedisLink
from brownout.fleet.link import Refused

T = TypeVar("T")

SharedKind = Literal["buckets", "counters", "load"]
KINDS: tuple[SharedKind, ...] = ("buckets", "counters", "load")


class Fallbacks:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.counter = Counter(
            "brownout_redis_fallbacks",
            "Requests a replica counted on its own state, the fleet's Redis out of reach, by what is shared.",
            ["shared"],
            registry=self.registry,
        )
        for kind in KINDS:
            self.counter.labels(shared=kind)  # exported at 0 from the start, so a rate works

    async def run(
        self, link: RedisLink, kind: SharedKind, command: Callable[[], Awaitable[T]], counted: bool = True
    ) -> T | None:
        """The command's answer from the fleet's Redis; None (counted, unless `counted` is False:
        the command served no request) when Redis is out of reach or refuses it.

        A link known to be down is not tried: the request goes on at once with the local state,
        and the link's own background task finds out when Redis is back."""
        if link.up:
            try:
                return await link.call(command())
            except (LinkDown, Refused):
                pass
        if counted:
            self.count(kind)
        return None

    def count(self, kind: SharedKind) -> None:
        self.counter.labels(shared=kind).inc()

    def total(self, kind: SharedKind) -> float:
        return self.registry.get_sample_value("brownout_redis_fallbacks_total", {"shared": kind}) or 0.0
