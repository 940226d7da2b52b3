"""Whether the stream relay fits the installed mitmproxy, and the one patch that lets it work.

`check()` lists what in mitmproxy's HTTP layer does not fit `brownout.mitm.relay`; `install()`
patches `HttpStream.start_response_stream` only when nothing is listed, once per process, and
otherwise leaves mitmproxy untouched (stream faults then run content-only, see
`brownout.hooks.streams`). The patch hands a response whose stream function is a `PlanRelay`
over to the relay; every other response costs one `isinstance` check.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from mitmproxy import version
from mitmproxy.proxy import commands
from mitmproxy.proxy import events
from mitmproxy.proxy.layers import http as layers_http
from mitmproxy.proxy.layers.http import _events as http_events

from brownout.mitm.relay import PlanRelay

# Minor versions the relay was written against and tested on (12.2.3; 12.3.1 has the same
# HTTP layer). Others are refused unless BROWNOUT_STREAM_ADAPTER=force, and only if the shapes fit.
TESTED = ((12, 2), (12, 3))
FORCE_ENV = "BROWNOUT_STREAM_ADAPTER"

CommandGenerator = Generator[commands.Command, Any, None]


@dataclass
class Status:
    enabled: bool
    reason: str = ""


_status: Status | None = None


def _version() -> tuple[int, int]:
    major, minor = (int(part) for part in version.VERSION.split(".")[:2])
    return major, minor


def tested_version() -> bool:
    """The installed mitmproxy is a tested minor version, or the user forces the patches on."""
    try:
        tested = _version()[:2] in TESTED
    except ValueError:
        tested = False
    return tested or os.environ.get(FORCE_ENV) == "force"


def untested_version() -> str:
    return (
        f"mitmproxy {version.VERSION} is not a tested version "
        f"({', '.join(f'{a}.{b}' for a, b in TESTED)}; set {FORCE_ENV}=force to try it)"
    )


def check() -> list[str]:
    """What in the installed mitmproxy does not fit the adapter (empty: it fits)."""
    problems: list[str] = []
    stream_cls = getattr(layers_http, "HttpStream", None)
    if stream_cls is None:
        return ["mitmproxy.proxy.layers.http.HttpStream is gone"]
    for name in ("start_response_stream", "send_response", "state_errored", "_handle_event", "flow_done"):
        if not callable(getattr(stream_cls, name, None)):
            problems.append(f"HttpStream.{name} is missing")
    start = getattr(stream_cls, "start_response_stream", None)
    if start is not None and not getattr(start, "__brownout__", False):
        if list(inspect.signature(start).parameters) != ["self"]:
            problems.append(f"HttpStream.start_response_stream{inspect.signature(start)} takes other arguments")
        elif not inspect.isgeneratorfunction(start):
            problems.append("HttpStream.start_response_stream is no longer a generator")
        elif "self.server_state = self.state_stream_response_body" not in inspect.getsource(start):
            problems.append("HttpStream.start_response_stream no longer enters state_stream_response_body")
    send_response = getattr(stream_cls, "send_response", None)
    if send_response is not None and "already_streamed" not in inspect.signature(send_response).parameters:
        problems.append("HttpStream.send_response has no already_streamed parameter")
    init_source = inspect.getsource(stream_cls.__init__)
    for attribute in ("self.server_state", "self.client_state", "self.stream_id", "self.response_body_buf"):
        if attribute not in init_source:
            problems.append(f"HttpStream.__init__ no longer sets {attribute}")
    for name in ("SendHttp", "DropStream", "HttpLayer"):
        if not hasattr(layers_http, name):
            problems.append(f"mitmproxy.proxy.layers.http.{name} is gone")
    if hasattr(layers_http, "SendHttp") and list(inspect.signature(layers_http.SendHttp).parameters) != [
        "event",
        "connection",
    ]:
        problems.append("SendHttp no longer takes (event, connection)")
    for name, params in (
        ("ResponseData", ["stream_id", "data"]),
        ("RequestProtocolError", ["stream_id", "message", "code"]),
        ("ResponseProtocolError", ["stream_id", "message", "code"]),
    ):
        cls = getattr(http_events, name, None)
        if cls is None or list(inspect.signature(cls).parameters) != params:
            problems.append(f"{name} no longer takes ({', '.join(params)})")
    error_code = getattr(http_events, "ErrorCode", None)
    if error_code is None or not all(hasattr(error_code, code) for code in ("KILL", "CANCEL")):
        problems.append("ErrorCode.KILL / ErrorCode.CANCEL are gone")
    if not hasattr(commands, "RequestWakeup") or not hasattr(events, "Wakeup"):
        problems.append("commands.RequestWakeup / events.Wakeup are gone")
    elif hasattr(layers_http, "HttpLayer"):
        if "RequestWakeup" not in inspect.getsource(layers_http.HttpLayer.event_to_child):
            problems.append("HttpLayer no longer routes RequestWakeup back to its streams")
    if not hasattr(layers_http, "HttpErrorHook"):
        problems.append("HttpErrorHook is gone")
    if not tested_version():
        problems.append(untested_version())
    return problems


def install() -> Status:
    """Patch mitmproxy once per process if it fits; the status says whether relays are live."""
    global _status
    if _status is not None:
        return _status
    problems = check()
    if problems:
        _status = Status(False, "; ".join(problems))
        return _status
    patch_method(layers_http.HttpStream, "start_response_stream", _patched_start)
    _status = Status(True)
    return _status


def patch_method(cls: type, name: str, wrap: Callable[[Any], Any]) -> None:
    """Replace `cls.name` by `wrap(original)`, once: a patched method is marked `__brownout__`."""
    original = getattr(cls, name)
    if getattr(original, "__brownout__", False):
        return
    patched = wrap(original)
    patched.__brownout__ = True
    setattr(cls, name, patched)


class OncePatch:
    """A patch that `install()` applies once per process, when its `check()` finds nothing that
    does not fit the installed mitmproxy; otherwise a warning (`unfit`, then the problems) and
    mitmproxy stays as it is. `install()` says whether the patch is in."""

    def __init__(self, check: Callable[[], list[str]], apply: Callable[[], None], unfit: str) -> None:
        self.check = check
        self.apply = apply
        self.unfit = unfit
        self.installed: bool | None = None

    def install(self) -> bool:
        if self.installed is None:
            problems = self.check()
            if problems:
                logging.getLogger(self.apply.__module__).warning("%s: %s", self.unfit, "; ".join(problems))
            else:
                self.apply()
            self.installed = not problems
        return self.installed


def status() -> Status:
    return _status if _status is not None else install()


def _patched_start(original: Callable[[Any], CommandGenerator]) -> Callable[[Any], CommandGenerator]:
    def start_response_stream(self: Any) -> CommandGenerator:
        yield from original(self)
        relay = self.flow.response.stream
        if isinstance(relay, PlanRelay) and _status is not None and _status.enabled:
            yield from relay.take_over(self)

    start_response_stream.__wrapped__ = original  # type: ignore[attr-defined]
    return start_response_stream
