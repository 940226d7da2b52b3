"""The admin port's HTTP API: `/metrics`, `/healthz` and the control API, as an aiohttp app.

Handlers run on the proxy's loop (the `hooks.admin` addon serves the app there), so a switch is
applied between two requests' hooks: every request whose hooks run after the answer to
`activate` sees the new state. Errors are JSON, `{"error": message, "status": code}`, as
Toxiproxy's API answers them. Every request's `Host` must name the admin port, and a state
change needs a JSON or YAML content type and no foreign `Origin` (`control.access`: what a web
page in a browser cannot send). With a token, the `/api/` endpoints require it as a bearer token;
`/metrics` and `/healthz` stay open for scrapers and health checks.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from brownout.control import actions as control
from brownout.control.access import Access
from brownout.control.access import content_type_problem
from brownout.control.access import is_state_change
from brownout.engine.engine import UnknownScenario
from brownout.engine.state import Brownout
from brownout.report.build import build as build_report
from brownout.scenario.yaml_lines import ScenarioError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, "status": status, **extra}, status=status)


def browser_problem(request: web.Request, access: Access) -> web.Response | None:
    """The refusal of a request a web page could have sent (see `control.access`), or None."""
    host = request.headers.get("Host")
    problem = access.host_problem(host, _local_port(request))
    if problem:
        return error(403, problem)
    if not is_state_change(request.method):
        return None
    problem = access.origin_problem(request.headers.get("Origin"), host)
    if problem:
        return error(403, problem)
    problem = content_type_problem(request.headers.get("Content-Type"))
    if problem:
        return error(415, problem)
    return None


def _local_port(request: web.Request) -> int:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return int(sockname[1]) if isinstance(sockname, tuple) and len(sockname) >= 2 else 0


def build_app(state: Brownout, token: str = "", access: Access | None = None) -> web.Application:
    """The admin app; `access` says which hosts and origins it takes besides its own (default:
    bound to loopback, nothing else)."""
    access = access or Access()

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        refused = browser_problem(request, access)
        if refused is not None:
            return refused
        if token and request.path.startswith("/api/"):
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                response = error(401, "missing or wrong bearer token (Authorization: Bearer <admin token>)")
                response.headers["WWW-Authenticate"] = 'Bearer realm="brownout"'
                return response
        try:
            return await handler(request)
        except web.HTTPException as exc:  # aiohttp's own 404/405/413 as JSON too
            return error(exc.status, exc.reason)
        except Exception:
            log.exception("brownout: admin API failed on %s %s", request.method, request.path)
            return error(500, "internal error; see the proxy's log")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=state.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        if state.draining:  # a readiness probe takes this replica out of the Service while it drains
            return web.json_response({"status": "draining"}, status=503)
        return web.json_response({"status": "ok"})

    async def scenarios(_: web.Request) -> web.Response:
        return web.json_response(control.list_scenarios(state))

    async def scenario(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        found = state.engine.scenarios.get(name)
        if found is None:
            return _unknown(name)
        detail = {"timeline_status": control.timeline_status(state, name), "text": found.text}
        return web.json_response(control.describe(state, found) | detail)

    def switch(action: Callable[[str], bool], active: bool) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            name = request.match_info["name"]
            try:
                changed = action(name)
            except UnknownScenario:
                return _unknown(name)
            return web.json_response({"name": name, "active": active, "changed": changed})

        return handle

    async def clear(_: web.Request) -> web.Response:
        return web.json_response({"deactivated": state.clear()})

    async def upload(request: web.Request) -> web.Response:
        raw = await request.read()
        source = request.query.get("source") or "upload"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return error(400, f"{source}: not UTF-8 text")
        try:
            # Parsed in a thread (bounded, but up to about half a second at the limits); loaded
            # back on the loop, between two requests' hooks.
            scenario = await asyncio.to_thread(control.parse_text, text, source)
            loaded = control.install(state, scenario, source, activate=_flag(request.query.get("activate")))
        except ScenarioError as exc:
            problems = [{"line": p.line, "key": p.key, "message": p.message} for p in exc.problems]
            return error(400, str(exc), problems=problems)
        answer = control.describe(state, loaded.scenario) | {"replaced": loaded.replaced}
        return web.json_response(answer, status=200 if loaded.replaced else 201)

    async def status(_: web.Request) -> web.Response:
        return web.json_response(control.status(state))

    async def report(_: web.Request) -> web.Response:
        # Replaying a long run takes a while: not on the proxy's loop.
        return web.json_response(await asyncio.to_thread(build_report, state.record.snapshot()))

    def _unknown(name: str) -> web.Response:
        return error(404, str(UnknownScenario(name, sorted(state.engine.scenarios))))

    app = web.Application(middlewares=[guard])
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/scenarios", scenarios)
    app.router.add_post("/api/scenarios", upload)
    app.router.add_get("/api/scenarios/{name}", scenario)
    app.router.add_post("/api/scenarios/{name}/activate", switch(state.activate, True))
    app.router.add_post("/api/scenarios/{name}/deactivate", switch(state.deactivate, False))
    app.router.add_post("/api/clear", clear)
    app.router.add_get("/api/status", status)
    app.router.add_get("/api/report", report)
    return app


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes", "on")
