"""The pytest plugin: the README's example test, run as written in a project of its own."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from brownout.pytest_plugin import BrownoutServer

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def readme_example() -> str:
    match = re.search(r"```python\n(# test_resilience\.py\n.*?)```", README, re.S)
    assert match, "the README's pytest example (a python block starting '# test_resilience.py') is missing"
    return match.group(1)


def test_the_readme_example_runs_as_written(tmp_path: Path) -> None:
    (tmp_path / "test_resilience.py").write_text(readme_example())
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_resilience.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_the_fixture_switches_scenarios_and_reports_and_starts_fresh(tmp_path: Path) -> None:
    (tmp_path / "test_fixture.py").write_text(
        """
import os
import openai
import pytest

HANG = "rules:\\n  - fault: {type: error, status: 500}\\n"


def test_first(brownout):
    assert os.environ["OPENAI_BASE_URL"] == brownout.url + "/openai/v1"
    client = openai.OpenAI(max_retries=1)
    with brownout.scenario(HANG) as name:
        assert name == "test"
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    # The same request again once the fault is off: the app's retry of it, and it succeeds.
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    report = brownout.report()
    assert report.retries == 2 and report.attempts == 3 and report.logical_requests == 1
    assert report.verdict("retries_transient", client="openai-python") == "pass"
    assert report.verdict("recovery") == "pass" and report.verdict("fallback") == "not_exercised"
    assert report.failing() == [("openai-python", "openai", "backoff")]  # it asked again at once


def test_second_starts_with_an_empty_record(brownout):
    assert brownout.report().attempts == 0
"""
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_fixture.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_startup_is_measured() -> None:
    server = BrownoutServer([])
    server.start()
    try:
        assert server.proxy is not None and server.sim is not None and server.startup_seconds > 0
    finally:
        server.stop()
