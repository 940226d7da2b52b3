"""Checks a command makes before anything starts."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def check_scenarios(refs: Sequence[str], library: str) -> bool:
    """Validate everything the proxy would load, before anything starts."""
    from brownout.scenario.library import library_dir
    from brownout.scenario.library import load_startup
    from brownout.scenario.yaml_lines import ScenarioError

    directory = Path(library) if library else library_dir()
    try:
        load_startup(directory, refs)
    except ScenarioError as exc:
        print(f"brownout: invalid scenario\n{exc}", file=sys.stderr)
        return False
    return True
