"""A fleet end to end: three `brownout run` processes on one real redis-server, the simulator behind
them, all on loopback.

- A global `rpm` limit holds for the three together, within 5 %, under concurrent load spread
  over them (each alone would let three times as much through).
- A switch through one replica's admin API is in force on all three within a second, by the
  traffic each relays, not by what its API says.
- A timeline is in the same phase on all three, a replica started after the switch included.
- A replica killed (SIGKILL) and started again comes back with the current state: a scenario
  uploaded and switched on while it was down.
- With Redis stopped the replicas keep serving their last state (and say so in `brownout_redis_up`);
  when Redis is back they rejoin, and a switch reaches all three again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from brownout.sim import SimConfig
from brownout.sim import SimServer
from conftest import PROVIDERS
from conftest import ProxyProcess
from conftest import free_port
from redis_server import RedisServer
from required_tools import need_tool

# The replicas take long to start on a busy machine: one fleet (and one loop) for the module.
pytestmark = pytest.mark.asyncio(loop_scope="module")

REPLICAS = 3
IN_FORCE_WITHIN = 1.0  # seconds: a switch through one replica reaches the others this soon
JSON = {"Content-Type": "application/json"}

OUTAGE = """\
name: fleet-outage
description: Every OpenAI chat call to the model `down` gets a 503.
rules:
  - name: down
    match: {provider: openai, model: down}
    fault: {type: error, status: 503}
"""

# 20 requests a second for the fleet, 20 at once: about 120 in a 5 s burst of load.
RPM = 1200
BURST = 20
LIMIT = f"""\
name: fleet-limit
description: One request bucket for the whole fleet.
rules:
  - name: limit
    match: {{provider: openai, model: limited}}
    fault: {{type: rate_limit, rpm: {RPM}, burst: {BURST}}}
"""

PHASE = 3.0  # seconds per phase of the timeline: long enough to sample well inside one
TIMELINE = f"""\
name: fleet-timeline
description: Calm, then rough (503s), then calm again, looping.
rules:
  - name: rough
    match: {{provider: openai, model: phased}}
    fault: {{type: error, status: 503}}
timeline:
  loop: true
  phases:
    - {{name: calm, duration: {PHASE:g}s, rules: []}}
    - {{name: rough, duration: {PHASE:g}s}}
"""

TIMES = 6
COUNTED = f"""\
name: fleet-counted
description: The first {TIMES} calls to the model `counted` in all the fleet get a 503.
rules:
  - name: six
    match: {{provider: openai, model: counted}}
    times: {TIMES}
    fault: {{type: error, status: 503}}
"""

UPLOADED = """\
name: fleet-uploaded
description: Sent through the admin API, never a file.
rules:
  - name: teapot
    match: {provider: openai, model: uploaded}
    fault: {type: error, status: 418}
"""


@dataclass
class Replica:
    """One `brownout run` process of the fleet, on its own proxy and admin ports."""

    index: int
    port: int
    admin_port: int
    args: list[str]
    log: Path
    process: ProxyProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    async def start(self, timeout: float = 90.0) -> None:
        """Start and wait until both ports answer (a loaded machine takes seconds to start mitmproxy)."""
        self.process = ProxyProcess(["--admin-port", str(self.admin_port), *self.args], self.port, self.log)
        await self.process.wait_ready(timeout)
        deadline = time.monotonic() + 10
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{self.admin}/healthz")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"replica {self.index}'s admin port does not answer:\n{self.output()[-1500:]}")
                await asyncio.sleep(0.05)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye to Redis, as a crashed pod."""
        assert self.process is not None
        self.process.process.kill()
        self.process.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Fleet:
    def __init__(self, replicas: list[Replica], http: httpx.AsyncClient) -> None:
        self.replicas = replicas
        self.http = http

    async def chat(self, replica: Replica, model: str, prompt: str = "hi") -> int:
        """One OpenAI chat call through `replica`; its status (0: the connection failed)."""
        body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
        try:
            answer = await self.http.post(
                f"{replica.url}/openai/v1/chat/completions", json=body, headers={"authorization": "Bearer sk-fleet"}
            )
        except httpx.TransportError:
            return 0
        return answer.status_code

    async def admin(self, replica: Replica, method: str, path: str, **kwargs: Any) -> Any:
        answer = await self.http.request(method, f"{replica.admin}{path}", **kwargs)
        assert answer.status_code < 300, f"{method} {path} on replica {replica.index}: {answer.text}"
        return answer.json()

    async def switch(self, replica: Replica, name: str, on: bool) -> None:
        await self.admin(replica, "POST", f"/api/scenarios/{name}/{'activate' if on else 'deactivate'}", headers=JSON)

    async def active(self, replica: Replica) -> set[str]:
        return {entry["name"] for entry in (await self.admin(replica, "GET", "/api/status"))["active"]}

    async def metric(self, replica: Replica, name: str) -> float | None:
        text = (await self.http.get(f"{replica.admin}/metrics")).text
        for line in text.splitlines():
            if line.startswith((name + " ", name + "{")):
                return float(line.rsplit(" ", 1)[1])
        return None

    async def until_all(
        self,
        check: Callable[[Replica], Awaitable[bool]],
        within: float,
        pause: float = 0.02,
        of: list[Replica] | None = None,
    ) -> dict[int, float]:
        """Seconds until `check` first held on each replica (of `of`, else of the fleet), polled
        every `pause`; a replica where it never held within `within` is missing from the answer.

        A replica's figure is taken at the start of the round of checks that first saw it hold, not
        at its end: what is measured is when the state was in force, not how long three processes
        on a busy machine took to answer that round (the answer may only have been decided in it)."""
        replicas = self.replicas if of is None else of
        started = time.monotonic()
        held: dict[int, float] = {}
        while len(held) < len(replicas) and time.monotonic() - started < within:
            pending = [r for r in replicas if r.index not in held]
            round_start = time.monotonic() - started
            results = await asyncio.gather(*(check(r) for r in pending))
            for replica, ok in zip(pending, results, strict=True):
                if ok:
                    held[replica.index] = round_start
            await asyncio.sleep(pause)
        return held


@pytest.fixture(scope="module")
def fleet_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the module's fleet (starting three replicas takes long on a busy machine)."""
    server = RedisServer(
        need_tool("redis-server", "the fleet shares its state in a real Redis"), tmp_path_factory.mktemp("redis")
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fleet_replicas(
    fleet_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[list[Replica], SimServer]]:
    """The simulator and three replicas on `fleet_redis`, for the whole module."""
    workdir = tmp_path_factory.mktemp("fleet")
    library = workdir / "library"
    library.mkdir()
    for text in (OUTAGE, LIMIT, TIMELINE, COUNTED):
        name = text.split("\n", 1)[0].removeprefix("name: ")
        (library / f"{name}.yaml").write_text(text)
    async with SimServer(SimConfig(tokens_per_second=0)) as sim:
        common = ["--redis", fleet_redis.url, "--library", str(library), "--no-fault-log", "--no-watch"]
        common += [arg for name in PROVIDERS for arg in ("--upstream", f"{name}={sim.url}/{name}")]
        replicas = [Replica(i, free_port(), free_port(), common, workdir / f"replica-{i}.log") for i in range(REPLICAS)]
        try:
            await asyncio.gather(*(replica.start() for replica in replicas))
            yield replicas, sim
        finally:
            for replica in replicas:
                replica.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def fleet(fleet_replicas: tuple[list[Replica], SimServer], fleet_redis: RedisServer) -> AsyncIterator[Fleet]:
    """The module's fleet, whole again (Redis up, every replica running) and with nothing on."""
    replicas, _sim = fleet_replicas
    if not fleet_redis.running:
        fleet_redis.start()
    await asyncio.gather(*(replica.start() for replica in replicas if not replica.running))
    limits = httpx.Limits(max_connections=60, max_keepalive_connections=60)
    async with httpx.AsyncClient(timeout=10, limits=limits) as http:
        fleet = Fleet(replicas, http)
        await fleet.admin(replicas[0], "POST", "/api/clear", headers=JSON)
        cleared = await fleet.until_all(lambda r: _none_active(fleet, r), within=5)
        assert len(cleared) == REPLICAS, logs(fleet)
        yield fleet


async def _none_active(fleet: Fleet, replica: Replica) -> bool:
    return not await fleet.active(replica)


def logs(fleet: Fleet) -> str:
    return "\n".join(f"--- replica {r.index}\n{r.output()[-1500:]}" for r in fleet.replicas)


async def test_a_global_rpm_limit_holds_across_the_fleet(fleet: Fleet) -> None:
    await fleet.switch(fleet.replicas[0], "fleet-limit", True)
    in_force = await fleet.until_all(lambda r: _has(fleet, r, "fleet-limit"), within=IN_FORCE_WITHIN * 3)
    assert len(in_force) == REPLICAS, logs(fleet)

    # Three times the limit, spread round-robin over the replicas, 30 under way at most.
    offered_per_second, seconds = 3 * RPM / 60, 5.0
    count = int(offered_per_second * seconds)
    slots = asyncio.Semaphore(30)
    replicas = itertools.cycle(fleet.replicas)
    sent: list[float] = []
    answered: list[float] = []

    async def one(replica: Replica) -> int:
        async with slots:
            sent.append(time.monotonic())
            status = await fleet.chat(replica, "limited")
            answered.append(time.monotonic())
            return status

    tasks = []
    started = time.monotonic()
    for n in range(count):
        await asyncio.sleep(max(0.0, started + n / offered_per_second - time.monotonic()))
        tasks.append(asyncio.create_task(one(next(replicas))))
    statuses = await asyncio.gather(*tasks)

    passed, limited = statuses.count(200), statuses.count(429)
    assert passed + limited == count, f"other answers: {sorted(set(statuses))}\n{logs(fleet)}"
    # The bucket refills over the span between its first and its last take in Redis, which the
    # client cannot see: it lies between the span from the first answer to the last send and the
    # span from the first send to the last answer (the requests' round trips apart).
    shortest, longest = max(sent) - min(answered), max(answered) - min(sent)
    low, high = BURST + RPM / 60 * max(0.0, shortest), BURST + RPM / 60 * longest
    slack = max(0.05 * high, 3)  # 5 %, or a few requests whichever is more
    assert low - slack <= passed <= high + slack, (
        f"{passed} of {count} passed over {shortest:.2f} to {longest:.2f} s; the fleet's limit lets "
        f"{low:.0f} to {high:.0f} through (each replica alone would let up to {REPLICAS * low:.0f})"
    )


async def test_a_times_rule_counts_for_the_whole_fleet(fleet: Fleet) -> None:
    await fleet.switch(fleet.replicas[0], "fleet-counted", True)
    assert len(await fleet.until_all(lambda r: _has(fleet, r, "fleet-counted"), within=3)) == REPLICAS
    # Each its own logical request (a new conversation), round-robin over the replicas, a few at once.
    statuses: list[int] = []
    for batch in range(10):
        statuses += await asyncio.gather(*(fleet.chat(r, "counted", f"call {batch}-{r.index}") for r in fleet.replicas))
    assert statuses.count(503) == TIMES and statuses.count(200) == len(statuses) - TIMES, (
        f"{statuses.count(503)} of {len(statuses)} faulted; `times: {TIMES}` is the fleet's count "
        f"(each replica counting alone would fault {REPLICAS * TIMES})"
    )


async def _has(fleet: Fleet, replica: Replica, name: str) -> bool:
    return name in await fleet.active(replica)


async def test_a_switch_through_one_replica_is_in_force_on_all_within_a_second(fleet: Fleet) -> None:
    assert {await fleet.chat(r, "down") for r in fleet.replicas} == {200}

    async def faulted(replica: Replica) -> bool:
        return await fleet.chat(replica, "down") == 503

    async def clean(replica: Replica) -> bool:
        return await fleet.chat(replica, "down") == 200

    for on, check in ((True, faulted), (False, clean)):
        await fleet.switch(fleet.replicas[1], "fleet-outage", on)
        held = await fleet.until_all(check, within=IN_FORCE_WITHIN * 3)
        late = {i: f"{s:.2f} s" for i, s in held.items() if s > IN_FORCE_WITHIN}
        missing = {r.index for r in fleet.replicas} - set(held)
        assert not missing and not late, f"switched {'on' if on else 'off'}: missing {missing}, late {late}"


async def test_a_timeline_is_in_the_same_phase_on_every_replica(fleet: Fleet) -> None:
    late = fleet.replicas[2]
    late.stop()  # it starts after the switch: its clock must be the fleet's, not its own start
    on_at = time.monotonic()
    await fleet.switch(fleet.replicas[0], "fleet-timeline", True)
    await asyncio.sleep(1.0)
    await late.start()
    # Its state is read from the fleet in the background after /healthz answers: wait for it.
    assert await fleet.until_all(lambda r: _has(fleet, r, "fleet-timeline"), within=5.0, of=[late]), logs(fleet)

    async def position(replica: Replica) -> tuple[str, float, float, float]:
        """The replica's phase, its seconds in it, and when (on this clock) the request was sent
        and answered: the replica read its clock somewhere in between."""
        asked = time.monotonic()
        status = await fleet.admin(replica, "GET", "/api/status")
        answered = time.monotonic()
        (entry,) = [a for a in status["active"] if a["name"] == "fleet-timeline"]
        return entry["timeline"]["phase"], entry["timeline"]["in_phase_seconds"], asked, answered

    # Sample in the middle of the next three phases after the late replica is up.
    elapsed = time.monotonic() - on_at
    first = int(elapsed / PHASE) + 1
    for k in range(first, first + 3):
        await asyncio.sleep(max(0.0, on_at + (k + 0.5) * PHASE - time.monotonic()))
        positions = await asyncio.gather(*(position(r) for r in fleet.replicas))
        statuses = await asyncio.gather(*(fleet.chat(r, "phased") for r in fleet.replicas))
        phases = {phase for phase, *_ in positions}
        assert len(phases) == 1, f"phases differ: {positions}"
        # When each replica's phase began, on this clock: between (sent - in phase) and (answered -
        # in phase), however unevenly the three answered. The replicas agree if those spans come
        # within 0.3 s of one another; a replica a second off cannot, unless its request took as long.
        began_latest = max(asked - seconds for _, seconds, asked, _ in positions)
        began_earliest = min(answered - seconds for _, seconds, _, answered in positions)
        apart = began_latest - began_earliest
        trips = [f"{answered - asked:.2f}" for *_, asked, answered in positions]
        assert apart < 0.3, f"the replicas' clocks are {apart:.2f} s apart: {positions} (round trips {trips} s)"
        want = 503 if phases == {"rough"} else 200
        assert set(statuses) == {want}, f"in phase {phases}: answers {statuses}"


async def test_a_killed_replica_comes_back_with_the_current_state(fleet: Fleet) -> None:
    first, victim = fleet.replicas[0], fleet.replicas[1]
    await fleet.switch(first, "fleet-outage", True)
    victim.kill()
    # While it is down: a scenario uploaded through another replica and switched on, one switched off.
    await fleet.admin(
        first,
        "POST",
        "/api/scenarios?activate=1",
        content=UPLOADED.encode(),
        headers={"Content-Type": "application/yaml"},
    )
    await fleet.switch(first, "fleet-outage", False)
    await victim.start()

    # /healthz answers before the replica has read the fleet's state back: the link comes up and
    # the state is read (the upload parsed) in the background once mitmproxy runs.
    async def caught_up(replica: Replica) -> bool:
        return await fleet.active(replica) == {"fleet-uploaded"}

    assert await fleet.until_all(caught_up, within=5.0, of=[victim]), f"{await fleet.active(victim)}\n{logs(fleet)}"
    assert await fleet.chat(victim, "uploaded") == 418
    assert await fleet.chat(victim, "down") == 200
    names = {entry["name"] for entry in await fleet.admin(victim, "GET", "/api/scenarios")}
    assert "fleet-uploaded" in names


async def test_without_redis_the_replicas_keep_their_state_and_rejoin(fleet: Fleet, fleet_redis: RedisServer) -> None:
    await fleet.switch(fleet.replicas[0], "fleet-outage", True)
    assert len(await fleet.until_all(lambda r: _has(fleet, r, "fleet-outage"), within=3)) == REPLICAS
    for replica in fleet.replicas:
        assert await fleet.metric(replica, "brownout_redis_up") == 1

    fleet_redis.stop(kill=True)

    async def link_down(replica: Replica) -> bool:
        return await fleet.metric(replica, "brownout_redis_up") == 0

    assert len(await fleet.until_all(link_down, within=5, pause=0.1)) == REPLICAS, logs(fleet)
    # Still serving, and serving the last state: the outage stays on everywhere.
    for _ in range(3):
        assert [await fleet.chat(r, "down") for r in fleet.replicas] == [503] * REPLICAS
        assert [await fleet.chat(r, "gpt-4o") for r in fleet.replicas] == [200] * REPLICAS
    for replica in fleet.replicas:
        assert (await fleet.http.get(f"{replica.admin}/healthz")).status_code == 200
        assert (await fleet.metric(replica, "brownout_redis_errors_total") or 0) > 0
        assert replica.output().count("unreachable") == 1, f"replica {replica.index} logs the outage once"

    fleet_redis.start()

    async def link_up(replica: Replica) -> bool:
        return await fleet.metric(replica, "brownout_redis_up") == 1

    assert len(await fleet.until_all(link_up, within=15, pause=0.2)) == REPLICAS, logs(fleet)
    # Back in the fleet: a switch through one replica reaches the others again.
    await fleet.switch(fleet.replicas[2], "fleet-outage", False)

    async def clean(replica: Replica) -> bool:
        return await fleet.chat(replica, "down") == 200

    held = await fleet.until_all(clean, within=IN_FORCE_WITHIN * 3)
    assert len(held) == REPLICAS and max(held.values()) <= IN_FORCE_WITHIN, held
