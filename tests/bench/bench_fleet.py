"""What Redis costs per request: one replica with a `rate_limit` rule, alone vs on a Redis, in one run.

    uv run python tests/bench/bench_fleet.py [--rounds 5] [--requests 2000] [--concurrency 16]

Three targets in interleaved rounds (drift on a shared machine hits them alike):
  direct          the upstream itself, the baseline of the added latency
  alone           `brownout run` with a rate_limit rule that every request passes through (a
                  bucket too large to run dry): the bucket is the replica's own, in memory
  redis           the same with `--redis` to a redis-server on loopback: every request takes from
                  the fleet's bucket in Redis (one script call there)
Each round measures throughput (keep-alive clients, fixed concurrency) and latency (one
connection, sequential requests), as bench_proxy.py does. The ratio `redis / alone` is the
figure; absolute numbers depend on the machine. Results also go to tests/bench/results/ as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

import redis
from bench_proxy import UPSTREAM
from bench_proxy import Target
from bench_proxy import figures
from bench_proxy import measure
from bench_proxy import med
from benchprocs import free_port
from benchprocs import start
from benchprocs import stop
from benchprocs import write_results

BIN = Path(sys.executable).parent

# Every request matches and passes (the bucket never runs dry in a benchmark's minute), so each one
# pays for a take from the bucket and gets the rate-limit headers.
PASSING_LIMIT = """
name: bench-limit
description: A rate limit every benchmark request passes.
rules:
  - match: {provider: openai}
    fault: {type: rate_limit, rpm: 1000000000, burst: 1000000000}
"""


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000, help="requests per throughput measurement")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-samples", type=int, default=300)
    args = parser.parse_args()
    redis_binary = shutil.which("redis-server")
    if redis_binary is None:
        sys.exit("bench_fleet needs redis-server on PATH (Debian: apt-get install redis-server)")

    scratch = Path(tempfile.mkdtemp(prefix="brownout-bench-fleet-"))
    env = {**os.environ, "HOME": str(scratch)}  # keeps mitmproxy's CA out of the real home
    (scratch / "upstream.py").write_text(UPSTREAM)
    (scratch / "limit.yaml").write_text(PASSING_LIMIT)
    up, redis_port, alone_port, redis_proxy_port = (free_port() for _ in range(4))
    # Redis as a fleet would run it: the append-only file, flushed every second (its default).
    redis_argv = [redis_binary, "--bind", "127.0.0.1", "--port", str(redis_port), "--dir", str(scratch)]
    redis_argv += ["--save", "", "--appendonly", "yes"]
    brownout = [str(BIN / "brownout"), "run", "--admin-port", "0", "--no-fault-log"]
    brownout += ["--upstream", f"openai=http://127.0.0.1:{up}/openai", "--scenario", str(scratch / "limit.yaml")]
    processes = [
        start([sys.executable, str(scratch / "upstream.py"), str(up)], env),
        start(redis_argv, env),
        start([*brownout, "--port", str(alone_port)], env),
        start([*brownout, "--port", str(redis_proxy_port), "--redis", f"redis://127.0.0.1:{redis_port}/0"], env),
    ]
    path = "/openai/v1/chat/completions"
    targets = [
        Target("direct", f"http://127.0.0.1:{up}{path}"),
        Target("alone", f"http://127.0.0.1:{alone_port}{path}"),
        Target("redis", f"http://127.0.0.1:{redis_proxy_port}{path}"),
    ]
    try:
        await measure(targets, args)
        # The redis target really took from Redis: its bucket is there (else the figure would be void).
        buckets = redis.Redis(port=redis_port).keys("brownout:*")
        if not buckets:
            sys.exit("the replica on Redis left no key in it: its rate limit did not run on Redis")
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(scratch, ignore_errors=True)

    direct, alone, on_redis = targets
    print(f"\n{'target':<10}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'added p50 ms':>14}")
    rows: dict[str, dict[str, float]] = {}
    for t in targets:
        row = rows[t.name] = figures(t, direct)
        print(
            f"{t.name:<10}{row['throughput']:>9.0f}{row['p50_ms']:>9.2f}{row['p95_ms']:>9.2f}"
            f"{row['added_p50_ms_vs_direct']:>14.2f}"
        )
    ratios = {
        "throughput_redis_vs_alone": med(on_redis.throughput) / med(alone.throughput),
        "p50_redis_vs_alone": med(on_redis.p50) / med(alone.p50),
        "added_p50_ms_by_redis": (med(on_redis.p50) - med(alone.p50)) * 1000,
    }
    report = {"args": vars(args), "targets": rows, "ratios": ratios, "redis_keys": len(buckets)}
    print(
        f"\nwith Redis: {ratios['throughput_redis_vs_alone']:.2f} x the requests/s of one replica alone, "
        f"{ratios['p50_redis_vs_alone']:.2f} x its median latency "
        f"({ratios['added_p50_ms_by_redis']:+.2f} ms per request)"
    )
    write_results("bench_fleet", report)


if __name__ == "__main__":
    asyncio.run(main())
