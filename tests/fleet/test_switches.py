"""Shared switches, uploads and timeline starts: several Brownout states on one real Redis."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path

import pytest

from brownout.control import actions as control
from brownout.engine.state import Brownout
from brownout.fleet.link import RedisLink
from brownout.fleet.link import Timeouts
from brownout.fleet.switches import SharedSwitches
from brownout.scenario.compile import load_scenario
from brownout.scenario.compile import parse_scenario
from redis_server import FrozenNetwork
from redis_server import RedisServer
from redis_server import redis_server  # noqa: F401 (a fixture)

FAST = Timeouts(connect=0.2, command=0.2, heartbeat=0.1, backoff_first=0.05, backoff_max=0.2)
STORM = "name: storm\nrules:\n  - fault: {type: error, status: 503}\n"
PHASED = (
    "name: phased\nrules:\n  - {name: down, fault: {type: error, status: 503}}\n"
    "timeline:\n  phases:\n    - {name: calm, duration: 2s, rules: []}\n    - {name: outage, duration: 60s}\n"
)


class Replica:
    """One replica's state and its fleet link, as `brownout run --redis` wires them."""

    def __init__(self, url: str, prefix: str) -> None:
        self.state = Brownout()
        for text in (STORM, PHASED):
            self.state.load(parse_scenario(text, "builtin"))
        self.link = RedisLink(url, prefix=prefix, timeouts=FAST)
        self.switches = SharedSwitches(self.link, self.state, control.parse_text)

    async def start(self) -> Replica:
        await self.switches.start()
        await self.link.start()
        await until(lambda: self.link.up and self.switches.resyncs > 0)
        return self

    async def stop(self) -> None:
        await self.switches.close()
        await self.link.close()

    def on(self) -> list[str]:
        return self.state.engine.active


Replicas = Callable[[], Awaitable[Replica]]


async def until(condition: Callable[[], object], seconds: float = 3.0) -> float:
    """Seconds until `condition` held; fails after `seconds`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < seconds:
        if condition():
            return loop.time() - started
        await asyncio.sleep(0.01)
    raise AssertionError(f"not true within {seconds} s")


@pytest.fixture
async def replicas(redis_server: RedisServer) -> AsyncIterator[Callable[[], Replica]]:  # noqa: F811
    made: list[Replica] = []

    def make() -> Replica:
        replica = Replica(redis_server.url, prefix="fleet-test")
        made.append(replica)
        return replica

    yield make
    for replica in made:
        await replica.stop()


async def test_a_switch_on_one_replica_is_in_force_on_the_others_within_a_second(
    replicas: Callable[[], Replica],
) -> None:
    one, two, three = [await r.start() for r in (replicas(), replicas(), replicas())]
    one.state.activate("storm")
    took = await until(lambda: "storm" in two.on() and "storm" in three.on(), seconds=1.0)
    assert took < 1.0
    three.state.deactivate("storm")
    await until(lambda: not one.on() and not two.on(), seconds=1.0)
    two.state.activate("storm")
    two.state.activate("phased")
    await until(lambda: one.on() == ["storm", "phased"] == three.on(), seconds=1.0)
    one.state.clear()
    await until(lambda: not two.on() and not three.on(), seconds=1.0)


async def test_a_timeline_started_on_one_replica_is_in_the_same_phase_on_all(replicas: Callable[[], Replica]) -> None:
    one, two = [await r.start() for r in (replicas(), replicas())]
    one.state.activate("phased")
    await until(lambda: two.on() == ["phased"])
    elapsed_one = one.state.engine.active_for("phased")
    elapsed_two = two.state.engine.active_for("phased")
    assert elapsed_one is not None and elapsed_two is not None
    assert abs(elapsed_one - elapsed_two) < 0.05
    await asyncio.sleep(0.5)
    # A replica started later joins the timeline where the fleet is, not at its start.
    late = await replicas().start()
    elapsed_late = late.state.engine.active_for("phased")
    assert elapsed_late is not None and elapsed_late > 0.4
    assert abs(elapsed_late - (one.state.engine.active_for("phased") or 0.0)) < 0.05
    # Each in the phase of the fleet's clock (calm its first 2 s): the late one too, however long
    # it took to start (a busy machine may take it past the calm).
    for replica in (one, two, late):
        elapsed = replica.state.engine.active_for("phased") or 0.0
        phase = replica.state.engine.phase("phased")
        assert phase is not None
        if abs(elapsed - 2.0) > 0.05:  # not on the edge, where the two reads may fall either side
            assert phase.name == ("calm" if elapsed < 2.0 else "outage"), (phase.name, elapsed)
    await until(lambda: all(r.state.engine.phase("phased").name == "outage" for r in (one, two, late)), 3.0)  # type: ignore[union-attr]


async def test_a_restarted_replica_switched_on_at_start_keeps_the_fleets_timeline(
    replicas: Callable[[], Replica],
) -> None:
    one = await replicas().start()
    one.state.activate("phased")
    await asyncio.sleep(0.5)
    again = replicas()
    again.state.activate("phased")  # as `--scenario phased` does before the link is up
    await again.start()
    await until(
        lambda: (
            abs((again.state.engine.active_for("phased") or 0) - (one.state.engine.active_for("phased") or 0)) < 0.05
        )
    )
    assert (one.state.engine.active_for("phased") or 0.0) > 0.4  # the fleet's timeline was not restarted


async def test_an_upload_reaches_every_replica_and_persists_for_later_ones_and_across_a_redis_restart(
    replicas: Callable[[], Replica],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    one, two = [await r.start() for r in (replicas(), replicas())]
    text = "name: uploaded\nrules:\n  - fault: {type: error, status: 429}\n"
    control.load_text(one.state, text, "my-upload", activate=True)
    await until(lambda: two.on() == ["uploaded"])
    assert two.state.engine.scenarios["uploaded"].text == text
    await one.stop()
    await two.stop()
    redis_server.restart()
    later = await replicas().start()
    assert later.on() == ["uploaded"]
    assert later.state.engine.scenarios["uploaded"].source == "my-upload"


async def test_an_edited_upload_replaces_the_running_version_everywhere(replicas: Callable[[], Replica]) -> None:
    one, two = [await r.start() for r in (replicas(), replicas())]
    control.load_text(one.state, "name: storm\nrules:\n  - fault: {type: error, status: 529}\n", "edit")
    await until(lambda: two.state.engine.scenarios["storm"].source == "edit")
    assert "529" in two.state.engine.scenarios["storm"].text


async def test_a_replicas_own_file_wins_over_an_upload_of_its_name(
    replicas: Callable[[], Replica],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "storm.yaml"
    path.write_text("name: storm\nrules:\n  - fault: {type: error, status: 500}\n")
    with_file, without = replicas(), replicas()
    with_file.state.load(load_scenario(path))
    await with_file.start()
    await without.start()
    caplog.set_level(logging.WARNING, logger="brownout.fleet")
    uploader = await replicas().start()
    control.load_text(uploader.state, "name: storm\nrules:\n  - fault: {type: error, status: 529}\n", "up")
    await until(lambda: without.state.engine.scenarios["storm"].source == "up")
    await until(lambda: any("own scenario file" in r.getMessage() for r in caplog.records))
    assert with_file.state.engine.scenarios["storm"].source == str(path)
    # Switching is shared all the same: the file's version is the one that runs there.
    uploader.state.activate("storm")
    await until(lambda: with_file.on() == ["storm"])


async def test_with_redis_stopped_replicas_keep_their_state_and_rejoin_when_it_returns(
    replicas: Callable[[], Replica],
    redis_server: RedisServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    one, two = [await r.start() for r in (replicas(), replicas())]
    one.state.activate("storm")
    await until(lambda: two.on() == ["storm"])
    caplog.set_level(logging.WARNING, logger="brownout.fleet")
    redis_server.stop(kill=True)
    await until(lambda: not one.link.up and not two.link.up)
    failed = one.link.errors, two.link.errors
    await until(lambda: one.link.errors >= failed[0] + 3 and two.link.errors >= failed[1] + 3)  # retries failed
    assert one.on() == ["storm"] == two.on()  # the last known state, still served
    one.state.activate("phased")  # a change made during the outage is local, then written
    assert one.switches.pending == 1
    assert two.on() == ["storm"]
    down_lines = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(down_lines) == 2  # one line per replica, however many retries
    redis_server.start()
    await until(lambda: one.link.up and two.link.up)
    await until(lambda: two.on() == ["storm", "phased"])
    assert one.switches.pending == 0
    two.state.deactivate("storm")
    await until(lambda: one.on() == ["phased"])


async def test_a_connection_the_network_drops_silently_is_left_for_a_fresh_one(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    network = FrozenNetwork(redis_server.port)
    await network.start()
    one, two = Replica(network.url, "fleet-test"), Replica(network.url, "fleet-test")
    try:
        await one.start()
        await two.start()
        network.freeze()  # no error ever arrives: only the link's timeouts find it
        await until(lambda: not one.link.up and not two.link.up)
        one.state.activate("storm")  # local at once, written later
        assert one.on() == ["storm"] and two.on() == []
        network.heal()
        await until(lambda: one.link.up and two.link.up)
        await until(lambda: two.on() == ["storm"])
        one.state.deactivate("storm")  # the subscription works again: a fresh one, not the dead one
        await until(lambda: two.on() == [])
    finally:
        await one.stop()
        await two.stop()
        await network.stop()


async def test_an_entry_in_redis_that_is_not_a_switch_is_skipped_and_the_rest_followed(
    replicas: Callable[[], Replica],
    caplog: pytest.LogCaptureFixture,
) -> None:
    one = await replicas().start()
    caplog.set_level(logging.WARNING, logger="brownout.fleet")
    link = one.link
    await link.call(link.client.hset(one.switches.active_key, mapping={"storm": "not a time", "phased": "0"}))
    await link.call(link.client.publish(one.switches.channel, "changed"))
    await until(lambda: one.on() == ["phased"])
    assert [r for r in caplog.records if "not a start time" in r.getMessage()]


async def test_a_file_reload_that_renames_an_active_scenario_switches_the_fleet_too(
    replicas: Callable[[], Replica],
    tmp_path: Path,
) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nrules:\n  - fault: {type: error, status: 500}\n")
    one, two = replicas(), replicas()
    for replica in (one, two):
        replica.state.load(load_scenario(path))
    await one.start()
    await two.start()
    one.state.activate("mine")
    await until(lambda: two.on() == ["mine"])
    path.write_text("name: storm\nrules:\n  - fault: {type: error, status: 500}\n")
    assert control.reload_file(one.state, path) is not None  # as the watcher does on an edit
    await until(lambda: two.on() == ["storm"])
