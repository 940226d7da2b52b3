"""What every provider module shares: the shape of an error reply and of its variants."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field


@dataclass(frozen=True, slots=True)
class ErrorOptions:
    """The `error` fault's generic attributes, already validated, in base units."""

    status: int | None = None
    kind: str | None = None
    message: str | None = None
    retry_after: float | None = None  # seconds
    retry_after_ms: int | None = None
    should_retry: bool | None = None
    model: str = ""


@dataclass(slots=True)
class Reply:
    """A complete HTTP answer that brownout sends in the provider's place."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    reason: str = ""


Render = Callable[[ErrorOptions, int], Reply]
"""Builds one error variant's reply from the fault's options and the status to send."""


@dataclass(frozen=True, slots=True)
class ErrorKind:
    """One provider-exact error variant.

    `render` builds the body from the options (message override, model, retry delay)."""

    status: int
    render: Render
    description: str = ""
    retryable: bool = True
    aliases: tuple[str, ...] = field(default=())


def request_id(prefix: str = "req_", length: int = 32) -> str:
    return prefix + secrets.token_hex(length // 2)


def seconds_text(seconds: float) -> str:
    """`2`, `0.7`, `1.5`: what a `retry-after` header carries."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def whole_seconds(seconds: float) -> int:
    """A `retry-after` value: HTTP allows whole seconds only (urllib3, under requests, refuses `1.5`),
    so a fraction is rounded up and the header never asks for less than was meant."""
    return max(0, math.ceil(seconds - 1e-9))


def retry_headers(opts: ErrorOptions) -> list[tuple[str, str]]:
    """The headers the Stainless SDKs read before retrying, as the scenario asked for them."""
    headers: list[tuple[str, str]] = []
    if opts.retry_after is not None:
        headers.append(("retry-after", str(whole_seconds(opts.retry_after))))
    if opts.retry_after_ms is not None:
        headers.append(("retry-after-ms", str(opts.retry_after_ms)))
    if opts.should_retry is not None:
        headers.append(("x-should-retry", "true" if opts.should_retry else "false"))
    return headers


def retry_delay_seconds(opts: ErrorOptions) -> float | None:
    if opts.retry_after_ms is not None:
        return opts.retry_after_ms / 1000
    return opts.retry_after


def compact_json(value: object) -> bytes:
    """JSON with no spaces, as OpenAI's and Anthropic's streams and Anthropic's bodies carry it;
    non-ASCII text stays UTF-8."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def pretty_json(value: object, indent: int = 2) -> bytes:
    """Indented JSON, as OpenAI and Gemini send non-streamed bodies."""
    return json.dumps(value, indent=indent, ensure_ascii=False).encode()
