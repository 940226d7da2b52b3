"""`brownout demo`: the simulator, the proxy and official-SDK traffic under a scenario, live.

Everything runs in this process on loopback: the simulated upstream, brownout in front of it
and a handful of synthetic apps that call it through the real `openai`, `anthropic` and
`google-genai` clients with their production retry settings. The summary shows what the apps
saw (successes, the exceptions their SDK raised, calls still under way) beside what the proxy did
(faults fired, and the attempts it saw for each call, which is where the SDKs' retries show).
Each call carries a header naming it, so the proxy counts the attempts of every call exactly.
Stopping lets the calls under way finish (for up to `DRAIN_SECONDS`) before the summary and the
report are taken: a call cut off at shutdown would read as the client giving up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import itertools
import os
import statistics
import sys
import time
from collections import Counter
from collections import defaultdict
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from mitmproxy import http
from rich.console import Console
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from brownout.cli.checks import check_scenarios
from brownout.cli.ports import Listener
from brownout.cli.ports import port_problem
from brownout.cli.report import show as show_report
from brownout.cli.runner import ProxySettings
from brownout.cli.runner import RunningProxy
from brownout.cli.stopping import Stopping
from brownout.report.build import build as build_report
from brownout.sim import SimConfig
from brownout.sim import SimServer

# Names each call on its way through the proxy (`openai chat#17`); the retries of a call repeat it.
CALL_HEADER = "x-brownout-demo-call"
DRAIN_SECONDS = 10.0

PROMPTS = [
    "Summarise the incident report in two sentences.",
    "Write a haiku about retries.",
    "What is the capital of Portugal?",
    "Explain exponential backoff to a new engineer.",
    "Give three names for a status page.",
]


@dataclass
class CallStats:
    provider: str
    calls: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)  # the proxy's attempts for each finished call

    @property
    def in_flight(self) -> int:
        return self.calls - self.ok - sum(self.errors.values())


class CallAttempts:
    """A mitmproxy addon in the demo's proxy: the attempts it saw for each call, by `CALL_HEADER`."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        call = flow.request.headers.get(CALL_HEADER)
        if call:
            self.seen[call] += 1


class SyntheticApps:
    """Small apps calling the proxy through the official SDKs, as production code would."""

    def __init__(self, proxy_url: str, attempts: CallAttempts) -> None:
        import anthropic
        import openai
        from google import genai
        from google.genai import types

        # Production defaults (2 retries, backoff, Retry-After), with a timeout short enough for a demo.
        self.openai = openai.AsyncOpenAI(base_url=f"{proxy_url}/openai/v1", api_key="sk-demo", timeout=20)
        self.anthropic = anthropic.AsyncAnthropic(base_url=f"{proxy_url}/anthropic", api_key="sk-ant-demo", timeout=20)
        self.gemini = genai.Client(
            api_key="demo",
            http_options=types.HttpOptions(
                base_url=f"{proxy_url}/gemini", timeout=20_000, retry_options=types.HttpRetryOptions(attempts=3)
            ),
        )
        self.attempts = attempts
        self._numbers = itertools.count(1)
        self._call: contextvars.ContextVar[str] = contextvars.ContextVar("call", default="")
        self.calls: dict[str, Callable[[str], Awaitable[object]]] = {
            "openai chat": self._openai_chat,
            "openai chat stream": self._openai_stream,
            "openai embeddings": self._openai_embeddings,
            "anthropic messages": self._anthropic_messages,
            "anthropic stream": self._anthropic_stream,
            "gemini generate": self._gemini_generate,
        }
        self.stats = {name: CallStats(name.split()[0]) for name in self.calls}

    def _tag(self) -> dict[str, str]:
        return {CALL_HEADER: self._call.get()}

    async def _openai_chat(self, prompt: str) -> object:
        return await self.openai.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], extra_headers=self._tag()
        )

    async def _openai_stream(self, prompt: str) -> object:
        stream = await self.openai.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": prompt}], stream=True, extra_headers=self._tag()
        )
        return [chunk async for chunk in stream]

    async def _openai_embeddings(self, prompt: str) -> object:
        return await self.openai.embeddings.create(
            model="text-embedding-3-small", input=prompt, extra_headers=self._tag()
        )

    async def _anthropic_messages(self, prompt: str) -> object:
        return await self.anthropic.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=200,
            messages=[{"role": "user", "content": prompt}],
            extra_headers=self._tag(),
        )

    async def _anthropic_stream(self, prompt: str) -> object:
        async with self.anthropic.messages.stream(
            model="claude-haiku-4-5",
            max_tokens=200,
            messages=[{"role": "user", "content": prompt}],
            extra_headers=self._tag(),
        ) as stream:
            return await stream.get_final_message()

    async def _gemini_generate(self, prompt: str) -> object:
        from google.genai import types

        # Request options are merged into the client's (its base URL, timeout and retries stay).
        options = types.HttpOptions(headers=self._tag())
        return await self.gemini.aio.models.generate_content(
            model="gemini-2.5-flash", contents=prompt, config=types.GenerateContentConfig(http_options=options)
        )

    async def call(self, name: str, prompt: str) -> None:
        stats = self.stats[name]
        stats.calls += 1
        call = f"{name}#{next(self._numbers)}"
        self._call.set(call)  # this task's own context: concurrent calls do not share it
        start = time.monotonic()
        try:
            # Each call its own conversation: the apps are independent, and two of them sending the
            # same prompt after a failure would read as one app falling back to another provider.
            await self.calls[name](f"{prompt} ({call})")
        except asyncio.CancelledError:
            stats.calls -= 1
            self.attempts.seen.pop(call, None)
            raise
        except Exception as exc:  # the demo reports whatever the SDK raised
            stats.errors[type(exc).__name__] += 1
        else:
            stats.ok += 1
        stats.seconds.append(time.monotonic() - start)
        stats.attempts.append(self.attempts.seen.pop(call, 0))

    async def close(self) -> None:
        await self.openai.close()
        await self.anthropic.close()
        with contextlib.suppress(Exception):
            await self.gemini.aio.aclose()


def _sample_sum(proxy: RunningProxy, metric: str, **match: str) -> dict[tuple[str, ...], float]:
    """Sum a metric's samples grouped by the label names given as keys of `match`."""
    totals: dict[tuple[str, ...], float] = defaultdict(float)
    keys = list(match)
    for family in proxy.state.metrics.registry.collect():
        for sample in family.samples:
            if sample.name == metric:
                totals[tuple(sample.labels.get(k, "") for k in keys)] += sample.value
    return totals


def render(apps: SyntheticApps, proxy: RunningProxy, started: float, status: str = "") -> Group:
    elapsed = time.monotonic() - started
    scenarios = proxy.state.engine.active  # the names, whether given as a file or a library name
    header = Text.assemble(
        ("brownout demo", "bold"),
        f"  {elapsed:5.1f}s  proxy {proxy.url}  scenarios on: {', '.join(scenarios) or 'none'}",
    )
    if proxy.settings.admin_port:
        header.append(f"  metrics {proxy.admin_url}/metrics")
    if status:
        header.append(f"  {status}", style="yellow")

    apps_table = Table(title="what the apps saw")
    for column in ("call", "calls", "ok", "in flight", "SDK raised", "p50 s", "proxy attempts per call"):
        apps_table.add_column(column, justify="left" if column in ("call", "SDK raised") else "right")
    for name, stats in apps.stats.items():
        raised = ", ".join(f"{k} x{v}" for k, v in stats.errors.most_common()) or "-"
        p50 = f"{statistics.median(stats.seconds):.2f}" if stats.seconds else "-"
        per_call = f"{statistics.fmean(stats.attempts):.2f}" if stats.attempts else "-"
        apps_table.add_row(name, str(stats.calls), str(stats.ok), str(stats.in_flight), raised, p50, per_call)

    faults = _sample_sum(proxy, "brownout_faults_injected_total", scenario="", rule="", fault="", provider="")
    faults_table = Table(title="what the proxy injected")
    for column in ("scenario", "rule", "fault", "provider", "fired"):
        faults_table.add_column(column, justify="right" if column == "fired" else "left")
    for (scenario, rule, fault, provider), count in sorted(faults.items()):
        faults_table.add_row(scenario, rule, fault, provider, f"{count:.0f}")
    return Group(header, apps_table, faults_table, _client_table(proxy))


def _client_table(proxy: RunningProxy) -> Table:
    """What the proxy learned about the clients' reactions (the `brownout_client_*` metrics)."""
    columns = {
        "retries": "brownout_client_retries_total",
        "Retry-After violations": "brownout_client_retry_after_violations_total",
        "non-retryable retries": "brownout_client_nonretryable_retries_total",
        "abandoned": "brownout_client_abandoned_total",
    }
    table = Table(title="how the clients reacted (the proxy's client metrics)")
    table.add_column("provider")
    for column in columns:
        table.add_column(column, justify="right")
    counts = {column: _sample_sum(proxy, metric, provider="") for column, metric in columns.items()}
    delay = _sample_sum(proxy, "brownout_client_retry_delay_seconds_sum", provider="")
    delays = _sample_sum(proxy, "brownout_client_retry_delay_seconds_count", provider="")
    table.add_column("mean retry delay s", justify="right")
    for provider in ("openai", "anthropic", "gemini"):
        key = (provider,)
        mean = f"{delay[key] / delays[key]:.2f}" if delays.get(key) else "-"
        table.add_row(provider, *(f"{counts[c].get(key, 0):.0f}" for c in columns), mean)
    return table


class Traffic:
    """Calls started at a steady rate, round-robin over the apps; stopping lets them finish."""

    def __init__(self, apps: SyntheticApps, rate: float) -> None:
        self.apps, self.rate = apps, rate
        self.tasks: set[asyncio.Task[None]] = set()
        self.starting = asyncio.Event()  # set: stop starting calls

    async def run(self) -> None:
        names = itertools.cycle(self.apps.calls)
        prompts = itertools.cycle(PROMPTS)
        while not self.starting.is_set():
            task = asyncio.create_task(self.apps.call(next(names), next(prompts)))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.starting.wait(), timeout=1 / self.rate)

    async def cancel(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def demo(args: argparse.Namespace, console: Console) -> int:
    # The first Ctrl-C: stop starting calls, let those under way finish; the second: stop now.
    stopping = Stopping()
    stopping.install()
    stop = stopping.asked
    scenarios = args.scenario or ["demo"]
    async with SimServer(SimConfig(tokens_per_second=60), port=args.sim_port) as sim:
        settings = ProxySettings(
            listen_host=args.listen_host,
            port=args.port,
            admin_host=args.admin_host,
            admin_port=args.admin_port,
            upstreams=[f"{name}={sim.url}/{name}" for name in ("openai", "anthropic", "gemini", "azure")],
            scenarios=scenarios,
            library=args.library,
            termlog=args.verbose,
            verbosity="debug" if args.verbose else "warn",
        )
        try:
            proxy = RunningProxy(settings)
            attempts = CallAttempts()
            proxy.master.addons.add(attempts)
            await proxy.start()
        except OSError as exc:
            console.print(f"[red]brownout demo: cannot listen: {exc}[/] (try --port / --admin-port)")
            return 1
        apps = SyntheticApps(proxy.url, attempts)
        started = time.monotonic()
        traffic = Traffic(apps, args.rate)
        driver = asyncio.create_task(traffic.run())
        try:
            # Transient: the final summary is printed once traffic has stopped, with every call settled.
            live = Live(render(apps, proxy, started), console=console, refresh_per_second=2, transient=True)
            with live:
                while not stop.is_set():
                    if args.duration is not None and time.monotonic() - started >= args.duration:
                        stop.set()
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=0.5)
                    live.update(render(apps, proxy, started))
                traffic.starting.set()
                await driver

                def progress(calls: int) -> None:
                    status = f"stopping: {calls} calls under way finish (Ctrl-C again: stop now)"
                    live.update(render(apps, proxy, started, status))

                await stopping.settle(lambda: len(traffic.tasks), DRAIN_SECONDS, progress, step=0.25)
            # Taken before any call is cut off, which the proxy would count as the client giving up.
            left = len(traffic.tasks)
            summary = render(apps, proxy, started, f"{left} calls cut off at the end, not counted" if left else "")
            report = await asyncio.to_thread(build_report, proxy.state.record.snapshot())
        finally:
            stop.set()
            traffic.starting.set()
            await driver
            await traffic.cancel()
            await apps.close()
            await proxy.stop()
    console.print(summary)
    show_report(report, console)
    console.print("demo stopped.")
    return 0


# Without a terminal (a pipe, a CI log) rich would wrap the tables at 80 columns.
UNWRAPPED_WIDTH = 160


def demo_console() -> Console:
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=UNWRAPPED_WIDTH)
    return console


def run_demo(args: argparse.Namespace) -> int:
    problem = port_problem(
        [
            Listener("--port", "the proxy", args.listen_host, args.port),
            Listener("--admin-port", "the admin port (metrics)", args.admin_host, args.admin_port),
            Listener("--sim-port", "the simulator", "127.0.0.1", args.sim_port),
        ]
    )
    if problem:
        print(problem, file=sys.stderr)
        return 1
    if not check_scenarios(args.scenario, args.library):
        return 1
    try:
        return asyncio.run(demo(args, demo_console()))
    except KeyboardInterrupt:
        return 130
