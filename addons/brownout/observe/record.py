"""A run's record: the observer's events as they happened, kept to be read again.

Reports (`brownout report`, `GET /api/report`, the pytest plugin) replay the record into a fresh
`Observer` and close what is still open, so a report never waits for a retry window to run out
and always agrees with the metrics (the same grouping code reads the same events). `brownout run
--record FILE` writes the same events as JSON lines: a header line, then one line per event.

Nothing in a record is a key or a prompt: identities, request fingerprints and conversations are
already salted hashes when they become events (`observe.retry_signals`); the client's address is
kept, as its part of the identity.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import deque
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from brownout.observe.events import AttemptEnded
from brownout.observe.events import AttemptStarted
from brownout.observe.events import ClientAbandoned
from brownout.observe.events import Event
from brownout.observe.events import FaultsSwitched
from brownout.observe.events import Settings

FORMAT = "brownout-record"
VERSION = 1
# Events kept in memory; older ones make way (the report says so).
LIMIT = 200_000

_EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (AttemptStarted, AttemptEnded, ClientAbandoned, FaultsSwitched)
}


class RecordError(ValueError):
    """A record file that cannot be read; the text says where and why."""


def encode(event: Event) -> dict[str, Any]:
    return {"type": type(event).__name__, **dataclasses.asdict(event)}


def decode(data: dict[str, Any]) -> Event:
    kind = data.get("type")
    cls = _EVENT_TYPES.get(str(kind))
    if cls is None:
        raise RecordError(f"unknown event type {kind!r}; known: {', '.join(_EVENT_TYPES)}")
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        # JSON has no tuples: a list field (AttemptStarted.turns) comes back as the tuple it was.
        event: Event = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})
    except TypeError as exc:
        raise RecordError(f"{kind}: {exc}") from None
    return event


@dataclass
class RunRecord:
    settings: Settings = field(default_factory=Settings)
    started: float = field(default_factory=time.time)
    limit: int = LIMIT
    # Called with each event's JSON line as it is added (a file writer), if set.
    sink: Callable[[str], None] | None = None
    events: deque[Event] = field(init=False)
    dropped: int = 0

    def __post_init__(self) -> None:
        self.events = deque(maxlen=self.limit)

    def add(self, event: Event) -> None:
        if len(self.events) == self.limit:
            self.dropped += 1
        self.events.append(event)
        if self.sink is not None:
            self.sink(json.dumps(encode(event), separators=(",", ":")))

    def snapshot(self) -> RunRecord:
        """A copy that later events do not change (to report on while the run goes on)."""
        copy = RunRecord(settings=self.settings, started=self.started, limit=self.limit)
        copy.events.extend(self.events)
        copy.dropped = self.dropped
        return copy

    def clear(self) -> None:
        self.events.clear()
        self.dropped = 0
        self.started = time.time()

    def header(self) -> str:
        settings = dataclasses.asdict(self.settings)
        return json.dumps({"format": FORMAT, "version": VERSION, "started": self.started, "settings": settings})

    def lines(self) -> Iterator[str]:
        yield self.header()
        for event in self.events:
            yield json.dumps(encode(event), separators=(",", ":"))


def read(lines: Iterable[str], source: str = "<record>") -> RunRecord:
    """A record from its JSON lines; raises RecordError naming the line."""
    record: RunRecord | None = None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise RecordError(f"{source}:{number}: not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise RecordError(f"{source}:{number}: expected a JSON object")
        if record is None:
            if data.get("format") != FORMAT:
                raise RecordError(f"{source}:{number}: not a brownout record (no {FORMAT!r} header)")
            if data.get("version") != VERSION:
                raise RecordError(
                    f"{source}:{number}: record version {data.get('version')}; this brownout reads {VERSION}"
                )
            known = {f.name for f in dataclasses.fields(Settings)}
            settings = Settings(**{k: v for k, v in dict(data.get("settings") or {}).items() if k in known})
            record = RunRecord(settings=settings, started=float(data.get("started") or 0.0), limit=10**9)
            continue
        try:
            record.add(decode(data))
        except RecordError as exc:
            raise RecordError(f"{source}:{number}: {exc}") from None
    if record is None:
        raise RecordError(f"{source}: empty; a record starts with its {FORMAT!r} header")
    return record
