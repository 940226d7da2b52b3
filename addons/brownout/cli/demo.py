"""`brownout demo`: the simulator, the proxy and official-SDK traffic under a scenario, live.

Everything runs in this process on loopback: the simulated upstream, brownout in front of it
and a handful of synthetic apps that call it through the real `openai`, `anthropic` and
`google-genai` clients with their production retry settings. The summary shows what the apps
saw (successes, the exceptions their SDK raised) beside what the proxy did (faults fired,
attempts it saw), so the retries the SDKs made are visible as attempts per call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import signal
import statistics
import time
from collections import Counter
from collections import defaultdict
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from rich.console import Console
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from brownout.cli.checks import check_scenarios
from brownout.cli.report import show as show_report
from brownout.cli.runner import ProxySettings
from brownout.cli.runner import RunningProxy
from brownout.report.build import build as build_report
from brownout.sim import SimConfig
from brownout.sim import SimServer

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


class SyntheticApps:
    """Small apps calling the proxy through the official SDKs, as production code would."""

    def __init__(self, proxy_url: str) -> None:
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
        self.calls: dict[str, Callable[[str], Awaitable[object]]] = {
            "openai chat": self._openai_chat,
            "openai chat stream": self._openai_stream,
            "openai embeddings": self._openai_embeddings,
            "anthropic messages": self._anthropic_messages,
            "anthropic stream": self._anthropic_stream,
            "gemini generate": self._gemini_generate,
        }
        self.stats = {name: CallStats(name.split()[0]) for name in self.calls}

    async def _openai_chat(self, prompt: str) -> object:
        return await self.openai.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
        )

    async def _openai_stream(self, prompt: str) -> object:
        stream = await self.openai.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": prompt}], stream=True
        )
        return [chunk async for chunk in stream]

    async def _openai_embeddings(self, prompt: str) -> object:
        return await self.openai.embeddings.create(model="text-embedding-3-small", input=prompt)

    async def _anthropic_messages(self, prompt: str) -> object:
        return await self.anthropic.messages.create(
            model="claude-sonnet-4-6", max_tokens=200, messages=[{"role": "user", "content": prompt}]
        )

    async def _anthropic_stream(self, prompt: str) -> object:
        async with self.anthropic.messages.stream(
            model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": prompt}]
        ) as stream:
            return await stream.get_final_message()

    async def _gemini_generate(self, prompt: str) -> object:
        return await self.gemini.aio.models.generate_content(model="gemini-2.5-flash", contents=prompt)

    async def call(self, name: str, prompt: str) -> None:
        stats = self.stats[name]
        stats.calls += 1
        start = time.monotonic()
        try:
            await self.calls[name](prompt)
        except asyncio.CancelledError:
            stats.calls -= 1
            raise
        except Exception as exc:  # the demo reports whatever the SDK raised
            stats.errors[type(exc).__name__] += 1
        else:
            stats.ok += 1
        stats.seconds.append(time.monotonic() - start)

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


def render(apps: SyntheticApps, proxy: RunningProxy, started: float, scenarios: list[str]) -> Group:
    elapsed = time.monotonic() - started
    header = Text.assemble(
        ("brownout demo", "bold"),
        f"  {elapsed:5.1f}s  proxy {proxy.url}  scenarios on: {', '.join(scenarios) or 'none'}",
    )
    if proxy.settings.admin_port:
        header.append(f"  metrics {proxy.admin_url}/metrics")

    attempts = _sample_sum(proxy, "brownout_requests_total", provider="")
    apps_table = Table(title="what the apps saw", expand=True)
    for column in ("call", "calls", "ok", "SDK raised", "p50 s", "proxy attempts per call"):
        apps_table.add_column(column, justify="left" if column in ("call", "SDK raised") else "right")
    calls_per_provider: Counter[str] = Counter()
    for stats in apps.stats.values():
        calls_per_provider[stats.provider] += stats.calls
    for name, stats in apps.stats.items():
        raised = ", ".join(f"{k} x{v}" for k, v in stats.errors.most_common()) or "-"
        p50 = f"{statistics.median(stats.seconds):.2f}" if stats.seconds else "-"
        per_call = attempts.get((stats.provider,), 0) / calls_per_provider[stats.provider] if stats.calls else 0
        apps_table.add_row(name, str(stats.calls), str(stats.ok), raised, p50, f"{per_call:.2f}")

    faults = _sample_sum(proxy, "brownout_faults_injected_total", scenario="", rule="", fault="", provider="")
    faults_table = Table(title="what the proxy injected", expand=True)
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
    table = Table(title="how the clients reacted (the proxy's client metrics)", expand=True)
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


async def _drive(apps: SyntheticApps, rate: float, stop: asyncio.Event) -> None:
    """Start calls at `rate` per second, round-robin over the apps, until `stop`."""
    names = itertools.cycle(apps.calls)
    prompts = itertools.cycle(PROMPTS)
    tasks: set[asyncio.Task[None]] = set()
    try:
        while not stop.is_set():
            task = asyncio.create_task(apps.call(next(names), next(prompts)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1 / rate)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def demo(args: argparse.Namespace, console: Console) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
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
            await proxy.start()
        except OSError as exc:
            console.print(f"[red]brownout demo: cannot listen: {exc}[/] (try --port / --admin-port)")
            return 1
        apps = SyntheticApps(proxy.url)
        started = time.monotonic()
        driver = asyncio.create_task(_drive(apps, args.rate, stop))
        try:
            # Transient: the final summary is printed once traffic has stopped, with every call settled.
            live = Live(render(apps, proxy, started, scenarios), console=console, refresh_per_second=2, transient=True)
            with live:
                while not stop.is_set():
                    if args.duration is not None and time.monotonic() - started >= args.duration:
                        stop.set()
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=0.5)
                    live.update(render(apps, proxy, started, scenarios))
        finally:
            stop.set()
            await driver
            await apps.close()
            console.print(render(apps, proxy, started, scenarios))
            report = await asyncio.to_thread(build_report, proxy.state.record.snapshot())
            await proxy.stop()
    show_report(report, console)
    console.print("demo stopped.")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    if not check_scenarios(args.scenario, args.library):
        return 1
    console = Console()
    try:
        return asyncio.run(demo(args, console))
    except KeyboardInterrupt:
        return 130
