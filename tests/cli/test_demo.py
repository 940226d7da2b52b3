"""`brownout demo` as a newcomer runs it: the screen, per-call attempts, a clean stop."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from brownout.cli.demo import CallAttempts
from brownout.cli.demo import SyntheticApps
from conftest import StartProxy
from conftest import free_port

BROWNOUT = str(Path(sys.executable).parent / "brownout")


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [BROWNOUT, "demo", "--port", str(free_port()), "--admin-port", str(free_port()), *args]
    # As from a plain pipe: pytest puts COLUMNS=80 in its environment, which rich would obey.
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)


def row(output: str, first_cell: str, table: str) -> list[str]:
    """The cells of the row starting with `first_cell` in the table titled `table`."""
    lines = output[output.index(table) :].splitlines()
    for line in lines:
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} under {table!r}:\n{output}")


def test_demo_runs_for_a_while_and_stops_cleanly() -> None:
    done = run_demo("--duration", "6")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "what the apps saw" in out and "what the proxy injected" in out
    assert "how the clients reacted" in out and "brownout report:" in out
    assert out.rstrip().endswith("demo stopped.")
    assert "scenarios on: demo" in out
    # Piped, not a terminal: each table row stays on one line instead of wrapping at 80 columns.
    cells = row(out, "openai chat stream", "what the apps saw")
    assert len(cells) == 7 and cells[1].isdigit()


def test_a_scenario_file_shows_by_name_and_calls_under_way_finish(tmp_path: Path) -> None:
    """Every call is held 2 s, so calls are under way when the demo stops: they finish before the
    summary is taken, and none reads as the client giving up."""
    path = tmp_path / "held.yaml"
    path.write_text("name: held-calls\nrules:\n  - fault: {type: latency, delay: 2s}\n")
    done = run_demo("--duration", "2", "--scenario", str(path))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "scenarios on: held-calls" in out and str(path) not in out
    for call in ("openai chat", "anthropic messages", "gemini generate"):
        cells = row(out, call, "what the apps saw")
        calls, ok, in_flight = int(cells[1]), int(cells[2]), int(cells[3])
        assert calls >= 1 and ok == calls and in_flight == 0, cells
    for provider in ("openai", "anthropic", "gemini"):
        assert row(out, provider, "how the clients reacted")[4] == "0"  # abandoned
    assert "cut off" not in out


@pytest.mark.parametrize("calls", [2])
async def test_attempts_are_counted_per_call_not_per_provider(start_proxy: StartProxy, calls: int) -> None:
    """Embeddings fail every time (the SDK tries 3 times); chat on the same provider never fails."""
    proxy = await start_proxy("rules:\n  - match: {endpoint: embeddings}\n    fault: {type: error, status: 500}\n")
    attempts = CallAttempts()
    proxy.master.addons.add(attempts)
    apps = SyntheticApps(proxy.url, attempts)
    apps.openai = apps.openai.with_options(max_retries=2, timeout=10)
    try:
        for index in range(calls):
            await apps.call("openai embeddings", f"prompt {index}")
            await apps.call("openai chat", f"prompt {index}")
    finally:
        await apps.close()
    assert apps.stats["openai embeddings"].attempts == [3] * calls
    assert apps.stats["openai chat"].attempts == [1] * calls
    assert apps.stats["openai embeddings"].errors == {"InternalServerError": calls}
    assert attempts.seen == {}  # each call's count is taken when it ends
