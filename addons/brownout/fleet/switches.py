"""The fleet's switches, uploaded scenarios and timeline starts, kept in Redis for every replica.

Keys, under the link's prefix:

- `active`, a hash: scenario name -> when it was switched on, in Redis's clock (Unix seconds). The
  start is shared, so a timeline is in the same phase on every replica.
- `uploads`, a hash: name -> `{"source", "text"}` of a scenario loaded at run time (the API's
  upload, the `brownout.load` command); persisted, so a replica started later gets them.
- `upload_digests`, a hash: name -> SHA-256 of that text, so a replica re-reads only what changed.
- `changes`, a channel: one message after every write. Each replica re-reads the whole state on a
  message and whenever it (re)subscribes, so a message lost during an outage loses nothing.

A local change (any way in: the API, `ctl`, mitmproxy commands, options, a file reload) is noted
at once and written by one background task, in order; requests never wait for it. While Redis is
unreachable the notes are kept (the latest per scenario) and written when it returns; then the
replica re-reads, and the fleet's state, with those writes in it, is what every replica follows.

Applying the fleet's state touches only the local `Brownout`, on the proxy's loop between two
requests' hooks; parsing an uploaded text runs in a thread (it may take up to half a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import cast

from redis.asyncio.client import PubSub

from brownout.engine.state import Brownout
from brownout.engine.state import ScenarioSwitch
from brownout.fleet.link import OUTAGE_ERRORS
from brownout.fleet.link import LinkDown
from brownout.fleet.link import RedisLink
from brownout.fleet.link import Refused
from brownout.fleet.link import display_url
from brownout.scenario.library import library_dir
from brownout.scenario.model import Scenario
from brownout.scenario.yaml_lines import ScenarioError

log = logging.getLogger("brownout.fleet")

# A scenario's text and source -> the scenario (the control layer's upload parser).
Parse = Callable[[str, str], Scenario]

# A timeline more than this far from the fleet's start is moved onto it (clock estimates jitter by
# far less; a phase lasts seconds at the least).
ALIGN_TOLERANCE = 0.05
LISTEN_POLL = 1.0  # seconds a subscriber waits for a message before looking again


@dataclass(frozen=True)
class _Switch:
    active: bool
    at: float  # this host's wall clock when it happened
    # Its start in Redis's clock, fixed when noted if the clock was known then: it is also the
    # name the scenario's `times:`/`every:` counts go under, so it must not change once written.
    start: float | None = None


@dataclass(frozen=True)
class _Upload:
    source: str
    text: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def own_file(source: str) -> bool:
    """Whether a scenario came from a file of this replica's own (not the built-in library): such a
    file wins over a fleet upload of its name on this replica. Reads the disk: call it in a thread."""
    path = Path(source)
    try:
        return path.is_file() and not path.resolve().is_relative_to(library_dir().resolve())
    except OSError:
        return False


class SharedSwitches:
    """One replica's side of the shared switches: it writes its local changes and follows the fleet's."""

    def __init__(self, link: RedisLink, state: Brownout, parse: Parse, wall: Callable[[], float] = time.time) -> None:
        self.link = link
        self.state = state
        self.parse = parse
        self.wall = wall
        self.active_key = link.key("active")
        self.uploads_key = link.key("uploads")
        self.digests_key = link.key("upload_digests")
        self.channel = link.key("changes")
        self.offset = 0.0  # Redis's clock minus this host's
        self._clock_known = False
        self._synced_once = False
        self._pending_switches: dict[str, _Switch] = {}
        self._pending_uploads: dict[str, _Upload] = {}
        self._digests: dict[str, str] = {}  # name -> digest of the fleet upload this replica runs
        self._settled: dict[str, str] = {}  # name -> digest of the upload last read (run or not)
        self._told: set[tuple[str, str]] = set()  # (name, why) already logged: once each
        self._resync_wanted = True
        self._work = asyncio.Event()
        self._applying = False
        self._tasks: list[asyncio.Task[None]] = []
        self.resyncs = 0  # full re-reads done, for tests and the curious
        state.listeners.append(self._switched)
        state.upload_listeners.append(self._uploaded)

    # -- local changes, noted at once (no Redis here: these run inside the proxy's hooks)

    def _switched(self, switch: ScenarioSwitch) -> None:
        if self._applying or switch.phase:
            return
        self._pending_switches.pop(switch.scenario, None)  # the latest goes last
        at = self.wall()
        start = at + self.offset if self._clock_known else None
        self._pending_switches[switch.scenario] = _Switch(switch.active, at, start)
        if switch.active and start is not None:
            # The counts are named by the start this replica is about to share, from the first
            # request on: when the fleet's state comes back with it, their keys stay the same.
            self.state.engine.epochs[switch.scenario] = repr(start)
        self._work.set()

    def _uploaded(self, scenario: Scenario) -> None:
        if self._applying:
            return
        self._pending_uploads[scenario.name] = _Upload(scenario.source, scenario.text)
        self._work.set()

    # -- running

    async def start(self) -> None:
        self.link.on_rejoin(self._rejoined)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._write_loop(), name="brownout-fleet-writer"),
            loop.create_task(self._listen_loop(), name="brownout-fleet-subscriber"),
        ]
        self._work.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        with contextlib.suppress(ValueError):
            self.state.listeners.remove(self._switched)
        with contextlib.suppress(ValueError):
            self.state.upload_listeners.remove(self._uploaded)

    @property
    def pending(self) -> int:
        """Local changes not yet written to Redis."""
        return len(self._pending_switches) + len(self._pending_uploads)

    def status(self) -> dict[str, Any]:
        """How this replica stands in its fleet, for `/api/status` and `brownout ctl status`."""
        return {
            "redis": display_url(self.link.url),
            "up": self.link.up,
            "errors": self.link.errors,
            "unshared_changes": self.pending,
        }

    async def _rejoined(self) -> None:
        self._want_resync()

    def _want_resync(self) -> None:
        self._resync_wanted = True
        self._work.set()

    async def _write_loop(self) -> None:
        """The one task that talks to Redis for the switches: writes in order, then re-reads."""
        while True:
            await self._work.wait()
            self._work.clear()
            try:
                await self._flush()
                if self._resync_wanted:
                    self._resync_wanted = False
                    await self.resync()
            except LinkDown:
                self._resync_wanted = True
                await self.link.wait_up()
                self._work.set()
            except Refused:
                # Redis refused a write or read (out of memory, MISCONF): the link logged it once;
                # the notes stay pending and are tried again, as after an outage.
                self._resync_wanted = True
                await asyncio.sleep(self.link.timeouts.backoff_max)
                self._work.set()
            except Exception:
                # Redis answered with an error (keys of another program under the prefix, a
                # command refused): not an outage, but the replica must go on; tried again later.
                log.exception("brownout: sharing this replica's switches with the fleet failed")
                self._resync_wanted = True
                await asyncio.sleep(self.link.timeouts.backoff_max)
                self._work.set()

    async def _listen_loop(self) -> None:
        """Subscribed to the changes channel; each message (and each subscription) asks for a re-read."""
        while True:
            await self.link.wait_up()
            pubsub = self.link.client.pubsub()
            try:
                await self.link.call(pubsub.subscribe(self.channel))
                # SUBSCRIBE returns once sent: the re-read must come after Redis confirms it, or a
                # change written in between would be in neither the re-read nor a message.
                await self.link.call(self._confirmed(pubsub))
                self._want_resync()  # anything written while this replica was not listening
                # A Redis that hangs (or a network that drops packets) never breaks this connection:
                # once the link finds Redis gone, it is left for a fresh one.
                while self.link.up:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=LISTEN_POLL)
                    if message is not None:
                        self._want_resync()
            except (LinkDown, Refused):
                pass  # Redis refusing the subscription is tried again like an outage
            except OUTAGE_ERRORS as error:
                self.link.mark_down(error)
            finally:
                with contextlib.suppress(*OUTAGE_ERRORS):
                    await asyncio.wait_for(pubsub.aclose(), self.link.timeouts.command)
            await asyncio.sleep(self.link.timeouts.backoff_first)  # never spin if Redis refuses only this

    async def _confirmed(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(timeout=self.link.timeouts.command)
            if message is not None and message.get("type") == "subscribe":
                return
            if message is None:
                raise TimeoutError("Redis did not confirm the subscription")

    # -- writing

    async def _sync_clock(self) -> None:
        seconds, micros = await self.link.call(self.link.client.time())
        self.offset = seconds + micros / 1e6 - self.wall()
        self._clock_known = True

    async def _flush(self) -> None:
        if not self.pending:
            return
        if not self._clock_known:
            await self._sync_clock()
        uploads, switches = dict(self._pending_uploads), dict(self._pending_switches)
        pipe = self.link.client.pipeline(transaction=True)
        for name, upload in uploads.items():
            pipe.hset(self.uploads_key, name, json.dumps({"source": upload.source, "text": upload.text}))
            pipe.hset(self.digests_key, name, upload.digest)
        for name, switch in switches.items():
            start = repr(switch.start if switch.start is not None else switch.at + self.offset)
            if not switch.active:
                pipe.hdel(self.active_key, name)
            elif self._synced_once:
                pipe.hset(self.active_key, name, start)
            else:
                # Switched on before this replica first read the fleet's state (its start, a
                # restart): a scenario the fleet already runs keeps its timeline's start.
                pipe.hsetnx(self.active_key, name, start)
        pipe.publish(self.channel, "changed")
        await self.link.call(pipe.execute())
        for name, upload in uploads.items():
            self._digests[name] = self._settled[name] = upload.digest
            if self._pending_uploads.get(name) is upload:
                del self._pending_uploads[name]
        for name, switch in switches.items():
            if self._pending_switches.get(name) is switch:
                del self._pending_switches[name]

    # -- following

    async def resync(self) -> None:
        """Read the fleet's whole state and make this replica's match it."""
        pipe = self.link.client.pipeline(transaction=True)
        pipe.time()
        pipe.hgetall(self.active_key)
        pipe.hgetall(self.digests_key)
        (seconds, micros), active_raw, digests_raw = await self.link.call(pipe.execute())
        self.offset = seconds + micros / 1e6 - self.wall()
        self._clock_known = True
        digests = {name.decode(): digest.decode() for name, digest in digests_raw.items()}
        changed = [name for name, digest in digests.items() if self._settled.get(name) != digest]
        texts: list[bytes | None] = []
        if changed:
            # redis-py types its commands for the sync and async clients at once.
            fetch = cast(Awaitable[list[bytes | None]], self.link.client.hmget(self.uploads_key, changed))
            texts = await self.link.call(fetch)
        local_sources = {
            name: self.state.engine.scenarios[name].source for name in changed if name in self.state.engine.scenarios
        }
        from_fleet = frozenset(self._digests)
        read = await asyncio.to_thread(
            self._read_uploads, dict(zip(changed, texts, strict=True)), local_sources, from_fleet
        )
        starts = self._starts(active_raw)
        self._applying = True
        try:
            self._apply_uploads(read, digests)
            self._apply_switches(starts)
        finally:
            self._applying = False
        self._synced_once = True
        self.resyncs += 1
        # The counts' names final now (the fleet's starts read): what this replica's `times:`/
        # `every:` rules counted alone while Redis was away becomes the fleet's.
        await self.state.engine.carry_over()

    def _starts(self, raw: dict[bytes, bytes]) -> dict[str, float]:
        """The fleet's switched-on scenarios and their starts; an entry that is not one (written by
        hand, or by another program) is skipped, with one log line."""
        starts: dict[str, float] = {}
        for name, start in raw.items():
            try:
                starts[name.decode()] = float(start)
            except (UnicodeDecodeError, ValueError):
                self._tell_once(repr(name), repr(start), "skips the entry %s of the fleet's switches: not a start time")
        return starts

    def _read_uploads(
        self, texts: dict[str, bytes | None], local_sources: dict[str, str], from_fleet: frozenset[str]
    ) -> dict[str, Scenario | str | None]:
        """Each changed upload parsed (or why not); None for a name this replica's own file keeps.
        Runs in a thread: it parses and reads the disk."""
        read: dict[str, Scenario | str | None] = {}
        for name, raw in texts.items():
            if name in local_sources and name not in from_fleet and own_file(local_sources[name]):
                read[name] = None
                continue
            try:
                document = json.loads(raw or b"null")
                read[name] = self.parse(str(document["text"]), str(document["source"]))
            except (ValueError, TypeError, KeyError) as error:
                read[name] = f"not a stored upload ({type(error).__name__}: {error})"
            except ScenarioError as error:
                read[name] = str(error)
        return read

    def _apply_uploads(self, read: dict[str, Scenario | str | None], digests: dict[str, str]) -> None:
        for name, result in read.items():
            if name in self._pending_uploads:
                continue  # this replica's newer upload is on its way
            self._settled[name] = digests[name]
            if result is None:
                self._tell_once(name, digests[name], "keeps its own scenario file over the fleet's upload of %s")
            elif isinstance(result, str):
                self._tell_once(
                    name, digests[name], "cannot run the fleet's upload of %s: " + result.replace("%", "%%")
                )
            else:
                self.state.load(result)
                self._digests[name] = digests[name]
                log.info("brownout: scenario %s loaded from the fleet (%s)", name, result.source)

    def _apply_switches(self, starts: dict[str, float]) -> None:
        engine = self.state.engine
        for name in engine.active:
            if name not in starts and name not in self._pending_switches:
                self.state.deactivate(name)
        now = self.wall() + self.offset
        for name, start in sorted(starts.items(), key=lambda item: item[1]):
            if name in self._pending_switches:
                continue
            if name not in engine.scenarios:
                self._tell_once(name, repr(start), "the fleet switched on %s, which this replica has not loaded")
                continue
            elapsed = max(0.0, now - start)
            if not engine.is_active(name):
                self.state.activate(name, elapsed)
            elif abs((engine.active_for(name) or 0.0) - elapsed) > ALIGN_TOLERANCE:
                engine.align(name, elapsed)
            # The `every`/`times` counts of the fleet's activation, where this replica had its own.
            engine.epochs[name] = repr(start)

    def _tell_once(self, name: str, version: str, message: str) -> None:
        if (name, version) not in self._told:
            self._told.add((name, version))
            log.warning("brownout: this replica " + message, name)
