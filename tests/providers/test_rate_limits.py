"""Each provider's rate-limit headers and 429, filled with a limiter's figures."""

import datetime
import json

import pytest

from brownout.providers.rate_limits import LimitState
from brownout.providers.rate_limits import Verdict
from brownout.providers.rate_limits import limit_headers
from brownout.providers.rate_limits import rate_limited_reply
from brownout.providers.rate_limits import retry_after_millis
from brownout.providers.rate_limits import retry_after_seconds
from brownout.units import rfc3339

WALL = datetime.datetime(2025, 8, 21, 12, 40, 58, 400_000, tzinfo=datetime.UTC).timestamp()
PASSED = Verdict(True, LimitState(500, 499, 0.12), LimitState(30_000, 29_962, 0.076), 0.0, None, 38)
REFUSED_REQUESTS = Verdict(False, LimitState(600, 0, 1.0), None, 0.1, "requests", 0)
REFUSED_TOKENS = Verdict(False, LimitState(600, 5, 0.5), LimitState(30_000, 200, 59.6), 12.3456, "tokens", 385)


def test_openai_headers_as_captured() -> None:
    assert limit_headers("openai", PASSED, WALL) == [
        ("x-ratelimit-limit-requests", "500"),
        ("x-ratelimit-limit-tokens", "30000"),
        ("x-ratelimit-remaining-requests", "499"),
        ("x-ratelimit-remaining-tokens", "29962"),
        ("x-ratelimit-reset-requests", "120ms"),
        ("x-ratelimit-reset-tokens", "76ms"),
    ]
    assert limit_headers("openai-compatible", REFUSED_REQUESTS, WALL) == [
        ("x-ratelimit-limit-requests", "600"),
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "1s"),
    ]


def test_anthropic_headers_reset_at_rfc3339_times() -> None:
    assert limit_headers("anthropic", PASSED, WALL) == [
        ("anthropic-ratelimit-requests-limit", "500"),
        ("anthropic-ratelimit-requests-remaining", "499"),
        ("anthropic-ratelimit-requests-reset", "2025-08-21T12:40:59Z"),
        ("anthropic-ratelimit-tokens-limit", "30000"),
        ("anthropic-ratelimit-tokens-remaining", "29962"),
        ("anthropic-ratelimit-tokens-reset", "2025-08-21T12:40:59Z"),
    ]
    assert rfc3339(WALL + 61.7) == "2025-08-21T12:42:01Z"  # rounded up: never earlier than the truth


def test_azure_and_gemini_headers() -> None:
    assert limit_headers("azure", PASSED, WALL) == [
        ("x-ratelimit-remaining-requests", "499"),
        ("x-ratelimit-remaining-tokens", "29962"),
    ]
    assert limit_headers("gemini", PASSED, WALL) == []


def test_retry_delays_round_up() -> None:
    assert [retry_after_seconds(w) for w in (0.0, 0.1, 1.0, 1.0001, 12.3)] == [1, 1, 1, 2, 13]
    assert [retry_after_millis(w) for w in (0.0, 0.1, 0.1234, 2.0)] == [1, 100, 124, 2000]


def test_openai_429_for_requests() -> None:
    reply = rate_limited_reply("openai", REFUSED_REQUESTS, "gpt-4o-mini", WALL)
    headers = dict(reply.headers)
    error = json.loads(reply.body)["error"]
    assert reply.status == 429
    assert (error["type"], error["code"], error["param"]) == ("requests", "rate_limit_exceeded", None)
    assert error["message"] == (
        "Rate limit reached for gpt-4o-mini in organization org-brownout on requests per min (RPM): "
        "Limit 600, Used 600, Requested 1. Please try again in 100ms. "
        "Visit https://platform.openai.com/account/rate-limits to learn more."
    )
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("1", "100")
    assert headers["x-ratelimit-remaining-requests"] == "0" and headers["x-request-id"].startswith("req_")


def test_openai_429_for_tokens() -> None:
    error = json.loads(rate_limited_reply("openai", REFUSED_TOKENS, "gpt-4o", WALL).body)["error"]
    assert error["type"] == "tokens"
    assert (
        "on tokens per min (TPM): Limit 30000, Used 29800, Requested 385. Please try again in 12.346s."
        in (error["message"])
    )


def test_anthropic_429() -> None:
    reply = rate_limited_reply("anthropic", REFUSED_TOKENS, "claude-sonnet-4-6", WALL)
    body = json.loads(reply.body)
    headers = dict(reply.headers)
    assert reply.status == 429 and body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert "of 30,000 tokens per minute" in body["error"]["message"]
    assert body["request_id"] == headers["request-id"]
    assert headers["retry-after"] == "13"
    assert headers["anthropic-ratelimit-tokens-remaining"] == "200"
    assert headers["x-should-retry"] == "true" and body["error"]["details"] is None


def test_gemini_429_has_retry_info_and_no_headers() -> None:
    reply = rate_limited_reply("gemini", REFUSED_REQUESTS, "gemini-2.5-flash", WALL)
    error = json.loads(reply.body)["error"]
    assert reply.status == 429 and error["status"] == "RESOURCE_EXHAUSTED" and error["code"] == 429
    retry = [d for d in error["details"] if d["@type"].endswith("RetryInfo")]
    assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.1s"}]
    assert "limit: 600, model: gemini-2.5-flash\nPlease retry in 0.1s." in error["message"]
    assert "retry-after" not in dict(reply.headers)


@pytest.mark.parametrize("verdict,limit", [(REFUSED_REQUESTS, "call rate limit"), (REFUSED_TOKENS, "token rate limit")])
def test_azure_429_always_has_both_retry_headers(verdict: Verdict, limit: str) -> None:
    reply = rate_limited_reply("azure", verdict, "gpt-4o", WALL)
    headers = dict(reply.headers)
    error = json.loads(reply.body)["error"]
    assert error["code"] == "429" and limit in error["message"]
    assert headers["retry-after"] == str(retry_after_seconds(verdict.wait))
    assert headers["retry-after-ms"] == str(retry_after_millis(verdict.wait))
    assert f"Please retry after {headers['retry-after']} seconds" in error["message"]
