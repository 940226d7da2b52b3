"""Gemini's error replies (`reference/providers.md` §4): google.rpc status, pretty-printed.

Gemini sends no `retry-after` header: the retry delay travels in the body, as a
`google.rpc.RetryInfo` detail and in the message text, so that is where `retry_after` goes.
"""

from __future__ import annotations

import json

from brownout.providers.base import ErrorKind
from brownout.providers.base import ErrorOptions
from brownout.providers.base import Render
from brownout.providers.base import Reply
from brownout.providers.base import pretty_json
from brownout.providers.base import retry_delay_seconds

DEFAULT_QUOTA_RETRY_SECONDS = 45.0


def api_headers() -> list[tuple[str, str]]:
    return [
        ("content-type", "application/json; charset=UTF-8"),
        ("vary", "Origin, X-Origin, Referer"),
        ("server", "scaffolding on HTTPServer2"),
        ("x-xss-protection", "0"),
        ("x-frame-options", "SAMEORIGIN"),
        ("x-content-type-options", "nosniff"),
        ("alt-svc", 'h3=":443"; ma=2592000,h3-29=":443"; ma=2592000'),
    ]


def error_body(status: int, rpc_status: str, message: str, details: list[dict[str, object]] | None = None) -> bytes:
    error: dict[str, object] = {"code": status, "message": message, "status": rpc_status}
    if details:
        error["details"] = details
    # The live API pretty-prints error bodies with two-space indents.
    return pretty_json({"error": error})


def _status(rpc_status: str, default_message: str) -> Render:
    def render(opts: ErrorOptions, status: int) -> Reply:
        return Reply(status, api_headers(), error_body(status, rpc_status, opts.message or default_message))

    return render


def _quota(opts: ErrorOptions, status: int) -> Reply:
    delay = retry_delay_seconds(opts)
    if delay is None:
        delay = DEFAULT_QUOTA_RETRY_SECONDS
    model = opts.model or "gemini-2.5-flash"
    message = opts.message or (
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. "
        "To monitor your current usage, head to: https://ai.dev/rate-limit. \n"
        "* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, "
        f"limit: 0, model: {model}\nPlease retry in {delay:g}s."
    )
    details: list[dict[str, object]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    "quotaDimensions": {"location": "global", "model": model},
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay:g}s"},
    ]
    return Reply(status, api_headers(), error_body(status, "RESOURCE_EXHAUSTED", message, details))


def listed(reply: Reply) -> Reply:
    """The same error as Gemini's OpenAI-compatible endpoints send it: the google.rpc envelope
    inside a JSON list, `[{"error": {...}}]` (issue 15; openai-python then keeps the list as the
    error's `body`, with no `code` or `type`)."""
    return Reply(reply.status, reply.headers, pretty_json([json.loads(reply.body)]), reply.reason)


KINDS: dict[str, ErrorKind] = {
    "invalid_request": ErrorKind(
        400,
        _status("INVALID_ARGUMENT", "Request contains an invalid argument."),
        "400 INVALID_ARGUMENT",
        retryable=False,
    ),
    "authentication": ErrorKind(
        400,
        _status("INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
        "400 INVALID_ARGUMENT (bad API key)",
        retryable=False,
    ),
    "permission": ErrorKind(
        403,
        _status("PERMISSION_DENIED", "The caller does not have permission"),
        "403 PERMISSION_DENIED",
        retryable=False,
    ),
    "not_found": ErrorKind(
        404,
        _status("NOT_FOUND", "models/unknown is not found for API version v1beta."),
        "404 NOT_FOUND",
        retryable=False,
    ),
    "rate_limit": ErrorKind(
        429, _quota, "429 RESOURCE_EXHAUSTED with QuotaFailure and RetryInfo", aliases=("resource_exhausted", "quota")
    ),
    "exhausted": ErrorKind(
        429,
        _status("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
        "429 RESOURCE_EXHAUSTED, short form without details",
    ),
    "server_error": ErrorKind(
        500,
        _status(
            "INTERNAL",
            "An internal error has occurred. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting",
        ),
        "500 INTERNAL",
    ),
    "overloaded": ErrorKind(
        503,
        _status("UNAVAILABLE", "The model is overloaded. Please try again later."),
        "503 UNAVAILABLE, model overloaded",
    ),
    "high_demand": ErrorKind(
        503,
        _status(
            "UNAVAILABLE",
            "This model is currently experiencing high demand. Spikes in demand are "
            "usually temporary. Please try again later.",
        ),
        "503 UNAVAILABLE, high demand",
    ),
    "timeout": ErrorKind(504, _status("DEADLINE_EXCEEDED", "Deadline Exceeded"), "504 DEADLINE_EXCEEDED"),
}

STATUS_DEFAULTS: dict[int, str] = {
    400: "invalid_request",
    403: "permission",
    404: "not_found",
    429: "rate_limit",
    500: "server_error",
    503: "overloaded",
    504: "timeout",
}

_RPC_BY_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 409: "ABORTED", 501: "UNIMPLEMENTED"}


def generic(opts: ErrorOptions, status: int) -> Reply:
    rpc = _RPC_BY_STATUS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    return _status(rpc, opts.message or f"HTTP {status}")(opts, status)
