"""A content plan's output does not depend on how the stream arrived: the same events, cut into
any chunks, come out the same, each sent whole (a plan that does not act relays the bytes as they
come)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from brownout.faults import Fault
from brownout.faults.content.base import ContentFault
from brownout.faults.content.framing import Untouched
from brownout.faults.content.framing.common import scaled
from brownout.faults.stream.plan import Send
from faults.content.answers import CAPTURES
from faults.content.answers import DATA
from faults.content.answers import armed
from property_budget import budget

FAULTS: list[ContentFault] = [
    Fault.registry["empty_answer"](),
    Fault.registry["truncate"].model_validate({"tokens": 3}),
    Fault.registry["refusal"](),
    Fault.registry["content_filter"].model_validate({"after_tokens": 1}),
    Fault.registry["bad_structured_output"].model_validate({"mode": "schema_violation"}),
    Fault.registry["bad_tool_call"].model_validate({"mode": "missing_argument"}),
    Fault.registry["bad_tool_call"].model_validate({"mode": "unknown_tool"}),
    Fault.registry["usage_spike"](),
    Fault.registry["usage_missing"](),
]  # type: ignore[list-item]


def relayed(fault: ContentFault, name: str, cuts: list[int]) -> list[bytes]:
    plan = fault.plan_run(armed(fault, name, stream=True))
    if isinstance(plan, Untouched):
        raw = (DATA / f"{name}.sse").read_bytes()
        return [raw] if b"".join(a.data for a in plan.feed(raw, 0.0) if isinstance(a, Send)) == raw else []
    raw = (DATA / f"{name}.sse").read_bytes()
    points = sorted({min(cut, len(raw)) for cut in cuts})
    sent: list[bytes] = []
    for start, end in zip([0, *points], [*points, len(raw)], strict=True):
        sent += [action.data for action in plan.feed(raw[start:end], 0.0) if isinstance(action, Send)]
    sent += [action.data for action in plan.end(0.0) if isinstance(action, Send)]
    return sent


@budget(60)
@given(
    fault=st.sampled_from(FAULTS),
    name=st.sampled_from(sorted(CAPTURES)),
    cuts=st.lists(st.integers(0, 15_000), max_size=30),
)
def test_any_chunking_gives_the_same_events(fault: ContentFault, name: str, cuts: list[int]) -> None:
    whole = relayed(fault, name, [])
    assert relayed(fault, name, cuts) == whole
    for event in whole:
        assert event.endswith((b"\n\n", b"\r\n\r\n"))


def test_scaling_leaves_what_is_not_a_count() -> None:
    usage = {"n": 3, "ok": True, "tier": "standard", "details": [{"modality": "TEXT", "tokenCount": 2}]}
    assert scaled(usage, 2) == {
        "n": 6,
        "ok": True,
        "tier": "standard",
        "details": [{"modality": "TEXT", "tokenCount": 4}],
    }
