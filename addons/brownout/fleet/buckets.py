"""A fleet's rate-limit buckets in Redis: every replica takes from the same ones, atomically.

One Lua script does a whole take (refill, check both buckets, take, store) inside Redis, so two
replicas taking at once never both get the last request. Its clock is Redis's own `TIME`, so the
replicas' clocks do not matter. The script is loaded once and run by its SHA (`EVALSHA`; redis-py
loads it again should Redis have been restarted and forgotten it).

A key's two buckets (requests and tokens) are one hash, `<prefix>:bucket:<limits>:<bucket>`: the
limits are in the name, so an edited rule starts on fresh buckets as it does alone. A full
bucket holds no state, so the hash expires when both would be full again: keys do not pile up.

Redis out of reach (the link down, or no answer within its short timeout): `admit` answers None
and the fault takes from its replica's own buckets for that request; each such request is
counted in `brownout_redis_fallbacks_total{shared="buckets"}`.
"""

from __future__ import annotations

import asyncio
import logging

from brownout.faults.rate_limit.buckets import verdict_of
from brownout.faults.shared import BucketLimits
from brownout.fleet.fallbacks import Fallbacks
from brownout.fleet.link import RedisLink
from brownout.providers.rate_limits import Verdict

log = logging.getLogger("brownout.fleet")

# Corrections (`settle`) on their way to Redis at once; past this they are dropped and counted.
MAX_PENDING_SETTLES = 1_000

# KEYS[1]: the key's hash. ARGV: rpm, burst, tpm (0: no such bucket), amount, mode ("take" or
# "settle"). Levels refill at per_minute / 60 a second up to their capacity (burst for requests,
# tpm for tokens), from the time stored with them; a missing hash is two full buckets. A take
# passes when one request and min(amount, tpm) tokens are there, and then uses one request and
# `amount` tokens (the token level may go below zero, as alone); a settle takes `amount` tokens
# (a negative amount gives them back). Returns the levels after it and each bucket's wait.
TAKE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local rpm, burst, tpm = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local amount, mode = tonumber(ARGV[4]), ARGV[5]
local stored = redis.call('HMGET', KEYS[1], 'requests', 'tokens', 'at')
local elapsed = math.max(0, now - (tonumber(stored[3]) or now))
local function level(value, capacity, per_minute)
  if not value then return capacity end
  return math.min(capacity, tonumber(value) + elapsed * per_minute / 60)
end
local requests = rpm > 0 and level(stored[1], burst, rpm) or 0
local tokens = tpm > 0 and level(stored[2], tpm, tpm) or 0
local wait_requests, wait_tokens = 0, 0
if mode == 'settle' then
  if tpm > 0 then tokens = math.min(tpm, tokens - amount) end
else
  if rpm > 0 and 1 - requests > 1e-9 then wait_requests = (1 - requests) / (rpm / 60) end
  if tpm > 0 and math.min(amount, tpm) - tokens > 1e-9 then
    wait_tokens = (math.min(amount, tpm) - tokens) / (tpm / 60)
  end
  if wait_requests <= 0 and wait_tokens <= 0 then
    if rpm > 0 then requests = requests - 1 end
    if tpm > 0 then tokens = math.min(tpm, tokens - amount) end
  end
end
local full_in = 0
if rpm > 0 then full_in = math.max(full_in, (burst - requests) / (rpm / 60)) end
if tpm > 0 then full_in = math.max(full_in, (tpm - tokens) / (tpm / 60)) end
if full_in <= 0 then
  redis.call('DEL', KEYS[1])
else
  local f = '%.17g'
  redis.call('HSET', KEYS[1], 'requests', string.format(f, requests), 'tokens', string.format(f, tokens),
    'at', string.format(f, now))
  redis.call('PEXPIRE', KEYS[1], math.ceil(full_in * 1000) + 1000)
end
local f = '%.17g'
return {string.format(f, requests), string.format(f, tokens), string.format(f, wait_requests),
  string.format(f, wait_tokens)}
"""


class RedisBuckets:
    """`brownout.faults.shared.SharedBuckets` on a fleet's Redis."""

    def __init__(self, link: RedisLink, fallbacks: Fallbacks) -> None:
        self.link = link
        self.fallbacks = fallbacks
        self._take = link.client.register_script(TAKE)
        self._settles: set[asyncio.Task[None]] = set()

    def key(self, bucket: str, limits: BucketLimits) -> str:
        return self.link.key("bucket", f"{limits.rpm or 0}-{limits.burst or 0}-{limits.tpm or 0}", bucket)

    async def _run(self, bucket: str, limits: BucketLimits, amount: int, mode: str) -> list[float] | None:
        args = (limits.rpm or 0, limits.burst or 0, limits.tpm or 0, amount, mode)
        key = self.key(bucket, limits)
        result = await self.fallbacks.run(self.link, "buckets", lambda: self._take(keys=[key], args=args))
        return None if result is None else [float(value) for value in result]

    async def admit(self, bucket: str, limits: BucketLimits, tokens: int) -> Verdict | None:
        levels = await self._run(bucket, limits, tokens, "take")
        if levels is None:
            return None
        requests, token_level, wait_requests, wait_tokens = levels
        return verdict_of(
            limits,
            requests if limits.rpm else None,
            token_level if limits.tpm else None,
            (wait_requests, wait_tokens),
            tokens,
        )

    def settle(self, bucket: str, limits: BucketLimits, correction: int) -> None:
        if correction == 0 or not limits.tpm:
            return
        if len(self._settles) >= MAX_PENDING_SETTLES:
            self.fallbacks.count("buckets")
            return
        # The answer is on its way to the client already: the correction goes on by itself.
        task = asyncio.get_running_loop().create_task(self._settle(bucket, limits, correction))
        self._settles.add(task)
        task.add_done_callback(self._settles.discard)

    async def _settle(self, bucket: str, limits: BucketLimits, correction: int) -> None:
        await self._run(bucket, limits, correction, "settle")

    async def settled(self) -> None:
        """Wait for the corrections under way (a drain, and tests)."""
        while self._settles:
            await asyncio.gather(*list(self._settles), return_exceptions=True)
