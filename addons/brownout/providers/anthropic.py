"""Anthropic's error replies (`reference/providers.md` §3): typed envelope plus `request-id`.

The body is `{"type":"error","error":{"type","message","details"},"request_id"}`; `details` is
null, or `{"error_code": ...}` for the causes the SDK types (anthropic 2.12 `_error_classes.py`
picks the exception class by status and `details.error_code`: 429 `ramp_limit_exceeded` is a
`RampLimitExceededError`, 429 `enforced_spend_limit_reached` an `EnforcedSpendLimitReachedError`).
A 429 always carries `retry-after` in whole seconds and the `anthropic-ratelimit-*` family;
429 and 529 carry `x-should-retry: true`.
"""

from __future__ import annotations

import secrets
import string
import time

from brownout.providers.base import ErrorKind
from brownout.providers.base import ErrorOptions
from brownout.providers.base import Render
from brownout.providers.base import Reply
from brownout.providers.base import compact_json
from brownout.providers.base import retry_delay_seconds
from brownout.providers.base import retry_headers
from brownout.providers.base import whole_seconds
from brownout.units import rfc3339

ORGANIZATION_ID = "00000000-0000-4000-8000-00000000b0e7"
# A 429's `retry-after` when the scenario sets none: Anthropic always sends one (docs' rate-limits
# page), and the SDK honours any value up to 60 s; one second keeps rehearsals quick.
DEFAULT_RETRY_SECONDS = 1.0

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def message_id() -> str:
    """A request id as Anthropic writes them: `req_011C` and 20 base62 characters
    (`req_011CSHoEeqs5C35K2UUqR7Fy`, captured in gotgenes/pi-anthropic-auth#73)."""
    return "req_011C" + base62(20)


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


def error_object(type_: str, message: str, error_code: str | None = None) -> dict[str, object]:
    details = {"error_code": error_code} if error_code else None
    return {"type": type_, "message": message, "details": details}


def error_body(type_: str, message: str, rid: str, error_code: str | None = None) -> bytes:
    """Anthropic's error envelope, compact as the API sends it."""
    return compact_json({"type": "error", "error": error_object(type_, message, error_code), "request_id": rid})


def rate_limit_headers(wall: float, delay: float) -> list[tuple[str, str]]:
    """The `anthropic-ratelimit-*` family of a refused request (names and figures as captured in
    `reference/providers.md` §3.2): the input-token limit spent, resets RFC 3339 after `delay`."""
    reset = rfc3339(wall + delay)
    figures = (("requests", 1000, 999), ("input-tokens", 80000, 0), ("output-tokens", 16000, 16000))
    headers: list[tuple[str, str]] = []
    for name, limit, remaining in (*figures, ("tokens", 96000, 16000)):
        headers += [
            (f"anthropic-ratelimit-{name}-limit", str(limit)),
            (f"anthropic-ratelimit-{name}-remaining", str(remaining)),
            (f"anthropic-ratelimit-{name}-reset", reset),
        ]
    return headers


def _retry_defaults(opts: ErrorOptions, status: int, should_retry: bool | None) -> list[tuple[str, str]]:
    """What the API adds on its own: `retry-after` on a 429, `x-should-retry` where it says one."""
    headers: list[tuple[str, str]] = []
    if status == 429:
        delay = retry_delay_seconds(opts)
        if opts.retry_after is None:
            headers.append(
                ("retry-after", str(max(1, whole_seconds(DEFAULT_RETRY_SECONDS if delay is None else delay))))
            )
        headers += rate_limit_headers(time.time(), DEFAULT_RETRY_SECONDS if delay is None else delay)
    if should_retry is not None and opts.should_retry is None:
        headers.append(("x-should-retry", "true" if should_retry else "false"))
    return headers


def _typed(type_: str, default_message: str, error_code: str | None = None, should_retry: bool | None = None) -> Render:
    def render(opts: ErrorOptions, status: int) -> Reply:
        rid, headers = api_headers()
        headers += _retry_defaults(opts, status, should_retry) + retry_headers(opts)
        return Reply(status, headers, error_body(type_, opts.message or default_message, rid, error_code))

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
        _typed(
            "rate_limit_error",
            "This request would exceed your account's rate limit. Please try again later.",
            should_retry=True,
        ),
        "429 rate_limit_error, retry-after and anthropic-ratelimit-*",
        aliases=("rate_limit_error",),
    ),
    "ramp_limit_exceeded": ErrorKind(
        429,
        _typed(
            "rate_limit_error",
            "This request would exceed your organization's ramp limit, which caps how fast usage can grow. "
            "Please try again after the time in the retry-after header.",
            error_code="ramp_limit_exceeded",
            should_retry=True,
        ),
        "429 rate_limit_error, details.error_code ramp_limit_exceeded (RampLimitExceededError)",
    ),
    "enforced_spend_limit_reached": ErrorKind(
        429,
        _typed(
            "rate_limit_error",
            "Your organization has reached the monthly API usage limit of its API tier.",
            error_code="enforced_spend_limit_reached",
        ),
        "429 details.error_code enforced_spend_limit_reached: billing, must not be retried",
        retryable=False,
    ),
    "contract_spend_limit_reached": ErrorKind(
        429,
        _typed(
            "rate_limit_error",
            "Your organization has reached the spend limit of its contract.",
            error_code="contract_spend_limit_reached",
        ),
        "429 details.error_code contract_spend_limit_reached: billing, must not be retried",
        retryable=False,
    ),
    "server_error": ErrorKind(
        500, _typed("api_error", "Internal server error"), "500 api_error", aliases=("api_error",)
    ),
    "timeout": ErrorKind(504, _typed("timeout_error", "Request timed out"), "504 timeout_error"),
    "overloaded": ErrorKind(
        529,
        _typed("overloaded_error", "Overloaded", should_retry=True),
        "529 overloaded_error, x-should-retry: true",
        aliases=("overloaded_error",),
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
