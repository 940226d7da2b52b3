"""Durations as scenario files write them (`250ms`, `2s`, `1m`, `1m30s`), durations and times
as providers send them (Go durations, RFC 3339), and the bounds of the numbers a scenario holds
(the types that carry them are in `brownout.faults.bounds`).

No pydantic here: `brownout ctl` imports this through the name rule and starts fast.
"""

from __future__ import annotations

import datetime
import math
import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
ALLOWED_FORM = "a duration such as 250ms, 2s, 1.5s, 1m or 1m30s (a bare number means seconds)"

# The longest wait a fault makes: a hold, a stall, a delay, a Retry-After. "Until the client
# gives up" still needs an end, so a forgotten client cannot pin a flow forever; an hour is six
# times the official SDKs' 600 s default timeout.
LONGEST_WAIT = 3600.0
# The longest phase of a timeline: a day (a phase that should hold for ever has no duration).
LONGEST_PHASE = 86400.0
# Counts and limits (requests or tokens per minute, events, bytes): at most 13 digits in a header.
LARGEST_COUNT = 10**12
# A pace per second: tokens (stream_slow), requests (an overload's capacity).
SLOWEST_RATE = 0.01
FASTEST_RATE = 1_000_000.0
# How much of a rejected value an error message quotes.
QUOTED_CHARS = 60


def quote(value: object) -> str:
    """A value as an error message shows it: its repr, cut short (a 3,000-character name or a
    301-digit number would drown the message it is quoted in)."""
    text = repr(value)
    return text if len(text) <= QUOTED_CHARS else f"{text[: QUOTED_CHARS - 1]}… ({len(text)} characters)"


def spoken(seconds: float) -> str:
    """A bound as the messages and docs write it: `1h`, `24h`, `90s`."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


def parse_duration(value: object, longest: float | None = None) -> float:
    """Seconds from a scenario duration; raises ValueError naming the allowed form.

    Never NaN or infinite; with `longest`, never more than that many seconds.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected {ALLOWED_FORM}, got {quote(value)}")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float
            seconds = math.inf
    elif isinstance(value, str):
        text = value.strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            pos = 0
            seconds = 0.0
            for match in _PART.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
                pos = match.end()
            if pos != len(text) or not text:
                raise ValueError(f"expected {ALLOWED_FORM}, got {quote(value)}") from None
    else:
        raise ValueError(f"expected {ALLOWED_FORM}, got {quote(value)}")
    if math.isnan(seconds):
        raise ValueError(f"a duration must be a number of seconds, got {quote(value)}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {quote(value)}")
    if longest is not None and seconds > longest:
        raise ValueError(f"a duration here is at most {spoken(longest)}, got {quote(value)}")
    if math.isinf(seconds):
        raise ValueError(f"a duration must be finite, got {quote(value)}")
    return seconds


def go_duration(seconds: float) -> str:
    """OpenAI's `x-ratelimit-reset-*` form: `0s`, `6ms`, `1s`, `6m0s`, `1h2m3.5s`.

    Milliseconds are rounded up, so a client that waits the time it is told is never early.
    """
    millis = math.ceil(seconds * 1000 - 1e-6)
    if millis <= 0:
        return "0s"
    if millis < 1000:
        return f"{millis}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    secs_text = f"{secs:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{int(hours)}h{int(minutes)}m{secs_text}s"
    if minutes:
        return f"{int(minutes)}m{secs_text}s"
    return f"{secs_text}s"


def rfc3339(wall: float) -> str:
    """A Unix time as Anthropic's rate-limit resets write it (`2025-08-21T12:40:59Z`), rounded up
    to the second, so a client that waits until then is never early."""
    moment = datetime.datetime.fromtimestamp(math.ceil(wall), tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
