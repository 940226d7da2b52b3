"""`brownout_redis` end to end: in-process proxies on one real Redis, the official OpenAI client
through them, the admin API of one replica switching the others.

mitmproxy hands every connection to the master created last in a process (its `ctx.master` is
global), so traffic goes through the second replica only; the first is read through its own admin
API and state, which are its own. The three-process test (tests/e2e/test_e2e_fleet.py) sends
traffic through every replica."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from collections.abc import Callable

import aiohttp
import openai
import pytest
from mitmproxy import exceptions

from brownout.cli.runner import ProxySettings
from brownout.cli.runner import RunningProxy
from brownout.fleet.link import RedisLink
from conftest import StartProxy
from redis_server import RedisServer
from redis_server import redis_server  # noqa: F401 (a fixture)

OUTAGE = "name: fleet-outage\nrules:\n  - fault: {type: error, status: 503}\n"
# The same outage, counted in Redis (`times:`): every request touches the fleet's Redis.
COUNTED_OUTAGE = "name: fleet-outage\nrules:\n  - times: 1000\n    fault: {type: error, status: 503}\n"
YAML = {"Content-Type": "application/yaml"}
JSON = {"Content-Type": "application/json"}


def client_of(proxy: RunningProxy) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{proxy.url}/openai/v1", api_key="sk-test", max_retries=0)


async def chat_status(proxy: RunningProxy, client: openai.AsyncOpenAI | None = None) -> int:
    """One chat call's status, through `client` if given (a new one costs more than the call)."""
    if client is None:
        async with client_of(proxy) as own:
            return await chat_status(proxy, own)
    try:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=5
        )
    except openai.APIStatusError as error:
        return error.status_code
    return 200


async def metric(http: aiohttp.ClientSession, proxy: RunningProxy, name: str) -> float | None:
    async with http.get(proxy.admin_url + "/metrics") as response:
        text = await response.text()
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(found.group(1)) if found else None


WAIT = 5.0  # seconds a wait for the fleet gives up after: a deadline, not what is measured


async def until_read[T](read: Callable[[], Awaitable[T]], want: T, what: str, seconds: float = WAIT) -> None:
    """Poll `read` until it gives `want`; fail with what it gave last after `seconds`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while (got := await read()) != want:
        assert loop.time() - started < seconds, f"{what}: still {got!r}, not {want!r}, after {seconds} s"
        await asyncio.sleep(0.02)


async def until_status(proxy: RunningProxy, status: int, seconds: float = WAIT) -> float:
    """Poll chat calls (one client) until one answers `status`; the seconds from the call to the
    start of that request: it was in force by then, or at the latest while that request was handled."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with client_of(proxy) as client:
        while True:
            asked = loop.time()
            if (got := await chat_status(proxy, client)) == status:
                return asked - started
            assert loop.time() - started < seconds, f"still {got}, not {status}, after {seconds} s"
            await asyncio.sleep(0.02)


async def until_metric(http: aiohttp.ClientSession, proxy: RunningProxy, name: str, value: float) -> None:
    # Twice WAIT: a link coming up waits out its reconnect backoff, and each poll is a scrape.
    await until_read(lambda: metric(http, proxy, name), value, name, seconds=2 * WAIT)


async def two_replicas(start_proxy: StartProxy, url: str) -> tuple[RunningProxy, RunningProxy]:
    """Two proxies on one Redis, both linked up."""
    one = await start_proxy(extra_options={"brownout_redis": url})
    two = await start_proxy(extra_options={"brownout_redis": url})
    async with aiohttp.ClientSession() as http:
        for proxy in (one, two):
            await until_metric(http, proxy, "brownout_redis_up", 1.0)
    return one, two


async def upload_outage(http: aiohttp.ClientSession, proxy: RunningProxy, text: str = OUTAGE) -> None:
    """OUTAGE (or another text) uploaded and switched on through this replica's admin API."""
    async with http.post(f"{proxy.admin_url}/api/scenarios?activate=1", data=text, headers=YAML) as response:
        assert response.status == 201


async def outage_on_two_replicas(
    start_proxy: StartProxy, url: str, text: str = OUTAGE
) -> tuple[RunningProxy, RunningProxy]:
    """Two replicas; OUTAGE (or `text`) uploaded and switched on through the first, in force on the second."""
    one, two = await two_replicas(start_proxy, url)
    async with aiohttp.ClientSession() as http:
        await upload_outage(http, one, text)
    await until_status(two, 503)
    return one, two


async def until_active(proxy: RunningProxy, names: list[str], seconds: float = WAIT) -> None:
    """Wait until the replica's admin API says these scenarios are on."""
    async with aiohttp.ClientSession() as http:

        async def active() -> list[str]:
            async with http.get(f"{proxy.admin_url}/api/status") as response:
                return [a["name"] for a in (await response.json())["active"]]

        await until_read(active, names, "active scenarios", seconds)


async def assert_served_at_once(proxy: RunningProxy, status: int, requests: int = 10) -> None:
    """Requests answered from the replica's own state: nowhere near a Redis timeout each."""
    loop = asyncio.get_running_loop()
    async with client_of(proxy) as client:
        started = loop.time()
        for _ in range(requests):
            assert await chat_status(proxy, client) == status
        took = loop.time() - started
    # Waiting on Redis each would take `requests` command timeouts: 5 s. One such wait (the first
    # request to find a hung Redis) and the requests themselves fit well within 2.5 s.
    assert took < 2.5, f"{requests} requests took {took:.2f} s"


async def test_an_upload_switched_on_through_one_replica_is_in_force_on_the_other_within_a_second(
    start_proxy: StartProxy,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    one, two = await two_replicas(start_proxy, redis_server.url)
    async with aiohttp.ClientSession() as http:
        assert await chat_status(two) == 200
        await upload_outage(http, one)
        took = await until_status(two, 503, seconds=3.0)  # polls past the second to say how late
        assert took < 1.0, f"in force on the other replica after {took:.2f} s"
        async with http.get(f"{two.admin_url}/api/status") as response:
            assert [a["name"] for a in (await response.json())["active"]] == ["fleet-outage"]
        async with http.post(f"{two.admin_url}/api/scenarios/fleet-outage/deactivate", headers=JSON) as response:
            assert response.status == 200
        await until_active(one, [])


async def test_with_redis_down_a_replica_serves_its_last_state_and_says_so_then_rejoins(
    start_proxy: StartProxy,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    one, two = await outage_on_two_replicas(start_proxy, redis_server.url)
    async with aiohttp.ClientSession() as http:
        redis_server.stop(kill=True)
        await until_metric(http, two, "brownout_redis_up", 0.0)
        assert (await metric(http, two, "brownout_redis_errors_total") or 0) >= 1
        await assert_served_at_once(two, 503)
        async with http.post(f"{two.admin_url}/api/scenarios/fleet-outage/deactivate", headers=JSON) as response:
            assert response.status == 200  # applies here at once, shared once Redis is back
        async with http.get(f"{two.admin_url}/api/status") as response:
            fleet = (await response.json())["fleet"]
        assert fleet["up"] is False and fleet["unshared_changes"] == 1 and fleet["redis"] == redis_server.url
        await assert_served_at_once(two, 200)
        assert one.state.engine.active == ["fleet-outage"]  # its own last known state
        redis_server.start()
        await until_metric(http, two, "brownout_redis_up", 1.0)
        await until_active(one, [])  # the change made during the outage reached it
        async with http.post(f"{one.admin_url}/api/scenarios/fleet-outage/activate", headers=JSON) as response:
            assert response.status == 200
        await until_status(two, 503)  # and changes flow both ways again


async def test_no_request_waits_on_a_hung_redis(
    start_proxy: StartProxy,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    _, two = await outage_on_two_replicas(start_proxy, redis_server.url, COUNTED_OUTAGE)
    async with aiohttp.ClientSession() as http:
        assert await counter_fallbacks(http, two) == 0  # the requests so far were counted in Redis
        redis_server.pause()  # answers nothing, closes nothing
        try:
            # Each request's `times:` count goes to Redis: the first waits one command timeout,
            # the rest see the link down and count locally at once.
            await assert_served_at_once(two, 503)
            await until_metric(http, two, "brownout_redis_up", 0.0)
            assert await counter_fallbacks(http, two) == 10
        finally:
            redis_server.resume()
        await until_metric(http, two, "brownout_redis_up", 1.0)


async def counter_fallbacks(http: aiohttp.ClientSession, proxy: RunningProxy) -> float:
    async with http.get(proxy.admin_url + "/metrics") as response:
        text = await response.text()
    found = re.search(r'^brownout_redis_fallbacks_total\{shared="counters"\} (\S+)$', text, re.M)
    assert found, "no brownout_redis_fallbacks_total{shared=counters}"
    return float(found.group(1))


async def test_a_replica_whose_redis_is_down_at_start_serves_and_joins_when_it_comes(
    start_proxy: StartProxy,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    redis_server.stop()
    alone = await start_proxy(OUTAGE, extra_options={"brownout_redis": redis_server.url})
    async with aiohttp.ClientSession() as http:
        await until_metric(http, alone, "brownout_redis_up", 0.0)
        await assert_served_at_once(alone, 503)  # its own --scenario, served without Redis
        redis_server.start()
        await until_metric(http, alone, "brownout_redis_up", 1.0)
    link = alone.master.addons.get("fleet").link
    # Its start-up switch, noted while Redis was down, is the fleet's now.
    await until_shared(link, "fleet-outage")


async def until_shared(link: RedisLink, name: str, seconds: float = WAIT) -> None:
    async def shared() -> bool:
        return bool(await link.call(link.client.hexists(link.key("active"), name)))

    await until_read(shared, True, f"{name} shared", seconds)


async def test_without_redis_a_replica_is_alone_and_has_no_fleet_metrics(start_proxy: StartProxy) -> None:
    alone = await start_proxy()
    async with aiohttp.ClientSession() as http:
        assert await metric(http, alone, "brownout_redis_up") is None
    assert alone.master.addons.get("fleet").link is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:6379", "not a Redis URL"),
        ("redis://127.0.0.1:99999", "Port out of range"),
        ("redis://127.0.0.1/zero", "database must be a number"),
    ],
)
async def test_a_bad_redis_url_is_refused_at_start_with_its_reason(url: str, message: str) -> None:
    with pytest.raises(exceptions.OptionsError, match=f"brownout_redis: .*{message}"):
        RunningProxy(ProxySettings(port=0, admin_port=0, termlog=False, extra_options={"brownout_redis": url}))
