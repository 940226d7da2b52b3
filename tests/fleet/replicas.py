"""Replicas of a fleet in one test process: each its own Redis link (its own connections) to one
real redis-server, as separate brownout processes would have.

Use it as a fixture: `from fleet.replicas import replica_links  # noqa: F401`, then take
`replica_links` (three started links, all up) as an argument; `timed_link` is one such link with
production's command timeout, for a test that measures it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator

import pytest

from brownout.fleet.link import RedisLink
from brownout.fleet.link import Timeouts
from fleet.test_link import until as until  # one wait for a condition, the link's tests'
from redis_server import RedisServer
from redis_server import redis_server  # noqa: F401 (a fixture)

# Commands may take longer than production's 0.5 s: here Redis is down only when a test takes it
# down, and a reply held up on a busy CI machine must not look like an outage (CI once counted a
# fallback the test had not caused). Reconnecting is quick, so a test's outage ends quickly.
FAST = Timeouts(connect=0.5, command=2.0, heartbeat=0.1, backoff_first=0.05, backoff_max=0.2)
REPLICAS = 3


@contextlib.asynccontextmanager
async def started(
    url: str, count: int, timeouts: Timeouts = FAST, prefix: str = "fleet"
) -> AsyncIterator[list[RedisLink]]:
    """`count` links to the Redis at `url`, started and all up; closed on the way out."""
    links = [RedisLink(url, prefix=prefix, timeouts=timeouts) for _ in range(count)]
    for link in links:
        await link.start()
    try:
        await until(lambda: all(link.up for link in links))
        yield links
    finally:
        for link in links:
            await link.close()


@pytest.fixture
async def replica_links(redis_server: RedisServer) -> AsyncIterator[list[RedisLink]]:  # noqa: F811
    async with started(redis_server.url, REPLICAS) as links:
        yield links


@pytest.fixture
async def timed_link(redis_server: RedisServer) -> AsyncIterator[RedisLink]:  # noqa: F811
    """One link with production's command timeout, for a test that measures that timeout."""
    async with started(redis_server.url, 1, dataclasses.replace(FAST, command=Timeouts().command)) as (link,):
        yield link
