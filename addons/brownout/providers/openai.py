"""OpenAI's error replies, as api.openai.com and its Cloudflare edge send them.

Bodies and headers follow captures quoted in `reference/providers.md` §1.
"""

from __future__ import annotations

import secrets

from brownout.providers.base import ErrorKind
from brownout.providers.base import ErrorOptions
from brownout.providers.base import Render
from brownout.providers.base import Reply
from brownout.providers.base import pretty_json
from brownout.providers.base import request_id
from brownout.providers.base import retry_delay_seconds
from brownout.providers.base import retry_headers
from brownout.providers.base import whole_seconds
from brownout.units import go_duration

# The wait a 429 names when the scenario sets none, as a captured TPM 429 words it ("Please try
# again in 644ms", BuilderIO/micro-agent#86); the integer `Retry-After` OpenAI documents for 429s
# (developers.openai.com error-codes guide) rounds it up. openai 3.x waits exactly a
# `retry-after` of at most 120 s (`_base_client.py` `_calculate_retry_timeout`).
DEFAULT_RATE_LIMIT_WAIT = 0.644


def api_headers(status: int) -> list[tuple[str, str]]:
    """Headers api.openai.com puts on every JSON answer."""
    return [
        ("content-type", "application/json"),
        ("openai-version", "2020-10-01"),
        ("openai-processing-ms", str(20 + secrets.randbelow(200))),
        ("x-request-id", request_id()),
        ("strict-transport-security", "max-age=31536000; includeSubDomains; preload"),
        ("cf-cache-status", "DYNAMIC"),
        ("server", "cloudflare"),
        ("cf-ray", f"{secrets.token_hex(8)}-SJC"),
    ]


def envelope(message: str, type_: str | None, code: str | int | None, param: str | None = None) -> bytes:
    """OpenAI's error envelope; the API indents error bodies by four spaces."""
    return pretty_json({"error": {"message": message, "type": type_, "param": param, "code": code}}, indent=4)


def _json_error(type_: str | None, code: str | None, default_message: str, param: str | None = None) -> Render:
    def render(opts: ErrorOptions, status: int) -> Reply:
        message = opts.message or default_message.format(model=opts.model or "gpt-4o")
        headers = api_headers(status) + retry_headers(opts)
        return Reply(status, headers, envelope(message, type_, code, param))

    return render


def _rate_limit(opts: ErrorOptions, status: int) -> Reply:
    delay = retry_delay_seconds(opts)
    seconds = DEFAULT_RATE_LIMIT_WAIT if delay is None else delay
    wait = go_duration(seconds)  # `644ms`, `6m0s`: OpenAI's Go durations
    message = opts.message or (
        f"Rate limit reached for {opts.model or 'gpt-4o'} in organization org-brownout on tokens "
        f"per min (TPM): Limit 30000, Used 29937, Requested 385. Please try again in {wait}. "
        "Visit https://platform.openai.com/account/rate-limits to learn more."
    )
    headers = api_headers(status) + [
        ("x-ratelimit-limit-requests", "500"),
        ("x-ratelimit-limit-tokens", "30000"),
        ("x-ratelimit-remaining-requests", "499"),
        ("x-ratelimit-remaining-tokens", "0"),
        ("x-ratelimit-reset-requests", "120ms"),
        ("x-ratelimit-reset-tokens", wait),
    ]
    if opts.retry_after is None:
        headers.append(("retry-after", str(max(1, whole_seconds(seconds)))))
    return Reply(status, headers + retry_headers(opts), envelope(message, "tokens", "rate_limit_exceeded"))


def cloudflare_html(title: str) -> str:
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
        "</body>\r\n</html>\r\n"
    )


def _cloudflare_page(opts: ErrorOptions, status: int) -> Reply:
    titles = {502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable", 504: "504 Gateway Time-out"}
    title = titles.get(status, f"{status} Error")
    headers = [
        ("content-type", "text/html"),
        ("server", "cloudflare"),
        ("cf-ray", f"{secrets.token_hex(8)}-SJC"),
    ] + retry_headers(opts)
    return Reply(status, headers, (opts.message or cloudflare_html(title)).encode())


def _cloudflare_json(opts: ErrorOptions, status: int) -> Reply:
    headers = [
        ("content-type", "application/json"),
        ("server", "cloudflare"),
        ("cf-ray", f"{secrets.token_hex(8)}-SJC"),
        ("cache-control", "private, max-age=0, no-store, no-cache, must-revalidate, post-check=0, pre-check=0"),
        ("expires", "Thu, 01 Jan 1970 00:00:01 GMT"),
    ] + retry_headers(opts)
    # Cloudflare's JSON puts an integer in `code`, unlike the API's string codes.
    return Reply(status, headers, envelope(opts.message or "Bad gateway.", "cf_bad_gateway", status))


_SERVER_ERROR = (
    "An error occurred while processing your request. You can retry your request, or contact us "
    "through our help center at help.openai.com if the error persists. Please include the request "
    "ID {rid} in your message."
)


def _server_error(opts: ErrorOptions, status: int) -> Reply:
    headers = api_headers(status)
    rid = dict(headers)["x-request-id"]
    message = opts.message or _SERVER_ERROR.format(rid=rid)
    return Reply(status, headers + retry_headers(opts), envelope(message, "server_error", "server_error"))


KINDS: dict[str, ErrorKind] = {
    "invalid_request": ErrorKind(
        400,
        _json_error("invalid_request_error", None, "Invalid request."),
        "400 invalid_request_error",
        retryable=False,
    ),
    "context_length": ErrorKind(
        400,
        _json_error(
            "invalid_request_error",
            "context_length_exceeded",
            "This model's maximum context length is 128000 tokens. However, your messages resulted "
            "in 173172 tokens. Please reduce the length of the messages.",
            param="messages",
        ),
        "400 context_length_exceeded",
        retryable=False,
    ),
    "authentication": ErrorKind(
        401,
        _json_error(
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided: sk-brown***********out. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
        ),
        "401 invalid_api_key",
        retryable=False,
    ),
    "permission": ErrorKind(
        403,
        _json_error(
            "request_forbidden", "unsupported_country_region_territory", "Country, region, or territory not supported"
        ),
        "403 unsupported_country_region_territory",
        retryable=False,
    ),
    "not_found": ErrorKind(
        404,
        _json_error(
            "invalid_request_error",
            "model_not_found",
            "The model `{model}` does not exist or you do not have access to it.",
        ),
        "404 model_not_found",
        retryable=False,
    ),
    "rate_limit": ErrorKind(429, _rate_limit, "429 rate_limit_exceeded (TPM)", aliases=("rate_limit_exceeded",)),
    "insufficient_quota": ErrorKind(
        429,
        _json_error(
            "insufficient_quota",
            "insufficient_quota",
            "You exceeded your current quota, please check your plan and billing details. For more "
            "information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors.",
        ),
        "429 insufficient_quota: billing, must not be retried",
        retryable=False,
    ),
    "server_error": ErrorKind(500, _server_error, "500 server_error"),
    "bad_gateway": ErrorKind(502, _cloudflare_json, "502 Cloudflare JSON (integer code)"),
    "cloudflare_html": ErrorKind(502, _cloudflare_page, "Cloudflare's HTML error page (text/html)"),
    "overloaded": ErrorKind(
        503,
        _json_error(
            "service_unavailable_error",
            "server_is_overloaded",
            "Our servers are currently overloaded. Please try again later.",
        ),
        "503 server_is_overloaded",
        aliases=("server_is_overloaded",),
    ),
    "timeout": ErrorKind(504, _cloudflare_page, "504 Gateway Time-out from Cloudflare (HTML)"),
}

STATUS_DEFAULTS: dict[int, str] = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    404: "not_found",
    429: "rate_limit",
    500: "server_error",
    502: "cloudflare_html",
    503: "overloaded",
    504: "timeout",
}


def generic(opts: ErrorOptions, status: int) -> Reply:
    """A status with no captured body: the API's envelope with a plain message."""
    type_ = "server_error" if status >= 500 else "invalid_request_error"
    message = opts.message or f"HTTP {status}"
    return Reply(status, api_headers(status) + retry_headers(opts), envelope(message, type_, None))
