"""The fault contract: one small pydantic model per fault type, registered by its `type` name.

A fault's fields are its scenario attributes (validated, unknown keys rejected). What a fault
does to a live flow is in `on_request` (and, for faults that need the upstream's answer,
`on_response` / `on_responseheaders`); the parts worth testing alone are plain methods.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Annotated
from typing import Any
from typing import ClassVar

from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import ConfigDict

from brownout.classify.request import RequestInfo
from brownout.units import parse_duration

if TYPE_CHECKING:
    from mitmproxy import http

Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds; written in scenarios as `250ms`, `2s`, `1m` or a bare number of seconds."""


@dataclass
class FaultRun:
    """What a fault may use while it acts on one flow."""

    info: RequestInfo
    rng: random.Random
    # Resolves when the client's connection closes, so a hang ends when the client gives up.
    client_gone: asyncio.Event = field(default_factory=asyncio.Event)
    # Sends a TCP RST to the client (HTTP/1) or resets the stream (HTTP/2).
    reset_client: Callable[[], None] = lambda: None
    # What the fault did, for the flow's metadata, the metrics and mitmweb's comment.
    outcome: str = ""
    notes: dict[str, Any] = field(default_factory=dict)


class Fault(BaseModel):
    """Base of every fault type; subclasses set `type_name` and register themselves."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type_name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    # Faults that act on the upstream's answer (e.g. truncating its body) need it to arrive.
    needs_upstream: ClassVar[bool] = False
    registry: ClassVar[dict[str, type[Fault]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type_name:
            Fault.registry[cls.type_name] = cls

    async def on_request(self, flow: http.HTTPFlow, run: FaultRun) -> None:
        """Act once the request is read; set `flow.response` to answer in the provider's place."""

    def on_responseheaders(self, flow: http.HTTPFlow, run: FaultRun) -> None:
        """Act on the upstream's status and headers (streamed responses are armed here)."""

    def on_response(self, flow: http.HTTPFlow, run: FaultRun) -> None:
        """Act on the upstream's complete, non-streamed answer."""

    def describe(self) -> str:
        attrs = ", ".join(f"{k}={v}" for k, v in self.model_dump(exclude_none=True).items())
        return f"{self.type_name}({attrs})"


class ClosingFault(Fault):
    """A fault that waits `after`, then ends the client's connection its own way (`close`)."""

    after: Duration = 0.0

    def close(self, flow: http.HTTPFlow, run: FaultRun) -> None:
        raise NotImplementedError

    async def on_request(self, flow: http.HTTPFlow, run: FaultRun) -> None:
        if self.after:
            await asyncio.sleep(self.after)
        self.close(flow, run)
        if flow.killable:
            flow.kill()


def fault_types() -> Iterator[tuple[str, type[Fault]]]:
    yield from sorted(Fault.registry.items())
