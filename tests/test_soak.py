"""The soak script (tests/bench/soak.py), run briefly: its checks hold and it reports its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).parent / "bench" / "soak.py"


def test_a_short_soak_counts_every_request_and_leaks_no_key() -> None:
    argv = [sys.executable, str(SOAK), "--seconds", "6", "--concurrency", "6", "--switch-every", "1"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=150)
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert figures["requests_sent"] > 0
    assert figures["requests_counted"] == figures["requests_sent"]
    assert figures["switches"] >= 4
    # Sampled every half second in a run this short: each third's mean is over a few readings.
    assert figures["samples"] >= 6
    assert figures["planted_key_found_in"] == []
    assert figures["problems"] == []
