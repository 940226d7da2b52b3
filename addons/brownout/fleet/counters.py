"""A fleet's `every:` and `times:` counts in Redis: one count per rule and scope key for all replicas.

`brownout.engine.sequences.SharedCounts` on Redis: `add` is an INCR, `take` an INCR only while the
count is below the rule's `times` (one Lua step, so two replicas never both take the last firing).
The engine names each count by its scenario, the activation it counts from and the rule's place,
then the scope key (`<prefix>:count:<scenario>:<activation>:<index>:seen|fired:<who>`), so a
scenario switched on again counts from zero. Every touch gives the key `TTL` more seconds: counts
of an old activation, or of a client gone quiet, go away by themselves.

Redis out of reach: the engine counts on this replica's own tallies for that request (each
replica then fires a `times: N` rule up to N times), counted in
`brownout_redis_fallbacks_total{shared="counters"}`.
"""

from __future__ import annotations

from brownout.fleet.fallbacks import Fallbacks
from brownout.fleet.link import RedisLink

# Seconds a count is kept after its last touch: longer than any pause within one rehearsal.
TTL = 3600

# KEYS[1]: the count. ARGV: the limit (0: none, always add), the expiry in ms. Returns the count
# after the step, negative when the limit was reached and nothing was added.
STEP = """
local limit = tonumber(ARGV[1])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if limit > 0 and count >= limit then return -count end
count = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return count
"""


class RedisCounts:
    """`brownout.engine.sequences.SharedCounts` on a fleet's Redis."""

    def __init__(self, link: RedisLink, fallbacks: Fallbacks, ttl: float = TTL) -> None:
        self.link = link
        self.fallbacks = fallbacks
        self.ttl_ms = int(ttl * 1000)
        self._step = link.client.register_script(STEP)

    def key(self, count: str) -> str:
        return self.link.key("count", count)

    async def _run(self, count: str, limit: int) -> int | None:
        key = self.key(count)
        result = await self.fallbacks.run(
            self.link, "counters", lambda: self._step(keys=[key], args=(limit, self.ttl_ms))
        )
        return None if result is None else int(result)

    async def add(self, count: str) -> int | None:
        return await self._run(count, 0)

    async def take(self, count: str, limit: int) -> bool | None:
        after = await self._run(count, limit)
        return None if after is None else after > 0
