"""Properties of the shared switches on a real Redis: whatever the interleaving of switches made on
three replicas, with or without time to hear each other between them, the fleet settles on one
state: the same scenarios on everywhere, the same as Redis holds, each timeline at the same point."""

from __future__ import annotations

import asyncio
import uuid

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from fleet.test_switches import Replica
from fleet.test_switches import until
from property_budget import budget
from redis_server import RedisServer
from redis_server import redis_server  # noqa: F401 (a fixture)

NAMES = ("storm", "phased")
# (replica, what, scenario, then wait for the others to hear of it)
Step = tuple[int, str, str, bool]
STEPS = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(["on", "off", "clear"]), st.sampled_from(NAMES), st.booleans()),
    min_size=1,
    max_size=12,
)


def settled(fleet: list[Replica]) -> bool:
    ons = [set(replica.on()) for replica in fleet]
    return all(replica.switches.pending == 0 for replica in fleet) and all(on == ons[0] for on in ons)


async def run_steps(url: str, steps: list[Step]) -> None:
    prefix = f"prop-{uuid.uuid4().hex}"  # this example's own fleet
    fleet = [Replica(url, prefix) for _ in range(3)]
    try:
        for replica in fleet:
            await replica.start()
        for index, what, name, wait in steps:
            state = fleet[index].state
            if what == "on":
                state.activate(name)
            elif what == "off":
                state.deactivate(name)
            else:
                state.clear()
            await (until(lambda: settled(fleet)) if wait else asyncio.sleep(0))
        await until(lambda: settled(fleet))
        await asyncio.sleep(0.2)  # nothing still on its way changes it again
        assert settled(fleet)
        link = fleet[0].link
        shared = await link.call(link.client.hgetall(fleet[0].switches.active_key))
        assert {name.decode() for name in shared} == set(fleet[0].on())
        for name in fleet[0].on():
            clocks = [replica.state.engine.active_for(name) or 0.0 for replica in fleet]
            assert max(clocks) - min(clocks) < 0.05, (name, clocks)
        if all(wait for *_, wait in steps):
            # Each switch heard everywhere before the next: the fleet is one brownout.
            model: list[str] = []
            for _, what, name, _ in steps:
                if what == "on" and name not in model:
                    model.append(name)
                elif what == "off" and name in model:
                    model.remove(name)
                elif what == "clear":
                    model.clear()
            assert set(fleet[0].on()) == set(model)
    finally:
        for replica in fleet:
            await replica.stop()


# One redis-server for all the examples (each has a key prefix of its own), so the function-scoped
# fixture is meant.
@settings(budget(15), suppress_health_check=[*budget(15).suppress_health_check, HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_any_interleaving_of_switches_settles_on_one_state(
    redis_server: RedisServer,  # noqa: F811
    steps: list[Step],
) -> None:
    asyncio.run(run_steps(redis_server.url, steps))
