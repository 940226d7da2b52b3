import pytest

from brownout.scenario.timeline import Phase
from brownout.scenario.timeline import Timeline

HEALTHY = Phase("healthy", 30.0, frozenset())
OUTAGE = Phase("outage", 60.0, frozenset({"down"}))
BROWNOUT = Phase("brownout", 120.0, None, {"slow": 0.25})
RECOVERY = Phase("recovery", None, frozenset())


@pytest.mark.parametrize(
    "elapsed,name,into,left",
    [
        (-5.0, "healthy", 0.0, 30.0),  # a clock that steps back never yields a negative offset
        (0.0, "healthy", 0.0, 30.0),
        (29.5, "healthy", 29.5, 0.5),
        (30.0, "outage", 0.0, 60.0),
        (89.0, "outage", 59.0, 1.0),
        (90.0, "brownout", 0.0, 120.0),
        (210.0, "recovery", 0.0, None),
        (10_000.0, "recovery", 9_790.0, None),
    ],
)
def test_phases_follow_each_other_and_the_last_one_holds(
    elapsed: float, name: str, into: float, left: float | None
) -> None:
    at = Timeline((HEALTHY, OUTAGE, BROWNOUT, RECOVERY)).at(elapsed)
    assert (at.name, at.elapsed, at.remaining, at.cycle, at.ended) == (name, into, left, 0, False)


def test_a_timed_last_phase_ends_the_timeline() -> None:
    timeline = Timeline((HEALTHY, OUTAGE))
    assert timeline.length == 90.0
    at = timeline.at(100.0)
    assert at.ended and at.index is None and at.name is None and at.elapsed == 10.0 and at.remaining is None


def test_a_looping_timeline_starts_over_and_counts_its_passes() -> None:
    timeline = Timeline((HEALTHY, OUTAGE), loop=True)
    assert [timeline.at(t).name for t in (0, 29, 30, 89, 90, 119, 120, 180)] == [
        "healthy",
        "healthy",
        "outage",
        "outage",
        "healthy",
        "healthy",
        "outage",
        "healthy",
    ]
    assert timeline.at(185.0).cycle == 2 and timeline.at(185.0).elapsed == pytest.approx(5.0)


def test_a_phase_says_which_rules_are_on() -> None:
    assert not HEALTHY.rule_is_on("down")
    assert OUTAGE.rule_is_on("down") and not OUTAGE.rule_is_on("slow")
    assert BROWNOUT.rule_is_on("anything")
    assert Timeline((HEALTHY, RECOVERY)).length is None
