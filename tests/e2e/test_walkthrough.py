"""The README's five-minute walkthrough, run as written (on free ports instead of 9000, 8080
and 9180): the simulator, the proxy, the sample app, a scenario switched on and off, the report."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
README = (ROOT / "README.md").read_text()
WALKTHROUGH = README.split("## Five minutes with brownout\n", 1)[1].split("\n## ", 1)[0]


def commands() -> list[str]:
    """The shell lines of the walkthrough's sh blocks, continuation lines joined, comments cut."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", WALKTHROUGH, re.S):
        joined = re.sub(r"\\\n\s*", "", block)
        for line in joined.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line:
                lines.append(line)
    return lines


def test_the_walkthrough_is_these_commands() -> None:
    assert commands() == [
        "uv run brownout sim",
        "uv run brownout run --upstream openai=http://127.0.0.1:9000/openai "
        "--upstream anthropic=http://127.0.0.1:9000/anthropic",
        "export OPENAI_BASE_URL=http://127.0.0.1:8080/openai/v1 OPENAI_API_KEY=sk-anything",
        "export ANTHROPIC_BASE_URL=http://127.0.0.1:8080/anthropic ANTHROPIC_API_KEY=sk-anything",
        "uv run python examples/sample_app.py --rounds 60",
        "uv run brownout ctl activate openai-rate-limit-storm",
        "uv run brownout ctl deactivate openai-rate-limit-storm",
    ]
    assert "$ uv run brownout report\n" in WALKTHROUGH


class Ports:
    def __init__(self) -> None:
        self.sim, self.proxy, self.admin = free_port(), free_port(), free_port()

    def apply(self, line: str) -> str:
        return line.replace(":9000", f":{self.sim}").replace(":8080", f":{self.proxy}")


def argv(line: str, ports: Ports) -> list[str]:
    """A README line as a process: `uv run X` is the venv's X, ports moved to the free ones."""
    words = shlex.split(ports.apply(line))
    assert words[:2] == ["uv", "run"], line
    program = sys.executable if words[2] == "python" else str(BIN / words[2])
    extra: list[str] = []
    if words[2:4] == ["brownout", "sim"]:
        extra = ["--port", str(ports.sim)]
    elif words[2:4] == ["brownout", "run"]:
        extra = ["--port", str(ports.proxy), "--admin-port", str(ports.admin)]
    return [program, *words[3:], *extra]


@contextmanager
def started(args: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    with log.open("w") as sink:
        process = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def wait_for(log: Path, pattern: str, timeout: float = 30.0, since: int = 0) -> None:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, log.read_text()[since:], re.M):
        assert time.monotonic() < deadline, f"no {pattern!r} in {log.name}:\n{log.read_text()}"
        time.sleep(0.1)


ROUNDS = 20


def test_five_minutes_with_brownout(tmp_path: Path) -> None:
    sim_line, run_line, export_openai, export_anthropic, app_line, activate, deactivate = commands()
    ports = Ports()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    env["BROWNOUT_ADMIN"] = f"http://127.0.0.1:{ports.admin}"  # ctl and report find the moved admin port
    for export in (export_openai, export_anthropic):
        for assignment in shlex.split(ports.apply(export))[1:]:
            name, _, value = assignment.partition("=")
            env[name] = value
    console, app_log = tmp_path / "run.log", tmp_path / "app.log"
    with (
        started(argv(sim_line, ports), tmp_path / "sim.log", env),
        started(argv(run_line, ports), console, env),
    ):
        wait_for(console, r"brownout: admin on ")
        # Twenty rounds instead of sixty, and the app ends on its own: stopped mid-call, it would
        # rightly read as a client giving up on a request. Twenty (some 25 s) leave room on a slow
        # machine for both `ctl` commands (each a `uv run`) and for calls after the storm, which the
        # recovery verdict needs.
        with started(argv(app_line.replace("--rounds 60", f"--rounds {ROUNDS}"), ports), app_log, env) as app:
            wait_for(app_log, r"-> openai: ")
            ctl = subprocess.run(argv(activate, ports), env=env, capture_output=True, text=True, timeout=30)
            assert ctl.returncode == 0 and "openai-rate-limit-storm on" in ctl.stdout, ctl.stderr
            wait_for(console, r"brownout: scenario openai-rate-limit-storm on$")
            wait_for(
                console, r"brownout: fault openai-python openai/gpt-4o-mini openai-rate-limit-storm/throttle .*429"
            )
            ctl = subprocess.run(argv(deactivate, ports), env=env, capture_output=True, text=True, timeout=30)
            assert ctl.returncode == 0, ctl.stderr
            # The app exits 1 when a call failed: while the storm is on, a call whose three attempts
            # all drew the 429 (one in eight) fails, as the SDK should let it. Anything else is wrong.
            status = app.wait(120)
            answers = [line.split(" -> ", 1)[1] for line in app_log.read_text().splitlines() if " -> " in line]
            assert len(answers) == ROUNDS * 3, app_log.read_text()
            assert all(a.startswith("openai: ") or a == "failed: RateLimitError" for a in answers), answers
            assert status == (1 if "failed: RateLimitError" in answers else 0), app_log.read_text()
        report = subprocess.run(
            argv("uv run brownout report", ports), env=env, capture_output=True, text=True, timeout=60
        )
    assert report.returncode == 0, report.stderr
    out = report.stdout
    assert "scenarios: openai-rate-limit-storm" in out
    assert re.search(r"^openai-python at openai: \d+ attempts, [1-9]\d* retries", out, re.M), out
    for verdict in ("retries_transient", "retry_after", "backoff", "recovery"):
        assert re.search(rf"^{verdict} +pass ", out, re.M), out + console.read_text() + app_log.read_text()
