"""The one rule for names: scenarios, their rules and timeline phases.

A name is wherever it came from (a scenario's `name:`, its file's name, the `source` of an
upload, an argument of `brownout ctl`) shown in logs, in metric labels and in URLs, so it holds
nothing that could forge a log line, break a label or hide what it says: letters, digits and
`_.-`, starting with a letter or a digit, at most LONGEST_NAME characters. No heavy imports:
`brownout ctl` checks its arguments with it before it calls the proxy.
"""

from __future__ import annotations

import re

from brownout.units import quote

LONGEST_NAME = 100
NAME_RULE = f"letters, digits, `_`, `.` and `-`, starting with a letter or digit, at most {LONGEST_NAME} characters"
# ASCII only, on purpose (no look-alike letters, no bidi controls); fullmatch, so no "\n" at the end.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def is_name(value: str) -> bool:
    return len(value) <= LONGEST_NAME and _NAME.fullmatch(value) is not None


def check_name(value: str) -> str:
    """The name itself, or ValueError saying the rule."""
    if not is_name(value):
        # quote's repr escapes CR, LF, NUL and bidi controls, and cuts a long name short.
        raise ValueError(f"not a valid name ({NAME_RULE}), got {quote(value)}")
    return value
