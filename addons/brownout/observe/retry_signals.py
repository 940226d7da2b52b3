"""What a request or a response says about retrying, read from plain headers and bodies.

Pure functions (no mitmproxy import): the observer addon hands them a flow's headers and
body; `observe.Observer` gets the results. Nothing here keeps prompts, keys or request ids:
bodies are reduced to salted hashes before they leave this module.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import math
import os
import re
from collections.abc import Iterable
from collections.abc import Mapping

from brownout.classify.conversation import last_user_text
from brownout.classify.conversation import turns_of

# Salted like classify.api_key_hash, so a conversation hash cannot be matched against a dictionary.
_SALT = os.urandom(16)

# Statuses that say "this request is wrong" or "you may not": sending the same bytes again cannot help.
NONRETRYABLE_STATUSES = frozenset({400, 401, 403, 404, 413, 422})
# Error codes that arrive under a retryable status but must not be retried (billing, not load):
# OpenAI's quota and spend-limit codes (its error-codes guide: `insufficient_quota` is the type of
# all of them), and the `details.error_code` values Anthropic gives a 429 or 402 for spend and
# billing (anthropic 2.12 `_error_classes.py`, `types/shared/*_error.py`). Not
# `ramp_limit_exceeded`: the SDK's type says to retry it after `retry-after`.
NONRETRYABLE_CODES = frozenset(
    {
        "insufficient_quota",
        "credit_balance_exhausted",
        "project_spend_limit_exceeded",
        "organization_spend_limit_exceeded",
        "enforced_spend_limit_reached",
        "contract_spend_limit_reached",
        "linked_organization_spend_limit_reached",
        "linked_organization_billing_unavailable",
    }
)
# What a Retry-After given as an HTTP-date may lose to the 1 s resolution of both dates.
HTTP_DATE_SLACK = 1.0
# How many turns a re-ask may append to the spoiled request's and still be seen continuing it (an
# instructor-style re-ask appends 2, a tool loop the call and one result per call).
REASK_TURNS = 16

_PROTO_DURATION = re.compile(r"^\s*(?P<seconds>\d+(?:\.\d+)?)s\s*$")


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256(_SALT)
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:20]


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


# -- requests


def retry_count(headers: Mapping[str, str]) -> int | None:
    """The Stainless SDKs' `x-stainless-retry-count` (0 on the first attempt), or None."""
    value = (headers.get("x-stainless-retry-count") or "").strip()
    # isdigit() alone takes "²" (a byte 0xB2 read as Latin-1), which int() refuses.
    if not (value.isascii() and value.isdigit()):
        return None
    return int(value)


def declared_timeout(headers: Mapping[str, str]) -> float | None:
    """The timeout in seconds the SDK says it uses, where it says so.

    openai-python sends `x-stainless-read-timeout`, other Stainless SDKs `x-stainless-timeout`,
    google-genai `x-server-timeout` (whole seconds, only when a timeout is set).
    """
    for name in ("x-stainless-read-timeout", "x-stainless-timeout", "x-server-timeout"):
        seconds = _number(headers.get(name))
        if seconds is not None and seconds > 0:
            return seconds
    return None


def canonical_body(body: bytes | None, parsed: object = None) -> bytes:
    """The body with JSON key order and whitespace normalised, so equal requests compare equal.

    `parsed` is the body already decoded by the caller (saves decoding it twice)."""
    if not body:
        return b""
    if not parsed:
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return body
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def fingerprint(method: str, provider: str, path: str, body: bytes | None, parsed: object = None) -> str:
    """Identifies "the same request sent again": method, provider, path (no query) and canonical body."""
    path_only = path.partition("?")[0]
    return _digest(method.upper().encode(), provider.encode(), path_only.encode(), canonical_body(body, parsed))


def conversation_key(body: Mapping[str, object]) -> str:
    """A salted hash of the last user message ("" when there is none): the same conversation
    sent to another provider or model hashes the same."""
    text = last_user_text(body).strip()
    return _digest(b"conversation", text.encode()) if text else ""


def turn_prefixes(body: Mapping[str, object], depth: int = REASK_TURNS) -> tuple[str, ...]:
    """Salted hashes of the conversation's first k turns, for the last `depth` + 1 values of k
    (the whole list last; () without turns). Request B continues request A when A's whole list
    is among B's: the same turns, or A's turns with up to `depth` more appended."""
    turns = turns_of(body)
    # One running hash over the turns, read out (copied) only for the last few prefixes.
    running = hashlib.sha256(_SALT + b"turns")
    prefixes: list[str] = []
    for k, turn in enumerate(turns, start=1):
        canonical = json.dumps(turn, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()
        running.update(len(canonical).to_bytes(8, "big"))
        running.update(canonical)
        if k >= len(turns) - depth:
            prefixes.append(running.copy().hexdigest()[:20])
    return tuple(prefixes)


def identity(key_hash: str, address: str) -> str:
    """Who is asking: the salted API-key hash plus the client's address (its host, not its port,
    since a retry may come on a new connection)."""
    return f"{key_hash or '-'}@{address}"


# -- responses


def parse_retry_after(value: str | None, server_date: str | None = None, received: float | None = None) -> float | None:
    """A `retry-after` header in seconds: delta-seconds or an HTTP-date.

    A date is taken relative to the response's own `date` header (else to `received`, a Unix
    time), less `HTTP_DATE_SLACK`, since both dates have 1 s resolution: the result is the
    shortest wait a client that obeys the header could take.
    """
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    base: float | None = None
    if server_date:
        try:
            base = email.utils.parsedate_to_datetime(server_date).timestamp()
        except (TypeError, ValueError, IndexError):
            base = None
    if base is None:
        base = received
    if base is None:
        return None
    return max(0.0, when.timestamp() - base - HTTP_DATE_SLACK)


def parse_proto_duration(value: object) -> float | None:
    """A google.protobuf.Duration in its JSON form ("45s", "1.5s")."""
    if not isinstance(value, str):
        return None
    match = _PROTO_DURATION.match(value)
    return float(match.group("seconds")) if match else None


def error_object(body: bytes | None) -> Mapping[str, object]:
    """The `error` object of an error body in the OpenAI, Anthropic or Gemini envelope (or {})."""
    if not body or len(body) > 1_000_000:
        return {}
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        parsed = parsed[0]  # Gemini's non-SSE stream answers with a JSON array
    if not isinstance(parsed, dict):
        return {}
    error = parsed.get("error")
    return error if isinstance(error, dict) else {}


def gemini_retry_delay(error: Mapping[str, object]) -> float | None:
    """The `google.rpc.RetryInfo.retryDelay` among an error's details, in seconds."""
    details = error.get("details")
    if not isinstance(details, list):
        return None
    for detail in details:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            return parse_proto_duration(detail.get("retryDelay"))
    return None


def retry_after(headers: Mapping[str, str], error: Mapping[str, object], received: float | None = None) -> float | None:
    """How long the response asked the client to wait, in seconds, or None when it did not say.

    `retry-after-ms` first (the Stainless SDKs read it first, and it is the precise one), then
    `retry-after`, then Gemini's RetryInfo in the body.
    """
    ms = _number(headers.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000
    seconds = parse_retry_after(headers.get("retry-after"), headers.get("date"), received)
    if seconds is not None:
        return seconds
    return gemini_retry_delay(error)


def should_retry(headers: Mapping[str, str]) -> bool | None:
    """`x-should-retry: true|false`, which the Stainless SDKs obey over the status."""
    value = headers.get("x-should-retry", "").strip().lower()
    return True if value == "true" else False if value == "false" else None


def error_code(error: Mapping[str, object]) -> str:
    """The error's machine-readable code (OpenAI `code`/`type`, Anthropic `type`, Gemini `status`)."""
    for key in ("code", "type", "status"):
        value = error.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def error_codes(error: Mapping[str, object]) -> tuple[str, ...]:
    """Every machine-readable code an error carries: OpenAI's `code` and `type` (a spend-limit
    code comes with type `insufficient_quota`), Gemini's `status`, Anthropic's `type` and its
    `details.error_code` (the cause the SDK picks its class by)."""
    codes = [value for key in ("code", "type", "status") if isinstance(value := error.get(key), str) and value]
    details = error.get("details")
    if isinstance(details, dict) and isinstance(details.get("error_code"), str) and details["error_code"]:
        codes.append(details["error_code"])
    return tuple(codes)


def is_nonretryable(status: int | None, codes: str | Iterable[str], should_retry_header: bool | None) -> bool:
    """Whether retrying this answer is a mistake: `x-should-retry` decides when present, else
    the status (400, 401, 403, 404, 413, 422) or a billing code among `codes` (`insufficient_quota`,
    a spend limit)."""
    if should_retry_header is not None:
        return not should_retry_header
    if status is None:
        return False
    given = (codes,) if isinstance(codes, str) else tuple(codes)
    return status in NONRETRYABLE_STATUSES or any(code in NONRETRYABLE_CODES for code in given)
