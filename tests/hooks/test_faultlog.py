import logging
import re

import pytest
from mitmproxy import http
from mitmproxy.test import taddons

from brownout.hooks.faultlog import FaultLog
from brownout.hooks.injector import Injector
from conftest import chat_flow
from conftest import state_with


async def test_one_line_per_injected_fault(caplog: pytest.LogCaptureFixture) -> None:
    state = state_with("rules:\n  - name: down\n    fault: {type: error, status: 503}\n")
    injector, faultlog = Injector(state), FaultLog(state)
    with taddons.context(injector, faultlog), caplog.at_level(logging.INFO, "brownout.hooks.faultlog"):
        flow = chat_flow()
        await injector.request(flow)
        faultlog.response(flow)
        faultlog.error(flow)  # a later error on the same flow logs nothing more
    lines = [r.getMessage() for r in caplog.records if r.name == "brownout.hooks.faultlog"]
    assert len(lines) == 1
    assert lines[0].startswith("brownout: fault ")
    assert " other openai/gpt-4o s/down error(status=503" in lines[0]
    assert re.search(r"-> answered 503 \(\d+\.\d\d s\)$", lines[0]), lines[0]


async def test_untouched_flows_and_the_switch_off_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    state = state_with("rules:\n  - name: down\n    fault: {type: error, status: 503}\n")
    injector, faultlog = Injector(state), FaultLog(state)
    with taddons.context(injector, faultlog) as tctx, caplog.at_level(logging.INFO, "brownout.hooks.faultlog"):
        faultlog.response(chat_flow())  # no fault decided for it
        tctx.configure(faultlog, brownout_fault_log=False)
        flow = chat_flow()
        await injector.request(flow)
        faultlog.response(flow)
    assert [r for r in caplog.records if r.name == "brownout.hooks.faultlog"] == []


async def test_a_request_a_limit_let_through_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """A rate limit or an overload under its capacity admits the request untouched: no line (a line
    per admitted request would flood the console at any real rate); the one it refuses logs."""
    state = state_with("rules:\n  - name: limit\n    fault: {type: rate_limit, rpm: 1}\n")
    injector, faultlog = Injector(state), FaultLog(state)
    with taddons.context(injector, faultlog), caplog.at_level(logging.INFO, "brownout.hooks.faultlog"):
        for _ in range(2):
            flow = chat_flow()
            await injector.request(flow)
            if flow.response is None:
                flow.response = http.Response.make(200, b"{}")
            faultlog.response(flow)
    lines = [r.getMessage() for r in caplog.records if r.name == "brownout.hooks.faultlog"]
    assert len(lines) == 1 and "-> answered 429" in lines[0], lines
