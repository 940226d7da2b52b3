"""The README is the front door: every fault, attribute and metric the code has is documented."""

from pathlib import Path

import pytest

from brownout.engine.state import Brownout
from brownout.faults import Fault
from brownout.hooks.bundle import Bundle

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_two_commands_come_first() -> None:
    first_block = README.split("```")[1]
    assert "uv run brownout demo" in first_block and "uv run pytest" in first_block


@pytest.mark.parametrize("name", sorted(Fault.registry))
def test_every_fault_has_a_section_naming_its_attributes(name: str) -> None:
    assert f"### {name}" in README or f"#### {name}" in README, f"no README section for fault {name}"
    section = README.split(f"# {name}\n", 1)[1].split("\n#", 1)[0]
    for attribute in Fault.registry[name].model_fields:
        assert f"`{attribute}`" in section, f"README's {name} section does not describe `{attribute}`"


def test_every_metric_is_documented() -> None:
    state = Brownout()
    Bundle(state)  # every addon registers its metric families
    names = {
        family.name + ("_total" if family.type == "counter" else "") for family in state.metrics.registry.collect()
    }
    assert names, "no metrics registered"
    missing = sorted(name for name in names if f"`{name}`" not in README)
    assert not missing, f"metrics missing from the README: {missing}"


def test_the_client_shapes_table_is_the_truth_matrix() -> None:
    from e2e.test_truth_matrix import TRUTH

    for case in TRUTH:
        row = f"| {case.name} | {case.truth} | {case.reports} |"
        assert row in README, f"README's client-shape table lacks or differs for: {row}"
    rows = [line for line in README.splitlines() if line.startswith("| ") and line.count(" | ") == 2]
    shapes = {line.split(" | ")[0].removeprefix("| ") for line in rows}
    assert {case.name for case in TRUTH} <= shapes
