"""The fixed budget of the property tests (hypothesis): the same examples on every run, so CI's
time is known and a failure reproduces; `BROWNOUT_PROPERTY_EXAMPLES=5000` explores further locally
(with a random seed then)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck
from hypothesis import settings

EXAMPLES = int(os.environ.get("BROWNOUT_PROPERTY_EXAMPLES", "0"))


def budget(examples: int) -> settings:
    """Settings for a property test: `examples` cases, derandomized, no example database on disk,
    no deadline per case (CI machines are shared)."""
    return settings(
        max_examples=EXAMPLES or examples,
        derandomize=not EXAMPLES,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
