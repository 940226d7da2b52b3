"""A mitmproxy user's own mitmdump with brownout loaded from one file, as the README shows."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai

from brownout.sim import SimServer
from conftest import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "addons" / "brownout_addon.py"
MITMDUMP = Path(sys.executable).parent / "mitmdump"


@contextmanager
def mitmdump(tmp_path: Path, *args: str) -> Iterator[int]:
    """mitmdump with brownout's addons in reverse mode on a free port; yields the port."""
    port = free_port()
    with (tmp_path / "mitmdump.log").open("w") as log:
        process = subprocess.Popen(
            [str(MITMDUMP), "-q", "-s", str(SCRIPT), "--set", "brownout_admin_port=0",
             "--set", f"confdir={tmp_path}", *(a.replace("PORT", str(port)) for a in args)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield port
    finally:
        process.terminate()
        process.wait(10)


async def first_answer(client: httpx.AsyncClient, path: str, body: dict[str, object]) -> httpx.Response:
    for _ in range(150):
        try:
            return await client.post(path, json=body)
        except httpx.ConnectError:
            await asyncio.sleep(0.1)
    raise TimeoutError("mitmdump did not listen in time")


async def test_mitmdump_users_load_one_file(sim: SimServer, tmp_path: Path) -> None:
    """`mitmdump -s addons/brownout_addon.py` gives a mitmproxy user the same proxy."""
    (tmp_path / "s.yaml").write_text("rules:\n  - match: {model: x}\n    fault: {type: error, kind: overloaded}\n")
    mode = f"reverse:{sim.url}@127.0.0.1:PORT"
    with mitmdump(tmp_path, "--mode", mode, "--set", f"brownout_scenarios={tmp_path / 's.yaml'}") as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            # In the user's own reverse mode, the path and the upstream are the user's.
            ok = await first_answer(client, "/openai/v1/chat/completions", {"model": "gpt-4o", "messages": []})
            assert ok.status_code == 200
            hit = await client.post("/openai/v1/chat/completions", json={"model": "x", "messages": []})
            assert hit.status_code == 503 and hit.json()["error"]["code"] == "server_is_overloaded"


async def test_in_front_of_the_simulator_library_scenarios_fire(sim: SimServer, tmp_path: Path) -> None:
    """The README's recipe: `brownout_providers` says the simulator's /openai is OpenAI, so a
    provider scenario from the library (`match: {provider: openai}`) fires there."""
    sim_address = sim.url.removeprefix("http://")
    args = (
        "--mode", f"reverse:{sim.url}@127.0.0.1:PORT",
        "--set", f"brownout_providers={sim_address}/openai=openai",
        "--set", "brownout_scenarios=openai-total-outage",
    )  # fmt: skip
    with mitmdump(tmp_path, *args) as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await first_answer(client, "/healthz", {})
        gpt = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/openai/v1", api_key="sk-test", max_retries=0)
        for _ in range(3):
            try:
                await gpt.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            except (openai.InternalServerError, openai.APIConnectionError):
                continue
            raise AssertionError("openai-total-outage did not fire: the request was not told to be OpenAI's")
        await gpt.close()
