"""`brownout drill`, run as the README shows it: the sample app under the total OpenAI outage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BROWNOUT = Path(sys.executable).parent / "brownout"


def drill(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BROWNOUT), "drill", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("fallback,status", [(False, 1), (True, 0)])
def test_the_sample_app_under_the_total_outage(fallback: bool, status: int) -> None:
    extra = ["--fallback"] if fallback else []
    done = drill(
        "openai-total-outage", "--sim", "--fail-on", "fallback", "--retry-window", "2s", "--json",
        "--", sys.executable, "examples/sample_app.py", *extra,
    )  # fmt: skip
    assert done.returncode == status, done.stderr
    report = json.loads(done.stdout[done.stdout.index("{") :])
    openai = next(row for row in report["clients"] if row["provider"] == "openai")
    assert openai["verdicts"]["fallback"]["verdict"] == ("pass" if fallback else "fail")
    assert openai["verdicts"]["retries_transient"]["verdict"] == "pass"  # the SDK retried each 5xx twice
    assert openai["retries"] == 6 and openai["attempts"] == 9
    assert f"exited {status}" in done.stderr  # the app's own status: it fails without a fallback too
    assert "brownout drill: openai-total-outage" not in done.stdout  # progress goes to stderr


def test_usage_errors() -> None:
    assert drill("openai-total-outage").returncode == 2
    assert "give the command to run after --" in drill("openai-total-outage").stderr
    missing = drill("openai-total-outage", "--", "no-such-command-here")
    assert missing.returncode == 2 and "command not found" in missing.stderr
    unknown = drill("no-such-scenario", "--", "true")
    assert unknown.returncode == 1 and "no library scenario of that name" in unknown.stderr
