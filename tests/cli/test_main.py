"""The `brownout` command as users run it: exit codes, messages, and a proxy that serves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from brownout.cli.main import main
from brownout.sim import SimServer
from conftest import StartProcess
from conftest import free_port

BROWNOUT = str(Path(sys.executable).parent / "brownout")
BAD = "rules:\n  - match: {modle: gpt-4o}\n    fault: {type: error, status: 429}\n"


def test_validate_reports_file_line_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("rules:\n  - fault: {type: reset}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    assert main(["scenarios", "validate", str(good)]) == 0
    assert "good.yaml: ok (good, 1 rule(s))" in capsys.readouterr().out
    assert main(["scenarios", "validate", str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    allowed = "provider, endpoint, model, stream, tools, structured_output"
    assert f"{bad}:2: rules[0].match.modle: unknown key; allowed: {allowed}" in err


def test_run_refuses_an_invalid_scenario_before_listening(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    port = free_port()
    done = subprocess.run(
        [BROWNOUT, "run", "--port", str(port), "--admin-port", "0", "--scenario", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"{bad}:2: rules[0].match.modle: unknown key" in done.stderr
    assert "proxy on" not in done.stdout  # nothing started half-configured


def test_run_refuses_a_bad_upstream() -> None:
    done = subprocess.run([BROWNOUT, "run", "--upstream", "openai"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "expected NAME=URL" in done.stderr


def test_library_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "list"]) == 0
    assert "anthropic-529-storm" in capsys.readouterr().out
    assert main(["scenarios", "show", "insufficient-quota"]) == 0
    out = capsys.readouterr().out
    assert "kind: insufficient_quota" in out and "# rules, in the order they are tried:" in out
    assert main(["scenarios", "show", "no-such"]) == 1
    assert "no library scenario of that name" in capsys.readouterr().err


async def test_run_serves_and_injects(start_proxy_process: StartProcess, sim: SimServer) -> None:
    admin = free_port()
    proxy = await start_proxy_process(
        "--admin-port",
        str(admin),
        "--upstream",
        f"openai={sim.url}/openai",
        scenario="rules:\n  - match: {model: broken}\n    fault: {type: error, status: 503}\n",
    )
    async with httpx.AsyncClient(base_url=proxy.url) as client:
        ok = await client.post("/openai/v1/chat/completions", json={"model": "gpt-4o", "messages": []})
        failed = await client.post("/openai/v1/chat/completions", json={"model": "broken", "messages": []})
        metrics = await client.get(f"http://127.0.0.1:{admin}/metrics")
        health = await client.get(f"http://127.0.0.1:{admin}/healthz")
    assert ok.status_code == 200 and failed.status_code == 503
    assert 'brownout_requests_total{code="503",endpoint="chat",model="broken",provider="openai"} 1.0' in metrics.text
    assert health.json() == {"status": "ok"}
    assert proxy.stop() == 0  # Ctrl-C stops it cleanly
    assert f"proxy on http://127.0.0.1:{proxy.port}" in proxy.output()


async def test_the_banner_shows_every_override(start_proxy_process: StartProcess) -> None:
    forward = free_port()
    proxy = await start_proxy_process(
        "--admin-port", "0", "--forward-port", str(forward),
        "--upstream", "azure=http://127.0.0.1:9000/azure", "--upstream", "openai=http://127.0.0.1:9000/openai",
    )  # fmt: skip
    banner = proxy.output()
    base = f"http://127.0.0.1:{proxy.port}"
    assert f"  {base}/azure/<resource host> -> http://127.0.0.1:9000/azure\n" in banner
    assert f"  {base}/openai     -> http://127.0.0.1:9000/openai\n" in banner
    assert f"  forward proxy: HTTPS_PROXY=http://127.0.0.1:{forward}\n" in banner
    assert "    api.openai.com -> http://127.0.0.1:9000/openai\n" in banner
    assert "    Azure OpenAI hosts -> http://127.0.0.1:9000/azure\n" in banner
