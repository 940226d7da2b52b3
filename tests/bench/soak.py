"""Soak: mixed traffic through `brownout run` for a bounded time, scenarios switched every few seconds.

    uv run python tests/bench/soak.py [--seconds 120] [--concurrency 24] [--switch-every 3]

Everything runs on loopback: `brownout sim` as the upstream of all four providers, `brownout run`
in front of it (with `--record`), and an aiohttp client sending chat calls (streamed and not) to
OpenAI, Anthropic, Gemini and Azure paths, each with a planted API key. A switcher turns library
scenarios on and off through the admin API every few seconds (outages, rate limits, slow and cut
streams, latency), so faults start and stop under traffic. A sampler reads the proxy's resident
memory and open file descriptors from /proc and times a scrape of /metrics.

At the end it checks what a soak is for, and exits non-zero when one fails:
  - every request the client sent is counted once in `brownout_requests_total` (exact);
  - memory and descriptors are flat: the last third of the run is not above the first third
    by more than a margin (fds back to the idle level once traffic stops);
  - the planted key appears nowhere: not in the console log, /metrics, the admin API's answers,
    the record file or `brownout report`'s output.
Figures are printed and written to tests/bench/results/ as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import aiohttp
from benchprocs import free_port
from benchprocs import stop
from benchprocs import wait_until
from benchprocs import write_results

BIN = Path(sys.executable).parent
PLANTED_KEY = "sk-soak-PLANTED-" + "7f3a9c" * 6
SCENARIOS = (
    "openai-total-outage",
    "anthropic-529-storm",
    "gemini-503-high-demand",
    "tight-rate-limits",
    "partial-stream",
    "slow-stream",
    "slow-first-token",
    "flaky-network",
    "brownout-25pct",
)
CLIENT_TIMEOUT = 8.0  # a held or hung request is left (counted by brownout as abandoned)
MEMORY_MARGIN = 1.25  # last third of the run against the first third
FD_MARGIN = 1.5
SAMPLE_EVERY = 2.0  # seconds between the sampler's readings
SHORT_RUN = 20.0  # below this many seconds, readings come four times as often


def sample_every(seconds: float) -> float:
    """The sampler's period: a short run is sampled more often, so each third of it holds several
    readings and the trend compares means, not one reading with another."""
    return SAMPLE_EVERY / 4 if seconds < SHORT_RUN else SAMPLE_EVERY


@dataclass
class Tally:
    sent: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.by_outcome[outcome] = self.by_outcome.get(outcome, 0) + 1


@dataclass
class Sample:
    at: float
    rss_kib: int
    fds: int
    scrape_ms: float


def call(provider: str, stream: bool) -> tuple[str, dict[str, str], dict[str, object]]:
    """Path, headers and body of one chat call as the provider's SDK sends it."""
    messages = [{"role": "user", "content": f"soak {random.randrange(10**6)}"}]
    if provider == "openai":
        body: dict[str, object] = {"model": "gpt-4o-mini", "messages": messages, "stream": stream}
        return "/openai/v1/chat/completions", {"authorization": f"Bearer {PLANTED_KEY}"}, body
    if provider == "azure":
        path = "/azure/soak.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
        return path, {"api-key": PLANTED_KEY}, {"messages": messages, "stream": stream}
    if provider == "anthropic":
        body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": messages, "stream": stream}
        return "/anthropic/v1/messages", {"x-api-key": PLANTED_KEY, "anthropic-version": "2023-06-01"}, body
    verb = "streamGenerateContent?alt=sse" if stream else "generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": messages[0]["content"]}]}]}
    return f"/gemini/v1beta/models/gemini-2.5-flash:{verb}", {"x-goog-api-key": PLANTED_KEY}, body


async def client_worker(session: aiohttp.ClientSession, proxy: str, deadline: float, tally: Tally) -> None:
    rng = random.Random()
    while time.monotonic() < deadline:
        provider = rng.choice(("openai", "anthropic", "gemini", "azure"))
        path, headers, body = call(provider, stream=rng.random() < 0.5)
        tally.sent += 1
        try:
            async with session.post(proxy + path, json=body, headers=headers) as response:
                await response.read()
                tally.count(f"{provider} {response.status}")
        except TimeoutError:
            tally.count(f"{provider} client-timeout")
        except aiohttp.ClientError as exc:
            tally.count(f"{provider} {type(exc).__name__}")


async def switcher(session: aiohttp.ClientSession, admin: str, deadline: float, every: float, log: list[str]) -> None:
    rng = random.Random(7)
    on: list[str] = []
    json_headers = {"content-type": "application/json"}
    while time.monotonic() < deadline:
        if on and (len(on) >= 2 or rng.random() < 0.5):
            name = on.pop(rng.randrange(len(on)))
            verb = "deactivate"
        else:
            name = rng.choice([s for s in SCENARIOS if s not in on])
            on.append(name)
            verb = "activate"
        async with session.post(f"{admin}/api/scenarios/{name}/{verb}", data="{}", headers=json_headers) as answer:
            log.append(f"{verb} {name}: {answer.status}")
        await asyncio.sleep(every)
    async with session.post(f"{admin}/api/clear", data="{}", headers=json_headers) as answer:
        log.append(f"clear: {answer.status}")


def proc_figures(pid: int) -> tuple[int, int]:
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


async def sampler(
    session: aiohttp.ClientSession, admin: str, pid: int, deadline: float, every: float, samples: list[Sample]
) -> None:
    start = time.monotonic()
    while time.monotonic() < deadline:
        began = time.perf_counter()
        async with session.get(f"{admin}/metrics") as response:
            await response.read()
        scrape_ms = (time.perf_counter() - began) * 1000
        rss, fds = proc_figures(pid)
        samples.append(Sample(time.monotonic() - start, rss, fds, scrape_ms))
        await asyncio.sleep(every)


def requests_counted(exposition: str) -> int:
    total = 0.0
    for line in exposition.splitlines():
        if line.startswith("brownout_requests_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def thirds(values: list[int]) -> tuple[float, float]:
    third = max(1, len(values) // 3)
    return statistics.mean(values[:third]), statistics.mean(values[-third:])


async def soak(seconds: float, concurrency: int, switch_every: float, scratch: Path) -> dict[str, object]:
    sim_port, proxy_port, admin_port = free_port(), free_port(), free_port()
    env = {**os.environ, "HOME": str(scratch)}
    record = scratch / "record.jsonl"
    console = (scratch / "console.log").open("wb")
    sim = subprocess.Popen(
        [str(BIN / "brownout"), "sim", "--port", str(sim_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    upstreams = [
        f"--upstream={name}=http://127.0.0.1:{sim_port}/{name}" for name in ("openai", "anthropic", "gemini", "azure")
    ]
    argv = [
        str(BIN / "brownout"),
        "run",
        "--port",
        str(proxy_port),
        "--admin-port",
        str(admin_port),
        "--record",
        str(record),
    ]
    proxy_process = subprocess.Popen(
        argv + upstreams, env=env, stdout=console, stderr=subprocess.STDOUT, start_new_session=True
    )
    proxy, admin = f"http://127.0.0.1:{proxy_port}", f"http://127.0.0.1:{admin_port}"
    tally, samples, switches = Tally(), [], []  # type: ignore[var-annotated]
    try:

        async def healthy(session: aiohttp.ClientSession) -> bool:
            async with session.get(f"{admin}/healthz") as response:
                return response.status == 200

        async def simulating(session: aiohttp.ClientSession) -> bool:
            async with session.get(f"http://127.0.0.1:{sim_port}/") as response:
                return response.status < 500

        await wait_until(simulating, "brownout sim")
        await wait_until(healthy, "brownout run")
        idle_rss, idle_fds = proc_figures(proxy_process.pid)
        deadline = time.monotonic() + seconds
        timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with (
            aiohttp.ClientSession(timeout=timeout, connector=connector) as clients,
            aiohttp.ClientSession() as control,
        ):
            workers = [client_worker(clients, proxy, deadline, tally) for _ in range(concurrency)]
            await asyncio.gather(
                *workers,
                switcher(control, admin, deadline, switch_every, switches),
                sampler(control, admin, proxy_process.pid, deadline, sample_every(seconds), samples),
            )
        # Held requests the client left end in the proxy a moment later; let them be counted.
        await asyncio.sleep(3)
        async with aiohttp.ClientSession() as control:
            async with control.get(f"{admin}/metrics") as response:
                exposition = await response.text()
            answers = [exposition]
            for path in ("/api/status", "/api/scenarios"):
                async with control.get(admin + path) as response:
                    answers.append(await response.text())
        after_rss, after_fds = proc_figures(proxy_process.pid)
    finally:
        stop(proxy_process)
        stop(sim)
        console.close()
    report = subprocess.run([str(BIN / "brownout"), "report", str(record)], capture_output=True, text=True, env=env)
    places = {
        "console log": (scratch / "console.log").read_text(errors="replace"),
        "/metrics and the admin API": "\n".join(answers),
        "record file": record.read_text(errors="replace") if record.exists() else "",
        "brownout report": report.stdout + report.stderr,
    }
    leaked = [place for place, text in places.items() if PLANTED_KEY in text or PLANTED_KEY[:20] in text]
    counted = requests_counted(exposition)
    rss_first, rss_last = thirds([s.rss_kib for s in samples])
    fds_first, fds_last = thirds([s.fds for s in samples])
    scrapes = sorted(s.scrape_ms for s in samples)
    figures: dict[str, object] = {
        "seconds": seconds,
        "concurrency": concurrency,
        "switches": len(switches),
        "requests_sent": tally.sent,
        "requests_counted": counted,
        "samples": len(samples),
        "client_outcomes": dict(sorted(tally.by_outcome.items())),
        "rss_mib": {
            "idle": round(idle_rss / 1024, 1),
            "first_third": round(rss_first / 1024, 1),
            "last_third": round(rss_last / 1024, 1),
            "peak": round(max(s.rss_kib for s in samples) / 1024, 1),
            "after": round(after_rss / 1024, 1),
        },
        "fds": {
            "idle": idle_fds,
            "first_third": round(fds_first, 1),
            "last_third": round(fds_last, 1),
            "after": after_fds,
        },
        "scrape_ms": {"median": round(statistics.median(scrapes), 1), "max": round(scrapes[-1], 1)},
        "planted_key_found_in": leaked,
        "report_exit_status": report.returncode,
    }
    problems = []
    if counted != tally.sent:
        problems.append(f"brownout counted {counted} requests, the client sent {tally.sent}")
    if rss_last > rss_first * MEMORY_MARGIN:
        problems.append(
            f"memory grew: {rss_first / 1024:.0f} MiB in the first third, {rss_last / 1024:.0f} MiB in the last"
        )
    if fds_last > max(fds_first * FD_MARGIN, fds_first + 16) or after_fds > idle_fds + 8:
        problems.append(
            f"descriptors grew: {fds_first:.0f} -> {fds_last:.0f} under traffic, {idle_fds} idle -> {after_fds} after"
        )
    if leaked:
        problems.append(f"the planted key appears in: {', '.join(leaked)}")
    figures["problems"] = problems
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="how long traffic flows (at most 1800)")
    parser.add_argument("--concurrency", type=int, default=24, help="client connections at once (at most 500)")
    parser.add_argument("--switch-every", type=float, default=3.0, help="seconds between scenario switches")
    args = parser.parse_args()
    seconds, concurrency = min(args.seconds, 1800.0), min(args.concurrency, 500)
    with tempfile.TemporaryDirectory(prefix="brownout-soak-") as scratch:
        run = soak(seconds, concurrency, max(args.switch_every, 0.5), Path(scratch))
        # Bounded whatever happens: start-up, traffic, the drain and the report.
        figures = asyncio.run(asyncio.wait_for(run, seconds + 120))
    print(json.dumps(figures, indent=2))
    write_results("soak", figures)
    for problem in figures["problems"]:  # type: ignore[attr-defined]
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if figures["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
