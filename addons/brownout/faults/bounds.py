"""The bounded number types of scenario files: every duration, count, rate and probability a
fault or a scenario holds is one of these.

An infinite, NaN or astronomically large number passes a plain `float` or `int` check and then
fails (or hangs, or fills a header) on every request the fault touches; so each field states
its bound by its type, once, here. The bounds themselves are in `brownout.units`.
"""

from __future__ import annotations

import functools
from typing import Annotated

from pydantic import BeforeValidator
from pydantic import Field

from brownout.units import FASTEST_RATE
from brownout.units import LARGEST_COUNT
from brownout.units import LONGEST_PHASE
from brownout.units import LONGEST_WAIT
from brownout.units import SLOWEST_RATE
from brownout.units import parse_duration

Duration = Annotated[float, BeforeValidator(functools.partial(parse_duration, longest=LONGEST_WAIT))]
"""Seconds a fault waits: `250ms`, `2s`, `1m` or a bare number of seconds; at most LONGEST_WAIT."""
PhaseDuration = Annotated[float, BeforeValidator(functools.partial(parse_duration, longest=LONGEST_PHASE)), Field(gt=0)]
"""Seconds a timeline phase lasts: more than 0, at most LONGEST_PHASE."""
Millis = Annotated[int, Field(ge=0, le=int(LONGEST_WAIT * 1000))]
"""Milliseconds of a wait as a header states it (`retry-after-ms`)."""
Count = Annotated[int, Field(ge=0, le=LARGEST_COUNT)]
"""Events, bytes: 0 up to LARGEST_COUNT."""
PositiveCount = Annotated[int, Field(gt=0, le=LARGEST_COUNT)]
"""Requests or tokens per minute, a burst: 1 up to LARGEST_COUNT."""
Rate = Annotated[float, Field(ge=SLOWEST_RATE, le=FASTEST_RATE, allow_inf_nan=False)]
"""A pace per second: tokens (a stream's), requests (a capacity)."""
Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
"""A probability or a share: 0 to 1."""
