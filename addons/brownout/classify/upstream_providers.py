"""Which provider an upstream is, as the user says (`brownout_providers`, `run --provider`).

A request to a provider's own host is told by the host; one to a simulator, a gateway or a
staging server on another address would be guessed from its path alone, as an OpenAI-compatible
server. `HOST[:PORT][/PATH]=PROVIDER` says instead: requests to that host (and port, and under
that path) are that provider's. `*` stands for any host. Pure: strings in, a provider out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from brownout.classify.request import PROVIDERS
from brownout.classify.routing import RoutingError


@dataclass(frozen=True, slots=True)
class ProviderRule:
    host: str  # lower case; "*" for any host
    port: int | None  # None: any port
    path: str  # a path prefix without a trailing slash; "" for any path
    provider: str

    def matches(self, host: str, port: int, path: str) -> bool:
        if self.host != "*" and host.lower().rstrip(".") != self.host:
            return False
        if self.port is not None and port != self.port:
            return False
        if self.path and not (path == self.path or path.startswith((self.path + "/", self.path + "?"))):
            return False
        return True


def parse_provider_rule(value: str) -> ProviderRule:
    """One `HOST[:PORT][/PATH]=PROVIDER` value; raises RoutingError saying what is allowed."""
    target, sep, provider = value.strip().rpartition("=")
    provider = provider.strip().lower()
    example = "e.g. 127.0.0.1:9000/anthropic=anthropic or *=openai"
    if not sep or not target:
        raise RoutingError(f"provider {value!r}: expected HOST[:PORT][/PATH]=PROVIDER, {example}")
    if provider not in PROVIDERS:
        raise RoutingError(f"provider {value!r}: {provider!r} is not one of {', '.join(PROVIDERS)}")
    address, slash, path = target.strip().partition("/")
    host, colon, port_text = address.partition(":")
    port: int | None = None
    if colon:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise RoutingError(f"provider {value!r}: port {port_text!r} is not a number from 1 to 65535")
        port = int(port_text)
    if not host:
        raise RoutingError(f"provider {value!r}: no host before the port or path ({example})")
    return ProviderRule(host.lower(), port, ("/" + path).rstrip("/") if slash else "", provider)


class ProviderMap:
    """The rules in the order given; the first that matches names the provider."""

    def __init__(self, rules: Iterable[ProviderRule] = ()) -> None:
        self.rules = list(rules)

    def provider_of(self, host: str, port: int, path: str) -> str | None:
        for rule in self.rules:
            if rule.matches(host, port, path):
                return rule.provider
        return None
