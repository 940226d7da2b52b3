"""Replicas of a fleet in one test process: each its own Redis link (its own connections) to one
real redis-server, as separate brownout processes would have.

Use it as a fixture: `from fleet.replicas import replica_links  # noqa: F401`, then take
`replica_links` (three started links, all up) as an argument.
"""

from __future__ import annotations

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


@pytest.fixture
async def replica_links(redis_server: RedisServer) -> AsyncIterator[list[RedisLink]]:  # noqa: F811
    links = [RedisLink(redis_server.url, prefix="fleet", timeouts=FAST) for _ in range(REPLICAS)]
    for link in links:
        await link.start()
    await until(lambda: all(link.up for link in links))
    yield links
    for link in links:
        await link.close()
