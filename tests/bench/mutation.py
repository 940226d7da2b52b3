"""Mutation testing of the pure code that groups and judges a client's attempts, and of the rate
limit's buckets: how many deliberate bugs (mutants) the test suite catches.

    uv run python tests/bench/mutation.py [--max-children N] [--show-survivors]

mutmut (3.x) looks for the code to mutate in `./`, `src/` or `source/`; brownout's lives in
`addons/`. So this script builds a scratch copy (`src/brownout`, `tests/`, a pyproject with the
test settings and mutmut's), runs mutmut there with this interpreter, and reads its results:
killed, survived, timed out, no test. It writes the figures to `tests/bench/results/` and prints
each survivor's diff with `--show-survivors`. Outside the test run: it takes minutes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections import Counter
from pathlib import Path

from benchprocs import write_results

REPO = Path(__file__).resolve().parents[2]
# What is mutated, and the tests that judge it.
TARGETS = (
    "brownout/observe/grouping.py",
    "brownout/observe/failures.py",
    "brownout/observe/retry_signals.py",
    "brownout/faults/rate_limit/buckets.py",
)
TESTS = (
    "tests/observe",
    "tests/faults/rate_limit/test_buckets.py",
)


def scratch_copy(where: Path) -> None:
    shutil.copytree(REPO / "addons" / "brownout", where / "src" / "brownout")
    shutil.copytree(REPO / "tests", where / "tests", ignore=shutil.ignore_patterns("node_modules", "results"))
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    pytest_options = project["tool"]["pytest"]["ini_options"]
    lines = ["[tool.pytest.ini_options]"]
    for key in ("asyncio_mode", "asyncio_default_fixture_loop_scope", "timeout", "filterwarnings"):
        if key in pytest_options:
            lines.append(f"{key} = {json.dumps(pytest_options[key])}")
    lines += [
        "",
        "[tool.mutmut]",
        'source_paths = ["src"]',
        f"only_mutate = {json.dumps([f'src/{target}' for target in TARGETS])}",
        f"pytest_add_cli_args_test_selection = {json.dumps(list(TESTS))}",
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]',
    ]
    (where / "pyproject.toml").write_text("\n".join(lines) + "\n")


def results(where: Path) -> dict[str, str]:
    """Each mutant's status, from mutmut's own records."""
    from mutmut.stats import status_by_exit_code

    statuses: dict[str, str] = {}
    for meta in sorted((where / "mutants").rglob("*.py.meta")):
        for name, exit_code in json.loads(meta.read_text()).get("exit_code_by_key", {}).items():
            statuses[name] = status_by_exit_code[exit_code]
    return statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--show-survivors", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy and say where")
    args = parser.parse_args()
    where = Path(tempfile.mkdtemp(prefix="brownout-mutation-"))
    try:
        scratch_copy(where)
        run = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)],
            cwd=where,
            capture_output=True,
            text=True,
        )
        statuses = results(where)
        if not statuses:
            print(run.stdout[-3000:], run.stderr[-3000:], sep="\n")
            return 1
        counts = Counter(statuses.values())
        judged = sum(counts.values()) - counts["no tests"] - counts["not checked"]
        killed = counts["killed"] + counts["timeout"] + counts["caught by type check"]
        rate = killed / judged if judged else 0.0
        survivors = sorted(name for name, status in statuses.items() if status == "survived")
        print(f"{len(statuses)} mutants: " + ", ".join(f"{n} {status}" for status, n in counts.most_common()))
        print(f"kill rate {rate:.1%} ({killed} of {judged} judged)")
        for name in survivors:
            print(f"  survived: {name}")
            if args.show_survivors:
                diff = subprocess.run(
                    [sys.executable, "-m", "mutmut", "show", name], cwd=where, capture_output=True, text=True
                )
                print("    " + diff.stdout.strip().replace("\n", "\n    "))
        write_results(
            "mutation",
            {"targets": TARGETS, "counts": dict(counts), "kill_rate": rate, "survivors": survivors},
        )
        return 0
    finally:
        if args.keep:
            print(f"scratch copy kept in {where}")
        else:
            shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
