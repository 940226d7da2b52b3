"""Skips that CI does not allow: one rule for every test.

A test whose OS tool or client install is missing (Prometheus, promtool, Chromium, Node and its
clients, redis-server) skips with the reason on a developer's machine. Where the tools are
required (`CI=1` or `BROWNOUT_REQUIRE_TOOLS=1`, which `.ci/run` sets) a skip would hide a test
that never ran, so the conftest hooks below turn *every* skip, whatever raised it, into a failure
that quotes the skip's reason. A test that is meant to be conditional says so with `xfail`, which
this rule leaves alone.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_VARIABLES = ("CI", "BROWNOUT_REQUIRE_TOOLS", "BROWNOUT_REQUIRE_PROMETHEUS")  # the last: older name

INSTALL_HINTS = {
    "prometheus": "Debian/Ubuntu: apt-get install prometheus",
    "promtool": "Debian/Ubuntu: apt-get install prometheus",
    "chromium": "Debian/Ubuntu: apt-get install chromium",
    "node": "Node 20 or later",
    "redis-server": "Debian/Ubuntu: apt-get install redis-server",
}


def required() -> bool:
    """Whether every test must run here (a skip is a failure)."""
    return any(os.environ.get(name, "") not in ("", "0", "false") for name in REQUIRE_VARIABLES)


def need_tool(name: str, why: str) -> str:
    """The path of an OS tool; skips the test without it (a failure where tools are required)."""
    path = shutil.which(name)
    if path is None:
        hint = INSTALL_HINTS.get(name, "install it")
        pytest.skip(f"`{name}` not on PATH ({why}); {hint}")
    return path


def _refuse(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not report.skipped or hasattr(report, "wasxfail") or not required():
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped where every test must run ({' or '.join(REQUIRE_VARIABLES[:2])} is set): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    _refuse(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):  # type: ignore[no-untyped-def]
    outcome = yield
    _refuse(outcome.get_result())
