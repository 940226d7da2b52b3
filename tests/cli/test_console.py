"""What `brownout run` prints while it works: switches, phases, one line per fault."""

import asyncio
import re

import httpx

from brownout.sim import SimServer
from conftest import ProxyProcess
from conftest import StartProcess
from conftest import free_port

SHORT_TIMELINE = """\
name: short-replay
rules:
  - {name: down, fault: {type: error, status: 500}}
timeline:
  phases:
    - {name: calm, duration: 1s, rules: []}
    - {name: storm, duration: 30s, rules: [down]}
"""


async def wait_for_line(proxy: ProxyProcess, pattern: str, since: int = 0, timeout: float = 10.0) -> str:
    """The first line matching `pattern` in the proxy's output from character `since` on."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = re.search(pattern, proxy.output()[since:], re.MULTILINE)
        if found:
            return found.group(0)
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no line matching {pattern!r} in:\n{proxy.output()}")
        await asyncio.sleep(0.05)


async def test_run_prints_switches_phases_and_faults(start_proxy_process: StartProcess, sim: SimServer) -> None:
    admin = free_port()
    proxy = await start_proxy_process(
        "--scenario",
        "incident-replay",
        "--admin-port",
        str(admin),
        "--upstream",
        f"openai={sim.url}/openai",
        scenario=SHORT_TIMELINE,
    )
    await wait_for_line(proxy, r"brownout: scenario incident-replay on$")
    await wait_for_line(proxy, rf"brownout \(routes by path prefix\) listening at 127.0.0.1:{proxy.port}.$")
    assert "unrouted" not in proxy.output()
    await wait_for_line(proxy, r"brownout: incident-replay: phase healthy \(1/4, 30s\)$")
    await wait_for_line(proxy, r"brownout: short-replay: phase calm \(1/2, 1s\)$")
    await wait_for_line(proxy, r"brownout: short-replay: phase storm \(2/2, \d+s\)$")
    # A state change carries a JSON type (the admin port refuses the ones a web page sends freely).
    json_type = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{admin}", headers=json_type) as control:
        assert (await control.post("/api/scenarios/incident-replay/deactivate")).status_code == 200
        await wait_for_line(proxy, r"brownout: scenario incident-replay off$")
        mark = len(proxy.output())
        assert (await control.post("/api/scenarios/incident-replay/activate")).status_code == 200
        await wait_for_line(proxy, r"brownout: scenario incident-replay on$", since=mark)
        await wait_for_line(proxy, r"brownout: incident-replay: phase healthy \(1/4, 30s\)$", since=mark)
    async with httpx.AsyncClient(base_url=proxy.url) as client:
        answer = await client.post(
            "/openai/v1/chat/completions",
            json={"model": "gpt-4o", "messages": []},
            headers={"user-agent": "OpenAI/Python 2.8.0"},
        )
    assert answer.status_code == 500
    line = await wait_for_line(proxy, r"brownout: fault .*$")
    assert re.fullmatch(
        r"brownout: fault openai-python openai/gpt-4o short-replay/down "
        r"error\(status=500.*\) -> answered 500 \(\d+\.\d\d s\)",
        line,
    ), line


async def test_the_fault_lines_switch_off(start_proxy_process: StartProcess, sim: SimServer) -> None:
    proxy = await start_proxy_process(
        "--no-fault-log",
        "--admin-port",
        "0",
        "--upstream",
        f"openai={sim.url}/openai",
        scenario="rules:\n  - fault: {type: error, status: 503}\n",
    )
    async with httpx.AsyncClient(base_url=proxy.url) as client:
        answer = await client.post("/openai/v1/chat/completions", json={"model": "gpt-4o", "messages": []})
    assert answer.status_code == 503
    await asyncio.sleep(0.3)
    assert "brownout: fault" not in proxy.output()


async def test_a_dead_upstream_prints_one_line_and_answers_at_once(start_proxy_process: StartProcess) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    proxy = await start_proxy_process("--admin-port", "0", "--upstream", f"anthropic={dead}/anthropic")
    async with httpx.AsyncClient(base_url=proxy.url) as client:
        for _ in range(3):
            started = asyncio.get_running_loop().time()
            answer = await client.post("/anthropic/v1/messages", json={"model": "claude-sonnet-5", "max_tokens": 8})
            assert asyncio.get_running_loop().time() - started < 2.0  # at once: not after the 10 s connect timeout
            assert answer.status_code == 502 and answer.headers["x-brownout"] == "upstream-error"
    await wait_for_line(proxy, rf"brownout: cannot reach upstream {dead} for anthropic \(refused: .*$")
    await asyncio.sleep(0.2)
    assert proxy.output().count("cannot reach upstream") == 1
