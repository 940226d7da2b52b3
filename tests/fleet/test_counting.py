"""The shared counts wired in by `--redis` (`brownout_redis`), end to end: real in-process proxies
on one real redis-server, the official OpenAI client through them.

mitmproxy hands every connection to the master created last in a process, so client traffic
goes through the last proxy started; another replica acts through its own state (its engine, or
a take from the same shared bucket), as a separate process would."""

from __future__ import annotations

import aiohttp
import openai
import pytest

from brownout.classify.request import RequestInfo
from brownout.cli.runner import RunningProxy
from brownout.faults.rate_limit.fault import RateLimitFault
from brownout.fleet.buckets import RedisBuckets
from brownout.fleet.fallbacks import Fallbacks
from brownout.fleet.link import RedisLink
from conftest import StartProxy
from fleet.replicas import until
from redis_server import RedisServer
from redis_server import redis_server  # noqa: F401 (a fixture)

MESSAGES = [{"role": "user", "content": "Say hello."}]
LIMITED = "name: limited\nrules:\n  - fault: {type: rate_limit, rpm: 6, burst: 3}\n"
TWICE = "name: twice\nrules:\n  - times: 2\n    fault: {type: error, kind: overloaded}\n"


def client(proxy: RunningProxy) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{proxy.url}/openai/v1", api_key="sk-test", max_retries=0)


async def linked(start_proxy: StartProxy, url: str, *scenarios: str) -> RunningProxy:
    proxy = await start_proxy(*scenarios, extra_options={"brownout_redis": url})
    await until(lambda: proxy.state.fleet is not None and proxy.state.fleet()["up"] is True)
    return proxy


async def test_a_proxys_rate_limit_takes_from_the_fleets_bucket_and_reports_its_figures(
    start_proxy: StartProxy,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    proxy = await linked(start_proxy, redis_server.url, LIMITED)
    # Another replica's copy of the same rule takes from the same bucket: the rule's place, the model.
    link = RedisLink(redis_server.url)
    await link.start()
    await until(lambda: link.up)
    other = RedisBuckets(link, Fallbacks())
    limits = RateLimitFault(rpm=6, burst=3).limiter.limits
    remaining = []
    for other_takes in (False, True):
        if other_takes:
            taken = await other.admit("limited:0:model:gpt-4o", limits, 0)
            assert taken is not None and taken.allowed
        raw = await client(proxy).chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
        remaining.append(raw.headers["x-ratelimit-remaining-requests"])
    assert remaining == ["2", "0"]  # the other replica's take came in between
    with pytest.raises(openai.RateLimitError) as refused:
        await client(proxy).chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert refused.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert int(refused.value.response.headers["retry-after"]) >= 9  # a tenth of a request a second
    metrics = proxy.state.metrics.render().decode()
    assert 'brownout_redis_fallbacks_total{shared="buckets"} 0.0' in metrics
    await link.close()


async def test_a_times_rule_fires_its_count_once_across_two_replicas(
    start_proxy: StartProxy,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    one = await linked(start_proxy, redis_server.url)
    two = await linked(start_proxy, redis_server.url)
    async with aiohttp.ClientSession() as http:
        upload = f"{one.admin_url}/api/scenarios?activate=1"
        async with http.post(upload, data=TWICE, headers={"Content-Type": "application/yaml"}) as response:
            assert response.status == 201
    await until(lambda: two.state.engine.is_active("twice") and "twice" in two.state.engine.epochs)
    # Both replicas count under the fleet's activation of it, whichever switched it on.
    await until(lambda: one.state.engine.epochs.get("twice") == two.state.engine.epochs.get("twice"))
    info = RequestInfo("openai", "chat", "gpt-4o", False, "openai-python", "k")
    assert await one.state.engine.decide(info) is not None  # the first firing, on replica one
    statuses = []
    for _ in range(3):
        try:
            await client(two).chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
            statuses.append(200)
        except openai.APIStatusError as error:
            statuses.append(error.status_code)
    assert statuses == [503, 200, 200]  # the second and last firing, on replica two
    assert await one.state.engine.decide(info) is None
