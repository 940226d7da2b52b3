"""The admin API, served by its aiohttp app alone (the proxy around it is in the end-to-end tests)."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient
from aiohttp.test_utils import TestServer
from mitmproxy import exceptions
from mitmproxy.test import taddons

from brownout.control.access import is_loopback
from brownout.control.api import build_app
from brownout.engine.state import Brownout
from brownout.hooks.admin import AdminServer
from brownout.scenario.compile import parse_scenario

OUTAGE = "name: outage\ndescription: All down.\nrules:\n  - fault: {type: error, status: 503}\n"
# What a state change must carry (a type a web page cannot send without asking first).
JSON = {"Content-Type": "application/json"}
YAML = {"Content-Type": "application/yaml"}
TIMED = """\
name: replay
rules:
  - {name: down, fault: {type: reset}}
timeline:
  phases:
    - {name: healthy, duration: 30s, rules: []}
    - {name: outage, rules: [down]}
"""


def loaded() -> Brownout:
    state = Brownout()
    for text in (OUTAGE, TIMED):
        state.load(parse_scenario(text))
    return state


@pytest.fixture
async def api() -> AsyncIterator[tuple[TestClient, Brownout]]:  # type: ignore[type-arg]
    state = loaded()
    async with TestClient(TestServer(build_app(state))) as client:
        yield client, state


async def test_list_switch_and_status(api: tuple[TestClient, Brownout]) -> None:  # type: ignore[type-arg]
    client, state = api
    listing = await (await client.get("/api/scenarios")).json()
    assert [(s["name"], s["active"], s["description"]) for s in listing] == [
        ("outage", False, "All down."),
        ("replay", False, ""),
    ]
    assert listing[1]["timeline"] == ["healthy", "outage"] and listing[1]["rules"] == ["down"]

    response = await client.post("/api/scenarios/outage/activate", headers=JSON)
    assert response.status == 200 and await response.json() == {"name": "outage", "active": True, "changed": True}
    assert state.engine.active == ["outage"]
    again = await (await client.post("/api/scenarios/outage/activate", headers=JSON)).json()
    assert again["changed"] is False
    await client.post("/api/scenarios/replay/activate", headers=JSON)

    status = await (await client.get("/api/status")).json()
    assert [a["name"] for a in status["active"]] == ["outage", "replay"]
    assert status["active"][0]["timeline"] is None
    timeline = status["active"][1]["timeline"]
    assert timeline["phase"] == "healthy" and timeline["index"] == 0 and 29 < timeline["remaining_seconds"] <= 30
    assert status["scenarios_loaded"] == 2 and status["errors"] == []
    assert status["counters"]["requests"] == 0

    off = await (await client.post("/api/scenarios/outage/deactivate", headers=JSON)).json()
    assert off == {"name": "outage", "active": False, "changed": True}
    assert await (await client.post("/api/clear", headers=JSON)).json() == {"deactivated": ["replay"]}
    assert state.engine.active == []
    switches = state.metrics.registry.get_sample_value(
        "brownout_scenario_switches_total", {"scenario": "outage", "action": "on"}
    )
    assert switches == 1


async def test_unknown_names_and_routes_are_json_errors(api: tuple[TestClient, Brownout]) -> None:  # type: ignore[type-arg]
    client, _ = api
    for path in ("/api/scenarios/nope/activate", "/api/scenarios/nope/deactivate"):
        response = await client.post(path, headers=JSON)
        assert response.status == 404
        assert await response.json() == {"error": "unknown scenario 'nope'; loaded: outage, replay", "status": 404}
    assert (await client.get("/api/scenarios/nope")).status == 404
    missing = await client.get("/api/nothing")
    assert missing.status == 404 and (await missing.json())["status"] == 404
    wrong = await client.delete("/api/clear", headers=JSON)
    assert wrong.status == 405 and await wrong.json() == {"error": "Method Not Allowed", "status": 405}


async def test_one_scenario_in_detail(api: tuple[TestClient, Brownout]) -> None:  # type: ignore[type-arg]
    client, _ = api
    detail = await (await client.get("/api/scenarios/replay")).json()
    assert detail["text"] == TIMED and detail["timeline_status"] is None  # off: no clock running


async def test_upload_validates_and_loads(api: tuple[TestClient, Brownout]) -> None:  # type: ignore[type-arg]
    client, state = api
    created = await client.post(
        "/api/scenarios?activate=1", data="name: fresh\nrules:\n  - fault: {type: reset}\n", headers=YAML
    )
    assert created.status == 201
    body = await created.json()
    assert (body["name"], body["active"], body["replaced"]) == ("fresh", True, False)
    assert state.engine.active == ["fresh"]
    # JSON is YAML too; a replaced scenario stays on.
    replaced = await client.post(
        "/api/scenarios", data='{"name": "fresh", "rules": [{"fault": {"type": "timeout"}}]}', headers=JSON
    )
    assert replaced.status == 200 and (await replaced.json())["replaced"] is True
    assert state.engine.is_active("fresh")
    # A file name given as the source names the scenario and the errors.
    named = await client.post(
        "/api/scenarios?source=my-outage.yaml", data="rules:\n  - fault: {type: reset}\n", headers=YAML
    )
    assert (await named.json())["name"] == "my-outage"


async def test_upload_rejects_with_file_line_and_key(api: tuple[TestClient, Brownout]) -> None:  # type: ignore[type-arg]
    client, state = api
    before = dict(state.engine.scenarios)
    response = await client.post(
        "/api/scenarios?source=mine.yaml",
        data="name: outage\nrules:\n  - fault: {type: error, status: 700}\n",
        headers=YAML,
    )
    assert response.status == 400
    body = await response.json()
    assert body["status"] == 400
    assert body["error"] == "mine.yaml:3: rules[0].fault.status: Input should be less than or equal to 599, got 700"
    assert body["problems"] == [
        {"line": 3, "key": "rules[0].fault.status", "message": "Input should be less than or equal to 599, got 700"}
    ]
    assert state.engine.scenarios == before  # nothing changed
    no_name = await client.post("/api/scenarios", data="rules:\n  - fault: {type: reset}\n", headers=YAML)
    assert no_name.status == 400 and "name: required key is missing" in (await no_name.json())["error"]
    binary = await client.post("/api/scenarios", data=b"\xff\xfe", headers=YAML)
    assert binary.status == 400 and (await binary.json())["error"] == "upload: not UTF-8 text"


DEEP = "rules:\n  - fault: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n"
BOMB = (
    "rules:\n  - fault: {type: reset}\n"
    + "l0: &l0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
    + "".join(f"l{n}: &l{n} [" + ",".join([f"*l{n - 1}"] * 9) + "]\n" for n in range(1, 10))
)


@pytest.mark.parametrize(
    "text,problem",
    [
        (DEEP, {"line": 2, "message": "nested more than 32 levels deep; a scenario needs a handful"}),
        (BOMB, {"line": 7, "key": "l4[0]"}),
        ("name: n\nrules:\n  - fault: {type: timeout, hang: .inf}\n", {"line": 3, "key": "rules[0].fault.hang"}),
    ],
    ids=["deep", "alias-bomb", "infinite-hang"],
)
async def test_a_hostile_upload_is_a_located_400(
    api: tuple[TestClient, Brownout],  # type: ignore[type-arg]
    text: str,
    problem: dict[str, object],
) -> None:
    client, state = api
    before = dict(state.engine.scenarios)
    started = asyncio.get_running_loop().time()
    response = await client.post("/api/scenarios?source=hostile.yaml", data=text, headers=YAML)
    # The loop was never held for long: an unbounded alias bomb would take hours, not seconds.
    assert asyncio.get_running_loop().time() - started < 2
    assert response.status == 400
    (found,) = (await response.json())["problems"]
    assert problem.items() <= found.items(), found
    assert state.engine.scenarios == before


@pytest.mark.parametrize(
    "source",
    ["..yaml", "x\r\nbrownout: forged.yaml", "nul\x00.yaml", "\u202eevil.yaml", "n" * 3000 + ".yaml"],
    ids=["dots", "crlf", "nul", "bidi", "3000-chars"],
)
async def test_the_source_query_cannot_smuggle_a_name(api: tuple[TestClient, Brownout], source: str) -> None:  # type: ignore[type-arg]
    client, state = api
    before = dict(state.engine.scenarios)
    response = await client.post(
        "/api/scenarios", params={"source": source}, data="rules:\n  - fault: {type: reset}\n", headers=YAML
    )
    assert response.status == 400
    error = (await response.json())["error"]
    assert "not a valid" in error and "\r" not in error and "\x00" not in error and "\u202e" not in error
    assert state.engine.scenarios == before
    assert "\r" not in state.metrics.render().decode()


async def test_token_guards_the_api_but_not_metrics_or_health() -> None:
    state = loaded()
    async with TestClient(TestServer(build_app(state, token="s3cret"))) as client:
        refused = await client.post("/api/scenarios/outage/activate", headers=JSON)
        assert refused.status == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await refused.json())["status"] == 401
        wrong = await client.get("/api/status", headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401
        assert state.engine.active == []
        ok = await client.post("/api/scenarios/outage/activate", headers={"Authorization": "Bearer s3cret", **JSON})
        assert ok.status == 200 and state.engine.active == ["outage"]
        assert (await client.get("/metrics")).status == 200
        assert (await client.get("/healthz")).status == 200


def test_metrics_show_the_timeline_phase() -> None:
    state = loaded()
    state.activate("replay")
    text = state.metrics.render().decode()
    assert 'brownout_timeline_phase{phase="healthy",scenario="replay"} 1.0' in text
    assert 'brownout_timeline_phase{phase="outage",scenario="replay"} 0.0' in text
    state.deactivate("replay")
    assert 'brownout_timeline_phase{phase="healthy",scenario="replay"} 0.0' in state.metrics.render().decode()


@pytest.mark.parametrize(
    "host,loopback", [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("10.1.2.3", False)]
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_public_admin_host_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROWNOUT_ADMIN_TOKEN", raising=False)
    admin = AdminServer(Brownout())
    with taddons.context(admin) as tctx:
        with pytest.raises(exceptions.OptionsError, match="would accept control from the network on 0.0.0.0"):
            tctx.configure(admin, brownout_admin_host="0.0.0.0")
        tctx.configure(admin, brownout_admin_host="0.0.0.0", brownout_admin_token="t0ken")
        assert admin.token() == "t0ken"
        with pytest.raises(exceptions.OptionsError):  # dropping the token while public is refused too
            tctx.configure(admin, brownout_admin_token="")
    monkeypatch.setenv("BROWNOUT_ADMIN_TOKEN", "from-env")
    with taddons.context(admin) as tctx:
        tctx.configure(admin, brownout_admin_host="0.0.0.0")  # the environment's token is enough
        assert admin.token() == "from-env"


def test_allowed_hosts_and_origins_come_from_the_options_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROWNOUT_ADMIN_HOSTS", "brownout, prometheus-target")
    monkeypatch.setenv("BROWNOUT_ADMIN_ORIGINS", "http://localhost:3000")
    admin = AdminServer(Brownout())
    with taddons.context(admin) as tctx:
        access = admin.access()
        assert access.hosts == ("brownout", "prometheus-target") and access.origins == ("http://localhost:3000",)
        tctx.configure(admin, brownout_admin_hosts=["metrics.internal"], brownout_admin_origins=["https://ops.example"])
        access = admin.access()
        assert access.hosts == ("metrics.internal",) and access.origins == ("https://ops.example",)
        assert access.bind_host == "127.0.0.1"


async def test_a_large_upload_is_parsed_off_the_loop(api: tuple[TestClient, Brownout]) -> None:  # type: ignore[type-arg]
    """A scenario near the loader's limits takes a while to validate; meanwhile the loop serves
    (here /healthz, as it would the proxy's requests): the probe sent after the upload has
    started answers before the upload does."""
    client, state = api
    rules = "".join(
        f"  - name: r{i}\n    match: {{model: m{i}}}\n    fault: {{type: error, status: 503}}\n" for i in range(700)
    )
    text = f"name: big\nrules:\n{rules}"
    finished: list[str] = []

    async def upload() -> None:
        response = await client.post("/api/scenarios?source=big.yaml", data=text, headers=YAML)
        assert response.status == 201, await response.text()
        finished.append("upload")

    async def probe() -> None:
        await asyncio.sleep(0.05)  # the upload's body is in and its parse under way
        assert (await client.get("/healthz")).status == 200
        finished.append("probe")

    await asyncio.gather(upload(), probe())
    assert finished == ["probe", "upload"]
    assert "big" in state.engine.scenarios
