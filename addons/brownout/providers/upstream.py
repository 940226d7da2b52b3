"""brownout's own answer when it cannot reach an upstream: a 502 that says it is brownout's.

A connection refused, a name that does not resolve or a failed TLS handshake would otherwise
reach the client as mitmproxy's HTML 502, which the SDKs retry like any provider 5xx and a
person easily takes for an injected fault. This answer keeps the provider's error envelope (so
the SDK's exception carries the message) and says, in the message and in its headers, that
brownout sent it, which upstream it could not reach and why.
"""

from __future__ import annotations

import re

from brownout.providers import anthropic
from brownout.providers import gemini
from brownout.providers import openai
from brownout.providers.base import Reply
from brownout.providers.base import compact_json
from brownout.providers.base import request_id

STATUS = 502
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
)
CAUSES = tuple(name for name, _ in _CAUSES) + ("other",)


def upstream_cause(message: str) -> str:
    """`dns`, `refused`, `tls`, `timeout`, `unreachable` or `other`."""
    for name, pattern in _CAUSES:
        if pattern.search(message):
            return name
    return "other"


def upstream_error_message(upstream: str, cause: str, detail: str) -> str:
    return (
        f"brownout could not reach the upstream {upstream} ({cause}: {detail}). "
        "This 502 is brownout's, not the provider's: check the upstream (--upstream NAME=URL)."
    )


def upstream_error_reply(provider: str, upstream: str, detail: str) -> Reply:
    """The 502 for `provider`'s clients: its error envelope, brownout's headers."""
    cause = upstream_cause(detail)
    message = upstream_error_message(upstream, cause, detail)
    if provider == "anthropic":
        body = anthropic.error_body("api_error", message, request_id("req_brownout_", 24))
    elif provider == "gemini":
        body = gemini.error_body(STATUS, "UNAVAILABLE", message)
    elif provider == "azure":
        body = compact_json({"error": {"code": "upstream_unreachable", "message": message}})
    else:  # OpenAI and compatible servers
        body = openai.envelope(message, "upstream_error", "upstream_unreachable")
    headers = [
        ("content-type", "application/json"),
        (HEADER, "upstream-error"),
        ("x-brownout-upstream", upstream),
        ("x-brownout-cause", cause),
    ]
    return Reply(STATUS, headers, body, reason="Bad Gateway")
