"""Watch how the client reacts: translate flows into `observe` events and record what they show.

Thin hooks: when an attempt ends, its flow becomes `AttemptStarted` plus `AttemptEnded`
(response or error) or `ClientAbandoned` (the client closed first), each with its own time;
`observe.Observer` does the grouping and `client_metrics.ClientMetrics` the counting. Nothing
is done on the request's way upstream, so watching never shifts a fault's timing. It runs after
the Injector and Streams, so the flow's state says what the faults did to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from mitmproxy import connection
from mitmproxy import exceptions
from mitmproxy import flow as mflow
from mitmproxy import http

from brownout.classify.request import RequestInfo
from brownout.classify.request import RequestView
from brownout.classify.request import plain_headers
from brownout.engine.flows import FlowState
from brownout.engine.state import Brownout
from brownout.engine.state import ScenarioSwitch
from brownout.faults.outcome import CLIENT_STOPS_AT
from brownout.faults.outcome import IDLE
from brownout.faults.outcome import SPOILS_ANSWER
from brownout.faults.outcome import Outcome
from brownout.hooks.recorder import CLIENT_GONE
from brownout.hooks.upstream_errors import UPSTREAM_ERROR
from brownout.metrics.client import ClientMetrics
from brownout.mitm.flows import read_request
from brownout.mitm.relay import cut_by_us
from brownout.mitm.streamfn import read_stream
from brownout.observe import retry_signals as signals
from brownout.observe.events import AttemptEnded
from brownout.observe.events import AttemptStarted
from brownout.observe.events import ClientAbandoned
from brownout.observe.events import Event
from brownout.observe.events import FaultsSwitched
from brownout.observe.events import Observation
from brownout.observe.failures import broken_stream
from brownout.observe.failures import failure_of_error
from brownout.observe.failures import failure_of_response
from brownout.observe.failures import is_bad_answer
from brownout.observe.grouping import Observer
from brownout.units import parse_duration

log = logging.getLogger(__name__)

# Error bodies are small; a streamed one is read up to this much for its code and RetryInfo.
ERROR_BODY_LIMIT = 64 * 1024
TICK_SECONDS = 1.0


@dataclass(slots=True)
class _Watched:
    flow: http.HTTPFlow
    here: FlowState
    client_id: str
    started: bool = False


def _duration_option(name: str, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise exceptions.OptionsError(f"{name}: {exc}") from exc


class ClientObserver:
    def __init__(self, state: Brownout) -> None:
        self.state = state
        self.observer = Observer()
        self.metrics = ClientMetrics.on(state.metrics.registry)
        self._watched: dict[str, _Watched] = {}  # flow id -> flow under watch
        self._by_client: dict[str, set[str]] = {}  # client connection id -> its flows under watch
        self._error_bodies: dict[str, bytearray] = {}  # flow id -> start of a streamed error body
        self._ticker: asyncio.Task[None] | None = None
        state.listeners.append(self._switched)

    # -- options and lifecycle

    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option(
            "brownout_retry_window",
            str,
            "30s",
            "How long after a failed attempt (plus its Retry-After) the same request still counts as its retry.",
        )
        loader.add_option(
            "brownout_fallback_window",
            str,
            "60s",
            "How long after a failure the same conversation at another provider or model counts as a fallback.",
        )

    def configure(self, updated: set[str]) -> None:
        from mitmproxy import ctx

        settings = self.observer.settings
        if "brownout_retry_window" in updated:
            retry_window = _duration_option("brownout_retry_window", ctx.options.brownout_retry_window)
            settings = dataclasses.replace(settings, retry_window=retry_window)
        if "brownout_fallback_window" in updated:
            fallback_window = _duration_option("brownout_fallback_window", ctx.options.brownout_fallback_window)
            settings = dataclasses.replace(settings, fallback_window=fallback_window)
        self.observer.settings = self.state.record.settings = settings
        self.state.engine.retry_window = settings.retry_window  # `first:` rules group retries the same way

    def running(self) -> None:
        # Synchronous on purpose (a script reload calls it without awaiting); the ticker is a task.
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    def done(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        with contextlib.suppress(ValueError):
            self.state.listeners.remove(self._switched)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self._record(self.observer.tick(time.time()))

    # -- hooks

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        here = self.state.flows.get(flow)
        if here is None or not here.provider:
            return  # not an AI-API request
        self._watched[flow.id] = _Watched(flow, here, flow.client_conn.id)
        self._by_client.setdefault(flow.client_conn.id, set()).add(flow.id)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        if flow.id not in self._watched or response is None:
            return
        if response.status_code >= 400 and response.stream:
            self._capture_error_body(flow, response)

    def response(self, flow: http.HTTPFlow) -> None:
        watched = self._watched.get(flow.id)
        if watched is None or flow.response is None or not self._start(watched):
            return
        response = flow.response
        here = watched.here
        failure = failure_of_response(
            response.status_code, here.outcome, here.fault, upstream_broke=UPSTREAM_ERROR in flow.metadata
        )
        retry_after: float | None = None
        nonretryable = False
        if failure:
            body = response.get_content(strict=False) if response.raw_content is not None else None
            if body is None:
                body = bytes(self._error_bodies.get(flow.id, b""))
            error = signals.error_object(body)
            headers = plain_headers(response.headers.fields)
            retry_after = signals.retry_after(headers, error, received=response.timestamp_end)
            status = response.status_code if response.status_code >= 400 else None
            nonretryable = signals.is_nonretryable(status, signals.error_codes(error), signals.should_retry(headers))
        self._finish(
            flow,
            AttemptEnded(
                flow.id,
                response.timestamp_end or time.time(),
                failure=failure,
                retry_after=retry_after,
                nonretryable=nonretryable,
                scenario=here.scenario,
                fault=here.fault,
                broken=broken_stream(here.outcome, here.fault, ended_in_error=False),
                bad_answer=is_bad_answer(response.status_code, here.outcome),
            ),
        )

    def error(self, flow: http.HTTPFlow) -> None:
        watched = self._watched.get(flow.id)
        if watched is None or flow.error is None or not self._start(watched):
            return
        at = flow.error.timestamp
        if flow.error.msg.startswith(CLIENT_GONE) or watched.here.outcome == Outcome.ABANDONED:
            self._client_left(watched, at)
            return
        self._finish(flow, self._failed(watched, at))

    def _failed(self, watched: _Watched, at: float) -> AttemptEnded:
        """An attempt that ended without a complete answer, as what happened to it."""
        flow, here = watched.flow, watched.here
        status = flow.response.status_code if flow.response is not None else None
        # The upstream broke the answer off: brownout saw it go idle, or no fault was acting on it.
        upstream_broke = UPSTREAM_ERROR in flow.metadata or (
            flow.response is not None and here.outcome in IDLE and not cut_by_us(flow.error.msg if flow.error else None)
        )
        failure = failure_of_error(here.outcome, here.fault, status, upstream_broke)
        broken = broken_stream(here.outcome, here.fault, ended_in_error=True)
        bad_answer = status is not None and is_bad_answer(status, here.outcome)
        return AttemptEnded(
            flow.id, at, failure=failure, scenario=here.scenario, fault=here.fault, broken=broken, bad_answer=bad_answer
        )

    def _client_left(self, watched: _Watched, at: float) -> None:
        here = watched.here
        if here.outcome in SPOILS_ANSWER or here.outcome in CLIENT_STOPS_AT:
            # It stopped reading after the fault broke the answer (an SDK raising on a corrupt
            # event, or the anthropic stream helper on a missing usage object, closes the
            # stream): a reaction to the fault, not a timeout.
            self._finish(watched.flow, self._failed(watched, at))
            return
        self._finish(watched.flow, ClientAbandoned(watched.flow.id, at, scenario=here.scenario, fault=here.fault))

    def client_disconnected(self, client: connection.Client) -> None:
        at = client.timestamp_end or time.time()
        for flow_id in list(self._by_client.get(client.id, ())):
            watched = self._watched.get(flow_id)
            if watched is None:
                continue
            flow = watched.flow
            if flow.error is not None and flow.error.msg == mflow.Error.KILLED_MESSAGE:
                continue  # brownout closed it (reset, hang, empty reply): its error hook says how
            if not self._start(watched):
                continue
            self._client_left(watched, at)

    # -- translation

    def _start(self, watched: _Watched) -> bool:
        """Report the attempt's start, once, just before its end; False when brownout did not
        classify the request (not an AI-API call)."""
        if watched.started:
            return True
        flow, info = watched.flow, watched.here.info
        if info is None:
            self._forget(flow.id)
            return False
        watched.started = True
        self._feed(self.attempt_started(flow, info, watched.here.view or read_request(flow)))
        return True

    @staticmethod
    def attempt_started(flow: http.HTTPFlow, info: RequestInfo, view: RequestView) -> AttemptStarted:
        request = flow.request
        headers, body, parsed = view.headers, request.raw_content, view.body
        provider = info.provider
        address = str(flow.client_conn.peername[0]) if flow.client_conn.peername else ""
        return AttemptStarted(
            attempt=flow.id,
            time=request.timestamp_start,
            provider=provider,
            endpoint=info.endpoint,
            model=info.model,
            client=info.client,
            identity=signals.identity(info.key_hash, address),
            fingerprint=signals.fingerprint(request.method, provider, request.path, body, parsed),
            conversation=signals.conversation_key(parsed),
            turns=signals.turn_prefixes(parsed),
            origin=address,
            retry_count=signals.retry_count(headers),
            declared_timeout=signals.declared_timeout(headers),
        )

    def _capture_error_body(self, flow: http.HTTPFlow, response: http.Response) -> None:
        """Keep the first bytes of a streamed error answer (its code, Gemini's RetryInfo) while
        relaying every chunk unchanged, through whatever stream function is already set."""
        captured = self._error_bodies.setdefault(flow.id, bytearray())

        def keep(data: bytes) -> None:
            room = ERROR_BODY_LIMIT - len(captured)
            if room > 0:
                captured.extend(data[:room])

        read_stream(response, keep)

    def _finish(self, flow: http.HTTPFlow, event: Event) -> None:
        self._forget(flow.id)
        self._feed(event)

    def _forget(self, flow_id: str) -> None:
        watched = self._watched.pop(flow_id, None)
        self._error_bodies.pop(flow_id, None)
        if watched is not None:
            flows = self._by_client.get(watched.client_id)
            if flows is not None:
                flows.discard(flow_id)
                if not flows:
                    del self._by_client[watched.client_id]

    def _switched(self, switch: ScenarioSwitch) -> None:
        at = switch.at if switch.at is not None else time.time()
        self._feed(FaultsSwitched(switch.scenario, switch.active, at, switch.phase))

    def _feed(self, event: Event) -> None:
        self.state.record.add(event)
        try:
            self._record(self.observer.feed(event))
        except Exception:
            # Observing must never break the traffic it watches.
            log.exception("brownout: observing %s failed", type(event).__name__)

    def _record(self, observations: Iterable[Observation]) -> None:
        for observation in observations:
            self.metrics.record(observation)
