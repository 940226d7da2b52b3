"""The admin port (`brownout.control.api`: `/metrics`, `/healthz`, the control API), served on
mitmproxy's own event loop.

Bound to loopback by default. Binding elsewhere needs a bearer token (`brownout_admin_token`,
`--admin-token` or `BROWNOUT_ADMIN_TOKEN`), which the `/api/` endpoints then require; `/metrics`
and `/healthz` stay open for scrapers and health checks.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from aiohttp import web

from brownout.control.api import build_app
from brownout.control.api import is_loopback
from brownout.engine.state import Brownout

log = logging.getLogger(__name__)

TOKEN_ENV = "BROWNOUT_ADMIN_TOKEN"


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
