"""Pass-through cost of brownout against a direct connection and bare mitmdump, in one run.

    uv run python tests/bench/bench_proxy.py [--rounds 5] [--requests 2000] [--concurrency 16]

Six targets, measured in interleaved rounds so drift on a shared machine hits them alike:
  direct          the upstream itself
  mitmdump        bare mitmdump in reverse mode (lazy connections, quiet)
  mitmdump+sse    the same with a three-line addon that streams text/event-stream
  mitmdump+addon  the same with brownout loaded from its addon file, as a mitmproxy user runs it:
                  beside bare mitmdump, the cost of brownout's addons alone
  brownout        `brownout run`, no scenario on (mitmproxy's core addons and brownout's; it leaves
                  out the default addons its options cannot reach, which mitmdump carries)
  brownout+rules  `brownout run` with a scenario on whose rules never match this traffic, so
                  every request is classified and every rule tried, and none fires
Each round measures throughput (keep-alive clients, fixed concurrency) and latency (one
connection, sequential requests). Figures are reported as ratios; absolute numbers depend on
the machine. Results also go to tests/bench/results/ as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import aiohttp
from benchprocs import STREAM_ADDON
from benchprocs import free_port
from benchprocs import start
from benchprocs import stop
from benchprocs import wait_until
from benchprocs import write_results

BIN = Path(sys.executable).parent
ADDON_FILE = Path(__file__).resolve().parents[2] / "addons" / "brownout_addon.py"

UPSTREAM = r"""
import json, sys
from aiohttp import web
BODY = json.dumps({"id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000,
    "model": "gpt-4o-mini", "choices": [{"index": 0, "message": {"role": "assistant",
    "content": "word " * 60}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 60, "total_tokens": 72}}).encode()
async def chat(request):
    await request.read()
    return web.Response(body=BODY, content_type="application/json")
app = web.Application()
app.router.add_post("/{tail:.*}", chat)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""

NOT_FIRING = """
name: bench-not-firing
description: Rules that never match the benchmark's OpenAI chat traffic.
rules:
  - match: {provider: anthropic}
    fault: {type: error, status: 529}
  - match: {provider: openai, endpoint: embeddings}
    fault: {type: latency, delay: 1s}
  - match: {provider: openai, model: "never-*"}
    fault: {type: reset}
"""

REQUEST = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello " * 20}]}).encode()


@dataclass
class Target:
    name: str
    url: str
    argv: list[str] | None = None
    proc: subprocess.Popen[bytes] | None = None
    throughput: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p95: list[float] = field(default_factory=list)


async def wait_ready(url: str) -> None:
    async def answers(session: aiohttp.ClientSession) -> bool:
        async with session.post(url, data=REQUEST) as resp:
            await resp.read()
            return resp.status == 200

    await wait_until(answers, url)


async def throughput(url: str, requests: int, concurrency: int) -> float:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        remaining = requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.post(url, data=REQUEST) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return requests / (time.perf_counter() - start)


async def latency(url: str, samples: int) -> tuple[float, float]:
    connector = aiohttp.TCPConnector(limit=1)
    times = []
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(samples):
            start = time.perf_counter()
            async with session.post(url, data=REQUEST) as resp:
                await resp.read()
            times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95)]


async def measure(targets: list[Target], args: argparse.Namespace) -> None:
    """Warm every target up, then `args.rounds` interleaved rounds of throughput and latency each."""
    for target in targets:
        await wait_ready(target.url)
        await throughput(target.url, 200, args.concurrency)  # warm-up
    for round_no in range(args.rounds):
        for target in targets:
            target.throughput.append(await throughput(target.url, args.requests, args.concurrency))
            p50, p95 = await latency(target.url, args.latency_samples)
            target.p50.append(p50)
            target.p95.append(p95)
        print(
            f"round {round_no + 1}/{args.rounds}: "
            + ", ".join(f"{t.name} {t.throughput[-1]:.0f} req/s" for t in targets),
            flush=True,
        )


def med(values: list[float]) -> float:
    return statistics.median(values)


def figures(target: Target, direct: Target) -> dict[str, float]:
    """A target's medians over the rounds, and the latency it adds to going direct."""
    return {
        "throughput": med(target.throughput),
        "p50_ms": med(target.p50) * 1000,
        "p95_ms": med(target.p95) * 1000,
        "added_p50_ms_vs_direct": (med(target.p50) - med(direct.p50)) * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000, help="requests per throughput measurement")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-samples", type=int, default=300)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="brownout-bench-"))
    env = {**os.environ, "HOME": str(scratch)}  # keeps mitmproxy's CA out of the real home
    (scratch / "upstream.py").write_text(UPSTREAM)
    (scratch / "stream_addon.py").write_text(STREAM_ADDON)
    (scratch / "not-firing.yaml").write_text(NOT_FIRING)
    up = free_port()
    upstream = start([sys.executable, str(scratch / "upstream.py"), str(up)], env)
    mitm = [str(BIN / "mitmdump"), "-q", "--set", "connection_strategy=lazy", "--set", f"confdir={scratch}/mitm"]
    ports = [free_port() for _ in range(5)]
    targets = [
        Target("direct", f"http://127.0.0.1:{up}/openai/v1/chat/completions"),
        Target(
            "mitmdump",
            f"http://127.0.0.1:{ports[0]}/openai/v1/chat/completions",
            [*mitm, "--mode", f"reverse:http://127.0.0.1:{up}@127.0.0.1:{ports[0]}"],
        ),
        Target(
            "mitmdump+sse",
            f"http://127.0.0.1:{ports[1]}/openai/v1/chat/completions",
            [
                *mitm,
                "--mode",
                f"reverse:http://127.0.0.1:{up}@127.0.0.1:{ports[1]}",
                "-s",
                str(scratch / "stream_addon.py"),
            ],
        ),
        Target(
            "mitmdump+addon",
            f"http://127.0.0.1:{ports[4]}/openai/v1/chat/completions",
            [
                *mitm,
                "--mode",
                f"reverse:http://127.0.0.1:{up}@127.0.0.1:{ports[4]}",
                "-s",
                str(ADDON_FILE),
                "--set",
                "brownout_admin_port=0",
            ],
        ),
    ]
    brownout = [str(BIN / "brownout"), "run", "--admin-port", "0", "--upstream", f"openai=http://127.0.0.1:{up}/openai"]
    targets.append(
        Target(
            "brownout", f"http://127.0.0.1:{ports[2]}/openai/v1/chat/completions", [*brownout, "--port", str(ports[2])]
        )
    )
    targets.append(
        Target(
            "brownout+rules",
            f"http://127.0.0.1:{ports[3]}/openai/v1/chat/completions",
            [*brownout, "--port", str(ports[3]), "--scenario", str(scratch / "not-firing.yaml")],
        )
    )
    try:
        for target in targets:
            if target.argv:
                target.proc = start(target.argv, env)
        await measure(targets, args)
    finally:
        for target in targets:
            stop(target.proc)
        stop(upstream)
        shutil.rmtree(scratch, ignore_errors=True)

    by_name = {t.name: t for t in targets}
    print(
        f"\n{'target':<16}{'req/s':>9}{'vs direct':>11}{'vs mitmdump':>13}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'added p50 ms':>14}"
    )
    direct, bare = by_name["direct"], by_name["mitmdump"]
    report = {"args": vars(args), "targets": {}}
    for t in targets:
        row = figures(t, direct) | {
            "throughput_vs_direct": med(t.throughput) / med(direct.throughput),
            "throughput_vs_mitmdump": med(t.throughput) / med(bare.throughput),
            "added_p50_ms_vs_mitmdump": (med(t.p50) - med(bare.p50)) * 1000,
        }
        report["targets"][t.name] = row
        print(
            f"{t.name:<16}{row['throughput']:>9.0f}{row['throughput_vs_direct']:>11.2f}"
            f"{row['throughput_vs_mitmdump']:>13.2f}{row['p50_ms']:>9.2f}{row['p95_ms']:>9.2f}"
            f"{row['added_p50_ms_vs_direct']:>14.2f}"
        )
    write_results("bench_proxy", report)


if __name__ == "__main__":
    asyncio.run(main())
