"""Live control end to end: a real in-process proxy, the simulator behind it, traffic through it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from brownout.cli.runner import ProxySettings
from brownout.cli.runner import RunningProxy
from brownout.sim import SimConfig
from brownout.sim import SimServer
from conftest import free_port

OUTAGE = "name: outage\ndescription: every call fails\nrules:\n  - fault: {type: error, status: 503}\n"
# What a state change must carry: a type a web page cannot send without a preflight.
JSON = {"Content-Type": "application/json"}
YAML = {"Content-Type": "application/yaml"}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


@dataclass
class Stack:
    sim: SimServer
    proxy: RunningProxy
    http: aiohttp.ClientSession

    @property
    def chat_url(self) -> str:
        return f"{self.proxy.url}/openai/v1/chat/completions"

    async def chat(self, **headers: str) -> int:
        async with self.http.post(self.chat_url, json=CHAT, headers=headers) as response:
            await response.read()
            return response.status

    async def api(self, method: str, path: str) -> tuple[int, object]:
        headers = {} if method == "GET" else JSON
        async with self.http.request(method, self.proxy.admin_url + path, headers=headers) as response:
            return response.status, await response.json()


async def start(tmp_path: Path, scenarios: list[str] | None = None) -> AsyncIterator[Stack]:
    library = tmp_path / "library"
    library.mkdir(exist_ok=True)
    (library / "outage.yaml").write_text(OUTAGE)
    async with SimServer(SimConfig(tokens_per_second=0, reply_tokens=5)) as sim:
        settings = ProxySettings(
            port=0,
            admin_port=free_port(),
            upstreams=[f"openai={sim.url}/openai"],
            library=str(library),
            scenarios=scenarios or [],
            termlog=False,
        )
        async with RunningProxy(settings) as proxy:
            timeout = aiohttp.ClientTimeout(total=10)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                yield Stack(sim, proxy, http)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async for value in start(tmp_path):
        yield value


@dataclass
class Shot:
    sent: float
    done: float
    status: int | str


@dataclass
class Switch:
    called: float
    answered: float
    on: bool


async def test_switching_every_second_under_load_loses_and_hangs_nothing(stack: Stack) -> None:
    rate, seconds = 100, 5.0
    shots: list[Shot] = []
    switches: list[Switch] = []

    async def one() -> None:
        sent = time.monotonic()
        try:
            status: int | str = await asyncio.wait_for(stack.chat(), timeout=5)
        except Exception as exc:  # a lost or hung request is a failure, recorded to be reported
            status = type(exc).__name__
        shots.append(Shot(sent, time.monotonic(), status))

    async def load() -> None:
        start = time.monotonic()
        tasks = []
        for index in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)

    async def switcher() -> None:
        on = False
        for _ in range(int(seconds)):
            await asyncio.sleep(1.0 if switches else 0.5)
            on = not on
            called = time.monotonic()
            status, body = await stack.api("POST", f"/api/scenarios/outage/{'activate' if on else 'deactivate'}")
            assert status == 200 and body == {"name": "outage", "active": on, "changed": True}
            switches.append(Switch(called, time.monotonic(), on))

    await asyncio.wait_for(asyncio.gather(load(), switcher()), timeout=30)

    assert len(shots) == rate * seconds
    failed = [shot.status for shot in shots if shot.status not in (200, 503)]
    assert failed == [], f"{len(failed)} requests lost or hung: {failed[:5]}"
    assert max(shot.done - shot.sent for shot in shots) < 5

    # Every request sent after a switch was answered, and finished before the next switch
    # began, saw the state that switch set.
    checked = 0
    windows = [(0.0, False), *((s.answered, s.on) for s in switches)]
    for index, (after, on) in enumerate(windows):
        before = switches[index].called if index < len(switches) else float("inf")
        for shot in shots:
            if after < shot.sent and shot.done < before:
                checked += 1
                assert shot.status == (503 if on else 200), (index, on, shot)
    assert checked > 0.8 * len(shots)
    assert {shot.status for shot in shots} == {200, 503}
    metrics = stack.proxy.state.metrics.registry
    assert metrics.get_sample_value("brownout_scenario_switches_total", {"scenario": "outage", "action": "on"}) == 3


async def test_per_request_override_header(stack: Stack) -> None:
    assert await stack.chat() == 200
    assert await stack.chat(**{"x-brownout-scenario": "outage"}) == 503
    assert await stack.chat() == 200  # for that request alone
    async with stack.http.post(stack.chat_url, json=CHAT, headers={"x-brownout-scenario": "nope"}) as response:
        assert response.status == 400
        assert (
            "x-brownout-scenario: unknown scenario 'nope'; loaded: outage"
            in (await response.json())["error"]["message"]
        )


async def test_timeline_phases_follow_the_clock_in_status_and_metrics(stack: Stack) -> None:
    timed = (
        "name: replay\nrules:\n  - {name: down, fault: {type: error, status: 503}}\n"
        "timeline:\n  phases:\n    - {name: healthy, duration: 1.5s, rules: []}\n    - {name: outage, rules: [down]}\n"
    )
    upload = stack.proxy.admin_url + "/api/scenarios?activate=1"
    uploaded = time.monotonic()
    async with stack.http.post(upload, data=timed, headers=YAML) as response:
        assert response.status == 201
    assert await stack.chat() == 200
    _, status = await stack.api("GET", "/api/status")
    assert status["active"][0]["timeline"]["phase"] == "healthy"  # type: ignore[index]
    # The outage comes when the healthy phase's 1.5 s are over: not before, and soon after.
    while await stack.chat() != 503:
        assert time.monotonic() - uploaded < 5, "the timeline never reached its outage"
        await asyncio.sleep(0.05)
    assert time.monotonic() - uploaded >= 1.5
    _, status = await stack.api("GET", "/api/status")
    assert status["active"][0]["timeline"]["phase"] == "outage"  # type: ignore[index]
    async with stack.http.get(stack.proxy.admin_url + "/metrics") as response:
        text = await response.text()
    assert 'brownout_timeline_phase{phase="outage",scenario="replay"} 1.0' in text


async def test_hot_reload_applies_valid_edits_and_keeps_the_last_good_one(tmp_path: Path) -> None:
    scenario = tmp_path / "storm.yaml"
    scenario.write_text("rules:\n  - fault: {type: error, status: 503}\n")
    async for stack in start(tmp_path, scenarios=[str(scenario)]):
        assert await stack.chat() == 503
        scenario.write_text("rules:\n  - fault: {type: error, status: 500}\n")
        edited = time.monotonic()
        while await stack.chat() != 500:
            # It takes about 0.2 s (the watcher's debounce); room for a loaded machine.
            assert time.monotonic() - edited < 2.0, "the edit did not apply within two seconds"
            await asyncio.sleep(0.02)

        scenario.write_text("rules:\n  - fault: {type: error, status: 500, retry_after: later}\n")
        deadline = time.monotonic() + 2
        while True:
            _, status = await stack.api("GET", "/api/status")
            if status["errors"]:  # type: ignore[index]
                break
            assert time.monotonic() < deadline, "the broken edit was not reported"
            await asyncio.sleep(0.05)
        error = status["errors"][0]  # type: ignore[index]
        assert error["file"] == str(scenario)
        assert error["error"].startswith(f"{scenario}:2: rules[0].fault.retry_after: expected a duration")
        assert await stack.chat() == 500  # the last good version still runs
        assert [a["name"] for a in status["active"]] == ["storm"]  # type: ignore[index]
        registry = stack.proxy.state.metrics.registry
        assert registry.get_sample_value("brownout_scenario_reload_errors_total", {"file": str(scenario)}) == 1
        assert registry.get_sample_value("brownout_scenario_file_ok", {"file": str(scenario)}) == 0

        # A new file in the library is loaded, switched off.
        (tmp_path / "library" / "fresh.yaml").write_text("rules:\n  - fault: {type: reset}\n")
        deadline = time.monotonic() + 2
        while "fresh" not in stack.proxy.state.engine.scenarios:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert not stack.proxy.state.engine.is_active("fresh")


async def test_public_admin_host_without_token_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mitmproxy import exceptions

    monkeypatch.delenv("BROWNOUT_ADMIN_TOKEN", raising=False)
    settings = ProxySettings(port=0, admin_port=free_port(), admin_host="0.0.0.0", termlog=False, library=str(tmp_path))
    with pytest.raises(exceptions.OptionsError, match="set an admin token"):
        RunningProxy(settings)


async def test_token_protected_admin(tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    (library / "outage.yaml").write_text(OUTAGE)
    settings = ProxySettings(port=0, admin_port=free_port(), admin_token="s3cret", library=str(library), termlog=False)
    async with RunningProxy(settings) as proxy, aiohttp.ClientSession() as http:
        async with http.post(proxy.admin_url + "/api/scenarios/outage/activate", headers=JSON) as response:
            assert response.status == 401
        headers = {"Authorization": "Bearer s3cret", **JSON}
        async with http.post(proxy.admin_url + "/api/scenarios/outage/activate", headers=headers) as response:
            assert response.status == 200
            assert json.loads(await response.text())["active"] is True


# What a browser sends when a page on another site posts to the admin port (a form or a no-cors
# fetch): a safelisted content type, its own origin, and the Sec-Fetch headers.
BROWSER = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Content-Type": "text/plain;charset=UTF-8",
    "Origin": "http://attacker.example",
    "Referer": "http://attacker.example/",
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "no-cors",
    "Accept": "*/*",
}
TAKEOVER = "name: takeover\nrules:\n  - fault: {type: error, status: 503}\n"


async def test_a_web_page_cannot_upload_or_switch_scenarios(stack: Stack) -> None:
    engine = stack.proxy.state.engine
    before = dict(engine.scenarios)
    admin = stack.proxy.admin_url
    async with stack.http.post(f"{admin}/api/scenarios?activate=1", data=TAKEOVER, headers=BROWSER) as response:
        assert response.status == 403
        refusal = await response.json()
    assert refusal["status"] == 403
    assert refusal["error"].startswith("Origin 'http://attacker.example' may not change the proxy's state")
    # The same page without an Origin (an older browser, a form through a redirect) still sends a
    # content type that needs no preflight.
    plain = {k: v for k, v in BROWSER.items() if k not in ("Origin", "Referer")}
    for path in ("/api/scenarios?activate=1", "/api/scenarios/outage/activate", "/api/clear"):
        async with stack.http.post(admin + path, data=TAKEOVER, headers=plain) as response:
            assert response.status == 415, path
            message = (await response.json())["error"]
            assert "needs Content-Type: application/json" in message, message
    # What a page's fetch with a JSON type would need first: a preflight, which gets no approval.
    preflight = {
        "Origin": "http://attacker.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    async with stack.http.options(f"{admin}/api/scenarios/outage/activate", headers=preflight) as response:
        assert response.status >= 400
        assert not [name for name in response.headers if name.lower().startswith("access-control-")]
    assert engine.scenarios == before and engine.active == []
    assert await stack.chat() == 200  # nothing changed for the traffic either
    # ctl's kind of request goes through: a JSON type and no Origin.
    status, body = await stack.api("POST", "/api/scenarios/outage/activate")
    assert status == 200 and body == {"name": "outage", "active": True, "changed": True}


async def test_a_rebinding_host_is_refused_for_every_endpoint(stack: Stack) -> None:
    port = stack.proxy.admin_url.rsplit(":", 1)[1]
    rebound = {"Host": f"rebind.attacker.example:{port}"}
    for path in ("/api/status", "/api/report", "/api/scenarios", "/metrics", "/healthz"):
        async with stack.http.get(stack.proxy.admin_url + path, headers=rebound) as response:
            assert response.status == 403, path
            message = (await response.json())["error"]
            assert message.startswith(f"Host 'rebind.attacker.example:{port}' is not this admin port's address")
    # The page's own origin is the rebound name: same-origin to the browser, still refused.
    same_site = {**rebound, **JSON, "Origin": f"http://rebind.attacker.example:{port}"}
    async with stack.http.post(stack.proxy.admin_url + "/api/clear", headers=same_site) as response:
        assert response.status == 403
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        async with stack.http.get(stack.proxy.admin_url + "/api/status", headers={"Host": host}) as response:
            assert response.status == 200, host


async def test_allowed_hosts_and_origins(tmp_path: Path) -> None:
    extra = {"brownout_admin_hosts": ["brownout"], "brownout_admin_origins": ["http://localhost:3000"]}
    settings = ProxySettings(port=0, admin_port=free_port(), library=str(tmp_path), termlog=False, extra_options=extra)
    async with RunningProxy(settings) as proxy, aiohttp.ClientSession() as http:
        port = proxy.admin_url.rsplit(":", 1)[1]
        async with http.get(proxy.admin_url + "/metrics", headers={"Host": f"brownout:{port}"}) as response:
            assert response.status == 200
        page = {"Origin": "http://localhost:3000", **JSON}
        async with http.post(proxy.admin_url + "/api/clear", headers=page) as response:
            assert response.status == 200
        async with http.post(proxy.admin_url + "/api/clear", headers={**page, "Origin": "http://localhost:3001"}) as r:
            assert r.status == 403
