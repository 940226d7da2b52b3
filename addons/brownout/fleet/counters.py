"""A fleet's `every:` and `times:` counts in Redis: one count per rule and scope key for all replicas.

`brownout.engine.sequences.SharedCounts` on Redis: `add` is an INCR, `take` an INCR only while the
count is below the rule's `times` (one Lua step, so two replicas never both take the last firing).
The engine names each count by its scenario, the activation it counts from and the rule's place,
then the scope key (`<prefix>:count:<scenario>:<activation>:<index>:seen|fired:<who>`), so a
scenario switched on again counts from zero. Every touch gives the key `TTL` more seconds: counts
of an old activation, or of a client gone quiet, go away by themselves. And there are `MOST` at
most: an index (`<prefix>:count-index`, a sorted set by last touch) drops the least recently
touched past that, so a flood of client addresses cannot fill Redis within the hour.

Redis out of reach: the engine counts on this replica's own tallies for that request (each
replica then fires a `times: N` rule up to N times), counted in
`brownout_redis_fallbacks_total{shared="counters"}`; those are carried in (`carried`, `carry`) at
the rejoin or by the replica's next step on that count, so the fleet's count includes them.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import cast

from brownout.fleet.fallbacks import Fallbacks
from brownout.fleet.link import RedisLink

# Seconds a count is kept after its last touch: longer than any pause within one rehearsal.
TTL = 3600

# Counts kept in Redis at most, all rules and scope keys together (`scope: client` makes one per
# key and address): past it the least recently touched go first, as a replica's own tables drop
# their oldest. A count is some 200 bytes with its place in the index: about 20 MB at most.
MOST = 100_000

# KEYS[1]: the count, KEYS[2]: the index of counts by last touch (us, Redis's clock). ARGV: the
# limit (0: none, always add; -1: add only what is carried), the expiry in ms, what the replica
# carries in from counting alone (added first, whatever the limit), the most counts kept. Returns
# the count after the step, negative when the limit was reached and nothing more was added.
STEP = """
local limit, ttl, carried, most = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
-- Touches within one microsecond (or a clock stepped back) still order: the newest is always last.
local newest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if newest[2] and tonumber(newest[2]) >= now then now = tonumber(newest[2]) + 1 end
-- As strings: Lua would pass a number to Redis with 14 digits, and these have 16.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%d', now - ttl * 1000))
redis.call('ZADD', KEYS[2], string.format('%d', now), KEYS[1])
local over = redis.call('ZCARD', KEYS[2]) - most
if over > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #oldest, 2 do
    if oldest[i] ~= KEYS[1] then redis.call('DEL', oldest[i]) end
  end
end
redis.call('PEXPIRE', KEYS[2], ttl)
if carried > 0 then count = redis.call('INCRBY', KEYS[1], carried) end
redis.call('PEXPIRE', KEYS[1], ttl)
if limit < 0 then return count end
if limit > 0 and count >= limit then return -count end
count = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return count
"""


class RedisCounts:
    """`brownout.engine.sequences.SharedCounts` on a fleet's Redis."""

    def __init__(self, link: RedisLink, fallbacks: Fallbacks, ttl: float = TTL, most: int = MOST) -> None:
        self.link = link
        self.fallbacks = fallbacks
        self.ttl_ms = int(ttl * 1000)
        self.most = most
        self.index = link.key("count-index")
        self._step = link.client.register_script(STEP)

    def key(self, count: str) -> str:
        return self.link.key("count", count)

    def _command(self, count: str, limit: int, carried: int) -> Awaitable[int]:
        return cast(
            Awaitable[int],
            self._step(keys=[self.key(count), self.index], args=(limit, self.ttl_ms, carried, self.most)),
        )

    async def _run(self, count: str, limit: int, carried: int) -> int | None:
        result = await self.fallbacks.run(self.link, "counters", lambda: self._command(count, limit, carried))
        return None if result is None else int(result)

    async def add(self, count: str, carried: int = 0) -> int | None:
        return await self._run(count, 0, carried)

    async def take(self, count: str, limit: int, carried: int = 0) -> bool | None:
        after = await self._run(count, limit, carried)
        return None if after is None else after > 0

    async def carry(self, count: str, carried: int) -> bool:
        # Not a request: a failure here is no fallback to count (the counts stay to carry later).
        answer = await self.fallbacks.run(
            self.link, "counters", lambda: self._command(count, -1, carried), counted=False
        )
        return answer is not None
