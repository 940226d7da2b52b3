"""Run brownout's mitmproxy in this process: for `brownout run`, the demo and the tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from mitmproxy import addons
from mitmproxy import master
from mitmproxy import options
from mitmproxy.addons import errorcheck

from brownout.cli.stopping import Stopping
from brownout.engine.state import Brownout
from brownout.hooks.admin import AdminServer
from brownout.hooks.bundle import Bundle
from brownout.hooks.drain import Drain
from brownout.hooks.router import UNROUTED

log = logging.getLogger(__name__)


@dataclass
class ProxySettings:
    listen_host: str = "127.0.0.1"
    port: int = 8080
    admin_host: str = "127.0.0.1"
    admin_port: int = 9180
    admin_token: str = ""
    watch: bool = True
    forward_port: int | None = None
    upstreams: list[str] = field(default_factory=list)
    scenarios: list[str] = field(default_factory=list)
    library: str = ""
    record: str = ""  # write the run's record here (JSON lines)
    termlog: bool = True
    verbosity: str = "info"
    # mitmproxy's errorcheck exits the process when anything logged an error during start-up:
    # right for `brownout run`, wrong for a proxy embedded in a test run or the demo.
    exit_on_startup_error: bool = True
    extra_options: dict[str, Any] = field(default_factory=dict)

    def modes(self) -> list[str]:
        modes = [f"reverse:{UNROUTED}@{self.listen_host}:{self.port}"]
        if self.forward_port is not None:
            modes.append(f"regular@{self.listen_host}:{self.forward_port}")
        return modes


# mitmproxy's default addons that act only through options, commands or files `brownout run` has no
# way to set (replay, map/modify, export, HAR, sticky cookies...). mitmproxy offers every event of
# every flow to every addon in its chain, so each of these costs each request something while
# doing nothing; leaving them out makes brownout's whole pass-through cheaper than bare mitmdump's.
# Named by class, so an addon a later mitmproxy adds or renames is kept rather than lost. Who needs
# them loads brownout into their own mitmdump or mitmweb (`-s addons/brownout_addon.py`).
UNREACHABLE_ADDONS = frozenset(
    {
        "AntiCache",
        "AntiComp",
        "BlockList",
        "Browser",
        "ClientPlayback",
        "CommandHistory",
        "Comment",
        "Cut",
        "Export",
        "MapLocal",
        "MapRemote",
        "ModifyBody",
        "ModifyHeaders",
        "Save",
        "SaveHar",
        "ServerPlayback",
        "StickyAuth",
        "StickyCookie",
        "StripDnsHttpsRecords",
        "UpstreamAuth",
    }
)


class ProxyMaster(master.Master):
    """mitmdump's master less its dumper and the unreachable addons, and less mitmdump's replay and
    stdin flow reading (KeepServing, ReadFileStdin), which only work with the addons left out."""

    def __init__(self, opts: options.Options, with_termlog: bool, exit_on_startup_error: bool) -> None:
        super().__init__(opts, with_termlog=with_termlog)
        self.addons.add(*(a for a in addons.default_addons() if type(a).__name__ not in UNREACHABLE_ADDONS))
        if exit_on_startup_error:
            self.addons.add(errorcheck.ErrorCheck())


class PlaceholderName(logging.Filter):
    """mitmproxy names a reverse proxy by its upstream, which for brownout's port is the
    placeholder that every routed request replaces; the line says what the port is instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if UNROUTED in message:
            record.msg = message.replace(f"reverse proxy to {UNROUTED}", "brownout (routes by path prefix)")
            record.args = ()
        return True


def quiet_loggers(verbose: bool = False) -> None:
    """The log levels mitmproxy's own launchers set: everything reaches the terminal log, which
    filters by `termlog_verbosity`, except the chattiest libraries below it. Without this the root
    logger stays at WARNING and no addon's info line (brownout's switches, phases, faults) shows.
    Unlike mitmdump, a connection opening or closing is logged only with `-v`: brownout's own
    lines are what its console is for."""
    logging.getLogger().setLevel(logging.DEBUG)
    logging.getLogger("mitmproxy.proxy.server").setLevel(logging.DEBUG if verbose else logging.WARNING)
    servers = logging.getLogger("mitmproxy.proxy.mode_servers")
    if not any(isinstance(f, PlaceholderName) for f in servers.filters):
        servers.addFilter(PlaceholderName())
    for name, level in (
        ("tornado", logging.WARNING),
        ("asyncio", logging.WARNING),
        ("hpack", logging.WARNING),
        ("quic", logging.WARNING),
        ("urwid", logging.INFO),
        ("watchfiles", logging.WARNING),
        ("aiohttp.access", logging.WARNING),
    ):
        logging.getLogger(name).setLevel(level)


def build_master(settings: ProxySettings, state: Brownout | None = None) -> tuple[ProxyMaster, Brownout]:
    """A master with brownout's addons and options set; raises OptionsError on bad input."""
    state = state or Brownout()
    if settings.termlog:
        quiet_loggers(verbose=settings.verbosity == "debug")
    opts = options.Options(mode=settings.modes())
    master = ProxyMaster(opts, settings.termlog, settings.exit_on_startup_error)
    master.addons.add(Bundle(state))
    # Addon options exist only once the addons are loaded, so they are set afterwards.
    master.options.update(
        connection_strategy="lazy",  # answered-in-place requests never open an upstream connection
        # Pass-through must be byte-identical; mitmproxy would otherwise point Alt-Svc at itself.
        keep_alt_svc_header=True,
        brownout_upstreams=settings.upstreams,
        brownout_library=settings.library,
        brownout_admin_host=settings.admin_host,
        brownout_admin_port=settings.admin_port,
        brownout_admin_token=settings.admin_token,
        brownout_watch=settings.watch,
        brownout_scenarios=settings.scenarios,
        brownout_record=settings.record,
        **settings.extra_options,
    )
    if settings.termlog:
        master.options.update(termlog_verbosity=settings.verbosity)
    return master, state


def admin_of(master: ProxyMaster) -> AdminServer | None:
    admin = master.addons.get("adminserver")
    return admin if isinstance(admin, AdminServer) else None


def drain_of(master: ProxyMaster) -> Drain | None:
    drain = master.addons.get("drain")
    return drain if isinstance(drain, Drain) else None


async def drain(master: ProxyMaster, stopping: Stopping, grace: float | None = None) -> int:
    """Stop accepting connections and let what is under way finish, within the grace period (the
    `brownout_shutdown_grace` option unless given) or until `stopping` says stop now; how many
    requests were still under way at the end."""
    hook = drain_of(master)
    if hook is None:
        return 0
    grace = hook.grace if grace is None else grace
    await hook.begin()
    under_way = hook.under_way()
    if under_way:
        log.info(
            "brownout: stopping: new connections are refused; %d requests under way have up to %g s to finish "
            "(Ctrl-C again: stop now)",
            under_way,
            grace,
        )
    left = await stopping.settle(hook.under_way, grace)
    if left:
        log.warning("brownout: stopping now: %d requests still under way are cut off", left)
    return left


async def serve_forever(master: ProxyMaster) -> int:
    """Run until Ctrl-C / SIGTERM, then drain (a second signal stops at once); the exit status for
    the CLI: 0 for a stop that was asked for, requests cut at the grace period or not (the log says
    how many), since the stop is what the signal asked for."""
    stopping = Stopping()
    stopping.install()
    running = asyncio.create_task(master.run())
    asked = asyncio.create_task(stopping.asked.wait())
    await asyncio.wait({running, asked}, return_when=asyncio.FIRST_COMPLETED)
    if not running.done():
        await drain(master, stopping)
        master.shutdown()
    asked.cancel()
    try:
        await running
    except SystemExit as exc:  # mitmproxy's errorcheck exits when startup logged an error
        return int(exc.code or 1)
    finally:
        stopping.uninstall()
    admin = admin_of(master)
    return 1 if admin is not None and admin.failed else 0


class RunningProxy:
    """An in-process brownout proxy on loopback, started and stopped as an async context."""

    def __init__(self, settings: ProxySettings, state: Brownout | None = None) -> None:
        settings.exit_on_startup_error = False
        self.settings = settings
        self.master, self.state = build_master(settings, state)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RunningProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, timeout: float = 10.0) -> None:
        self._task = asyncio.create_task(self.master.run())
        proxyserver = self.master.addons.get("proxyserver")
        admin = admin_of(self.master)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self._task.done():
                self._task.result()  # re-raises why it stopped
                raise RuntimeError("brownout proxy stopped during start-up")
            ready = bool(proxyserver.listen_addrs())
            if admin is not None and self.settings.admin_port > 0:
                ready = ready and (admin.address is not None or admin.failed is not None)
            if ready:
                break
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("brownout proxy did not start listening in time")
            await asyncio.sleep(0.01)
        if admin is not None and admin.failed is not None:
            await self.stop()
            raise admin.failed

    def _listen_port(self, index: int) -> int:
        return int(self.master.addons.get("proxyserver").listen_addrs()[index][1])

    @property
    def port(self) -> int:
        return self._listen_port(0)

    @property
    def url(self) -> str:
        return f"http://{self.settings.listen_host}:{self.port}"

    @property
    def forward_port(self) -> int:
        return self._listen_port(1)

    @property
    def admin_url(self) -> str:
        admin = admin_of(self.master)
        assert admin is not None and admin.address is not None
        return f"http://{admin.address[0]}:{admin.address[1]}"

    async def stop(self) -> None:
        if self._task is None:
            return
        self.master.shutdown()
        with contextlib.suppress(SystemExit, asyncio.CancelledError):
            await asyncio.wait_for(self._task, timeout=10)
        self._task = None
