"""Who may talk to the admin port from a browser: the checks that keep a web page a developer
visits from switching scenarios (cross-site request forgery) or reading the API through a name
that resolves to loopback (DNS rebinding).

A web page can send a cross-origin POST without asking first only with a CORS-safelisted content
type (`text/plain`, form encodings); the admin port takes a state change only with a JSON or YAML
type, so a browser must send a preflight, which brownout never approves (it sends no
`Access-Control-Allow-*` header). An `Origin` header, which browsers send with every cross-origin
POST, must be absent (curl, the SDKs, `brownout ctl`) or allowed. And every request's `Host` must
name this port, not some other name that happens to resolve to it: DNS rebinding can only ever
produce a name the attacker owns, never an IP address or `localhost`.

Pure functions over header values, so they are tested without a server.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

# The content types a state change may carry: none is CORS-safelisted, so a browser preflights them.
STATE_CHANGE_TYPES = ("application/json", "application/yaml", "application/x-yaml", "text/yaml")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]"})
ANY_HOST = "*"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name[1:-1] if name.startswith("[") and name.endswith("]") else name)
    except ValueError:
        return None


def split_host(value: str) -> tuple[str, str]:
    """A `Host` header (or an allowed-host entry) as (name, port), the name lower case, an IPv6
    address in brackets; the port is "" when there is none."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value.partition("]")
        return name + "]", rest.removeprefix(":")
    name, _, port = value.partition(":")
    return name, port


def _bracketed(host: str) -> str:
    address = _ip(host)
    return f"[{address.compressed}]" if address is not None and address.version == 6 else host.lower()


@dataclass(frozen=True, slots=True)
class Access:
    """What the admin port accepts beyond its own address.

    `bind_host` is the address it listens on; `hosts` are further names a `Host` header may give
    (`NAME` at any port, `NAME:PORT` at that one, `*` any host at all); `origins` are the browser
    origins (`scheme://host[:port]`) allowed to change state.
    """

    bind_host: str = "127.0.0.1"
    hosts: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()

    @classmethod
    def of(cls, bind_host: str, hosts: Iterable[str] = (), origins: Iterable[str] = ()) -> Access:
        return cls(
            bind_host,
            tuple(h.strip().lower() for h in hosts if h.strip()),
            tuple(o.strip().lower().rstrip("/") for o in origins if o.strip()),
        )

    def own_names(self) -> tuple[str, ...]:
        """The names that are this port's own address: the bind address, and the loopback forms
        when it is loopback or a wildcard (which loopback reaches too)."""
        wildcard = self.bind_host in WILDCARD_BINDS
        names = [] if wildcard else [_bracketed(self.bind_host.strip("[]"))]
        if wildcard or is_loopback(self.bind_host):
            names.extend(name for name in LOOPBACK_NAMES if name not in names)
        return tuple(names)

    def host_problem(self, host: str | None, port: int) -> str | None:
        """Why a request's `Host` header is refused, or None when it names this port.

        No header at all is accepted (HTTP/1.0 tools; a browser always sends one). Only the name
        is compared, not the port: DNS rebinding changes the name a browser sends, never the
        port, and a port forward (`docker run -p 19180:9180`) changes the port, not the name.
        """
        if host is None or ANY_HOST in self.hosts:
            return None
        name, given_port = split_host(host)
        if name in self.own_names():
            return None
        # A wildcard bind answers on every address the machine has: any address in the header is
        # one of them or a forward to one; only a name can come from DNS rebinding.
        if self.bind_host in WILDCARD_BINDS and _ip(name) is not None:
            return None
        for entry in self.hosts:
            entry_name, entry_port = split_host(entry)
            if entry_name == name and entry_port in ("", given_port):
                return None
        own = ", ".join(f"{n}:{port}" for n in self.own_names())
        if self.bind_host in WILDCARD_BINDS:
            own += " or an IP address"
        return (
            f"Host {host!r} is not this admin port's address; send Host: one of {own}, or allow the name "
            "with --admin-allow-host, $BROWNOUT_ADMIN_HOSTS or the brownout_admin_hosts option "
            "(a check against DNS rebinding)"
        )

    def origin_problem(self, origin: str | None, host: str | None) -> str | None:
        """Why a state change's `Origin` header is refused, or None: absent, this port's own
        origin, or an allowed one."""
        if origin is None:
            return None
        given = origin.strip().lower().rstrip("/")
        if given in self.origins:
            return None
        if host is not None and given in (f"http://{host.strip().lower()}", f"https://{host.strip().lower()}"):
            return None
        return (
            f"Origin {origin!r} may not change the proxy's state (a cross-site request from a web page?); "
            "send no Origin header (curl, the SDKs and brownout ctl send none), or allow the origin with "
            "--admin-allow-origin, $BROWNOUT_ADMIN_ORIGINS or the brownout_admin_origins option"
        )


def content_type_problem(content_type: str | None) -> str | None:
    """Why a state change's `Content-Type` is refused, or None for a JSON or YAML type."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media in STATE_CHANGE_TYPES:
        return None
    given = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
    return (
        f"{given}: a request that changes state needs Content-Type: application/json "
        f"(or a YAML type: {', '.join(STATE_CHANGE_TYPES[1:])}), even without a body "
        "(a check against cross-site requests from web pages)"
    )


def is_state_change(method: str) -> bool:
    return method.upper() not in SAFE_METHODS
