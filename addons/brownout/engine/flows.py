"""What brownout knows and did about one flow, in one typed record that the hooks share.

The Router fills in where the request goes, the Injector what it is and which fault acts on it,
the Streams hook how its event stream went; the observer and the Recorder read the rest. The
records live in a `FlowTable` of the shared state, keyed by the flow itself and dropped with it.
A plain summary of a fault's mark goes into mitmproxy's own `flow.metadata["brownout"]` (see
`summary`), so a flow saved with `mitmdump -w` carries it.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Literal

from brownout.classify.request import RequestInfo
from brownout.classify.request import RequestView
from brownout.engine.engine import Decision
from brownout.engine.sequences import Arrival
from brownout.faults.base import FaultRun
from brownout.faults.outcome import Outcome
from brownout.faults.stream.plan import StreamPlan
from brownout.providers.sse import EventCounter

UNKNOWN = "unknown"
# Events are added to brownout_stream_events_total in batches (a counter update costs about as
# much as relaying an event), and at the end of every stream.
REPORT_EVERY = 32


@dataclass(eq=False, slots=True)
class StreamSession:
    """One event stream: the plan it is relayed through (if any) and what the client received."""

    plan: StreamPlan | None = None
    counter: EventCounter = field(default_factory=EventCounter)
    first_event_at: float | None = None  # wall clock, like mitmproxy's timestamps
    relay: Literal["passthrough", "adapter", "callable"] = "passthrough"
    count_events: Callable[[int], None] = lambda events: None
    unreported: int = 0

    def sent(self, data: bytes) -> None:
        """`data` went to the client."""
        found = self.counter.feed(data)
        if found:
            if self.first_event_at is None:
                self.first_event_at = time.time()
            self.unreported += found
            if self.unreported >= REPORT_EVERY:
                self.report()

    def report(self) -> None:
        if self.unreported:
            self.count_events(self.unreported)
        self.unreported = 0


@dataclass(eq=False, slots=True)
class FlowState:
    provider: str = ""  # from the routing prefix or the host; "" for a request that is not an AI-API call
    route: str = ""  # the routing prefix's name
    override: str = ""  # the scenario an `x-brownout-scenario` header named
    view: RequestView | None = None  # the request as brownout read it
    info: RequestInfo | None = None  # what the request is; None when brownout does not know it
    arrival: Arrival | None = None  # the attempt as the rules that count saw it arrive
    decision: Decision | None = None  # the fault chosen for it
    run: FaultRun | None = None  # that fault's run on this flow
    armed: bool = False  # the fault waits for the upstream's answer
    ttfb: float | None = None  # request start to the first response byte, seconds
    stream: StreamSession | None = None
    ended: bool = False  # the attempt is over (its fault's on_end ran)

    @property
    def outcome(self) -> Outcome:
        """What the fault did; while a stream is relayed, what its plan has done so far."""
        stream = self.stream
        if stream is not None and stream.plan is not None and stream.plan.outcome:
            return stream.plan.outcome
        return self.run.outcome if self.run is not None else Outcome.NONE

    @property
    def scenario(self) -> str:
        return self.decision.scenario if self.decision is not None else ""

    @property
    def fault(self) -> str:
        return self.decision.fault.type_name if self.decision is not None else ""

    def labels(self) -> tuple[str, str, str]:
        """provider, endpoint, model, as the metrics label them."""
        if self.info is not None:
            return self.info.provider, self.info.endpoint, self.info.model
        return self.provider or UNKNOWN, "other", ""

    def summary(self) -> dict[str, str | bool]:
        """What mitmproxy keeps in `flow.metadata["brownout"]`: plain values only, so the flow
        saves (`mitmdump -w`) and shows in mitmproxy's own views."""
        out: dict[str, str | bool] = {}
        if self.info is not None:
            info = self.info
            out.update(
                provider=info.provider, endpoint=info.endpoint, model=info.model, stream=info.stream, client=info.client
            )
        elif self.provider:
            out["provider"] = self.provider
        if self.route:
            out["route"] = self.route
        if self.override:
            out["override"] = self.override
        if self.decision is not None:
            out.update(scenario=self.decision.scenario, rule=self.decision.rule, fault=self.fault)
            out["outcome"] = str(self.outcome)
        return out


class FlowTable:
    """Each live flow's state, keyed by the flow object and gone with it."""

    def __init__(self) -> None:
        self._states: weakref.WeakKeyDictionary[object, FlowState] = weakref.WeakKeyDictionary()

    def of(self, flow: object) -> FlowState:
        state = self._states.get(flow)
        if state is None:
            state = self._states[flow] = FlowState()
        return state

    def get(self, flow: object) -> FlowState | None:
        return self._states.get(flow)

    def __len__(self) -> int:
        return len(self._states)
