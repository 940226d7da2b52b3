"""Path-prefix routing: one proxy port serves every provider.

`/openai/v1/chat/completions` goes to `https://api.openai.com/v1/chat/completions`,
`/azure/<resource host>/openai/...` to `https://<resource host>/openai/...`, and any name given
with `--upstream NAME=URL` becomes a prefix of its own (an OpenAI-compatible server unless the
name is a known provider). Pure: strings in, a target out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from brownout.classify.request import is_azure_host
from brownout.classify.request import provider_for_host

DEFAULT_UPSTREAMS: Mapping[str, str] = {
    "openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}
KNOWN_PROVIDERS = ("openai", "anthropic", "gemini", "azure")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")


class RoutingError(ValueError):
    """A request or an `--upstream` value that cannot be routed; the text says why."""


@dataclass(frozen=True, slots=True)
class Upstream:
    name: str
    provider: str
    scheme: str
    host: str
    port: int
    base_path: str  # without a trailing slash; "" for the root

    @property
    def url(self) -> str:
        default_port = 443 if self.scheme == "https" else 80
        port = "" if self.port == default_port else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}{self.base_path}"


@dataclass(frozen=True, slots=True)
class Target:
    """Where one request goes: the upstream's address and the path to ask it for."""

    provider: str
    route: str
    scheme: str
    host: str
    port: int
    path: str


def parse_upstream(name: str, url: str) -> Upstream:
    """One `--upstream NAME=URL` value; raises RoutingError saying what is allowed."""
    name = name.strip().lower()
    if not _NAME.match(name):
        raise RoutingError(
            f"upstream name {name!r}: use lower-case letters, digits, '-' or '_' (it becomes the path prefix /NAME)"
        )
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RoutingError(f"upstream {name}={url!r}: expected an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise RoutingError(f"upstream {name}={url!r}: a query or fragment is not allowed")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    provider = name if name in KNOWN_PROVIDERS else "openai-compatible"
    return Upstream(name, provider, parts.scheme, parts.hostname, port, parts.path.rstrip("/"))


def parse_upstream_arg(value: str) -> Upstream:
    name, sep, url = value.partition("=")
    if not sep:
        raise RoutingError(f"--upstream {value!r}: expected NAME=URL, e.g. openai=http://127.0.0.1:9000/openai")
    return parse_upstream(name, url)


class RouteTable:
    """The prefix → upstream map, defaults first, overrides on top."""

    def __init__(self, overrides: Iterable[Upstream] = ()) -> None:
        self.upstreams: dict[str, Upstream] = {
            name: parse_upstream(name, url) for name, url in DEFAULT_UPSTREAMS.items()
        }
        self.azure_override: Upstream | None = None
        # Known providers pointed elsewhere: forward-mode traffic to their hosts goes there too.
        self.overridden: dict[str, Upstream] = {}
        for upstream in overrides:
            if upstream.name in KNOWN_PROVIDERS:
                self.overridden[upstream.name] = upstream
            if upstream.name == "azure":
                self.azure_override = upstream
            else:
                self.upstreams[upstream.name] = upstream

    def prefixes(self) -> list[str]:
        return sorted([f"/{name}" for name in self.upstreams] + ["/azure/<resource host>"])

    def resolve(self, path: str) -> Target | None:
        """The target for a request path (with its query), or None when no prefix matches."""
        if not path.startswith("/"):
            return None
        first, slash, rest = path[1:].partition("/")
        first, qmark, query = first.partition("?")
        if qmark:  # "/openai?x=1": a prefix with a query and no path
            rest = "?" + query
        elif slash:
            rest = "/" + rest
        if first == "azure":
            return self._resolve_azure(rest)
        upstream = self.upstreams.get(first)
        if upstream is None:
            return None
        return Target(
            provider=upstream.provider,
            route=upstream.name,
            scheme=upstream.scheme,
            host=upstream.host,
            port=upstream.port,
            path=_join(upstream.base_path, rest),
        )

    def redirect(self, host: str, path: str) -> Target | None:
        """Where a request addressed to a provider's own host goes (forward mode, or a user's own
        mitmproxy): the provider's `--upstream` override with the request's path under its base
        path, the way a prefix routes; None when the host is no provider's or has no override."""
        provider = provider_for_host(host)
        upstream = self.overridden.get(provider) if provider else None
        if provider is None or upstream is None:
            return None
        return Target(
            provider, upstream.name, upstream.scheme, upstream.host, upstream.port, _join(upstream.base_path, path)
        )

    def _resolve_azure(self, rest: str) -> Target:
        host, slash, remainder = rest.lstrip("/").partition("/")
        host = host.lower()
        remainder = "/" + remainder if slash else ""
        if not _HOST.match(host):
            raise RoutingError(
                "Azure OpenAI requests go to /azure/<resource host>/..., "
                f"e.g. /azure/myres.openai.azure.com/openai/deployments/...; got host {host!r}"
            )
        if self.azure_override is not None:
            up = self.azure_override
            return Target("azure", "azure", up.scheme, up.host, up.port, _join(up.base_path, remainder))
        if not is_azure_host(host):
            raise RoutingError(
                f"/azure/{host}: not an Azure OpenAI host (*.openai.azure.com, "
                "*.cognitiveservices.azure.com or *.services.ai.azure.com); "
                "use --upstream azure=URL to send Azure traffic elsewhere"
            )
        return Target("azure", "azure", "https", host, 443, remainder or "/")


def _join(base: str, rest: str) -> str:
    if not rest:
        return base or "/"
    if rest.startswith("?"):
        return (base or "/") + rest
    return base + rest
