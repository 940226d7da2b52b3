"""The README is the front door, docs/ the reference behind it: every command, option, fault,
attribute and metric the code has is documented, and every link between them leads somewhere."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from brownout.cli.main import build_parser
from brownout.engine.state import Brownout
from brownout.faults import Fault
from brownout.hooks.bundle import Bundle

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = {path.name: path.read_text() for path in sorted((ROOT / "docs").glob("*.md"))}
FAULTS = DOCS["faults.md"]


def test_the_two_commands_come_first_then_the_walkthrough() -> None:
    first_block = README.split("```")[1]
    assert "uv run brownout demo" in first_block and "uv run pytest" in first_block
    headings = re.findall(r"^## (.+)$", README, re.M)
    assert headings[0] == "Five minutes with brownout"
    assert "pip install --user uv" in README.split("## ", 1)[0], "the README must say how to get uv"


@pytest.mark.parametrize("name", sorted(Fault.registry))
def test_every_fault_has_a_section_naming_its_attributes(name: str) -> None:
    assert f"## {name}\n" in FAULTS or f"### {name}\n" in FAULTS, f"no docs/faults.md section for fault {name}"
    section = FAULTS.split(f"# {name}\n", 1)[1].split("\n#", 1)[0]
    for attribute in Fault.registry[name].model_fields:
        assert f"`{attribute}`" in section, f"docs/faults.md's {name} section does not describe `{attribute}`"
    assert f"| `{name}` |" in README, f"README's fault table lacks {name}"


def test_every_metric_is_documented() -> None:
    state = Brownout()
    Bundle(state)  # every addon registers its metric families
    names = {
        family.name + ("_total" if family.type == "counter" else "") for family in state.metrics.registry.collect()
    }
    assert names, "no metrics registered"
    missing = sorted(name for name in names if f"| `{name}` |" not in DOCS["metrics.md"])
    assert not missing, f"metrics missing from docs/metrics.md: {missing}"


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [
        option
        for action in parser._actions
        for option in action.option_strings
        if option not in ("-h", "--help", "--version")
    ]


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", ["run", "sim", "demo"])
def test_every_option_of_the_main_commands_is_in_the_readme(command: str) -> None:
    for option in _options(_subparsers()[command]):
        assert f"`{option}" in README, f"README does not document `brownout {command} {option}`"


def test_every_addon_option_and_environment_variable_is_in_the_readme() -> None:
    from mitmproxy.test import taddons

    with taddons.context(*Bundle(Brownout()).addons) as tctx:
        names = [name for name in tctx.options.keys() if name.startswith("brownout_")]
    assert len(names) > 10
    for name in names:
        assert f"`{name}" in README, f"README does not document the option {name}"
    code = "\n".join(p.read_text() for p in (ROOT / "addons" / "brownout").rglob("*.py"))
    for variable in sorted(set(re.findall(r"\"(BROWNOUT_[A-Z_]+)\"", code))):
        assert variable in README or any(variable in doc for doc in DOCS.values()), f"{variable} is undocumented"


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", markdown, flags=re.S), re.M):
        anchors.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("name", ["README.md", *(f"docs/{name}" for name in DOCS)])
def test_every_link_leads_somewhere(name: str) -> None:
    path = ROOT / name
    text = path.read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{name}: link to {target}: no such file"
        if anchor:
            assert anchor in _anchors(linked.read_text()), f"{name}: link to {target}: no such heading"


def test_the_client_shapes_table_is_the_truth_matrix() -> None:
    from e2e.test_truth_matrix import TRUTH

    clients = DOCS["clients.md"]
    for case in TRUTH:
        row = f"| {case.name} | {case.truth} | {case.reports} |"
        assert row in clients, f"docs/clients.md's client-shape table lacks or differs for: {row}"
    rows = [line for line in clients.splitlines() if line.startswith("| ") and line.count(" | ") == 2]
    shapes = {line.split(" | ")[0].removeprefix("| ") for line in rows}
    assert {case.name for case in TRUTH} <= shapes


def test_the_library_table_lists_every_built_in_scenario() -> None:
    from brownout.scenario.compile import load_scenario
    from brownout.scenario.library import library_files

    for path in library_files():
        scenario = load_scenario(path)
        row = f"| `{scenario.name}` | {' '.join(scenario.description.split())} |"
        assert row in README, f"README's built-in library table lacks or differs for: {row}"
