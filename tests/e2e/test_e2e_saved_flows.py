"""Flows brownout acted on save with `mitmdump -w` and load back with their marks, as mitmweb shows them.

brownout keeps its own per-flow state outside mitmproxy's flow; what it puts into the flow (the
mark, the comment and a plain summary in `flow.metadata["brownout"]`) must serialise, or
mitmproxy's Save addon fails on every faulted flow.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
from mitmproxy import io
from mitmproxy.tools.web.app import flow_to_json

from brownout.hooks.injector import MARK
from brownout.sim import SimServer
from conftest import free_port
from conftest import wait_listening

ADDON_FILE = Path(__file__).resolve().parents[2] / "addons" / "brownout_addon.py"
SCENARIO = """\
name: saved
rules:
  - name: throttle
    match: {model: refused}
    fault: {type: error, status: 429, retry_after: 1s}
  - name: broken
    match: {model: broken}
    fault: {type: stream_error, after_events: 2}
"""


async def test_faulted_flows_save_and_load_back_with_their_marks(sim: SimServer, tmp_path: Path) -> None:
    scenario, saved, port = tmp_path / "saved.yaml", tmp_path / "flows.mitm", free_port()
    scenario.write_text(SCENARIO)
    mitmdump = Path(sys.executable).parent / "mitmdump"
    process = subprocess.Popen(
        [
            str(mitmdump), "-q", "--mode", f"reverse:{sim.url}@127.0.0.1:{port}",
            "-s", str(ADDON_FILE), "-w", str(saved),
            "--set", f"brownout_scenarios={scenario}", "--set", "brownout_admin_port=0",
            "--set", f"confdir={tmp_path}",
        ],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        await wait_listening(port, process)
        url = f"http://127.0.0.1:{port}/openai/v1/chat/completions"
        messages = [{"role": "user", "content": "Hi"}]
        async with httpx.AsyncClient(timeout=10) as client:
            refused = await client.post(url, json={"model": "refused", "messages": messages})
            async with client.stream("POST", url, json={"model": "broken", "stream": True, "messages": messages}) as s:
                streamed = b"".join([chunk async for chunk in s.aiter_raw()])
            passed = await client.post(url, json={"model": "fine", "messages": messages})
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=15)[0].decode(errors="replace")
    assert refused.status_code == 429 and passed.status_code == 200
    assert b'"error"' in streamed
    assert "Traceback" not in output and "unserializable" not in output, output

    with saved.open("rb") as file:
        flows = list(io.FlowReader(file).stream())
    assert len(flows) == 3, output
    by_model = {flow.metadata["brownout"]["model"]: flow for flow in flows}
    for model, rule, fault in (("refused", "throttle", "error"), ("broken", "broken", "stream_error")):
        flow = by_model[model]
        assert flow.marked == MARK
        assert flow.comment.startswith(f"brownout: saved / {rule}: {fault}(")
        summary = flow.metadata["brownout"]
        assert summary["scenario"] == "saved" and summary["rule"] == rule and summary["fault"] == fault
        assert summary["outcome"] in ("answered", "armed", "errored")
        shown = flow_to_json(flow)  # what mitmweb sends its page for the flow list
        assert shown["marked"] and shown["comment"] == flow.comment
    assert by_model["refused"].response.status_code == 429
    assert by_model["refused"].metadata["brownout"]["outcome"] == "answered"
    untouched = by_model["fine"]
    assert not untouched.marked and "fault" not in untouched.metadata["brownout"]
    assert flow_to_json(untouched)["marked"] == ""
