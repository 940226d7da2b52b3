"""Rules that count: which requests a rule with `first`, `times` or `every` may fire on.

- `first: N`: the first N attempts of each logical request (then it lets the request through).
- `times: N`: N firings, then never again (until the scenario is switched on again).
- `every: N`: the Nth, 2Nth, ... request that reaches the rule.
- `scope`: whose count it is: `client` (one API key from one address, as the observer tells clients
  apart), `key` (one API key, from any address), or `global` (everyone's). Default: `client` for
  `first` (a logical request is one client's), `global` for `times` and `every`.

The counting itself is the engine's (`brownout.engine.sequences`); this is the rule's part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scope = Literal["client", "key", "global"]
SCOPES: tuple[Scope, ...] = ("client", "key", "global")


@dataclass(frozen=True, slots=True)
class Counting:
    first: int | None = None
    times: int | None = None
    every: int | None = None
    scope: Scope | None = None  # None: the default for what is counted

    @property
    def first_scope(self) -> Scope:
        return self.scope or "client"

    @property
    def count_scope(self) -> Scope:
        return self.scope or "global"
