"""Streaming through brownout against a direct connection and mitmdump, in one interleaved run.

    uv run python tests/bench/bench_streams.py [--rounds 5] [--streams 20] [--concurrency 100] [--crowd 500]

The upstream is `brownout sim` (OpenAI chat completions streams). Targets:
  direct          the simulator itself
  mitmdump        bare mitmdump in reverse mode: it buffers a whole SSE response (shown for contrast)
  mitmdump+sse    the same with a three-line addon that streams text/event-stream
  brownout        `brownout run`, no scenario on: pass-through streams (counted, byte-identical)
  brownout+plan   `brownout run` with a stream fault on every stream that never acts
                  (`stream_cut` after 10^6 events): every chunk goes through the stream adapter
                  and is split into events, the cost a faulted stream pays before its fault acts
Each round measures, per target:
  latency   sequential paced streams on one connection (50 tokens/s, 30 tokens): time to first
            event (request start to the first whole event) and the gaps between events
  volume    `--concurrency` streams at once, unpaced (200 events each): events per second
  crowd     `--crowd` paced streams at once (20 tokens/s, 20 tokens): all must complete
Figures are medians over rounds, reported as ratios to direct and to mitmdump+sse; absolute numbers
depend on the machine. Results also go to tests/bench/results/ as JSON.
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
PATH = "/openai/v1/chat/completions"
BODY = json.dumps({"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]})

NEVER_ACTS = """
name: bench-plan
description: A stream fault on every stream that never acts, so every chunk goes through the adapter.
rules:
  - match: {stream: true}
    fault: {type: stream_cut, after_events: 1000000}
"""


@dataclass
class Stream:
    ttfe: float = 0.0  # request start to the first whole event
    times: list[float] = field(default_factory=list)  # arrival of each event, from request start
    ok: bool = False

    @property
    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.times, self.times[1:], strict=False)]


@dataclass
class Target:
    name: str
    url: str
    argv: list[str] | None = None
    proc: subprocess.Popen[bytes] | None = None
    ttfe: list[float] = field(default_factory=list)  # per round: median time to first event
    gap_p50: list[float] = field(default_factory=list)
    gap_p95: list[float] = field(default_factory=list)
    events_per_s: list[float] = field(default_factory=list)
    crowd_ok: list[int] = field(default_factory=list)
    crowd_seconds: list[float] = field(default_factory=list)


async def read(session: aiohttp.ClientSession, url: str, tokens: int, tps: float) -> Stream:
    stream = Stream()
    headers = {"x-sim-tokens": str(tokens), "x-sim-tps": str(tps), "content-type": "application/json"}
    start = time.perf_counter()
    buffer = b""
    async with session.post(url, data=BODY, headers=headers) as resp:
        async for chunk in resp.content.iter_any():
            now = time.perf_counter() - start
            buffer += chunk
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                stream.times.append(now)
                if event == b"data: [DONE]":
                    stream.ok = True
    stream.ttfe = stream.times[0] if stream.times else float("nan")
    return stream


async def wait_ready(url: str) -> None:
    async def streams(session: aiohttp.ClientSession) -> bool:
        return (await read(session, url, 2, 0)).ok

    await wait_until(streams, url)


async def latency(target: Target, streams: int) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        results = [await read(session, target.url, 30, 50) for _ in range(streams)]
    gaps = sorted(g for r in results for g in r.gaps[1:-2])  # token gaps: not the head or the tail
    target.ttfe.append(statistics.median(r.ttfe for r in results))
    target.gap_p50.append(statistics.median(gaps))
    target.gap_p95.append(gaps[int(len(gaps) * 0.95)])


async def volume(target: Target, concurrency: int) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        start = time.perf_counter()
        results = await asyncio.gather(*(read(session, target.url, 200, 0) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    assert all(r.ok for r in results), f"{target.name}: a stream did not complete"
    target.events_per_s.append(sum(len(r.times) for r in results) / elapsed)


async def crowd(target: Target, size: int) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=size)) as session:
        start = time.perf_counter()
        results = await asyncio.gather(
            *(read(session, target.url, 20, 20) for _ in range(size)), return_exceptions=True
        )
        target.crowd_seconds.append(time.perf_counter() - start)
    target.crowd_ok.append(sum(1 for r in results if isinstance(r, Stream) and r.ok))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--streams", type=int, default=20, help="sequential paced streams per latency measurement")
    parser.add_argument("--concurrency", type=int, default=100, help="concurrent unpaced streams for throughput")
    parser.add_argument("--crowd", type=int, default=500, help="concurrent paced streams that must all complete")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="brownout-bench-streams-"))
    env = {**os.environ, "HOME": str(scratch)}  # keeps mitmproxy's CA out of the real home
    (scratch / "stream_addon.py").write_text(STREAM_ADDON)
    (scratch / "plan.yaml").write_text(NEVER_ACTS)
    up = free_port()
    sim = start([str(BIN / "brownout"), "sim", "--port", str(up)], env)
    mitm = [str(BIN / "mitmdump"), "-q", "--set", "connection_strategy=lazy", "--set", f"confdir={scratch}/mitm"]
    brownout = [str(BIN / "brownout"), "run", "--admin-port", "0", "--upstream", f"openai=http://127.0.0.1:{up}/openai"]
    ports = [free_port() for _ in range(4)]
    reverse = [f"reverse:http://127.0.0.1:{up}@127.0.0.1:{port}" for port in ports[:2]]
    targets = [
        Target("direct", f"http://127.0.0.1:{up}{PATH}"),
        Target("mitmdump", f"http://127.0.0.1:{ports[0]}{PATH}", [*mitm, "--mode", reverse[0]]),
        Target(
            "mitmdump+sse",
            f"http://127.0.0.1:{ports[1]}{PATH}",
            [*mitm, "--mode", reverse[1], "-s", str(scratch / "stream_addon.py")],
        ),
        Target("brownout", f"http://127.0.0.1:{ports[2]}{PATH}", [*brownout, "--port", str(ports[2])]),
        Target(
            "brownout+plan",
            f"http://127.0.0.1:{ports[3]}{PATH}",
            [*brownout, "--port", str(ports[3]), "--scenario", str(scratch / "plan.yaml")],
        ),
    ]
    try:
        for target in targets:
            if target.argv:
                target.proc = start(target.argv, env)
        for target in targets:
            await wait_ready(target.url)
            await volume(target, 10)  # warm-up
        for target in targets:
            target.events_per_s.clear()
        for round_no in range(args.rounds):
            for target in targets:
                await latency(target, args.streams)
                await volume(target, args.concurrency)
                await crowd(target, args.crowd)
            print(
                f"round {round_no + 1}/{args.rounds}: "
                + ", ".join(
                    f"{t.name} ttfe {t.ttfe[-1] * 1000:.1f} ms, {t.events_per_s[-1]:.0f} ev/s, "
                    f"crowd {t.crowd_ok[-1]}/{args.crowd}"
                    for t in targets
                ),
                flush=True,
            )
    finally:
        for target in targets:
            stop(target.proc)
        stop(sim)
        shutil.rmtree(scratch, ignore_errors=True)

    def med(values: list[float]) -> float:
        return statistics.median(values)

    by_name = {t.name: t for t in targets}
    direct, streaming = by_name["direct"], by_name["mitmdump+sse"]
    report: dict[str, object] = {"args": vars(args), "targets": {}}
    print(
        f"\n{'target':<15}{'ttfe ms':>9}{'/direct':>9}{'/mitm+sse':>10}{'gap p50':>9}{'gap p95':>9}"
        f"{'/mitm+sse':>10}{'events/s':>10}{'/direct':>9}{'/mitm+sse':>10}{'crowd ok':>10}{'crowd s':>9}"
    )
    for t in targets:
        row = {
            "ttfe_ms": med(t.ttfe) * 1000,
            "ttfe_vs_direct": med(t.ttfe) / med(direct.ttfe),
            "ttfe_vs_mitmdump_sse": med(t.ttfe) / med(streaming.ttfe),
            "gap_p50_ms": med(t.gap_p50) * 1000,
            "gap_p95_ms": med(t.gap_p95) * 1000,
            "gap_p50_vs_direct": med(t.gap_p50) / med(direct.gap_p50),
            "gap_p50_vs_mitmdump_sse": med(t.gap_p50) / med(streaming.gap_p50),
            "gap_p95_vs_mitmdump_sse": med(t.gap_p95) / med(streaming.gap_p95),
            "events_per_s": med(t.events_per_s),
            "events_per_s_vs_direct": med(t.events_per_s) / med(direct.events_per_s),
            "events_per_s_vs_mitmdump_sse": med(t.events_per_s) / med(streaming.events_per_s),
            "crowd_completed_min": min(t.crowd_ok),
            "crowd_size": args.crowd,
            "crowd_seconds": med(t.crowd_seconds),
        }
        report["targets"][t.name] = row  # type: ignore[index]
        print(
            f"{t.name:<15}{row['ttfe_ms']:>9.1f}{row['ttfe_vs_direct']:>9.2f}{row['ttfe_vs_mitmdump_sse']:>10.2f}"
            f"{row['gap_p50_ms']:>9.1f}{row['gap_p95_ms']:>9.1f}{row['gap_p50_vs_mitmdump_sse']:>10.2f}"
            f"{row['events_per_s']:>10.0f}{row['events_per_s_vs_direct']:>9.2f}"
            f"{row['events_per_s_vs_mitmdump_sse']:>10.2f}{row['crowd_completed_min']:>10}{row['crowd_seconds']:>9.1f}"
        )
    write_results("bench_streams", report)


if __name__ == "__main__":
    asyncio.run(main())
