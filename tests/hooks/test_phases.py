from brownout.engine.state import Brownout
from brownout.hooks.phases import PhaseAnnouncer
from brownout.scenario.compile import parse_scenario


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_line_per_phase_change() -> None:
    clock = Clock()
    state = Brownout()
    state.engine.clock = clock
    state.load(
        parse_scenario(
            "name: replay\nrules:\n  - {name: down, fault: {type: reset}}\n"
            "timeline:\n  phases:\n    - {name: healthy, duration: 30s, rules: []}\n"
            "    - {name: outage, duration: 1m, rules: [down]}\n"
        )
    )
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
