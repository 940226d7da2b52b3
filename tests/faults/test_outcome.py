from brownout.faults.outcome import NO_ANSWER
from brownout.faults.outcome import SPOILS_ANSWER
from brownout.faults.outcome import STREAM_ENDS
from brownout.faults.outcome import Outcome
from brownout.faults.outcome import stream_end


def test_stream_end() -> None:
    assert stream_end(Outcome.NONE, None, False) == "completed"
    assert stream_end(Outcome.SLOWED, None, False) == "slowed"
    assert stream_end(Outcome.ERRORED, None, False) == "errored"
    assert stream_end(Outcome.CUT, "brownout: stream cut (close)", True) == "cut"
    assert stream_end(Outcome.RESET, "brownout: stream cut (reset)", True) == "reset"
    assert stream_end(Outcome.SLOWED, "Client disconnected.", False) == "abandoned"
    assert stream_end(Outcome.NONE, "server closed connection", False) == "upstream_error"
    # An outcome that is not how a stream ends (an admitted rate-limited stream) completed.
    assert stream_end(Outcome.ADMITTED, None, False) == "completed"


def test_every_stream_end_is_a_label_value() -> None:
    plan_outcomes = (Outcome.CUT, Outcome.RESET, Outcome.STALLED, Outcome.SLOWED, Outcome.ERRORED, Outcome.CORRUPTED)
    assert {stream_end(o, None, False) for o in plan_outcomes} | {"completed", "abandoned", "upstream_error"} == set(
        STREAM_ENDS
    )


def test_what_each_group_means() -> None:
    assert Outcome.RESET in NO_ANSWER and Outcome.RESET in SPOILS_ANSWER  # before or during the answer
    assert Outcome.DELAYED not in NO_ANSWER | SPOILS_ANSWER
    assert all(o.value == str(o) for o in Outcome)
