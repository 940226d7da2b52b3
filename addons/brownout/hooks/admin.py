"""The admin port (`brownout.control.api`: `/metrics`, `/healthz`, the control API), served on
mitmproxy's own event loop.

Bound to loopback by default. Binding elsewhere needs a bearer token (`brownout_admin_token`,
`--admin-token` or `BROWNOUT_ADMIN_TOKEN`), which the `/api/` endpoints then require; `/metrics`
and `/healthz` stay open for scrapers and health checks. Whatever the address, a request must name
it in its `Host` (or a name in `brownout_admin_hosts`), and a state change must come with a JSON or
YAML content type and no `Origin` but one in `brownout_admin_origins` (`brownout.control.access`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence

from aiohttp import web

from brownout.control.access import Access
from brownout.control.access import is_loopback
from brownout.control.api import build_app
from brownout.engine.state import Brownout

log = logging.getLogger(__name__)

TOKEN_ENV = "BROWNOUT_ADMIN_TOKEN"
HOSTS_ENV = "BROWNOUT_ADMIN_HOSTS"
ORIGINS_ENV = "BROWNOUT_ADMIN_ORIGINS"


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
        loader.add_option(
            "brownout_admin_hosts",
            Sequence[str],
            [],
            "Names the admin port answers to besides its own address, as NAME or NAME:PORT ('*': any), "
            f"e.g. a service name Prometheus scrapes (default: ${HOSTS_ENV}, comma-separated).",
        )
        loader.add_option(
            "brownout_admin_origins",
            Sequence[str],
            [],
            "Browser origins (scheme://host[:port]) allowed to change state through the admin port "
            f"(default: ${ORIGINS_ENV}, comma-separated; none: no web page may).",
        )

    @staticmethod
    def token() -> str:
        from mitmproxy import ctx

        return str(ctx.options.brownout_admin_token or os.environ.get(TOKEN_ENV, ""))

    @staticmethod
    def access() -> Access:
        from mitmproxy import ctx

        return Access.of(
            ctx.options.brownout_admin_host,
            _listed(ctx.options.brownout_admin_hosts, HOSTS_ENV),
            _listed(ctx.options.brownout_admin_origins, ORIGINS_ENV),
        )

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
        asyncio.get_running_loop().create_task(self._serve(sock, self.token(), self.access()))

    async def _serve(self, sock: socket.socket, token: str, access: Access) -> None:
        app = build_app(self.state, token, access)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
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


def _listed(values: Sequence[str], env: str) -> list[str]:
    """An option's values, or else the environment variable's comma-separated ones."""
    return list(values) if values else [v for v in os.environ.get(env, "").split(",") if v.strip()]
