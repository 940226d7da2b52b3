"""A fleet's offered load in Redis: the arrivals every replica saw at an `overload` rule's pool.

`brownout.faults.shared.SharedLoad` on Redis. Each pool is a sorted set of arrival times, on
Redis's own clock (`TIME`, so the replicas' clocks do not matter): one Lua step drops the arrivals
older than the window, adds this one and counts them, which is the load the provider sees, the
same sliding window a replica alone keeps. The set is bounded (the oldest go first past
`MAX_ARRIVALS`, as alone) and expires a second after its window once arrivals stop.

Only arrivals are shared: the requests under way (`concurrency`) are each replica's, since
holding a place across replicas would leave places taken by a replica that died. Redis out of
reach: the pool reckons with this replica's own arrivals for that request, counted in
`brownout_redis_fallbacks_total{shared="load"}`.
"""

from __future__ import annotations

from brownout.faults.overload.capacity import MAX_ARRIVALS
from brownout.fleet.fallbacks import Fallbacks
from brownout.fleet.link import RedisLink

# KEYS[1]: the pool's arrivals, KEYS[2]: its arrival numbers (members must differ). ARGV: the
# window in seconds, the most arrivals kept. Returns the arrivals within the window, this one too.
ARRIVE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local window, most = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.17g', now - window))
local number = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], string.format('%.17g', now), number)
local count = redis.call('ZCARD', KEYS[1])
if count > most then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, count - most - 1)
  count = most
end
local keep = math.ceil(window * 1000) + 1000
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('PEXPIRE', KEYS[2], keep)
return count
"""


class RedisLoad:
    """`brownout.faults.shared.SharedLoad` on a fleet's Redis."""

    def __init__(self, link: RedisLink, fallbacks: Fallbacks, most: int = MAX_ARRIVALS) -> None:
        self.link = link
        self.fallbacks = fallbacks
        self.most = most
        self._arrive = link.client.register_script(ARRIVE)

    def keys(self, pool: str) -> list[str]:
        return [self.link.key("load", pool), self.link.key("load", pool, "n")]

    async def arrive(self, pool: str, window: float) -> float | None:
        keys = self.keys(pool)
        count = await self.fallbacks.run(self.link, "load", lambda: self._arrive(keys=keys, args=(window, self.most)))
        return None if count is None else int(count) / window
