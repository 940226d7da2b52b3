"""A replica's counts joined to its fleet's: rate-limit buckets, `every`/`times` counts and
overload's offered load, all on the one Redis link, put where the faults and the engine look.

`share` makes a fleet of this replica's shared state (the hook does it with `--redis`); `unshare`
leaves it alone again. The local buckets, tallies and pools stay in place either way: they are
what each request falls back on while Redis is out of reach.
"""

from __future__ import annotations

from brownout.engine.state import Brownout
from brownout.fleet.buckets import RedisBuckets
from brownout.fleet.counters import RedisCounts
from brownout.fleet.fallbacks import Fallbacks
from brownout.fleet.link import RedisLink
from brownout.fleet.load import RedisLoad


def share(state: Brownout, link: RedisLink, fallbacks: Fallbacks) -> None:
    state.shared_buckets = RedisBuckets(link, fallbacks)
    state.shared_load = RedisLoad(link, fallbacks)
    state.engine.shared_counts = RedisCounts(link, fallbacks)


def unshare(state: Brownout) -> None:
    state.shared_buckets = state.shared_load = None
    state.engine.shared_counts = None
