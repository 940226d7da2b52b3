"""The admin port: `/metrics` and `/healthz`, served on mitmproxy's own event loop."""

from __future__ import annotations

import asyncio
import logging
import socket

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from brownout.state import Brownout

log = logging.getLogger(__name__)


def build_app(state: Brownout) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=state.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


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
        asyncio.get_running_loop().create_task(self._serve(sock))

    async def _serve(self, sock: socket.socket) -> None:
        self._runner = web.AppRunner(build_app(self.state), access_log=None, handle_signals=False)
        await self._runner.setup()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._runner.server, sock=sock)  # type: ignore[arg-type]
        log.info("brownout: admin on http://%s:%s (/metrics, /healthz)", *self.address or ("?", 0))

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
