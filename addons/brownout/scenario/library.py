"""The scenario library: the built-in `scenarios/` folder, and how a `--scenario` value finds its file."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from brownout.scenario.compile import load_scenario
from brownout.scenario.model import Scenario
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
    """Load every reference, collecting all problems before failing (nothing half-loaded)."""
    loaded: list[Scenario] = []
    problems = []
    for ref in refs:
        try:
            loaded.append(load_scenario(resolve_scenario_ref(ref, directory)))
        except ScenarioError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ScenarioError(problems)
    return loaded
