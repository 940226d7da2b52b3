"""The one rule for skips: where tools are required, a skip fails the run with its reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent

SAMPLE = """
import pytest
from required_tools import need_tool

pytestmark = pytest.mark.filterwarnings("ignore")

def test_missing_tool():
    need_tool("surely-not-a-tool-brownout", "the sample needs it")

def test_plain_skip():
    pytest.skip("some other reason")

@pytest.mark.xfail(reason="expected to fail")
def test_expected_failure():
    raise AssertionError

def test_passes():
    pass
"""

SKIPPED_MODULE = """
import pytest
pytest.importorskip("surely_not_a_module_brownout")
"""


def run_sample(tmp_path: Path, *, required_by: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(
        "from required_tools import pytest_make_collect_report, pytest_runtest_makereport\n"
    )
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "test_skipped_module.py").write_text(SKIPPED_MODULE)
    env = {
        k: v for k, v in os.environ.items() if k not in ("CI", "BROWNOUT_REQUIRE_TOOLS", "BROWNOUT_REQUIRE_PROMETHEUS")
    }
    env["PYTHONPATH"] = str(TESTS)
    if required_by:
        env[required_by] = "1"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-rA",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:brownout",
        "-p",
        "no:warnings",
    ]
    command += ["--continue-on-collection-errors", str(tmp_path)]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_without_the_requirement_a_missing_tool_skips(tmp_path: Path) -> None:
    result = run_sample(tmp_path, required_by=None)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 3 skipped, 1 xfailed" in result.stdout
    assert "`surely-not-a-tool-brownout` not on PATH (the sample needs it)" in result.stdout


@pytest.mark.parametrize("variable", ["BROWNOUT_REQUIRE_TOOLS", "CI"])
def test_where_tools_are_required_every_skip_fails_with_its_reason(tmp_path: Path, variable: str) -> None:
    result = run_sample(tmp_path, required_by=variable)
    assert result.returncode == 1, result.stdout
    assert "2 failed, 1 passed, 1 xfailed, 1 error" in result.stdout, result.stdout
    assert "skipped where every test must run" in result.stdout
    assert "`surely-not-a-tool-brownout` not on PATH" in result.stdout
    assert "some other reason" in result.stdout
    assert "surely_not_a_module_brownout" in result.stdout
