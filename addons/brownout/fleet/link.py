"""The link to the fleet's Redis: one asyncio client, short timeouts, an up/down state.

Every fleet module talks to Redis through `RedisLink.call`, which bounds each command by the
command timeout and turns any connection failure into `LinkDown` after marking the link down,
and a command Redis refuses (out of memory, a key of the wrong type) into `Refused`: Redis is
there, but cannot serve that command now, so the caller goes on with its local state as well.
A refusal is counted and logged once a minute at most per kind, not per request. A read-only
answer (the server became a replica in a failover) or MASTERDOWN marks the link down and drops
its connections: it is up again once a fresh connection reaches a primary.
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
import contextlib
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
from redis.exceptions import MasterDownError
from redis.exceptions import ReadOnlyError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("brownout.fleet")

T = TypeVar("T")

DEFAULT_PREFIX = "brownout"
# Failures of the connection itself (BusyLoadingError, a Redis still loading its data, is one).
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)
# Refusals that mean this server is no primary (any more): the link is down until it reaches one.
NOT_PRIMARY: tuple[type[ResponseError], ...] = (ReadOnlyError, MasterDownError)
REFUSAL_LOG_EVERY = 60.0  # seconds between two log lines of one kind of refusal


class LinkDown(Exception):
    """Redis did not answer (in time): the caller goes on with its local state."""


class Refused(Exception):
    """Redis answered with an error (OOM, MISCONF, BUSY, WRONGTYPE, ...): the caller goes on with
    its local state for this command; the link stays up (other commands may still work)."""


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
        self._want_primary = False  # down after a read-only answer: up again only on a primary
        self._refusals_told: dict[str, float] = {}  # kind of refusal -> when it was last logged

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def on_rejoin(self, callback: Rejoin) -> None:
        """Run `callback` each time the link comes (back) up, the first time included."""
        self._rejoins.append(callback)

    async def wait_up(self) -> None:
        """Return once the link is up (at once when it is)."""
        await self._up_event.wait()

    async def call(self, operation: Awaitable[T]) -> T:
        """The result of a Redis command; `LinkDown` (after marking the link down) when Redis failed,
        `Refused` when it answered with an error."""
        try:
            result = await asyncio.wait_for(operation, self.timeouts.command)
        except OUTAGE_ERRORS as error:
            self.mark_down(error)
            raise LinkDown(str(error) or type(error).__name__) from error
        except NOT_PRIMARY as error:
            self._want_primary = True
            self.mark_down(error)
            await self._drop_connections()
            raise LinkDown(str(error) or type(error).__name__) from error
        except ResponseError as error:
            self.refused(error)
            raise Refused(str(error) or type(error).__name__) from error
        return result

    def refused(self, error: ResponseError) -> None:
        """Count a refusal; log it unless one of its kind was logged within the last minute."""
        self.errors += 1
        text = str(error) or type(error).__name__
        kind = type(error).__name__ if type(error) is not ResponseError else text.split(" ", 1)[0]
        now = asyncio.get_running_loop().time()
        told = self._refusals_told.get(kind)
        if told is None or now - told >= REFUSAL_LOG_EVERY:
            self._refusals_told[kind] = now
            log.warning(
                "brownout: Redis at %s refused a command (%s: %s); going on with this replica's own state "
                "for it (logged once a minute at most)",
                display_url(self.url),
                kind,
                text,
            )

    async def _drop_connections(self) -> None:
        """Close the pool's connections, so the next one is made afresh (a failover's new primary
        behind the same name)."""
        with contextlib.suppress(*OUTAGE_ERRORS):
            await asyncio.wait_for(self.client.connection_pool.disconnect(), self.timeouts.command)

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
            if self._want_primary and not await self._is_primary():
                self.errors += 1
                await self._drop_connections()
                return False
        except (LinkDown, Refused):
            return False
        self._want_primary = False
        await self._mark_up()
        return True

    async def _is_primary(self) -> bool:
        """Whether the server answers as a primary (a replica answers PING too)."""
        try:
            role = await asyncio.wait_for(self.client.execute_command("ROLE"), self.timeouts.command)
        except ResponseError:
            return True  # ROLE not allowed (an ACL): the next write tells
        except OUTAGE_ERRORS as error:
            raise LinkDown(str(error) or type(error).__name__) from error
        return bool(role) and role[0] in (b"master", "master")

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
