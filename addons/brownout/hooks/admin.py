"""The admin port: `/metrics`, `/healthz` and the control API, served on mitmproxy's own event loop.

Handlers run on the proxy's loop, so a switch is applied between two requests' hooks: every
request whose hooks run after the answer to `activate` sees the new state. Errors are JSON,
`{"error": message, "status": code}`, as Toxiproxy's API answers them.

Bound to loopback by default. Binding elsewhere needs a bearer token (`brownout_admin_token`,
`--admin-token` or `BROWNOUT_ADMIN_TOKEN`), which the `/api/` endpoints then require; `/metrics`
and `/healthz` stay open for scrapers and health checks.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import socket
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from brownout.control import actions as control
from brownout.engine.engine import UnknownScenario
from brownout.engine.state import Brownout
from brownout.scenario.yaml_lines import ScenarioError

log = logging.getLogger(__name__)

TOKEN_ENV = "BROWNOUT_ADMIN_TOKEN"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, "status": status, **extra}, status=status)


def build_app(state: Brownout, token: str = "") -> web.Application:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
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
            loaded = control.load_text(state, text, source, activate=_flag(request.query.get("activate")))
        except ScenarioError as exc:
            problems = [{"line": p.line, "key": p.key, "message": p.message} for p in exc.problems]
            return error(400, str(exc), problems=problems)
        answer = control.describe(state, loaded.scenario) | {"replaced": loaded.replaced}
        return web.json_response(answer, status=200 if loaded.replaced else 201)

    async def status(_: web.Request) -> web.Response:
        return web.json_response(control.status(state))

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
    return app


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes", "on")


class AdminServer:
    """Binds in a synchronous `running()` so a busy port is reported at once, and closes the
    listening socket synchronously in `done()` so a script reload can bind again."""

    def __init__(self, state: Brownout) -> None:
        self.state = state
        self.failed: OSError | None = None
        self.address: tuple[str, int] | None = None
        self._server: asyncio.Server | None = None
        self._runner: web.AppRunner | None = None

    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option("brownout_admin_port", int, 9180, "Admin port (/metrics, /healthz, control API); 0: off.")
        loader.add_option("brownout_admin_host", str, "127.0.0.1", "Address the admin port binds to.")
        loader.add_option(
            "brownout_admin_token",
            str,
            "",
            f"Bearer token the control API requires (default: ${TOKEN_ENV}); needed to bind a non-loopback address.",
        )

    @staticmethod
    def token() -> str:
        from mitmproxy import ctx

        return str(ctx.options.brownout_admin_token or os.environ.get(TOKEN_ENV, ""))

    def configure(self, updated: set[str]) -> None:
        from mitmproxy import ctx
        from mitmproxy import exceptions

        if updated & {"brownout_admin_host", "brownout_admin_token", "brownout_admin_port"}:
            host = ctx.options.brownout_admin_host
            if ctx.options.brownout_admin_port > 0 and not is_loopback(host) and not self.token():
                raise exceptions.OptionsError(
                    f"brownout: the admin port would accept control from the network on {host}; "
                    f"set an admin token (--admin-token, ${TOKEN_ENV} or brownout_admin_token) or bind 127.0.0.1"
                )

    def running(self) -> None:
        from mitmproxy import ctx

        port, host = ctx.options.brownout_admin_port, ctx.options.brownout_admin_host
        if port <= 0:
            return
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            self.failed = exc
            log.error("brownout: admin port %s:%s unavailable: %s", host, port, exc.strerror or exc)
            return
        sock.listen(128)
        sock.setblocking(False)
        self.address = sock.getsockname()[:2]
        asyncio.get_running_loop().create_task(self._serve(sock, self.token()))

    async def _serve(self, sock: socket.socket, token: str) -> None:
        self._runner = web.AppRunner(build_app(self.state, token), access_log=None, handle_signals=False)
        await self._runner.setup()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._runner.server, sock=sock)  # type: ignore[arg-type]
        log.info("brownout: admin on http://%s:%s (/metrics, /healthz, /api)", *self.address or ("?", 0))

    def done(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None:
            runner, self._runner = self._runner, None
            try:
                asyncio.get_running_loop().create_task(runner.cleanup())
            except RuntimeError:
                pass
