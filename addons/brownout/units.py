"""Durations as scenario files write them (`250ms`, `2s`, `1m`, `1m30s`), and durations and
times as providers send them (Go durations, RFC 3339)."""

from __future__ import annotations

import datetime
import math
import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
ALLOWED_FORM = "a duration such as 250ms, 2s, 1.5s, 1m or 1m30s (a bare number means seconds)"


def parse_duration(value: object) -> float:
    """Seconds from a scenario duration; raises ValueError naming the allowed form."""
    if isinstance(value, bool):
        raise ValueError(f"expected {ALLOWED_FORM}, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
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
                raise ValueError(f"expected {ALLOWED_FORM}, got {value!r}") from None
    else:
        raise ValueError(f"expected {ALLOWED_FORM}, got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
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
