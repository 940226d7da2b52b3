"""What every metric family shares: LLM-scale buckets, bounded model labels, and registration
once per registry (a script reload or a second set of addons never registers a name twice)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import disable_created_metrics

# LLM calls run from milliseconds (embeddings, errors) to minutes (long generations).
LLM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
OTHER = "other"

# `*_created` series double the exposition and no dashboard reads them.
disable_created_metrics()


_families: weakref.WeakKeyDictionary[CollectorRegistry, dict[Any, Any]] = weakref.WeakKeyDictionary()


def families[Families](registry: CollectorRegistry, build: Callable[[CollectorRegistry], Families]) -> Families:
    """A feature's metric families on a registry, registered the first time they are asked for,
    so building a feature's addons twice on one state never registers a metric twice."""
    built = _families.setdefault(registry, {})
    if build not in built:
        built[build] = build(registry)
    result: Families = built[build]
    return result


class ModelLabels:
    """Bounds the `model` label: an explicit allow-list, or the first `limit` distinct models seen."""

    def __init__(self, allow: Iterable[str] = (), limit: int = 20) -> None:
        self.allow = set(allow)
        self.fixed = bool(self.allow)
        self.limit = limit

    def __call__(self, model: str) -> str:
        if not model:
            return "none"
        if model in self.allow:
            return model
        if not self.fixed and len(self.allow) < self.limit:
            self.allow.add(model)
            return model
        return OTHER
