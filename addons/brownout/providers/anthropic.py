"""Anthropic's error replies (`reference/providers.md` §3): typed envelope plus `request-id`."""

from __future__ import annotations

import secrets

from brownout.providers.base import ErrorKind
from brownout.providers.base import ErrorOptions
from brownout.providers.base import Render
from brownout.providers.base import Reply
from brownout.providers.base import compact_json
from brownout.providers.base import retry_headers

ORGANIZATION_ID = "00000000-0000-4000-8000-00000000b0e7"


def message_id() -> str:
    # Anthropic ids are base62; hex keeps them unique and the right length.
    return "req_011C" + secrets.token_hex(10)


def api_headers() -> tuple[str, list[tuple[str, str]]]:
    rid = message_id()
    return rid, [
        ("content-type", "application/json"),
        ("request-id", rid),
        ("anthropic-organization-id", ORGANIZATION_ID),
        ("via", "1.1 google"),
        ("cf-cache-status", "DYNAMIC"),
        ("x-robots-tag", "none"),
        ("server", "cloudflare"),
        ("cf-ray", f"{secrets.token_hex(8)}-FRA"),
    ]


def error_body(type_: str, message: str, rid: str) -> bytes:
    """Anthropic's error envelope, compact as the API sends it."""
    return compact_json({"type": "error", "error": {"type": type_, "message": message}, "request_id": rid})


def _typed(type_: str, default_message: str) -> Render:
    def render(opts: ErrorOptions, status: int) -> Reply:
        rid, headers = api_headers()
        return Reply(status, headers + retry_headers(opts), error_body(type_, opts.message or default_message, rid))

    return render


KINDS: dict[str, ErrorKind] = {
    "invalid_request": ErrorKind(
        400, _typed("invalid_request_error", "Invalid request."), "400 invalid_request_error", retryable=False
    ),
    "authentication": ErrorKind(
        401, _typed("authentication_error", "invalid x-api-key"), "401 authentication_error", retryable=False
    ),
    "billing": ErrorKind(
        402,
        _typed("billing_error", "Your credit balance is too low to access the Anthropic API."),
        "402 billing_error",
        retryable=False,
    ),
    "permission": ErrorKind(
        403,
        _typed("permission_error", "Your API key does not have permission to use the specified resource."),
        "403 permission_error",
        retryable=False,
    ),
    "not_found": ErrorKind(404, _typed("not_found_error", "Not found"), "404 not_found_error", retryable=False),
    "request_too_large": ErrorKind(
        413,
        _typed("request_too_large", "Request exceeds the maximum allowed number of bytes."),
        "413 request_too_large",
        retryable=False,
    ),
    "rate_limit": ErrorKind(
        429,
        _typed("rate_limit_error", "This request would exceed your account's rate limit. Please try again later."),
        "429 rate_limit_error",
        aliases=("rate_limit_error",),
    ),
    "server_error": ErrorKind(
        500, _typed("api_error", "Internal server error"), "500 api_error", aliases=("api_error",)
    ),
    "timeout": ErrorKind(504, _typed("timeout_error", "Request timed out"), "504 timeout_error"),
    "overloaded": ErrorKind(
        529, _typed("overloaded_error", "Overloaded"), "529 overloaded_error", aliases=("overloaded_error",)
    ),
}

STATUS_DEFAULTS: dict[int, str] = {
    400: "invalid_request",
    401: "authentication",
    402: "billing",
    403: "permission",
    404: "not_found",
    413: "request_too_large",
    429: "rate_limit",
    500: "server_error",
    504: "timeout",
    529: "overloaded",
}


def generic(opts: ErrorOptions, status: int) -> Reply:
    type_ = "api_error" if status >= 500 else "invalid_request_error"
    return _typed(type_, opts.message or f"HTTP {status}")(opts, status)
