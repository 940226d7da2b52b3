"""What watching the client costs: the pure grouping, and the observer addon per flow.

    uv run python tests/bench/bench_observer.py [--attempts 100000] [--flows 5000]

1. `observe.Observer.feed` alone: attempts of distinct requests, one in five failing and
   retried once or twice (as openai-python does), with conversations and identities.
2. The `ClientObserver` hooks (requestheaders, response: the attempt is reported at its end) on mitmproxy test flows,
   metrics included, for chat bodies of about 1 KB and 32 KB, once answered 200 and once 429.
Reported per attempt (microseconds), beside the ~2 ms of CPU mitmproxy itself spends per
request on this kind of machine (reference/mitmproxy.md section 7). Results also go to
tests/bench/results/ as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from benchprocs import write_results
from mitmproxy import http
from mitmproxy.test import taddons
from mitmproxy.test import tflow

from brownout.classify.request import RequestInfo
from brownout.engine.state import Brownout
from brownout.hooks.observer import ClientObserver
from brownout.observe.events import AttemptEnded
from brownout.observe.events import AttemptStarted
from brownout.observe.grouping import Observer


def bench_feed(attempts: int) -> dict[str, float]:
    rng = random.Random(7)
    observer = Observer()
    t = 1_000_000.0
    fed = 0
    produced = 0
    started = time.perf_counter()
    request = 0
    while fed < attempts:
        request += 1
        tries = 1 + (rng.randrange(1, 3) if rng.random() < 0.2 else 0)
        for n in range(tries):
            attempt = AttemptStarted(
                attempt=f"{request}.{n}",
                time=t,
                provider="openai",
                endpoint="chat",
                model="gpt-4o",
                client="openai-python",
                identity=f"key{request % 50}@10.0.0.{request % 7}",
                fingerprint=f"fp{request}",
                conversation=f"c{request}",
                origin=f"10.0.0.{request % 7}",
                retry_count=n,
            )
            produced += len(observer.feed(attempt))
            t += 0.002
            failed = n < tries - 1
            produced += len(observer.feed(AttemptEnded(attempt.attempt, t, "429" if failed else "", 0.5)))
            t += 0.003
            fed += 1
    produced += len(observer.tick(t + 3600))
    seconds = time.perf_counter() - started
    return {"attempts": fed, "seconds": seconds, "us_per_attempt": seconds / fed * 1e6, "observations": produced}


def chat_body(size: int) -> bytes:
    text = ("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]
    return json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}).encode()


def bench_hooks(flows: int, body: bytes, status: int) -> float:
    state = Brownout()
    addon = ClientObserver(state)
    timings: list[float] = []
    with taddons.context(addon):
        for n in range(flows):
            flow = tflow.tflow()
            flow.live = True
            flow.request.method = "POST"
            flow.request.path = "/v1/chat/completions"
            flow.request.headers["authorization"] = "Bearer sk-bench"
            flow.request.headers["user-agent"] = "AsyncOpenAI/Python 3.54.0"
            flow.request.headers["x-stainless-retry-count"] = "0"
            flow.request.content = body + b" " * (n % 3)  # distinct requests, same size
            flow.request.timestamp_start = 1000.0 + n
            here = state.flows.of(flow)  # what the Router and the Injector leave for the observer
            here.provider, here.info = "openai", RequestInfo("openai", "chat", "gpt-4o", False, "x")
            response = http.Response.make(status, b'{"error": {"code": "rate_limit_exceeded"}}')
            response.headers["retry-after-ms"] = "700"
            response.timestamp_end = 1000.1 + n
            began = time.perf_counter()
            addon.requestheaders(flow)
            flow.response = response
            addon.response(flow)
            timings.append(time.perf_counter() - began)
            assert not addon._watched, "the flow was not observed to its end"
    return statistics.median(timings) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=100_000)
    parser.add_argument("--flows", type=int, default=5_000)
    args = parser.parse_args()

    feed = bench_feed(args.attempts)
    print(
        f"Observer.feed: {feed['attempts']} attempts in {feed['seconds']:.2f} s: "
        f"{feed['us_per_attempt']:.1f} us per attempt (start + end), {feed['observations']} observations"
    )
    hooks: dict[str, float] = {}
    for label, size in (("1KB", 1_000), ("32KB", 32_000)):
        body = chat_body(size)
        for status in (200, 429):
            key = f"{label}-{status}"
            hooks[key] = bench_hooks(args.flows, body, status)
            print(f"observer hooks, {label} body, {status}: {hooks[key]:.1f} us per flow (median)")
    report = {"args": vars(args), "feed": feed, "hooks_us_per_flow": hooks}
    write_results("bench_observer", report)


if __name__ == "__main__":
    main()
