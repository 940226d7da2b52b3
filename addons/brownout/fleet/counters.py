"""A fleet's `every:` and `times:` counts in Redis: one count per rule and scope key for all replicas.

`brownout.engine.sequences.SharedCounts` on Redis: `add` is an INCR, `take` an INCR only while the
count is below the rule's `times` (one Lua step, so two replicas never both take the last firing).
The engine names each count by its scenario, the activation it counts from and the rule's place,
then the scope key (`<prefix>:count:<scenario>:<activation>:<index>:seen|fired:<who>`), so a
scenario switched on again counts from zero. Every touch gives the key `TTL` more seconds: counts
of an old activation, or of a client gone quiet, go away by themselves.

Redis out of reach: the engine counts on this replica's own tallies for that request (each
replica then fires a `times: N` rule up to N times), counted in
`brownout_redis_fallbacks_total{shared="counters"}`; the replica's next step on that count that
reaches Redis carries those in (`carried`), so the fleet's count includes what it did alone.
"""

from __future__ import annotations

from brownout.fleet.fallbacks import Fallbacks
from brownout.fleet.link import RedisLink

# Seconds a count is kept after its last touch: longer than any pause within one rehearsal.
TTL = 3600

# KEYS[1]: the count. ARGV: the limit (0: none, always add), the expiry in ms, what the replica
# carries in from counting alone (added first, whatever the limit). Returns the count after the
# step, negative when the limit was reached and nothing more was added.
STEP = """
local limit = tonumber(ARGV[1])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local carried = tonumber(ARGV[3])
if carried > 0 then count = redis.call('INCRBY', KEYS[1], carried) end
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

    async def _run(self, count: str, limit: int, carried: int) -> int | None:
        key = self.key(count)
        result = await self.fallbacks.run(
            self.link, "counters", lambda: self._step(keys=[key], args=(limit, self.ttl_ms, carried))
        )
        return None if result is None else int(result)

    async def add(self, count: str, carried: int = 0) -> int | None:
        return await self._run(count, 0, carried)

    async def take(self, count: str, limit: int, carried: int = 0) -> bool | None:
        after = await self._run(count, limit, carried)
        return None if after is None else after > 0
