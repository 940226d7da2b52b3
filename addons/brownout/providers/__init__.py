"""Provider wire formats, one module per family; the faults and the simulator speak through them."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Annotated

from pydantic import AfterValidator

from brownout.providers import anthropic
from brownout.providers import azure
from brownout.providers import gemini
from brownout.providers import openai
from brownout.providers.base import ErrorKind
from brownout.providers.base import ErrorOptions
from brownout.providers.base import Reply

# OpenAI-compatible servers (vLLM, Ollama...) speak OpenAI's envelope; their own quirks are
# minor, so they share OpenAI's catalogue.
_MODULES: dict[str, ModuleType] = {
    "openai": openai,
    "openai-compatible": openai,
    "anthropic": anthropic,
    "gemini": gemini,
    "azure": azure,
}


def catalogue(provider: str) -> dict[str, ErrorKind]:
    kinds: dict[str, ErrorKind] = _MODULES[provider].KINDS
    return kinds


def canonical_kind(provider: str, kind: str) -> str | None:
    """The catalogue name for a kind or one of its aliases, for this provider."""
    kinds = catalogue(provider)
    if kind in kinds:
        return kind
    for name, spec in kinds.items():
        if kind in spec.aliases:
            return name
    return None


def all_kinds() -> dict[str, list[str]]:
    """Every error kind any provider knows (aliases included), with the providers that know it."""
    known: dict[str, list[str]] = {}
    for provider in ("openai", "anthropic", "gemini", "azure"):
        for name, spec in catalogue(provider).items():
            for alias in (name, *spec.aliases):
                known.setdefault(alias, []).append(provider)
    return known


def known_kind(kind: str) -> str:
    """Validate an error kind from a scenario: one that at least one provider's catalogue has."""
    if kind not in all_kinds():
        raise ValueError(f"unknown error kind {kind!r}; allowed: {', '.join(sorted(all_kinds()))}")
    return kind


KindName = Annotated[str, AfterValidator(known_kind)]
"""A scenario's `kind:` for the `error` fault."""


def _is_json(reply: Reply) -> bool:
    return any(name.lower() == "content-type" and "json" in value for name, value in reply.headers)


def known_event_kind(kind: str) -> str:
    """Validate a `stream_error` kind: known, and a JSON error at every provider that has it (an
    event carries the error object; Cloudflare's HTML page has none)."""
    known_kind(kind)
    pages = [p for p in _MODULES if canonical_kind(p, kind) and not _is_json(error_reply(p, ErrorOptions(kind=kind)))]
    if pages:
        allowed = sorted(
            k
            for k in all_kinds()
            if not any(canonical_kind(p, k) and not _is_json(error_reply(p, ErrorOptions(kind=k))) for p in _MODULES)
        )
        raise ValueError(
            f"kind {kind!r} is an HTML page at {', '.join(pages)}, not an error a stream event can carry "
            f"(an `error` fault sends it); allowed: {', '.join(allowed)}"
        )
    return kind


EventKindName = Annotated[str, AfterValidator(known_event_kind)]
"""A scenario's `kind:` for `stream_error`: the error object of a JSON error reply."""


def error_reply(provider: str, opts: ErrorOptions, platform: str = "") -> Reply:
    """The provider-exact answer for an `error` fault.

    `kind` picks the variant; `status` alone picks the provider's usual variant for it; both
    give that variant's body under the given status. A kind this provider does not have falls
    back to the status (or the kind's usual status elsewhere) with the provider's generic body.
    `platform` "google" (the OpenAI-compatible endpoints of Gemini and Vertex) answers with
    Google's error inside a JSON list, as those endpoints send it.
    """
    if platform == "google":
        return gemini.listed(error_reply("gemini", opts))
    module = _MODULES[provider]
    kinds: dict[str, ErrorKind] = module.KINDS
    name = canonical_kind(provider, opts.kind) if opts.kind else None
    status = opts.status
    if name is None and opts.kind:
        status = status or _status_elsewhere(opts.kind)
    if name is None and status is not None:
        name = module.STATUS_DEFAULTS.get(status)
    if name is None:
        generic: Callable[[ErrorOptions, int], Reply] = module.generic
        return generic(opts, status or 500)
    spec = kinds[name]
    return spec.render(opts, status or spec.status)


def server_header(provider: str) -> str | None:
    """The `Server` header the provider's API answers with (`cloudflare` at OpenAI's and
    Anthropic's edges, `scaffolding on HTTPServer2` at Google's: §1.3, §3.2 and Gemini captures),
    or None where no capture says (Azure, OpenAI-compatible servers)."""
    headers = {
        "openai": openai.api_headers(200),
        "anthropic": anthropic.api_headers()[1],
        "gemini": gemini.api_headers(),
    }.get(provider, [])
    return next((value for name, value in headers if name == "server"), None)


def _status_elsewhere(kind: str) -> int | None:
    for provider in ("openai", "anthropic", "gemini", "azure"):
        name = canonical_kind(provider, kind)
        if name:
            return catalogue(provider)[name].status
    return None


__all__ = [
    "ErrorKind",
    "ErrorOptions",
    "EventKindName",
    "KindName",
    "Reply",
    "all_kinds",
    "canonical_kind",
    "catalogue",
    "error_reply",
    "known_event_kind",
    "known_kind",
    "server_header",
]
