"""Classify each AI-API request, ask the engine for a fault, and let the fault act on the flow."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

from mitmproxy import connection
from mitmproxy import http

from brownout.classify.request import classify
from brownout.engine.engine import Decision
from brownout.engine.engine import UnknownScenario
from brownout.engine.state import Brownout
from brownout.faults import FaultRun
from brownout.mitm.flows import answer
from brownout.mitm.flows import client_reset_stream
from brownout.mitm.flows import reset_client
from brownout.mitm.view import request_view
from brownout.providers.base import Reply

log = logging.getLogger(__name__)

MARK = ":boom:"
# A request may name the one scenario to apply to it alone, switched on or not (targeted tests).
OVERRIDE_HEADER = "x-brownout-scenario"
# How often a held HTTP/2 flow is checked for a client that reset its stream (see mitm.py).
STREAM_RESET_POLL = 0.1


def _override_error(exc: UnknownScenario) -> Reply:
    message = f"brownout: {OVERRIDE_HEADER}: {exc}"
    body = json.dumps({"error": {"message": message, "type": "brownout_error"}}).encode()
    return Reply(400, [("content-type", "application/json"), ("x-brownout", "override")], body)


@dataclass
class _Armed:
    """A fault still acting on a flow after the request hook (it needs the upstream's answer)."""

    decision: Decision
    run: FaultRun


def is_event_stream(response: http.Response) -> bool:
    return response.headers.get("content-type", "").lower().startswith("text/event-stream")


class Injector:
    def __init__(self, state: Brownout) -> None:
        self.state = state
        self._armed: dict[str, _Armed] = {}
        self._client_gone: dict[str, dict[str, asyncio.Event]] = {}  # client id -> flow id -> event
        self._stream_watches: dict[str, asyncio.Task[None]] = {}  # flow id -> its HTTP/2 reset watch

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        meta = flow.metadata.setdefault("brownout", {})
        # Read and strip the override before anything else: the upstream never sees it.
        only = flow.request.headers.pop(OVERRIDE_HEADER, None)
        if only is not None:
            meta["override"] = only = only.strip()
            if only not in self.state.engine.scenarios:
                answer(flow, _override_error(UnknownScenario(only, sorted(self.state.engine.scenarios))))
                return
        view = request_view(flow)
        info = classify(
            host=flow.request.host,
            path=flow.request.path,
            headers=view.headers,
            body=view.body,
            provider_hint=meta.get("provider"),
        )
        if info is None:
            return
        meta.update(
            provider=info.provider, endpoint=info.endpoint, model=info.model, stream=info.stream, client=info.client
        )
        decision = self.state.engine.choose(info, only=only)
        if decision is None:
            return
        fault = decision.fault
        meta.update(scenario=decision.scenario, rule=decision.rule, fault=fault.type_name)
        flow.marked = MARK
        flow.comment = f"brownout: {decision.scenario} / {decision.rule}: {fault.describe()}"
        self.state.metrics.faults.labels(
            scenario=decision.scenario, rule=decision.rule, fault=fault.type_name, provider=info.provider
        ).inc()
        run = FaultRun(
            info=info,
            rng=decision.rng,
            client_gone=self._watch_client(flow),
            reset_client=lambda: reset_client(flow),
        )
        try:
            await fault.on_request(flow, run)
        except Exception:
            self._failed(flow, fault.type_name, "on_request")
            return
        finally:
            self._forget_client(flow)
        meta["outcome"] = run.outcome
        if fault.needs_upstream and flow.response is None and not flow.error:
            self._armed[flow.id] = _Armed(decision, run)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        assert flow.response is not None
        # Streamed answers are relayed as they arrive; mitmproxy would otherwise buffer them whole.
        if is_event_stream(flow.response) or flow.metadata.get("brownout", {}).get("stream"):
            flow.response.stream = True
        armed = self._armed.get(flow.id)
        if armed is not None:
            try:
                armed.decision.fault.on_responseheaders(flow, armed.run)
            except Exception:
                self._failed(flow, armed.decision.fault.type_name, "on_responseheaders")

    def response(self, flow: http.HTTPFlow) -> None:
        armed = self._armed.pop(flow.id, None)
        if armed is None:
            return
        try:
            armed.decision.fault.on_response(flow, armed.run)
        except Exception:
            self._failed(flow, armed.decision.fault.type_name, "on_response")
        flow.metadata["brownout"]["outcome"] = armed.run.outcome

    def error(self, flow: http.HTTPFlow) -> None:
        self._armed.pop(flow.id, None)

    def client_disconnected(self, client: connection.Client) -> None:
        for event in self._client_gone.pop(client.id, {}).values():
            event.set()

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

    def _failed(self, flow: http.HTTPFlow, fault: str, stage: str) -> None:
        # A bug in a fault must never hang or break the client: relay the flow untouched.
        log.exception("brownout: fault %s failed in %s; passing the flow through", fault, stage)
        self.state.metrics.fault_errors.labels(fault=fault).inc()
        self._armed.pop(flow.id, None)
        flow.metadata.setdefault("brownout", {})["outcome"] = "fault_error"
