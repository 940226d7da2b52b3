"""`brownout scenarios list|validate`: the library's table, and the linter on names, files and folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from brownout.cli.main import main
from conftest import LONG_NAME
from conftest import LONG_SCENARIO
from conftest import table_lines

BROWNOUT = str(Path(sys.executable).parent / "brownout")
GOOD = "rules:\n  - fault: {type: reset}\n"
BAD = "rules:\n  - match: {modle: gpt-4o}\n    fault: {type: error, status: 429}\n"


def test_list_keeps_names_whole_and_descriptions_on_one_line(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    library.mkdir()
    (library / "long.yaml").write_text(LONG_SCENARIO)
    (library / "reset.yaml").write_text("description: Connections reset.\n" + GOOD)
    (library / "broken.yaml").write_text(BAD)
    done = subprocess.run(
        [BROWNOUT, "scenarios", "list", "--library", "lib"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    # The title, the box's top, the header, the rule under it, a line per scenario, the bottom.
    assert len(lines) == 5 + 3, done.stdout
    assert max(len(line) for line in lines) <= 80
    by_name = table_lines(done.stdout, [LONG_NAME, "reset", "broken"])
    assert "Half of OpenAI" in by_name[LONG_NAME] and by_name[LONG_NAME].rstrip(" │").endswith("…")
    assert "Connections reset." in by_name["reset"]
    assert "invalid: lib/broken" in by_name["broken"]


def test_validate_a_library_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "validate", "demo"]) == 0
    assert "demo.yaml: ok (demo, " in capsys.readouterr().out

    (tmp_path / "mine.yaml").write_text(GOOD)
    assert main(["scenarios", "validate", "mine", "--library", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'mine.yaml'}: ok (mine, 1 rule(s))\n"
    assert main(["scenarios", "validate", "mine"]) == 1  # not in the built-in library
    assert "mine: no such file, and no library scenario of that name" in capsys.readouterr().err


def test_validate_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.json").write_text('{"rules": [{"fault": {"type": "reset"}}]}')
    (tmp_path / "bad.yml").write_text(BAD)
    (tmp_path / "notes.txt").write_text("not a scenario")
    assert main(["scenarios", "validate", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == f"{tmp_path / 'good.json'}: ok (good, 1 rule(s))\n"
    assert captured.err == f"{tmp_path / 'bad.yml'}:2: rules[0].match.modle: unknown key; allowed: provider, " + (
        "endpoint, model, stream, tools, structured_output\n"
    )

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["scenarios", "validate", str(empty)]) == 1
    assert "empty: a directory with no scenario file (.yaml, .yml, .json) in it" in capsys.readouterr().err


@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["unbuffered", "buffered"])
def test_validate_into_head_ends_quietly(tmp_path: Path, unbuffered: str) -> None:
    # More output than a pipe holds, so brownout is still writing when `head` has gone.
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(300):  # names as long as the name rule allows: 100 characters
        (folder / f"{index:03d}-{'x' * 96}.yaml").write_text(GOOD)
    done = subprocess.run(
        ["bash", "-c", f'set -o pipefail; "{BROWNOUT}" scenarios validate "{folder}" | head -1'],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONUNBUFFERED": unbuffered},
    )
    assert done.stdout == f"{folder / ('000-' + 'x' * 96 + '.yaml')}: ok (000-{'x' * 96}, 1 rule(s))\n"
    assert done.stderr == ""
    # What the shell says of a command a closed pipe ended (128 + SIGPIPE), not 1: no scenario was bad.
    assert done.returncode == 141


DEEP = "rules:\n  - fault: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n"


def test_validate_refuses_deep_nesting_with_its_line_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "deep.yaml").write_text(DEEP)
    done = subprocess.run(
        [BROWNOUT, "scenarios", "validate", "deep.yaml"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(
        "deep.yaml:2: rules[0].fault.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a"
    )
    assert "nested more than 32 levels deep" in done.stderr and "Traceback" not in done.stderr


def test_validate_a_directory_names_both_files_of_a_duplicate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text("name: storm\n" + GOOD)
    (tmp_path / "b.yaml").write_text("name: storm\n" + GOOD)
    (tmp_path / "c.yaml").write_text(GOOD)
    assert main(["scenarios", "validate", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"{tmp_path / 'a.yaml'}: ok (storm, 1 rule(s))",
        f"{tmp_path / 'c.yaml'}: ok (c, 1 rule(s))",
    ]
    assert captured.err == (
        f"{tmp_path / 'b.yaml'}:1: name: scenario 'storm' is also defined in {tmp_path / 'a.yaml'}; one name, one file "
        "(set another `name:`)\n"
    )


def test_run_refuses_a_hostile_scenario_before_it_starts(tmp_path: Path) -> None:
    (tmp_path / "deep.yaml").write_text(DEEP)
    done = subprocess.run(
        [BROWNOUT, "run", "--scenario", "deep.yaml", "--port", "0", "--admin-port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("brownout: invalid scenario\ndeep.yaml:2: rules[0].fault.a.a.a"), done.stderr
    assert "Traceback" not in done.stderr


def test_list_marks_the_later_file_of_a_duplicate(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: storm\n" + GOOD)
    (tmp_path / "b.yaml").write_text("name: storm\n" + GOOD)
    done = subprocess.run(
        [BROWNOUT, "scenarios", "list", "--library", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert done.returncode == 0
    rows = table_lines(done.stdout, ["storm", "b"])
    assert "invalid:" in rows["b"] and "is also defined in" in rows["b"] and "invalid" not in rows["storm"]
