"""Redis that answers but refuses (out of memory, a read-only replica after a failover, WRONGTYPE):
each refused request falls back to the replica's own state, counted and logged once, on a real
redis-server."""

from __future__ import annotations

import asyncio
import logging
import random
import socket

import pytest

from brownout.classify.request import RequestInfo
from brownout.control import actions as control
from brownout.engine.engine import Engine
from brownout.engine.state import Brownout
from brownout.faults.base import FaultRun
from brownout.faults.outcome import Outcome
from brownout.faults.rate_limit.fault import RateLimitFault
from brownout.faults.shared import Shared
from brownout.fleet.buckets import RedisBuckets
from brownout.fleet.counters import RedisCounts
from brownout.fleet.fallbacks import Fallbacks
from brownout.fleet.link import RedisLink
from brownout.fleet.switches import SharedSwitches
from brownout.scenario.compile import parse_scenario
from fleet.replicas import FAST
from fleet.replicas import replica_links  # noqa: F401 (a fixture)
from fleet.replicas import until
from redis_server import RedisServer
from redis_server import another_redis_server  # noqa: F401 (a fixture)
from redis_server import redis_server  # noqa: F401 (a fixture)

TIMES_2 = "rules:\n  - times: 2\n    fault: {type: error, kind: overloaded}\n"


def info() -> RequestInfo:
    return RequestInfo("openai", "chat", "gpt-4o", False, "openai-python", "k1")


def run_of(shared: Shared) -> FaultRun:
    return FaultRun(info=info(), rng=random.Random(0), shared=shared)


async def out_of_memory(link: RedisLink) -> None:
    await link.client.config_set("maxmemory-policy", "noeviction")
    await link.client.config_set("maxmemory", "1")


async def test_an_out_of_memory_redis_makes_a_rate_limit_fall_back_to_local_buckets(
    replica_links: list[RedisLink],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    link = replica_links[0]
    fallbacks = Fallbacks()
    fault = RateLimitFault(rpm=6, burst=2)
    shared = Shared("drill:0", buckets=RedisBuckets(link, fallbacks))
    await out_of_memory(link)
    outcomes = []
    with caplog.at_level(logging.WARNING, logger="brownout.fleet"):
        for _ in range(3):
            run = run_of(shared)
            await fault.on_request(run)
            outcomes.append(run.outcome)
    # The limit still holds, on this replica's own buckets; every refusal counted, logged once.
    assert outcomes == [Outcome.ADMITTED, Outcome.ADMITTED, Outcome.ANSWERED]
    assert fallbacks.total("buckets") == 3
    refusals = [record for record in caplog.records if "refused" in record.getMessage()]
    assert len(refusals) == 1, caplog.text
    assert "OOM" in refusals[0].getMessage() or "memory" in refusals[0].getMessage()
    assert link.up  # Redis answers: only the writes are refused
    assert link.errors >= 3


async def test_a_count_redis_refuses_is_counted_locally_not_raised_out_of_the_decision(
    replica_links: list[RedisLink],  # noqa: F811
) -> None:
    """A plain ResponseError (here WRONGTYPE: another program's key under the prefix) is a refusal
    too: the `times:` rule counts on this replica's own tally for that request."""
    link = replica_links[0]
    fallbacks = Fallbacks()
    engine = Engine()
    counts = engine.shared_counts = RedisCounts(link, fallbacks)
    engine.load(parse_scenario(TIMES_2, "s.yaml", default_name="s"))
    engine.activate("s")
    await link.client.hset(counts.key(f"s:{engine.epochs['s']}:0:fired:"), "not", "a count")
    results = [await engine.decide(info()) is not None for _ in range(3)]
    assert results == [True, True, False]
    assert fallbacks.total("counters") == 3
    assert link.up


async def test_a_read_only_replica_after_a_failover_marks_the_link_down_until_it_is_a_primary(
    redis_server: RedisServer,  # noqa: F811
    another_redis_server: RedisServer,  # noqa: F811
) -> None:
    link = RedisLink(another_redis_server.url, prefix="fleet", timeouts=FAST)
    await link.start()
    try:
        await until(lambda: link.up)
        fallbacks = Fallbacks()
        counts = RedisCounts(link, fallbacks)
        assert await counts.add("s:x:0:seen:") == 1
        # The server this replica talks to is now the replica of another: it answers, read-only.
        await link.client.execute_command("REPLICAOF", "127.0.0.1", str(redis_server.port))
        assert await counts.add("s:x:0:seen:") is None
        assert fallbacks.total("counters") == 1
        assert not link.up
        await asyncio.sleep(0.5)
        assert not link.up  # PING works on a replica; the link waits for a primary
        assert await counts.add("s:x:0:seen:") is None  # not tried while down
        await _raw(another_redis_server, b"REPLICAOF NO ONE\r\n")  # promoted: a primary again
        await until(lambda: link.up)
        assert await counts.add("s:y:0:seen:") == 1
    finally:
        await link.close()


async def _raw(server: RedisServer, command: bytes) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=0.5) as sock:
        sock.sendall(command)
        assert sock.recv(64).startswith(b"+OK")


async def test_a_switch_redis_refuses_to_store_is_retried_and_logged_once_without_a_traceback(
    redis_server: RedisServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = Brownout()
    state.load(parse_scenario("name: storm\nrules:\n  - fault: {type: error, status: 503}\n", "builtin"))
    link = RedisLink(redis_server.url, prefix="fleet", timeouts=FAST)
    switches = SharedSwitches(link, state, control.parse_text)
    await switches.start()
    await link.start()
    try:
        await until(lambda: link.up and switches.resyncs > 0)
        await out_of_memory(link)
        with caplog.at_level(logging.WARNING, logger="brownout.fleet"):
            refused = link.errors
            state.activate("storm")  # on here at once; Redis refuses to store it
            await until(lambda: link.errors >= refused + 3)  # some retries at FAST's backoff, each refused
        assert state.engine.active == ["storm"] and switches.pending == 1
        assert not [record for record in caplog.records if record.exc_info], caplog.text
        assert len([record for record in caplog.records if "refused" in record.getMessage()]) == 1
        await link.client.config_set("maxmemory", "0")
        await until(lambda: switches.pending == 0)
        assert await link.client.hexists(link.key("active"), "storm")
    finally:
        await switches.close()
        await link.close()
