"""The content faults as a scenario writes them: registered by name, attributes validated."""

import pytest
from pydantic import ValidationError

from brownout.faults import Fault
from brownout.faults.content.truncate import TruncateFault

CONTENT = [
    "empty_answer",
    "truncate",
    "refusal",
    "content_filter",
    "bad_structured_output",
    "bad_tool_call",
    "usage_spike",
    "usage_missing",
]


@pytest.mark.parametrize("name", CONTENT)
def test_registered_and_valid_without_attributes(name: str) -> None:
    fault = Fault.registry[name].model_validate({})
    assert fault.type_name == name and fault.needs_upstream


@pytest.mark.parametrize(
    ("name", "attrs"),
    [
        ("truncate", {"tokens": 3, "fraction": 0.5}),
        ("truncate", {"fraction": 1.0}),
        ("truncate", {"tokens": -1}),
        ("usage_spike", {"factor": 0}),
        ("usage_spike", {"factor": float("inf")}),
        ("bad_tool_call", {"mode": "bad_name"}),
        ("bad_structured_output", {"mode": "garbage"}),
        ("content_filter", {"mode": "block"}),
        ("empty_answer", {"text": ""}),
    ],
)
def test_bad_attributes_refused(name: str, attrs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Fault.registry[name].model_validate(attrs)


def test_truncate_fraction_defaults_to_half() -> None:
    assert TruncateFault().kept_fraction == 0.5
    assert TruncateFault(fraction=0.25).kept_fraction == 0.25
    assert TruncateFault(tokens=4).kept_fraction is None
