import pytest

from brownout.faults.content.usage_spike import UsageSpikeFault
from brownout.faults.outcome import Outcome
from faults.content.answers import PLAIN
from faults.content.answers import compared
from faults.content.answers import edit_body


@pytest.mark.parametrize("name", PLAIN)
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_usage_multiplied_answer_untouched(name: str, stream: bool) -> None:
    outcome, before, seen = compared(UsageSpikeFault(factor=100), name, stream)
    assert outcome == Outcome.USAGE_SPIKED
    assert seen.text == before.text and seen.stop == before.stop
    assert seen.output_tokens == 100 * before.output_tokens
    if before.total_tokens is not None:
        assert seen.total_tokens == 100 * before.total_tokens


def test_figures_stay_whole_tokens() -> None:
    _, after = edit_body(UsageSpikeFault(factor=1.5), "anthropic")
    usage = after["usage"]
    assert usage["output_tokens"] == 36 and usage["service_tier"] == "standard"
    assert all(isinstance(v, int) for v in usage["cache_creation"].values())
