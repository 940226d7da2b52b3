"""`brownout report`: from a running proxy and from a saved record, as JSON, as tables, as a page
that renders in a real browser; and its exit codes."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import anthropic
import pytest

from brownout.cli.main import main
from brownout.cli.runner import RunningProxy
from conftest import StartProxy
from conftest import free_port
from required_tools import need_tool

MESSAGES = [{"role": "user", "content": "Are you there?"}]


async def obeying_client(proxy: RunningProxy) -> None:
    """The SDK's defaults: it waits what retry-after says."""
    async with anthropic.AsyncAnthropic(base_url=f"{proxy.url}/anthropic", api_key="sk-ant-a") as client:
        for _ in range(3):
            try:
                await client.messages.create(model="claude-sonnet-4-6", max_tokens=20, messages=MESSAGES)  # type: ignore[arg-type]
            except anthropic.APIStatusError:
                pass


async def hasty_client(proxy: RunningProxy) -> None:
    """SDK retries off, and a loop above it that tries again at once."""
    async with anthropic.AsyncAnthropic(base_url=f"{proxy.url}/anthropic", api_key="sk-ant-b", max_retries=0) as c:
        for _ in range(4):
            try:
                await c.messages.create(model="claude-sonnet-4-6", max_tokens=20, messages=MESSAGES)  # type: ignore[arg-type]
                return
            except anthropic.APIStatusError:
                await asyncio.sleep(0.05)


async def report_json(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["report", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("client,verdict", [(obeying_client, "pass"), (hasty_client, "fail")])
async def test_retry_after_verdict_under_the_529_storm(
    client: object, verdict: str, start_proxy: StartProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy = await start_proxy("anthropic-529-storm")
    await client(proxy)  # type: ignore[operator]
    code, report = await report_json("--admin", proxy.admin_url, capsys=capsys)
    assert code == 0 and report["schema"] == "brownout-report/1"
    (row,) = [r for r in report["clients"] if r["provider"] == "anthropic"]
    assert row["client"] == "anthropic-python"
    assert row["verdicts"]["retry_after"]["verdict"] == verdict, row["verdicts"]["retry_after"]
    assert row["verdicts"]["retries_transient"]["verdict"] == "pass"
    assert report["scenarios"][0]["name"] == "anthropic-529-storm"
    failing = await asyncio.to_thread(main, ["report", "--admin", proxy.admin_url, "--fail-on", "retry_after"])
    assert failing == (1 if verdict == "fail" else 0)


async def test_a_recorded_run_reports_after_the_proxy_stopped(
    start_proxy: StartProxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = tmp_path / "run.jsonl"
    proxy = await start_proxy("anthropic-529-storm", record=str(record))
    await hasty_client(proxy)
    live = await report_json("--admin", proxy.admin_url, capsys=capsys)
    await proxy.stop()
    lines = record.read_text().splitlines()
    assert json.loads(lines[0])["format"] == "brownout-record" and len(lines) > 4
    assert "sk-ant-b" not in record.read_text() and "Are you there" not in record.read_text()  # no keys, no prompts
    code, saved = await report_json(str(record), capsys=capsys)
    assert code == 0 and saved["clients"] == live[1]["clients"]
    again = tmp_path / "report.json"
    again.write_text(json.dumps(saved))
    assert (await report_json(str(again), capsys=capsys))[1] == saved  # a saved report reads back too


async def test_tables_and_exit_codes(
    start_proxy: StartProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    proxy = await start_proxy("anthropic-529-storm")
    await hasty_client(proxy)
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["report", "--admin", proxy.admin_url, "--fail-on", "all"]) == 1
    out = capsys.readouterr().out
    assert "anthropic-python at anthropic" in out and "retry_after" in out and "What to change" in out
    assert await asyncio.to_thread(main, ["report", "--admin", proxy.admin_url, "--fail-on", "nope"]) == 2
    assert "unknown verdict(s) nope" in capsys.readouterr().err
    closed = f"http://127.0.0.1:{free_port()}"
    assert await asyncio.to_thread(main, ["report", "--admin", closed]) == 3
    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    assert await asyncio.to_thread(main, ["report", str(junk)]) == 2


def chromium() -> str:
    if shutil.which("chromium-browser") and not shutil.which("chromium"):
        return str(shutil.which("chromium-browser"))  # Ubuntu's older name
    return need_tool("chromium", "the HTML report is rendered in it")


async def test_the_html_page_renders_its_charts_in_chromium(
    start_proxy: StartProxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    browser = chromium()
    proxy = await start_proxy("anthropic-529-storm")
    await asyncio.gather(obeying_client(proxy), hasty_client(proxy))
    page = tmp_path / "report.html"
    assert await asyncio.to_thread(main, ["report", "--admin", proxy.admin_url, "--html", str(page)]) == 0
    text = page.read_text()
    assert text.count("<svg") == 2 and "<polyline" in text and "<circle" in text and "<script" not in text
    shot = tmp_path / "shot.png"
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,1400", f"--screenshot={shot}",
    ]  # fmt: skip
    subprocess.run([browser, *flags, page.as_uri()], capture_output=True, timeout=90, check=False)
    assert shot.is_file(), "chromium wrote no screenshot"
    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 20, "the page rendered blank"
    # The charts' own colours are on the page: the attempts line, the failures and the passes.
    present = {colour for _, colour in colours}
    for wanted in ((9, 105, 218), (207, 34, 46), (26, 127, 55)):
        assert any(max(abs(a - b) for a, b in zip(c, wanted, strict=True)) < 12 for c in present), wanted
