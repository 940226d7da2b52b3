"""Classify each AI-API request, ask the engine for a fault, and carry out what the fault asks for.

Faults are plain code (`brownout.faults`): they say what they want (a reply in the provider's
place, a hang-up, headers on the answer, a new body) and this hook does it to the flow. An
exception in a fault's code, or in choosing the fault (a shared count Redis refused in a way
nobody foresaw), is counted, and the flow passes through untouched.
"""

from __future__ import annotations

import asyncio
import json
import logging

from mitmproxy import connection
from mitmproxy import http

from brownout.classify.request import classify
from brownout.classify.request import plain_headers
from brownout.engine.engine import UnknownScenario
from brownout.engine.flows import FlowState
from brownout.engine.sequences import Arrival
from brownout.engine.state import Brownout
from brownout.faults.base import Answer
from brownout.faults.base import FaultRun
from brownout.faults.base import Hangup
from brownout.faults.outcome import Outcome
from brownout.mitm.flows import answer
from brownout.mitm.flows import client_reset_stream
from brownout.mitm.flows import publish
from brownout.mitm.flows import read_request
from brownout.mitm.flows import reset_client
from brownout.mitm.flows import streams_events
from brownout.mitm.streamfn import read_stream
from brownout.observe import retry_signals as signals
from brownout.observe.failures import failure_of_response
from brownout.providers.base import Reply

log = logging.getLogger(__name__)

MARK = ":boom:"
# A request may name the one scenario to apply to it alone, switched on or not (targeted tests).
OVERRIDE_HEADER = "x-brownout-scenario"
# How often a held HTTP/2 flow is checked for a client that reset its stream (see mitm.flows).
STREAM_RESET_POLL = 0.1
# What `brownout_fault_errors_total` names a failure to choose a fault by (no fault chosen yet).
DECISION = "decision"
DECISION_LOG_EVERY = 60.0  # seconds between two tracebacks of a failing decision


def _override_error(exc: UnknownScenario) -> Reply:
    message = f"brownout: {OVERRIDE_HEADER}: {exc}"
    body = json.dumps({"error": {"message": message, "type": "brownout_error"}}).encode()
    return Reply(400, [("content-type", "application/json"), ("x-brownout", "override")], body)


class Injector:
    def __init__(self, state: Brownout) -> None:
        self.state = state
        self._client_gone: dict[str, dict[str, asyncio.Event]] = {}  # client id -> flow id -> event
        self._stream_watches: dict[str, asyncio.Task[None]] = {}  # flow id -> its HTTP/2 reset watch
        self._decision_told = -DECISION_LOG_EVERY  # loop time of the last logged decision failure

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        here = self.state.flows.of(flow)
        # Read and strip the override before anything else: the upstream never sees it.
        only = flow.request.headers.pop(OVERRIDE_HEADER, None)
        if only is not None:
            here.override = only = only.strip()
            if only not in self.state.engine.scenarios:
                answer(flow, _override_error(UnknownScenario(only, sorted(self.state.engine.scenarios))))
                publish(flow, here)
                return
        view = here.view = read_request(flow)
        info = classify(
            host=flow.request.host,
            path=flow.request.path,
            headers=view.headers,
            body=view.body,
            provider_hint=here.provider or None,
        )
        if info is None:
            return
        here.info = info
        peer = flow.client_conn.peername
        arrival = here.arrival = Arrival(
            str(peer[0]) if peer else "",
            flow.request.method,
            flow.request.path,
            flow.request.raw_content or b"",
            view.body,
            retry_count=signals.retry_count(view.headers),
        )
        try:
            decision = await self.state.engine.decide(info, only=only, arrival=arrival)
        except Exception:
            self._undecided(flow, here)
            return
        if decision is None:
            publish(flow, here)
            return
        fault = decision.fault
        here.decision = decision
        flow.marked = MARK
        flow.comment = f"brownout: {decision.scenario} / {decision.rule}: {fault.describe()}"
        self.state.metrics.faults.labels(
            scenario=decision.scenario, rule=decision.rule, fault=fault.type_name, provider=info.provider
        ).inc()
        run = here.run = FaultRun(
            info=info,
            rng=decision.rng,
            body=view.content,
            client_gone=self._watch_client(flow),
            capacity=decision.capacity,
            shared=self.state.shared_for(decision.place),
        )
        if fault.plain_answer and info.stream:
            flow.request.anticomp()  # the fault reads the answer as it streams
        try:
            act = await fault.on_request(run)
        except Exception:
            self._failed(flow, here, "on_request")
            return
        finally:
            self._forget_client(flow)
        self.state.overload.record(decision.scenario, decision.rule, run)
        if isinstance(act, Reply):
            answer(flow, act)
        elif isinstance(act, Hangup):
            if act.reset:
                reset_client(flow)
            if flow.killable:
                flow.kill()
        elif fault.needs_upstream and not flow.error:
            here.armed = True
        publish(flow, here)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        assert response is not None
        here = self.state.flows.get(flow)
        # Streamed answers are relayed as they arrive; mitmproxy would otherwise buffer them whole.
        if streams_events(response) or (here is not None and here.info is not None and here.info.stream):
            response.stream = True
        if here is None or not here.armed or here.run is None or here.decision is None:
            return
        try:
            edit = here.decision.fault.on_response_headers(here.run, self._answer(response))
            if edit is not None:
                for name, value in edit.headers:
                    response.headers[name] = value
                if edit.reader is not None and response.stream:
                    read_stream(response, edit.reader)
        except Exception:
            self._failed(flow, here, "on_response_headers")

    def response(self, flow: http.HTTPFlow) -> None:
        here = self.state.flows.get(flow)
        if here is None:
            return
        response = flow.response
        assert response is not None
        if here.armed and here.run is not None and here.decision is not None:
            here.armed = False
            try:
                body = here.decision.fault.on_response(here.run, self._answer(response, with_body=True))
                if body is not None:
                    response.raw_content = body
                    if "content-length" in response.headers:
                        response.headers["content-length"] = str(len(body))
            except Exception:
                self._failed(flow, here, "on_response")
            publish(flow, here)
        failed = bool(failure_of_response(response.status_code, here.outcome, here.fault))
        retry_after = None
        if failed and here.arrival is not None and here.arrival.tickets:
            # A `first:` rule's retry may wait what the answer asked for, as the observer allows.
            body = response.get_content(strict=False) if response.raw_content is not None else None
            headers = plain_headers(response.headers.fields)
            retry_after = signals.retry_after(headers, signals.error_object(body), received=response.timestamp_end)
        self._ended(here, failed, retry_after)

    def error(self, flow: http.HTTPFlow) -> None:
        here = self.state.flows.get(flow)
        if here is not None:
            here.armed = False
            self._ended(here, failed=True)

    def _ended(self, here: FlowState, failed: bool, retry_after: float | None = None) -> None:
        """The attempt is over: its fault gives back what it held, the counting rules hear how it went."""
        if here.run is not None and here.decision is not None and not here.ended:
            try:
                here.decision.fault.on_end(here.run)
            except Exception:
                log.exception("brownout: fault %s failed in on_end", here.fault)
                self.state.metrics.fault_errors.labels(fault=here.fault).inc()
        here.ended = True
        if here.arrival is not None:
            self.state.engine.ended(here.arrival, failed, retry_after)

    def client_disconnected(self, client: connection.Client) -> None:
        for event in self._client_gone.pop(client.id, {}).values():
            event.set()

    @staticmethod
    def _answer(response: http.Response, with_body: bool = False) -> Answer:
        raw = response.raw_content if with_body else None
        content = response.get_content(strict=False) if raw is not None else None
        return Answer(response.status_code, plain_headers(response.headers.fields), bool(response.stream), raw, content)

    def _watch_client(self, flow: http.HTTPFlow) -> asyncio.Event:
        event = asyncio.Event()
        self._client_gone.setdefault(flow.client_conn.id, {})[flow.id] = event
        if flow.request.http_version.startswith("HTTP/2"):
            # An HTTP/2 client that gives up resets its stream alone: no disconnect to hear of.
            self._stream_watches[flow.id] = asyncio.create_task(self._watch_stream(flow, event))
        return event

    @staticmethod
    async def _watch_stream(flow: http.HTTPFlow, gone: asyncio.Event) -> None:
        while not client_reset_stream(flow):
            await asyncio.sleep(STREAM_RESET_POLL)
        gone.set()

    def _forget_client(self, flow: http.HTTPFlow) -> None:
        watch = self._stream_watches.pop(flow.id, None)
        if watch is not None:
            watch.cancel()
        flows = self._client_gone.get(flow.client_conn.id)
        if flows is not None:
            flows.pop(flow.id, None)
            if not flows:
                del self._client_gone[flow.client_conn.id]

    def _undecided(self, flow: http.HTTPFlow, here: FlowState) -> None:
        # Choosing failed (every request would fail alike): pass through, counted; one traceback
        # a minute, not one per request.
        now = asyncio.get_running_loop().time()
        if now - self._decision_told >= DECISION_LOG_EVERY:
            self._decision_told = now
            log.exception("brownout: choosing a fault failed; passing the flow through (logged once a minute)")
        self.state.metrics.fault_errors.labels(fault=DECISION).inc()
        publish(flow, here)

    def _failed(self, flow: http.HTTPFlow, here: FlowState, stage: str) -> None:
        # A bug in a fault must never hang or break the client: relay the flow untouched.
        fault = here.fault or "unknown"
        log.exception("brownout: fault %s failed in %s; passing the flow through", fault, stage)
        self.state.metrics.fault_errors.labels(fault=fault).inc()
        here.armed = False
        if here.run is not None:
            here.run.outcome = Outcome.FAULT_ERROR
        publish(flow, here)
