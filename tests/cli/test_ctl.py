"""`brownout ctl`, the real command in a subprocess, against an in-process proxy."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.console import Console

from brownout.cli.ctl import Client
from brownout.cli.ctl import show_list
from brownout.cli.ctl import show_status
from brownout.cli.runner import ProxySettings
from brownout.cli.runner import RunningProxy
from conftest import LONG_NAME
from conftest import LONG_SCENARIO
from conftest import free_port
from conftest import table_lines

BROWNOUT = str(Path(sys.executable).with_name("brownout"))
OUTAGE = "name: outage\ndescription: every call fails\nrules:\n  - fault: {type: error, status: 503}\n"
REPLAY = (
    "name: replay\ndescription: a timed incident\nrules:\n  - {name: down, fault: {type: reset}}\n"
    "timeline:\n  phases:\n    - {name: healthy, duration: 1m, rules: []}\n    - {name: outage, rules: [down]}\n"
)


async def ctl(proxy: RunningProxy, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    # A subprocess that does not block the loop: the proxy answers it from this same loop.
    process = await asyncio.create_subprocess_exec(
        BROWNOUT,
        "ctl",
        *args,
        "--admin",
        proxy.admin_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[RunningProxy]:
    (tmp_path / "outage.yaml").write_text(OUTAGE)
    (tmp_path / "replay.yaml").write_text(REPLAY)
    settings = ProxySettings(port=0, admin_port=free_port(), library=str(tmp_path), termlog=False)
    async with RunningProxy(settings) as running:
        yield running


async def test_activate_status_deactivate(proxy: RunningProxy) -> None:
    code, out, err = await ctl(proxy, "activate", "outage", "replay")
    assert (code, err) == (0, "") and out.splitlines() == ["outage on", "replay on"]
    assert proxy.state.engine.active == ["outage", "replay"]

    code, out, _ = await ctl(proxy, "status")
    assert code == 0
    assert "2 scenario(s) loaded" in out
    assert "outage" in out and "every call fails" in out
    assert "healthy (1/2, " in out and "left)" in out  # the timeline's phase
    assert "requests 0, faults injected 0, fault errors 0" in out

    code, out, _ = await ctl(proxy, "deactivate", "outage")
    assert (code, out.strip()) == (0, "outage off")
    code, out, _ = await ctl(proxy, "deactivate", "outage")
    assert (code, out.strip()) == (0, "outage off (already off)")
    code, out, _ = await ctl(proxy, "clear")
    assert (code, out.strip()) == (0, "switched off: replay")
    assert proxy.state.engine.active == []
    code, out, _ = await ctl(proxy, "status")
    assert "no scenario active" in out


async def test_unknown_name_exits_non_zero_with_a_clear_message(proxy: RunningProxy) -> None:
    code, out, err = await ctl(proxy, "activate", "nope")
    assert code == 1 and out == ""
    assert err.strip() == "brownout ctl: unknown scenario 'nope'; loaded: outage, replay"


async def test_list_and_json(proxy: RunningProxy) -> None:
    code, out, _ = await ctl(proxy, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "on", "rules", "timeline", "description"]
    assert lines[1].split()[:3] == ["outage", "off", "1"]
    assert "healthy > outage" in lines[2]
    code, out, _ = await ctl(proxy, "--json", "status")
    assert code == 0 and json.loads(out)["scenarios_loaded"] == 2


async def test_list_keeps_names_whole_and_descriptions_on_one_line(tmp_path: Path) -> None:
    (tmp_path / "long.yaml").write_text(LONG_SCENARIO)
    (tmp_path / "outage.yaml").write_text(OUTAGE)
    settings = ProxySettings(port=0, admin_port=free_port(), library=str(tmp_path), termlog=False)
    async with RunningProxy(settings) as running:
        client = Client(running.admin_url, "", 10.0)
        # In a thread: the proxy answers from this test's loop.
        answer = await asyncio.to_thread(client.call, "GET", "/api/scenarios")
        code, piped, _ = await ctl(running, "list", env={"COLUMNS": "80"})
    assert code == 0
    rendered = {"piped, COLUMNS=80": (piped, 80)}
    for width in (50, 80, 120):
        console = Console(width=width, highlight=False, soft_wrap=True)
        with console.capture() as captured:
            show_list(console, answer)
        rendered[f"console width {width}"] = (captured.get(), width)

    for how, (output, width) in rendered.items():
        lines = output.splitlines()
        assert len(lines) == 3, f"{how}: a header and one line per scenario:\n{output}"
        by_name = table_lines(output, [LONG_NAME, "outage"])
        if width >= 80:
            assert max(len(line) for line in lines) <= width, how
            assert "Half" in by_name[LONG_NAME] and by_name[LONG_NAME].rstrip().endswith("…"), how


async def test_load_a_file(proxy: RunningProxy, tmp_path: Path) -> None:
    good = tmp_path / "extra" / "fresh.yaml"
    good.parent.mkdir()
    good.write_text("rules:\n  - fault: {type: reset}\n")
    code, out, _ = await ctl(proxy, "load", str(good), "--activate")
    assert (code, out.strip()) == (0, "fresh loaded (1 rule(s)), on")
    assert proxy.state.engine.is_active("fresh")
    bad = tmp_path / "extra" / "bad.yaml"
    bad.write_text("rules:\n  - fault: {type: reset, after: later}\n")
    code, _, err = await ctl(proxy, "load", str(bad))
    assert code == 1 and f"{bad}:2: rules[0].fault.after: expected a duration" in err


async def test_broken_edit_shows_in_status(tmp_path: Path) -> None:
    path = tmp_path / "storm.yaml"
    path.write_text("rules:\n  - fault: {type: error, status: 503}\n")
    settings = ProxySettings(
        port=0, admin_port=free_port(), library=str(tmp_path / "none"), scenarios=[str(path)], termlog=False
    )
    async with RunningProxy(settings) as running:
        path.write_text("rules:\n  - fault: {type: error, status: 503, kind: nonsense}\n")
        for _ in range(100):
            if running.state.file_errors:
                break
            await asyncio.sleep(0.05)
        code, out, _ = await ctl(running, "status")
        assert code == 0
        assert f"rejected edit of {path} (the previous version keeps running):" in out
        assert f"{path}:2: rules[0].fault.kind: unknown error kind 'nonsense'" in out
        assert "storm" in out  # still on, as it was


async def test_unreachable_and_token(proxy: RunningProxy, tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        BROWNOUT, "ctl", "status", "--admin", f"http://127.0.0.1:{free_port()}", stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    assert process.returncode == 3 and b"cannot reach the admin API" in err

    settings = ProxySettings(port=0, admin_port=free_port(), admin_token="s3cret", library=str(tmp_path), termlog=False)
    async with RunningProxy(settings) as guarded:
        code, _, err = await ctl(guarded, "status")
        assert code == 1 and "missing or wrong bearer token" in err
        code, _, _ = await ctl(guarded, "status", env={"BROWNOUT_ADMIN_TOKEN": "s3cret"})
        assert code == 0
        code, _, _ = await ctl(guarded, "--admin-token", "s3cret", "status")
        assert code == 0


@pytest.mark.parametrize(
    "name", [".", "..", "bad\rname", "forged\nbrownout: scenario x on", "nul\x00", "\u202eevil", "n" * 3000]
)
def test_a_name_argument_follows_the_name_rule(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    from brownout.cli.main import main

    # Nothing listens on port 1: reaching for the proxy would exit 3, not 2.
    with pytest.raises(SystemExit) as exited:
        main(["ctl", "activate", "fine", name, "--admin", "http://127.0.0.1:1"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument NAME: not a valid name (letters, digits, `_`, `.` and `-`" in err
    assert "\r" not in err and "\x00" not in err and "\u202e" not in err and len(err) < 1000


@pytest.mark.parametrize(
    ("fleet", "line"),
    [
        (None, None),
        (
            {"redis": "redis://r:6379/0", "up": True, "errors": 0, "unshared_changes": 0},
            "fleet: redis://r:6379/0, shared",
        ),
        (
            {"redis": "redis://r:6379/0", "up": False, "errors": 3, "unshared_changes": 2},
            "fleet: redis://r:6379/0 unreachable: serving the last known state, 2 change(s) not yet shared",
        ),
    ],
)
def test_status_says_how_the_replica_stands_in_its_fleet(fleet: dict[str, object] | None, line: str | None) -> None:
    answer = {
        "version": "0",
        "uptime_seconds": 1.0,
        "scenarios_loaded": 0,
        "active": [],
        "counters": {"requests": 0, "requests_by_code": {}, "faults_injected": 0, "fault_errors": 0},
        "errors": [],
        "fleet": fleet,
    }
    console = Console(width=200, highlight=False, soft_wrap=True, record=True)
    with console.capture() as captured:
        show_status(console, answer)
    lines = captured.get().splitlines()
    assert [text for text in lines if text.startswith("fleet")] == ([line] if line else [])
