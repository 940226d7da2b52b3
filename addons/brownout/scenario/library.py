"""The scenario library: the built-in `scenarios/` folder, and how a `--scenario` value finds its file.

One name, one file: two files that define the same scenario name are an error naming both, since
either would silently replace the other (at start, and again on every edit the watcher applies).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from brownout.scenario.compile import load_scenario
from brownout.scenario.model import Scenario
from brownout.scenario.yaml_lines import Problem
from brownout.scenario.yaml_lines import ScenarioError

SCENARIO_SUFFIXES = (".yaml", ".yml", ".json")  # JSON is YAML too; the admin API takes either


def library_dir() -> Path:
    """The built-in scenario library: `scenarios/` of a checkout, or the copy inside a wheel."""
    override = os.environ.get("BROWNOUT_LIBRARY")
    if override:
        return Path(override)
    packaged = Path(__file__).parent / "scenarios"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[3] / "scenarios"


def library_files(directory: Path | None = None) -> list[Path]:
    directory = directory or library_dir()
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.iterdir() if path.suffix in SCENARIO_SUFFIXES)


def resolve_scenario_ref(ref: str, directory: Path | None = None) -> Path:
    """A `--scenario` value: a file path, or the name of a scenario in the library."""
    path = Path(ref)
    if path.suffix in SCENARIO_SUFFIXES or path.exists():
        return path
    for candidate in library_files(directory):
        if candidate.stem == ref:
            return candidate
    names = ", ".join(p.stem for p in library_files(directory)) or "none"
    raise ScenarioError.single(ref, f"no such file, and no library scenario of that name; library: {names}")


def load_all(refs: Iterable[str], directory: Path | None = None) -> list[Scenario]:
    """Load every reference, collecting all problems before failing (nothing half-loaded); two
    files defining one name are a problem too."""
    loaded: list[Scenario] = []
    problems = []
    for ref in refs:
        try:
            loaded.append(load_scenario(resolve_scenario_ref(ref, directory)))
        except ScenarioError as exc:
            problems.extend(exc.problems)
    problems.extend(duplicates(loaded))
    if problems:
        raise ScenarioError(problems)
    return loaded


def load_startup(library: Path, refs: Iterable[str]) -> tuple[list[Scenario], list[Scenario]]:
    """What the proxy loads at start: the library (switched off) and the chosen references (on),
    all validated together, names unique across both."""
    problems: list[Problem] = []
    found: list[list[Scenario]] = []
    for group in ([str(path) for path in library_files(library)], list(refs)):
        try:
            found.append(load_all(group, library))
        except ScenarioError as exc:
            problems.extend(exc.problems)
            found.append([])
    in_library, chosen = found
    if not problems:
        problems.extend(duplicates([*in_library, *chosen]))
    if problems:
        raise ScenarioError(problems)
    return in_library, chosen


def same_file(one: str, other: str) -> bool:
    try:
        return Path(one).resolve() == Path(other).resolve()
    except OSError:
        return one == other


def duplicates(scenarios: Iterable[Scenario]) -> list[Problem]:
    """A problem for each scenario whose name an earlier one from another file has already."""
    first: dict[str, Scenario] = {}
    problems = []
    for scenario in scenarios:
        earlier = first.setdefault(scenario.name, scenario)
        if earlier is not scenario and not same_file(earlier.source, scenario.source):
            problems.append(duplicate(scenario, earlier.source))
    return problems


def duplicate(scenario: Scenario, other: str) -> Problem:
    return Problem(
        scenario.source,
        scenario.name_line,
        "name",
        f"scenario {scenario.name!r} is also defined in {other}; one name, one file (set another `name:`)",
    )
