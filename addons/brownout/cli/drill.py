"""`brownout drill SCENARIO -- COMMAND...`: a game day in one command.

It starts the proxy (and with `--sim` the simulator behind it) with SCENARIO switched on, runs
COMMAND with its SDKs pointed at the proxy (`OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL`,
`GOOGLE_GEMINI_BASE_URL`; with `--forward`, `HTTPS_PROXY` and a CA bundle in `SSL_CERT_FILE`),
shows progress while it runs, then prints the report. Exit status: 1 when a `--fail-on` verdict
failed, else 0; 2 when the command cannot be started or an argument is wrong. The command's own
exit status is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from brownout.cli.checks import check_scenarios
from brownout.cli.report import add_fail_on
from brownout.cli.report import deliver
from brownout.cli.report import fail_on
from brownout.cli.runner import ProxySettings
from brownout.cli.runner import RunningProxy

EXIT_USAGE = 2
PROVIDERS = ("openai", "anthropic", "gemini", "azure")
# Keys the SDKs insist on; the simulator accepts any. Only set when the command has none.
PLACEHOLDER_KEYS = {
    "OPENAI_API_KEY": "sk-brownout-drill",
    "ANTHROPIC_API_KEY": "sk-ant-brownout-drill",
    "GEMINI_API_KEY": "brownout-drill",
}
# How long in-flight attempts may take to end once the command has exited.
SETTLE_SECONDS = 0.5


def add_parser(sub: Any) -> None:
    drill = sub.add_parser(
        "drill",
        help="run a command under a scenario, then report how its clients behaved",
        usage="brownout drill SCENARIO [options] -- COMMAND [ARG...]",
    )
    drill.add_argument("scenario", metavar="SCENARIO", help="library name or scenario file")
    drill.add_argument(
        "--sim", action="store_true", help="send the traffic to the built-in simulator, not the real APIs"
    )
    drill.add_argument(
        "--forward", action="store_true", help="point the command at brownout with HTTPS_PROXY instead of base URLs"
    )
    drill.add_argument("--port", type=int, default=0, help="proxy port (default: any free one)")
    drill.add_argument("--upstream", action="append", default=[], metavar="NAME=URL", help="as for brownout run")
    drill.add_argument(
        "--retry-window", default="", metavar="DURATION", help="the observer's retry window (default 30s)"
    )
    drill.add_argument("--record", default="", metavar="FILE", help="also write the run's record here")
    drill.add_argument("--json", action="store_true", help="print the report as JSON")
    drill.add_argument("--html", metavar="FILE", help="write the report as an HTML page")
    add_fail_on(drill)


def child_env(proxy: RunningProxy, sim: bool, forward_bundle: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if forward_bundle is not None:
        proxy_url = f"http://127.0.0.1:{proxy.forward_port}"
        env.update(HTTPS_PROXY=proxy_url, https_proxy=proxy_url, SSL_CERT_FILE=str(forward_bundle))
        env.update(REQUESTS_CA_BUNDLE=str(forward_bundle), NODE_EXTRA_CA_CERTS=str(forward_bundle))
    else:
        env.update(
            OPENAI_BASE_URL=f"{proxy.url}/openai/v1",
            ANTHROPIC_BASE_URL=f"{proxy.url}/anthropic",
            GOOGLE_GEMINI_BASE_URL=f"{proxy.url}/gemini",
        )
    env["BROWNOUT_PROXY"] = proxy.url
    if sim:
        for name, value in PLACEHOLDER_KEYS.items():
            env.setdefault(name, value)
    return env


def ca_bundle(confdir: Path, into: Path) -> Path:
    """mitmproxy's CA beside the usual roots, for SSL_CERT_FILE (every Python SDK reads it)."""
    import certifi

    bundle = into / "brownout-ca-bundle.pem"
    bundle.write_text(Path(certifi.where()).read_text() + "\n" + (confdir / "mitmproxy-ca-cert.pem").read_text())
    return bundle


@contextlib.asynccontextmanager
async def upstream(sim: bool) -> AsyncIterator[list[str]]:
    """The `--upstream` values for the simulator, started for the drill (none without --sim)."""
    if not sim:
        yield []
        return
    from brownout.sim import SimConfig
    from brownout.sim import SimServer

    async with SimServer(SimConfig(tokens_per_second=60)) as server:
        yield [f"{name}={server.url}/{name}" for name in PROVIDERS]


def progress(proxy: RunningProxy, scenario: str, started: float) -> Text:
    state = proxy.state
    engine = state.engine
    names = engine.active
    phase = ""
    if names:
        at = engine.phase(names[0])
        if at is not None:
            phase = f", phase {at.name or 'ended'}"
    attempts = sum(1 for event in state.record.events if type(event).__name__ == "AttemptStarted")
    faults = sum(sample.value for family in state.metrics.faults.collect() for sample in family.samples)
    return Text(
        f"brownout drill: {scenario}{phase}, {time.monotonic() - started:.0f} s, {attempts} attempts, "
        f"{faults:.0f} faults injected",
        style="dim",
    )


async def drill(args: argparse.Namespace, command: list[str], names: list[str]) -> int:
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    with tempfile.TemporaryDirectory(prefix="brownout-drill-") as scratch:
        async with upstream(args.sim) as sim_upstreams:
            extra: dict[str, Any] = {"confdir": scratch} if args.forward else {}
            if args.retry_window:
                extra["brownout_retry_window"] = args.retry_window
            settings = ProxySettings(
                port=args.port,
                admin_port=0,
                forward_port=0 if args.forward else None,
                upstreams=[*sim_upstreams, *args.upstream],
                scenarios=[args.scenario],
                record=args.record,
                termlog=False,
                extra_options=extra,
            )
            async with RunningProxy(settings) as proxy:
                bundle = ca_bundle(Path(scratch), Path(scratch)) if args.forward else None
                env = child_env(proxy, args.sim, bundle)
                started = time.monotonic()
                try:
                    child = await asyncio.create_subprocess_exec(*command, env=env)
                except OSError as exc:
                    err.print(Text(f"brownout drill: cannot run {command[0]}: {exc.strerror or exc}", style="red"))
                    return EXIT_USAGE
                live = Live(progress(proxy, args.scenario, started), console=err, refresh_per_second=2, transient=True)
                with live:
                    while child.returncode is None:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(child.wait(), timeout=0.5)
                        live.update(progress(proxy, args.scenario, started))
                await asyncio.sleep(SETTLE_SECONDS)
                from brownout.report.build import build

                report = await asyncio.to_thread(build, proxy.state.record.snapshot())
        elapsed = time.monotonic() - started
    err.print(f"brownout drill: {' '.join(command)} exited {child.returncode} after {elapsed:.1f} s")
    return deliver(report, args, names, out, err, "brownout drill")


def run(args: argparse.Namespace) -> int:
    command = list(getattr(args, "child", []))  # what followed `--` (split off before parsing)
    if command and command[0] == "--":
        command = command[1:]
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if not command:
        err.print(Text("brownout drill: give the command to run after --, e.g. -- python app.py", style="red"))
        return EXIT_USAGE
    if shutil.which(command[0]) is None and not Path(command[0]).exists():
        err.print(Text(f"brownout drill: {command[0]}: command not found", style="red"))
        return EXIT_USAGE
    try:
        names = fail_on(args.fail_on)
    except ValueError as exc:
        err.print(Text(f"brownout drill: {exc}", style="red"))
        return EXIT_USAGE
    if not check_scenarios([args.scenario], ""):
        return 1
    return asyncio.run(drill(args, command, names))
