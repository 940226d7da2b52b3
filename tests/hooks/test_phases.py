from brownout.engine.state import Brownout
from brownout.hooks.phases import PhaseAnnouncer
from brownout.scenario.compile import parse_scenario

REPLAY = """\
name: replay
rules:
  - {name: down, fault: {type: reset}}
timeline:
  phases:
    - {name: healthy, duration: 30s, rules: []}
    - {name: outage, duration: 1m, rules: [down]}
"""


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_line_per_phase_change() -> None:
    clock = Clock()
    state = Brownout()
    state.engine.clock = clock
    state.load(parse_scenario(REPLAY))
    state.load(parse_scenario("name: plain\nrules:\n  - fault: {type: reset}\n"))
    announcer = PhaseAnnouncer(state)
    assert announcer.tick() == []
    state.activate("replay")
    state.activate("plain")
    assert announcer.tick() == ["brownout: replay: phase healthy (1/2, 30s)"]
    clock.now = 10
    assert announcer.tick() == []
    clock.now = 31
    assert announcer.tick() == ["brownout: replay: phase outage (2/2, 59s)"]
    clock.now = 95
    assert announcer.tick() == ["brownout: replay: timeline ended; no rule fires until it is switched on again"]
    state.deactivate("replay")
    state.activate("replay")
    assert announcer.tick() == ["brownout: replay: phase healthy (1/2, 30s)"]


def test_switched_off_and_on_between_two_ticks_announces_the_phase_again() -> None:
    clock = Clock()
    state = Brownout()
    state.engine.clock = clock
    state.load(parse_scenario(REPLAY))
    announcer = PhaseAnnouncer(state)
    state.activate("replay")
    assert announcer.tick() == ["brownout: replay: phase healthy (1/2, 30s)"]
    state.deactivate("replay")
    state.activate("replay")
    assert announcer.tick() == ["brownout: replay: phase healthy (1/2, 30s)"]
