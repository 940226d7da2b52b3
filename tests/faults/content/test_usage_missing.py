import pytest

from brownout.faults.content.usage_missing import UsageMissingFault
from brownout.faults.outcome import Outcome
from faults.content.answers import PLAIN
from faults.content.answers import edit_body
from faults.content.answers import edit_stream
from faults.content.answers import original_body
from faults.content.answers import payloads
from faults.content.answers import view


@pytest.mark.parametrize("name", PLAIN)
def test_a_body_without_usage(name: str) -> None:
    outcome, after = edit_body(UsageMissingFault(), name)
    assert outcome == Outcome.USAGE_MISSING
    assert after.get("usage") is None and "usageMetadata" not in after
    assert view(name, after).text == view(name, original_body(name)).text


@pytest.mark.parametrize("name", PLAIN)
def test_no_stream_event_carries_usage(name: str) -> None:
    outcome, after = edit_stream(UsageMissingFault(), name)
    assert outcome == Outcome.USAGE_MISSING
    for _, data in payloads(after):
        if isinstance(data, dict):
            holders = [data, data.get("message") or {}, data.get("response") or {}]
            assert all(holder.get("usage") is None for holder in holders) and "usageMetadata" not in data
    seen = view(name, after)
    assert seen.text == view(name, original_body(name)).text and seen.output_tokens is None
