"""The fault contract: one small pydantic model per fault type, registered by its `type` name.

A fault's fields are its scenario attributes (validated, unknown keys rejected). A fault never
touches a proxy: it reads plain data and says what it wants done, and the Injector hook carries
that out on the flow.

- `on_request(run)`: once the request is read. Returns the `Reply` to send in the provider's
  place, a `Hangup` to end the client's connection without an answer, or None to let the request
  go upstream (after any wait the coroutine takes).
- Faults with `needs_upstream` also hear of the answer: `on_response_headers(run, answer)` may
  return a `HeaderEdit` (headers to set, a reader of the streamed body), and `on_response(run,
  answer)` may return the raw body to send instead of the upstream's.
- Stream faults (`brownout.faults.stream`) hand the Streams hook a plan for the event stream.
- `on_end(run)`: once the attempt is over (answered, failed, or its client left), for every run;
  a fault that holds something for the flow's life (a place in a provider's capacity) gives it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import ClassVar

from pydantic import BaseModel
from pydantic import ConfigDict

from brownout.classify.request import RequestInfo

# Seconds, written in scenarios as `250ms`, `2s`, `1m` or a bare number of seconds, at most an
# hour; `bounds` holds it with the other bounded types of fault attributes.
from brownout.faults.bounds import Duration as Duration
from brownout.faults.outcome import Outcome
from brownout.faults.shared import Shared
from brownout.providers.base import Reply


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the client's connection without an answer: a FIN, or with `reset` a TCP RST on
    HTTP/1 (RST_STREAM on HTTP/2)."""

    reset: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    """The upstream's answer as a fault reads it."""

    status: int
    headers: Mapping[str, str]  # lower-case names
    streamed: bool  # relayed as it arrives (the body is not kept)
    raw: bytes | None = None  # the body as it travelled (None while streaming)
    content: bytes | None = None  # the body decoded from its content-encoding


@dataclass(frozen=True, slots=True)
class HeaderEdit:
    """What a fault changes once the upstream's headers are in."""

    headers: list[tuple[str, str]] = field(default_factory=list)  # set, replacing any of the same name
    # Sees every chunk of a streamed body as the upstream sends it, then b"" at its end.
    reader: Callable[[bytes], None] | None = None


@dataclass
class FaultRun:
    """One fault acting on one flow: what it may read, and what it did."""

    info: RequestInfo
    rng: random.Random
    body: bytes = b""  # the request body as sent
    # Resolves when the client's connection closes (or its HTTP/2 stream resets).
    client_gone: asyncio.Event = field(default_factory=asyncio.Event)
    outcome: Outcome = Outcome.NONE
    # The fault's own record of this flow (its module defines the type, e.g. a rate limit's admission).
    state: object = None
    # The share of its capacity a load-aware fault has now (a timeline phase's `capacity`, else 1).
    capacity: float = 1.0
    # The fleet's shared buckets and load, when replicas share them (None: this replica alone).
    shared: Shared | None = None


class Fault(BaseModel):
    """Base of every fault type; subclasses set `type_name` and register themselves."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type_name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    # Faults that act on the upstream's answer (e.g. truncating its body) need it to arrive.
    needs_upstream: ClassVar[bool] = False
    # The answer must come back uncompressed, because the fault reads it as it streams.
    plain_answer: ClassVar[bool] = False
    registry: ClassVar[dict[str, type[Fault]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type_name:
            Fault.registry[cls.type_name] = cls

    async def on_request(self, run: FaultRun) -> Reply | Hangup | None:
        """Act once the request is read; see the module's docstring for what the answer means."""
        return None

    def on_response_headers(self, run: FaultRun, answer: Answer) -> HeaderEdit | None:
        """Act on the upstream's status and headers."""
        return None

    def on_response(self, run: FaultRun, answer: Answer) -> bytes | None:
        """Act on the upstream's complete answer; bytes replace its raw body."""
        return None

    def on_end(self, run: FaultRun) -> None:
        """The attempt is over, however it ended; called once per run."""
        return None

    def describe(self) -> str:
        attrs = ", ".join(f"{k}={v}" for k, v in self.model_dump(exclude_none=True).items())
        return f"{self.type_name}({attrs})"


async def wait_unless_set(seconds: float, client_gone: asyncio.Event) -> bool:
    """Wait `seconds`, or less when the client leaves first (the event); True when it left.
    Only this flow waits: a fault's hook is a task of its own on mitmproxy's loop."""
    if seconds > 0 and not client_gone.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client_gone.wait(), timeout=seconds)
    return client_gone.is_set()


async def wait_or_client_gone(run: FaultRun, seconds: float) -> bool:
    """Wait `seconds`, or less when the run's client leaves first; True when it left."""
    return await wait_unless_set(seconds, run.client_gone)


class ClosingFault(Fault):
    """A fault that waits `after`, then ends the client's connection without an answer (or, when
    the client leaves first, ends the wait: it is counted as abandoned)."""

    reset: ClassVar[bool] = False
    closed: ClassVar[Outcome] = Outcome.NONE

    after: Duration = 0.0

    async def on_request(self, run: FaultRun) -> Reply | Hangup | None:
        if self.after and await wait_or_client_gone(run, self.after):
            run.outcome = Outcome.ABANDONED
            return Hangup()
        run.outcome = self.closed
        return Hangup(reset=self.reset)


def fault_types() -> Iterator[tuple[str, type[Fault]]]:
    yield from sorted(Fault.registry.items())
