"""What a fleet's shared counts cost per request: one take from Redis against one from memory.

    uv run python tests/bench/bench_shared_counts.py [--takes 5000] [--concurrency 16] [--fsync-always]

A real redis-server on loopback (a tmp dir, a free port), persisting as a production one commonly
does (append-only file, fsync once a second; `--fsync-always` syncs every write, as the tests'
server does, which costs a disk sync per take). Measured, each after a warm-up:
1. a replica's own `RateLimiter.admit` (the local bucket, no Redis);
2. `RedisBuckets.admit` one after another: the Lua take's round trip, latency per take;
3. `RedisBuckets.admit` from three links at `--concurrency` takes in flight each: takes a second;
4. `RedisCounts.add` (an `every:` count) and `RedisLoad.arrive` (overload's offered load).
Figures in microseconds per call (median and 99th percentile) or calls a second; also written to
tests/bench/results/ as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path

from benchprocs import write_results

from brownout.faults.rate_limit.buckets import RateLimiter
from brownout.faults.shared import BucketLimits
from brownout.fleet.buckets import RedisBuckets
from brownout.fleet.counters import RedisCounts
from brownout.fleet.fallbacks import Fallbacks
from brownout.fleet.link import RedisLink
from brownout.fleet.load import RedisLoad

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' own helpers
from prom import free_port  # noqa: E402

# Large enough that every take is let through: the cost measured is the take, not a refusal.
LIMITS = BucketLimits(rpm=10_000_000, tpm=100_000_000, burst=10_000_000)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_us": round(statistics.median(ordered) * 1e6, 1),
        "p99_us": round(ordered[int(len(ordered) * 0.99) - 1] * 1e6, 1),
    }


def bench_local(takes: int) -> dict[str, float]:
    limiter = RateLimiter(LIMITS.rpm, LIMITS.tpm, LIMITS.burst)
    samples = []
    for i in range(takes):
        started = time.perf_counter()
        limiter.admit(f"model-{i % 8}", 120)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


async def sequential(takes: int, call: Callable[[int], Awaitable[object]]) -> dict[str, float]:
    for i in range(200):
        await call(i)
    samples = []
    for i in range(takes):
        started = time.perf_counter()
        await call(i)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


async def concurrent(links: list[RedisLink], takes: int, concurrency: int) -> dict[str, float]:
    replicas = [RedisBuckets(link, Fallbacks()) for link in links]
    per_worker = max(1, takes // (len(replicas) * concurrency))

    async def worker(buckets: RedisBuckets) -> None:
        for i in range(per_worker):
            await buckets.admit(f"r:model:model-{i % 8}", LIMITS, 120)

    started = time.perf_counter()
    await asyncio.gather(*(worker(b) for b in replicas for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    total = per_worker * len(replicas) * concurrency
    return {"takes": total, "takes_per_second": round(total / elapsed), "replicas": len(replicas)}


async def bench_redis(url: str, takes: int, concurrency: int) -> dict[str, object]:
    links = [RedisLink(url, prefix="bench") for _ in range(3)]
    for link in links:
        await link.start()
    for _ in range(250):  # the server takes a moment to listen
        if all(link.up for link in links):
            break
        await asyncio.sleep(0.02)
    else:
        raise SystemExit("redis-server did not answer within 5 s")
    try:
        buckets = RedisBuckets(links[0], Fallbacks())
        counts = RedisCounts(links[0], Fallbacks())
        load = RedisLoad(links[0], Fallbacks())
        return {
            "bucket_take_sequential": await sequential(
                takes, lambda i: buckets.admit(f"r:model:model-{i % 8}", LIMITS, 120)
            ),
            "bucket_take_concurrent": await concurrent(links, takes, concurrency),
            "every_count_add": await sequential(takes, lambda i: counts.add(f"s:1:0:seen:k{i % 8}")),
            "load_arrive": await sequential(takes, lambda i: load.arrive(f"r:provider:p{i % 4}", 1.0)),
        }
    finally:
        for link in links:
            await link.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--takes", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--fsync-always", action="store_true")
    args = parser.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH (Debian's redis-server package)")
    port = free_port()
    fsync = "always" if args.fsync_always else "everysec"
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", tmp, "--save", ""]
            + ["--appendonly", "yes", "--appendfsync", fsync, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
        )
        try:
            report: dict[str, object] = {"redis_appendfsync": fsync, "local_take": bench_local(args.takes)}
            report.update(asyncio.run(bench_redis(f"redis://127.0.0.1:{port}/0", args.takes, args.concurrency)))
        finally:
            server.terminate()
            server.wait(timeout=10)
    for name, figures in report.items():
        print(f"{name:24} {figures}")
    write_results("shared_counts", report)


if __name__ == "__main__":
    main()
