import pytest

from brownout.units import go_duration
from brownout.units import parse_duration
from brownout.units import quote


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("250ms", 0.25),
        ("2s", 2.0),
        ("1.5s", 1.5),
        ("1m", 60.0),
        ("1m30s", 90.0),
        ("1h", 3600.0),
        ("3", 3.0),
        (0.5, 0.5),
        (2, 2.0),
        (" 10ms ", 0.01),
    ],
)
def test_parse(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "2x", "ms", "1s2", "-1s", -3, True, None, [1], "1 s"])
def test_parse_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    "seconds,text",
    [
        (0.006, "6ms"),
        (1, "1s"),
        (360, "6m0s"),
        (86116.126, "23h55m16.126s"),
        (0.7, "700ms"),
        (0, "0s"),
        (0.0996, "100ms"),
        (0.9999, "1s"),
    ],
)
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


@pytest.mark.parametrize("bad", ["nan", float("nan"), "inf", float("inf"), "1e400", 10**400, "9" * 400 + "h"])
def test_parse_refuses_what_is_not_a_finite_duration(bad: object) -> None:
    with pytest.raises(ValueError, match="a duration must be"):
        parse_duration(bad)


def test_parse_holds_to_the_longest_it_is_given() -> None:
    assert parse_duration("1h", longest=3600) == 3600.0
    with pytest.raises(ValueError, match=r"^a duration here is at most 1h, got '61m'$"):
        parse_duration("61m", longest=3600)
    with pytest.raises(ValueError, match=r"at most 24h, got inf"):
        parse_duration(float("inf"), longest=86400)


def test_quote_cuts_long_values_and_escapes_controls() -> None:
    assert quote("a\r\nb\u202e") == "'a\\r\\nb\\u202e'"
    long = quote("x" * 3000)
    assert len(long) < 100 and long.endswith("… (3002 characters)")
