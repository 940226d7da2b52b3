"""`brownout scenarios list`: the library's table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
