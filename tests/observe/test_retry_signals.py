import email.utils
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brownout.observe import retry_signals as signals
from brownout.providers import error_reply
from brownout.providers.base import ErrorOptions
from property_budget import budget


def test_retry_count_and_declared_timeout_from_sdk_headers() -> None:
    assert signals.retry_count({"x-stainless-retry-count": "2"}) == 2
    assert signals.retry_count({"x-stainless-retry-count": "x"}) is None
    assert signals.retry_count({"x-stainless-retry-count": "\xb2"}) is None  # "²": a digit to isdigit(), not to int()
    assert signals.retry_count({}) is None
    assert signals.declared_timeout({"x-stainless-read-timeout": "600.0"}) == 600.0
    assert signals.declared_timeout({"x-stainless-timeout": "30"}) == 30.0
    assert signals.declared_timeout({"x-server-timeout": "5"}) == 5.0
    assert signals.declared_timeout({"x-stainless-read-timeout": "nan"}) is None
    assert signals.declared_timeout({}) is None


def test_fingerprint_ignores_key_order_whitespace_and_query() -> None:
    a = signals.fingerprint("POST", "openai", "/v1/chat/completions", b'{"model": "m", "messages": []}')
    b = signals.fingerprint("post", "openai", "/v1/chat/completions?x=1", b'{"messages":[],"model":"m"}')
    assert a == b
    assert a != signals.fingerprint("POST", "anthropic", "/v1/chat/completions", b'{"model": "m", "messages": []}')
    assert a != signals.fingerprint("POST", "openai", "/v1/chat/completions", b'{"model": "n", "messages": []}')
    # Not JSON: the bytes themselves.
    assert signals.fingerprint("POST", "openai", "/x", b"abc") != signals.fingerprint("POST", "openai", "/x", b"abd")
    # A pre-parsed body gives the same answer as parsing it here.
    body = b'{"b": 1, "a": [1, 2]}'
    parsed_here = signals.fingerprint("POST", "p", "/x", body)
    assert signals.fingerprint("POST", "p", "/x", body, json.loads(body)) == parsed_here


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]},
        {"model": "claude", "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]},
        {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]},
        {"model": "gpt-4o", "input": "Hi"},
        {"model": "gpt-4o", "input": [{"role": "user", "content": [{"type": "input_text", "text": " Hi "}]}]},
    ],
)
def test_the_same_last_user_message_hashes_the_same_across_providers(body: dict[str, object]) -> None:
    assert signals.conversation_key(body) == signals.conversation_key({"messages": [{"role": "user", "content": "Hi"}]})
    assert signals.conversation_key(body) != signals.conversation_key({"messages": [{"role": "user", "content": "Ho"}]})


def test_conversation_key_follows_the_last_user_message_only() -> None:
    first = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    later = {"messages": [*first["messages"], {"role": "user", "content": "Tell me more"}]}
    assert signals.conversation_key(first) != signals.conversation_key(later)
    assert signals.conversation_key({"model": "x"}) == ""
    assert signals.conversation_key({"messages": [{"role": "assistant", "content": "x"}]}) == ""


def test_identity_is_key_hash_plus_address() -> None:
    assert signals.identity("abc", "10.0.0.1") == "abc@10.0.0.1"
    assert signals.identity("", "10.0.0.1") == "-@10.0.0.1"


def test_retry_after_reads_ms_first_then_seconds_then_gemini_retry_info() -> None:
    assert signals.retry_after({"retry-after-ms": "700", "retry-after": "1"}, {}) == 0.7
    assert signals.retry_after({"retry-after": "2"}, {}) == 2.0
    assert signals.retry_after({"retry-after": "1.5"}, {}) == 1.5
    gemini = error_reply("gemini", ErrorOptions(kind="rate_limit", retry_after=3.5))
    assert signals.retry_after({}, signals.error_object(gemini.body)) == 3.5
    assert signals.retry_after({}, {}) is None
    assert signals.retry_after({"retry-after": "soon"}, {}) is None


def test_retry_after_as_http_date_is_relative_to_the_response_date_less_its_resolution() -> None:
    date = email.utils.formatdate(1_000_000, usegmt=True)
    later = email.utils.formatdate(1_000_010, usegmt=True)
    assert signals.parse_retry_after(later, date) == 10 - signals.HTTP_DATE_SLACK
    assert signals.parse_retry_after(later, None, received=1_000_004) == 6 - signals.HTTP_DATE_SLACK
    assert signals.parse_retry_after(date, later) == 0.0  # already past
    assert signals.parse_retry_after(later, None) is None  # nothing to measure from


def test_proto_durations() -> None:
    assert signals.parse_proto_duration("45s") == 45.0
    assert signals.parse_proto_duration("1.25s") == 1.25
    assert signals.parse_proto_duration("45") is None
    assert signals.parse_proto_duration(45) is None


def test_error_codes_of_each_provider_envelope() -> None:
    quota = error_reply("openai", ErrorOptions(kind="insufficient_quota"))
    assert signals.error_code(signals.error_object(quota.body)) == "insufficient_quota"
    overloaded = error_reply("anthropic", ErrorOptions(kind="overloaded"))
    assert signals.error_code(signals.error_object(overloaded.body)) == "overloaded_error"
    gemini = error_reply("gemini", ErrorOptions(status=503))
    assert signals.error_code(signals.error_object(gemini.body)) == "UNAVAILABLE"
    assert signals.error_object(b"<html>502</html>") == {}
    assert signals.error_object(b'[{"error": {"code": 429}}]') == {"code": 429}


@pytest.mark.parametrize(
    ("status", "code", "header", "expected"),
    [
        (400, "", None, True),
        (401, "", None, True),
        (403, "", None, True),
        (404, "", None, True),
        (429, "insufficient_quota", None, True),
        (429, "rate_limit_exceeded", None, False),
        (500, "", None, False),
        (529, "overloaded_error", None, False),
        (503, "", False, True),  # x-should-retry: false forbids it
        (400, "", True, False),  # x-should-retry: true allows it
        (None, "", None, False),
    ],
)
def test_nonretryable(status: int | None, code: str, header: bool | None, expected: bool) -> None:
    assert signals.is_nonretryable(status, code, header) is expected


def test_spend_limits_are_nonretryable_codes() -> None:
    """Spend and billing limits under a 429: OpenAI's (type `insufficient_quota`, its own code, per
    the error-codes guide) and Anthropic's `details.error_code`, read from brownout's replies and
    from the bodies as the sources give them."""
    openai_spend = {
        "message": "...",
        "type": "insufficient_quota",
        "param": None,
        "code": "project_spend_limit_exceeded",
    }
    assert signals.is_nonretryable(429, signals.error_codes(openai_spend), None)
    for kind in ("enforced_spend_limit_reached", "contract_spend_limit_reached"):
        reply = error_reply("anthropic", ErrorOptions(kind=kind))
        codes = signals.error_codes(signals.error_object(reply.body))
        assert codes == ("rate_limit_error", kind)
        assert signals.is_nonretryable(reply.status, codes, None)
    ramp = error_reply("anthropic", ErrorOptions(kind="ramp_limit_exceeded"))
    assert not signals.is_nonretryable(429, signals.error_codes(signals.error_object(ramp.body)), None)
    assert signals.error_codes({"type": "rate_limit_error", "details": None}) == ("rate_limit_error",)


def test_should_retry_header() -> None:
    assert signals.should_retry({"x-should-retry": "false"}) is False
    assert signals.should_retry({"x-should-retry": "True"}) is True
    assert signals.should_retry({}) is None


def test_numbers_in_headers_are_finite_and_not_negative() -> None:
    assert signals.retry_after({"retry-after-ms": "0"}, {}) == 0.0
    assert signals.retry_after({"retry-after-ms": "0.5"}, {}) == 0.0005
    for bad in ("-1", "inf", "nan", "soon"):
        assert signals.retry_after({"retry-after-ms": bad}, {}) is None, bad
    assert signals.declared_timeout({"x-stainless-timeout": "0"}) is None  # 0: no timeout declared
    assert signals.declared_timeout({"x-stainless-timeout": "0.5"}) == 0.5


def test_the_canonical_body_is_compact_sorted_utf8() -> None:
    assert signals.canonical_body(b'{"b": "\xc3\xa9", "a": [1, 2]}') == b'{"a":[1,2],"b":"\xc3\xa9"}'
    assert signals.canonical_body(b"") == b"" and signals.canonical_body(None) == b""
    assert signals.canonical_body(b"not json") == b"not json"


def test_a_fingerprint_tells_methods_and_paths_apart() -> None:
    body = b'{"model": "gpt-4o"}'
    post = signals.fingerprint("POST", "openai", "/v1/chat/completions", body)
    assert signals.fingerprint("GET", "openai", "/v1/chat/completions", body) != post
    assert signals.fingerprint("POST", "openai", "/v1/responses", body) != post
    assert signals.fingerprint("POST", "anthropic", "/v1/chat/completions", body) != post


def test_error_codes_prefer_code_and_default_to_empty() -> None:
    assert signals.error_code({"code": "rate_limit_exceeded", "type": "requests"}) == "rate_limit_exceeded"
    assert signals.error_code({"type": "overloaded_error"}) == "overloaded_error"
    assert signals.error_code({}) == "" and signals.error_code({"code": None, "status": ""}) == ""


def test_error_objects_are_objects_from_bodies_up_to_a_megabyte() -> None:
    padding = " " * (1_000_000 - len(b'{"error": {"code": "x"}}'))
    at_limit = ('{"error": {"code": "x"}}' + padding).encode()
    assert len(at_limit) == 1_000_000 and signals.error_object(at_limit) == {"code": "x"}
    assert signals.error_object(at_limit + b" ") == {}
    assert signals.error_object(b'{"error": "a string"}') == {}
    assert signals.error_object(b"") == {} and signals.error_object(None) == {}


def test_retry_after_as_a_date_uses_the_answers_date_or_its_arrival() -> None:
    sent = 1_800_000_000.0
    date = email.utils.formatdate(sent, usegmt=True)
    later = email.utils.formatdate(sent + 5, usegmt=True)
    assert signals.retry_after({"retry-after": later, "date": date}, {}) == 4.0  # less the 1 s resolution
    assert signals.retry_after({"retry-after": later}, {}, received=sent + 1) == 3.0
    assert signals.retry_after({"retry-after": later, "date": "garbage"}, {}, received=sent) == 4.0
    naive = "Wed, 21 Oct 2015 07:28:00"  # no zone: not a valid HTTP-date
    assert signals.parse_retry_after(naive, received=sent) is None


# -- turn prefixes: how a re-ask that changed the body is known to continue the same conversation

_turn = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "tool"]), "content": st.text(max_size=20)})


@budget(200)
@given(
    earlier=st.lists(_turn, min_size=1, max_size=30),
    appended=st.lists(_turn, max_size=signals.REASK_TURNS),
    max_tokens=st.integers(1, 10_000),
)
def test_a_request_continuing_another_carries_its_whole_list_of_turns(
    earlier: list[dict[str, str]], appended: list[dict[str, str]], max_tokens: int
) -> None:
    whole = signals.turn_prefixes({"messages": earlier})[-1]
    later = signals.turn_prefixes({"messages": earlier + appended, "max_tokens": max_tokens})
    assert whole in later and len(later) <= signals.REASK_TURNS + 1


@budget(200)
@given(earlier=st.lists(_turn, min_size=1, max_size=10), later=st.lists(_turn, min_size=1, max_size=30))
def test_a_request_that_does_not_start_with_the_earlier_turns_does_not_continue_them(
    earlier: list[dict[str, str]], later: list[dict[str, str]]
) -> None:
    whole = signals.turn_prefixes({"messages": earlier})[-1]
    assert (whole in signals.turn_prefixes({"messages": later})) == (later[: len(earlier)] == earlier)


def test_turn_prefixes_of_each_provider_shape() -> None:
    assert signals.turn_prefixes({}) == ()
    assert len(signals.turn_prefixes({"input": "hi"})) == 1
    gemini = [{"role": "user", "parts": [{"text": "hi"}]}]
    assert signals.turn_prefixes({"contents": gemini}) == signals.turn_prefixes({"contents": gemini[0]})
    # The system prompt and parameters are not turns: a re-ask may change them.
    assert signals.turn_prefixes({"messages": gemini, "system": "a"}) == signals.turn_prefixes({"messages": gemini})
    # Beyond the last REASK_TURNS appended turns a continuation is no longer told.
    many = [{"role": "user", "content": str(n)} for n in range(40)]
    assert signals.turn_prefixes({"messages": many[:10]})[-1] not in signals.turn_prefixes({"messages": many})
