"""What the admin port takes from a browser: Host, Origin and content-type rules, as plain functions."""

import pytest

from brownout.control.access import Access
from brownout.control.access import content_type_problem
from brownout.control.access import is_state_change
from brownout.control.access import split_host


@pytest.mark.parametrize(
    "value,parts",
    [
        ("127.0.0.1:9180", ("127.0.0.1", "9180")),
        ("LocalHost:9180", ("localhost", "9180")),
        ("[::1]:9180", ("[::1]", "9180")),
        ("[::1]", ("[::1]", "")),
        ("brownout", ("brownout", "")),
    ],
)
def test_host_headers_split_into_name_and_port(value: str, parts: tuple[str, str]) -> None:
    assert split_host(value) == parts


@pytest.mark.parametrize(
    "host", ["127.0.0.1:9180", "localhost:9180", "LOCALHOST:9180", "[::1]:9180", "127.0.0.1:19180", "localhost"]
)
def test_a_loopback_bind_answers_to_its_loopback_names(host: str) -> None:
    assert Access("127.0.0.1").host_problem(host, 9180) is None
    assert Access("::1").host_problem(host, 9180) is None


@pytest.mark.parametrize(
    "host",
    [
        "rebind.attacker.example:9180",  # a name of the attacker's that now resolves to 127.0.0.1
        "localhost.attacker.example:9180",
        "127.0.0.1.nip.io:9180",
        "10.1.2.3:9180",  # an address the loopback bind is not
        "",
    ],
)
def test_a_loopback_bind_refuses_other_names(host: str) -> None:
    problem = Access("127.0.0.1").host_problem(host, 9180)
    assert problem is not None
    assert f"Host {host!r} is not this admin port's address" in problem
    assert "send Host: one of 127.0.0.1:9180, localhost:9180, [::1]:9180, or allow" in problem
    assert "--admin-allow-host" in problem and "brownout_admin_hosts" in problem


def test_no_host_header_is_accepted() -> None:
    assert Access("127.0.0.1").host_problem(None, 9180) is None  # HTTP/1.0 tools; browsers always send one


def test_a_specific_address_answers_to_itself() -> None:
    access = Access("10.1.2.3")
    assert access.host_problem("10.1.2.3:9180", 9180) is None
    assert access.host_problem("localhost:9180", 9180) is not None
    assert access.host_problem("10.1.2.4:9180", 9180) is not None
    assert Access("fd00::5").host_problem("[fd00::5]:9180", 9180) is None


def test_a_wildcard_bind_answers_to_any_address_but_names_only_when_allowed() -> None:
    access = Access("0.0.0.0")
    for host in ("10.1.2.3:9180", "127.0.0.1:9180", "localhost:9180", "[fd00::5]:9180", "172.17.0.2"):
        assert access.host_problem(host, 9180) is None, host
    problem = access.host_problem("brownout:9180", 9180)  # compose's service name, not allowed yet
    assert problem is not None and "one of localhost:9180, 127.0.0.1:9180, [::1]:9180 or an IP address" in problem
    assert Access("::").host_problem("brownout:9180", 9180) is not None


def test_allowed_names_with_and_without_a_port() -> None:
    access = Access.of("0.0.0.0", ["Brownout", "metrics.internal:9999", " "])
    assert access.hosts == ("brownout", "metrics.internal:9999")
    assert access.host_problem("brownout:9180", 9180) is None
    assert access.host_problem("BROWNOUT", 9180) is None
    assert access.host_problem("metrics.internal:9999", 9180) is None
    assert access.host_problem("metrics.internal:9180", 9180) is not None
    assert access.host_problem("evil.example:9180", 9180) is not None
    assert Access.of("127.0.0.1", ["*"]).host_problem("anything.example:1", 9180) is None


def test_origins_absent_same_or_allowed() -> None:
    access = Access.of("127.0.0.1", origins=["http://localhost:3000/"])
    assert access.origins == ("http://localhost:3000",)
    assert access.origin_problem(None, "127.0.0.1:9180") is None
    assert access.origin_problem("http://127.0.0.1:9180", "127.0.0.1:9180") is None  # the port's own origin
    assert access.origin_problem("HTTP://LOCALHOST:3000", "127.0.0.1:9180") is None
    for origin in ("http://evil.example", "null", "http://localhost:3001", "http://127.0.0.1:9180.evil.example"):
        problem = access.origin_problem(origin, "127.0.0.1:9180")
        assert problem is not None and f"Origin {origin!r} may not change the proxy's state" in problem
        assert "--admin-allow-origin" in problem


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/YAML", "application/x-yaml", "text/yaml"],
)
def test_json_and_yaml_types_may_change_state(content_type: str) -> None:
    assert content_type_problem(content_type) is None


@pytest.mark.parametrize(
    "content_type",
    # The CORS-safelisted types a web page may send without a preflight, and none at all.
    [None, "", "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data"],
)
def test_types_a_web_page_sends_freely_are_refused(content_type: str | None) -> None:
    problem = content_type_problem(content_type)
    assert problem is not None and "needs Content-Type: application/json" in problem


def test_which_methods_change_state() -> None:
    assert [m for m in ("GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH", "post") if is_state_change(m)] == [
        "POST",
        "PUT",
        "DELETE",
        "PATCH",
        "post",
    ]
