"""brownout's own answer when the upstream fails it: a 502 (or, for a timeout, a 504) that says
it is brownout's.

A connection refused, a name that does not resolve, a failed TLS handshake or an upstream that
closes without answering would otherwise reach the client as mitmproxy's HTML 502, which the SDKs
retry like any provider 5xx and a person easily takes for an injected fault; an upstream that
never answers would hold the client until mitmproxy's inactivity cut-off and end in a bare
disconnect. This answer keeps the provider's error envelope (so the SDK's exception carries the
message) and says, in the message and in its headers, that brownout sent it, which upstream
failed and why. A timeout (brownout's connect or first-byte limit, or the system's) is a 504, as
a gateway answers one; every other cause a 502.
"""

from __future__ import annotations

import re

from brownout.providers import anthropic
from brownout.providers import dialects
from brownout.providers import gemini
from brownout.providers import openai
from brownout.providers.base import Reply
from brownout.providers.base import compact_json
from brownout.providers.base import request_id

STATUS = 502
TIMEOUT_STATUS = 504
HEADER = "x-brownout"  # value `upstream-error`: no provider sends this header

# Why a connection failed, from the text mitmproxy reports; a bounded label set.
_CAUSES = (
    (
        "dns",
        re.compile(
            r"name or service not known|nodename nor servname|no address associated|"
            r"temporary failure in name resolution|getaddrinfo failed|name resolution",
            re.I,
        ),
    ),
    ("refused", re.compile(r"connect call failed|connection refused|errno 111|errno 61\b", re.I)),
    ("tls", re.compile(r"tls|ssl|certificate|handshake", re.I)),
    ("timeout", re.compile(r"timed out|timeout", re.I)),
    ("unreachable", re.compile(r"unreachable|no route to host", re.I)),
    ("closed", re.compile(r"server closed connection|connection closed|reset by peer|server disconnected", re.I)),
)
# `stream_idle` is not told from a message: brownout's idle-stream limit names it (see
# `brownout.mitm.upstream_timeouts`); the stream had begun, so there is no reply to label.
STREAM_IDLE = "stream_idle"
CAUSES = tuple(name for name, _ in _CAUSES) + ("other", STREAM_IDLE)


def upstream_cause(message: str) -> str:
    """`dns`, `refused`, `tls`, `timeout`, `unreachable`, `closed` (the upstream closed without
    answering) or `other`."""
    for name, pattern in _CAUSES:
        if pattern.search(message):
            return name
    return "other"


def status_of(cause: str) -> int:
    return TIMEOUT_STATUS if cause == "timeout" else STATUS


def upstream_error_message(upstream: str, cause: str, detail: str) -> str:
    status = status_of(cause)
    if status == TIMEOUT_STATUS:
        what = f"brownout timed out waiting for the upstream {upstream} ({cause}: {detail})"
    elif cause == "closed":
        what = f"the upstream {upstream} closed the connection without answering ({cause}: {detail})"
    else:
        what = f"brownout could not reach the upstream {upstream} ({cause}: {detail})"
    return f"{what}. This {status} is brownout's, not the provider's: check the upstream (--upstream NAME=URL)."


def upstream_error_reply(provider: str, upstream: str, detail: str, cause: str | None = None) -> Reply:
    """The 502 or 504 for `provider`'s clients: its error envelope, brownout's headers."""
    cause = cause or upstream_cause(detail)
    status = status_of(cause)
    message = upstream_error_message(upstream, cause, detail)
    code = "upstream_timeout" if status == TIMEOUT_STATUS else "upstream_unreachable"
    if provider == "anthropic":
        body = anthropic.error_body(
            "timeout_error" if status == TIMEOUT_STATUS else "api_error", message, request_id("req_brownout_", 24)
        )
    elif provider == "gemini":
        body = gemini.error_body(status, "DEADLINE_EXCEEDED" if status == TIMEOUT_STATUS else "UNAVAILABLE", message)
    elif provider == "azure":
        body = compact_json({"error": {"code": code, "message": message}})
    else:  # OpenAI and compatible servers
        body = openai.envelope(message, "upstream_error", code)
    headers = [
        ("content-type", "application/json"),
        (HEADER, "upstream-error"),
        ("x-brownout-upstream", upstream),
        ("x-brownout-cause", cause),
    ]
    return Reply(status, headers, body, reason="Gateway Timeout" if status == TIMEOUT_STATUS else "Bad Gateway")


def stream_idle_events(provider: str, endpoint: str, upstream: str, detail: str) -> bytes:
    """The provider's own mid-stream error event (and what it sends after it), for a stream whose
    upstream went silent: the SDKs raise on it as on the provider's failing stream."""
    dialect = dialects.dialect_for(provider, endpoint)
    message = (
        f"brownout ended the stream: the upstream {upstream} went silent ({STREAM_IDLE}: {detail}). "
        "This error is brownout's, not the provider's."
    )
    # OpenAI's chat stream has its own mid-stream wording; the others use their server_error kind.
    kind = None if isinstance(dialect, dialects.OpenAIChat) else "server_error"
    return dialect.error_events(kind, message, b"\n")
