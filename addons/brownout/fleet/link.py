"""The link to the fleet's Redis: one asyncio client, short timeouts, an up/down state.

Every fleet module talks to Redis through `RedisLink.call`, which bounds each command by the
command timeout and turns any connection failure into `LinkDown` after marking the link down.
Going down is logged once (not per request); while down, a background task retries with
exponential backoff; on success the link is up again, logged once, and every rejoin callback
runs (the switches re-read the full shared state, so nothing changed meanwhile is missed).
While up, the same task sends a PING every `heartbeat` seconds, so an outage is noticed even
when nothing else is talking to Redis.

Nothing here blocks the event loop: redis-py's asyncio client, no retries inside the client
(a failed command fails at once and the link's own backoff takes over).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("brownout.fleet")

T = TypeVar("T")

DEFAULT_PREFIX = "brownout"
# Failures of the connection itself; a command Redis rejects (a ResponseError) is a bug, not an outage.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)


class LinkDown(Exception):
    """Redis did not answer (in time): the caller goes on with its local state."""


@dataclass(frozen=True)
class Timeouts:
    """Seconds. Short: a replica must never stall on Redis; a slow Redis counts as down."""

    connect: float = 0.5
    command: float = 0.5
    heartbeat: float = 1.0
    backoff_first: float = 0.1
    backoff_max: float = 5.0


Rejoin = Callable[[], Awaitable[None]]


SCHEMES = ("redis", "rediss", "unix")


def url_problem(url: str) -> str | None:
    """Why a Redis URL cannot be used, or None (checked at start, before anything connects)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        return f"not a Redis URL (redis://HOST[:PORT][/DB], rediss:// or unix://), got {parts.scheme or 'no'} scheme"
    try:
        redis.ConnectionPool.from_url(url)
        parts.port  # noqa: B018 (raises on a port out of range)
    except ValueError as error:
        return f"not a usable Redis URL: {error}"
    if parts.scheme != "unix" and not parts.hostname:
        return "no host in the Redis URL"
    database = parts.path.strip("/")
    if parts.scheme != "unix" and database and not database.isdigit():
        return f"the Redis URL's database must be a number, got {database!r}"
    return None


def display_url(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class RedisLink:
    """The connection to one Redis shared by a fleet of replicas.

    `client` is redis-py's asyncio client for the other fleet modules (call it through `call`);
    keys are named with `key(...)` under `prefix`, so several fleets (or tests) share one Redis.
    `up` is False until the first command succeeds.
    """

    def __init__(self, url: str, prefix: str = DEFAULT_PREFIX, timeouts: Timeouts | None = None) -> None:
        self.url = url
        self.prefix = prefix
        self.timeouts = timeouts or Timeouts()
        self.client: redis.Redis = redis.from_url(
            url,
            socket_connect_timeout=self.timeouts.connect,
            socket_timeout=self.timeouts.command,
            retry=Retry(NoBackoff(), 0),
        )
        self.up = False
        self.errors = 0  # failed commands and lost connections, for brownout_redis_errors_total
        self._rejoins: list[Rejoin] = []
        self._told_down = False
        self._supervisor: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._up_event = asyncio.Event()

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def on_rejoin(self, callback: Rejoin) -> None:
        """Run `callback` each time the link comes (back) up, the first time included."""
        self._rejoins.append(callback)

    async def wait_up(self) -> None:
        """Return once the link is up (at once when it is)."""
        await self._up_event.wait()

    async def call(self, operation: Awaitable[T]) -> T:
        """The result of a Redis command; `LinkDown` (after marking the link down) when Redis failed."""
        try:
            result = await asyncio.wait_for(operation, self.timeouts.command)
        except OUTAGE_ERRORS as error:
            self.mark_down(error)
            raise LinkDown(str(error) or type(error).__name__) from error
        return result

    def mark_down(self, error: BaseException) -> None:
        """Count the failure; the first one of an outage is logged and wakes the retrying task
        (later ones do not: a request's failed command must not cut the backoff short)."""
        self.errors += 1
        was_up = self.up
        self.up = False
        self._up_event.clear()
        if was_up or not self._told_down:
            self._told_down = True
            log.warning(
                "brownout: Redis at %s unreachable (%s); serving the last known state, retrying in the background",
                display_url(self.url),
                str(error) or type(error).__name__,
            )
        if was_up:
            self._wake.set()  # the retrying starts now, not at the next heartbeat

    async def _mark_up(self) -> None:
        if self.up:
            return
        self.up = True
        self._up_event.set()
        if self._told_down:
            log.warning("brownout: Redis at %s is back; rejoined the fleet", display_url(self.url))
        self._told_down = False
        for callback in self._rejoins:
            try:
                await callback()
            except LinkDown:
                return  # down again already: the next rejoin re-reads everything anyway
            except Exception:
                log.exception("brownout: rejoining the fleet failed in %r", callback)

    async def start(self) -> None:
        """Start the background task that connects, watches and reconnects; returns at once."""
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name="brownout-redis-link")

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            try:
                await self._supervisor
            except asyncio.CancelledError:
                pass
            self._supervisor = None
        await self.client.aclose()

    async def ping(self) -> bool:
        try:
            await self.call(self.client.execute_command("PING"))
        except LinkDown:
            return False
        await self._mark_up()
        return True

    async def _supervise(self) -> None:
        backoff = self.timeouts.backoff_first
        while True:
            if await self.ping():
                backoff = self.timeouts.backoff_first
                await self._pause(self.timeouts.heartbeat)
            else:
                # Jitter, so a fleet whose Redis came back does not reconnect in one burst.
                await self._pause(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, self.timeouts.backoff_max)

    async def _pause(self, seconds: float) -> None:
        """Sleep, cut short when a command fails while up."""
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass
