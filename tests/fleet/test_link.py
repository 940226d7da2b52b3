"""The Redis link against a real redis-server: up, down (logged once), backoff, back up, rejoin."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from brownout.fleet.link import LinkDown
from brownout.fleet.link import RedisLink
from brownout.fleet.link import Timeouts
from brownout.fleet.link import display_url
from redis_server import RedisServer
from redis_server import redis_server  # noqa: F401 (a fixture)

FAST = Timeouts(connect=0.2, command=0.2, heartbeat=0.1, backoff_first=0.05, backoff_max=0.2)


async def until(condition, seconds: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not true within {seconds} s")


@pytest.fixture
async def link(redis_server: RedisServer) -> AsyncIterator[RedisLink]:  # noqa: F811
    link = RedisLink(redis_server.url, prefix="t", timeouts=FAST)
    yield link
    await link.close()


async def test_the_link_comes_up_and_runs_commands(link: RedisLink) -> None:
    rejoined: list[bool] = []

    async def rejoin() -> None:
        rejoined.append(link.up)

    link.on_rejoin(rejoin)
    assert not link.up  # nothing has answered yet
    await link.start()
    await until(lambda: link.up)
    assert rejoined == [True]
    await link.call(link.client.set(link.key("a", "b"), "1"))
    assert await link.call(link.client.get("t:a:b")) == b"1"


async def test_an_outage_is_logged_once_and_the_link_rejoins(
    link: RedisLink,
    redis_server: RedisServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    rejoins: list[int] = []

    async def rejoin() -> None:
        rejoins.append(1)

    link.on_rejoin(rejoin)
    await link.start()
    await until(lambda: link.up)
    caplog.set_level(logging.WARNING, logger="brownout.fleet")
    redis_server.stop(kill=True)
    for _ in range(5):  # requests during the outage fail at once, each counted, none logged
        with pytest.raises(LinkDown):
            await link.call(link.client.get("t:x"))
    await until(lambda: not link.up)
    failed = link.errors
    await until(lambda: link.errors >= failed + 3)  # several retries failed with backoff: still one line
    down_lines = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(down_lines) == 1, [r.getMessage() for r in caplog.records]
    assert link.errors >= 5
    redis_server.start()
    await until(lambda: link.up)
    assert len(rejoins) == 2
    assert [r for r in caplog.records if "is back" in r.getMessage()]
    assert await link.call(link.client.ping())


async def test_a_command_to_a_silent_redis_times_out_without_waiting_longer(link: RedisLink) -> None:
    await link.start()
    await until(lambda: link.up)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(LinkDown):
        # A command the server holds longer than the link's timeout: the link must not wait for it.
        await link.call(link.client.blpop(["t:never"], timeout=2))
    assert loop.time() - started < 1.0
    assert not link.up


def test_the_url_in_logs_has_no_password() -> None:
    assert display_url("redis://user:secret@10.0.0.1:6380/2") == "redis://10.0.0.1:6380/2"
    assert display_url("unix://:secret@/run/redis.sock?db=1") == "unix:///run/redis.sock"
