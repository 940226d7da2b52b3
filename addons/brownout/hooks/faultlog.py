"""One log line per injected fault once its flow ends (not for a request a rate limit or an
overload admitted untouched), like mitmdump's flow lines (option
`brownout_fault_log`, on by default); the log's own timestamp says when it ended:

    brownout: fault openai-python openai/gpt-4o outage/server-error error(status=500) -> answered 500 (0.01 s)
"""

from __future__ import annotations

import logging
import time
import weakref

from mitmproxy import http

from brownout.engine.state import Brownout
from brownout.faults.outcome import Outcome

log = logging.getLogger(__name__)


def fault_line(flow: http.HTTPFlow, state: Brownout) -> str | None:
    here = state.flows.get(flow)
    if here is None or here.decision is None or here.info is None:
        return None
    info, decision = here.info, here.decision
    if here.outcome is Outcome.ADMITTED:
        return None  # a limit under its capacity let it through untouched: not a fault the client met
    if flow.response is not None and flow.error is None:
        ended = str(flow.response.status_code)
    elif flow.error is not None:
        ended = flow.error.msg
    else:
        ended = "-"
    where = f"{info.provider}/{info.model}" if info.model else info.provider
    if flow.response is not None and flow.response.timestamp_end is not None:
        end = flow.response.timestamp_end
    elif flow.error is not None:
        end = flow.error.timestamp
    else:
        end = time.time()
    took = max(0.0, end - flow.request.timestamp_start)
    return (
        f"brownout: fault {info.client} {where} {decision.scenario}/{decision.rule} "
        f"{decision.fault.describe()} -> {here.outcome.value or 'untouched'} {ended} ({took:.2f} s)"
    )


class FaultLog:
    def __init__(self, state: Brownout) -> None:
        self.state = state
        self.enabled = True
        self._logged: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()  # an error may follow a response

    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option("brownout_fault_log", bool, True, "Log one line for each injected fault when its flow ends.")

    def configure(self, updated: set[str]) -> None:
        from mitmproxy import ctx

        if "brownout_fault_log" in updated:
            self.enabled = bool(ctx.options.brownout_fault_log)

    def response(self, flow: http.HTTPFlow) -> None:
        self._log(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._log(flow)

    def _log(self, flow: http.HTTPFlow) -> None:
        if not self.enabled:
            return
        if flow in self._logged:
            return
        line = fault_line(flow, self.state)
        if line is not None:
            self._logged.add(flow)
            log.info(line)
