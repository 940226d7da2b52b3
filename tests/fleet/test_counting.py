"""Two real brownout proxies sharing one real redis-server, with the openai SDK as the client: a
`rate_limit` rule and a `times:` rule act as one provider across them, and the fallbacks count."""

from __future__ import annotations

import openai
import pytest

from brownout.cli.runner import RunningProxy
from brownout.fleet.counting import share
from brownout.fleet.counting import unshare
from brownout.fleet.fallbacks import Fallbacks
from brownout.fleet.link import RedisLink
from conftest import StartProxy
from fleet.replicas import replica_links  # noqa: F401 (a fixture)
from redis_server import redis_server  # noqa: F401 (a fixture)

MESSAGES = [{"role": "user", "content": "Say hello."}]
LIMITED = "name: limited\nrules:\n  - fault: {type: rate_limit, rpm: 6, burst: 3}\n"
TWICE = "name: twice\nrules:\n  - times: 2\n    fault: {type: error, kind: overloaded}\n"


def client(proxy: RunningProxy) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{proxy.url}/openai/v1", api_key="sk-test", max_retries=0)


async def fleet(start_proxy: StartProxy, links: list[RedisLink], scenario: str) -> list[RunningProxy]:
    proxies = [await start_proxy(scenario) for _ in range(2)]
    for proxy, link in zip(proxies, links, strict=False):
        share(proxy.state, link, Fallbacks(proxy.state.metrics.registry))
    name = scenario.split("\n")[0].removeprefix("name: ")
    # Switched on from one activation, as the fleet's shared switches have it.
    proxies[1].state.engine.epochs[name] = proxies[0].state.engine.epochs[name]
    return proxies


async def test_a_rate_limit_holds_for_the_fleet_with_the_shared_figures_in_its_headers(
    start_proxy: StartProxy,
    replica_links: list[RedisLink],  # noqa: F811
) -> None:
    a, b = await fleet(start_proxy, replica_links, LIMITED)
    remaining = []
    for proxy in (a, b, a):
        raw = await client(proxy).chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
        remaining.append(raw.headers["x-ratelimit-remaining-requests"])
    assert remaining == ["2", "1", "0"]  # one bucket for both proxies
    with pytest.raises(openai.RateLimitError) as refused:
        await client(b).chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert refused.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert int(refused.value.response.headers["retry-after"]) >= 9  # a tenth of a request a second
    metrics = b.state.metrics.render().decode()
    assert 'brownout_redis_fallbacks_total{shared="buckets"} 0.0' in metrics
    # Alone again, the proxy's own bucket, untouched so far, lets the next request through.
    unshare(b.state)
    await client(b).chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]


async def test_a_times_rule_fires_its_count_once_across_the_fleet(
    start_proxy: StartProxy,
    replica_links: list[RedisLink],  # noqa: F811
) -> None:
    a, b = await fleet(start_proxy, replica_links, TWICE)
    statuses = []
    for proxy in (a, b, a, b):
        try:
            await client(proxy).chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
            statuses.append(200)
        except openai.APIStatusError as error:
            statuses.append(error.status_code)
    assert statuses == [503, 503, 200, 200]
