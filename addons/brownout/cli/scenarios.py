"""`brownout scenarios list|show|validate`: the library and a linter."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_scenarios(args: argparse.Namespace) -> int:
    from brownout.scenario.compile import load_scenario
    from brownout.scenario.library import duplicate
    from brownout.scenario.library import library_dir
    from brownout.scenario.library import library_files
    from brownout.scenario.library import resolve_scenario_ref
    from brownout.scenario.yaml_lines import ScenarioError

    directory = Path(args.library) if args.library else library_dir()
    if args.action == "validate":
        failed = 0
        for ref in args.refs:
            try:
                files = scenario_files(ref, directory)
            except ScenarioError as exc:
                failed += 1
                print(exc, file=sys.stderr)
                continue
            # In a directory, as in the library it may be, a name belongs to one file.
            names: dict[str, Path] = {}
            for file in files:
                try:
                    scenario = load_scenario(file)
                    if scenario.name in names:
                        raise ScenarioError([duplicate(scenario, str(names[scenario.name]))])
                except ScenarioError as exc:
                    failed += 1
                    print(exc, file=sys.stderr)
                else:
                    names[scenario.name] = file
                    print(f"{file}: ok ({scenario.name}, {len(scenario.rules)} rule(s))")
        return 1 if failed else 0

    if args.action == "list":
        from rich.console import Console
        from rich.text import Text

        from brownout.cli.scenario_table import Cell
        from brownout.cli.scenario_table import scenario_table

        rows: list[tuple[Cell, ...]] = []
        seen: dict[str, Path] = {}
        for path in library_files(directory):
            try:
                scenario = load_scenario(path)
                if scenario.name in seen:
                    raise ScenarioError([duplicate(scenario, str(seen[scenario.name]))])
            except ScenarioError as exc:
                rows.append((path.stem, "-", Text(f"invalid: {exc.problems[0]}", style="red")))
                continue
            seen[scenario.name] = path
            rows.append((scenario.name, str(len(scenario.rules)), scenario.description))
        Console().print(scenario_table(("name", "rules", "description"), rows, title=f"scenarios in {directory}"))
        return 0

    try:
        scenario = load_scenario(resolve_scenario_ref(args.name, directory))
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"# {scenario.source}")
    print(scenario.text.rstrip())
    print("\n# rules, in the order they are tried:")
    for rule in scenario.rules:
        print(f"#   {rule.name}: p={rule.probability:g} {rule.fault.describe()}")
    if scenario.timeline is not None:
        from brownout.units import go_duration

        loop = ", then again" if scenario.timeline.loop else ""
        print(f"# timeline, from the moment it is switched on{loop}:")
        for phase, rules in zip(scenario.timeline.phases, scenario.phase_rules, strict=True):
            length = go_duration(phase.duration) if phase.duration is not None else "until switched off"
            on = ", ".join(f"{r.name} (p={r.probability:g})" for r in rules) or "no rules (healthy)"
            print(f"#   {phase.name}, {length}: {on}")
    return 0


def scenario_files(ref: str, library: Path) -> list[Path]:
    """What `scenarios validate REF` checks: every scenario file in a directory (as the library
    loader reads one), else the file or the library scenario `REF` names."""
    from brownout.scenario.library import SCENARIO_SUFFIXES
    from brownout.scenario.library import library_files
    from brownout.scenario.library import resolve_scenario_ref
    from brownout.scenario.yaml_lines import ScenarioError

    path = Path(ref)
    if not path.is_dir():
        return [resolve_scenario_ref(ref, library)]
    files = library_files(path)
    if not files:
        raise ScenarioError.single(ref, f"a directory with no scenario file ({', '.join(SCENARIO_SUFFIXES)}) in it")
    return files
