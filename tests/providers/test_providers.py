"""Provider-exact error replies: bodies and headers as the real APIs send them."""

import json

import pytest

from brownout.providers import ErrorOptions
from brownout.providers import all_kinds
from brownout.providers import catalogue
from brownout.providers import error_reply


def headers(reply: object) -> dict[str, str]:
    return dict(reply.headers)  # type: ignore[attr-defined]


def test_openai_rate_limit_vs_insufficient_quota() -> None:
    limit = error_reply("openai", ErrorOptions(status=429, model="gpt-4o"))
    quota = error_reply("openai", ErrorOptions(kind="insufficient_quota"))
    assert limit.status == quota.status == 429
    assert json.loads(limit.body)["error"]["code"] == "rate_limit_exceeded"
    assert json.loads(limit.body)["error"]["type"] == "tokens"
    assert "gpt-4o" in json.loads(limit.body)["error"]["message"]
    assert headers(limit)["x-ratelimit-remaining-tokens"] == "0"
    body = json.loads(quota.body)["error"]
    assert (body["type"], body["code"], body["param"]) == ("insufficient_quota", "insufficient_quota", None)
    assert headers(quota)["x-request-id"].startswith("req_")


def test_openai_retry_headers_only_when_asked() -> None:
    plain = headers(error_reply("openai", ErrorOptions(status=503)))
    assert "retry-after" not in plain and "x-should-retry" not in plain
    asked = headers(
        error_reply("openai", ErrorOptions(status=503, retry_after=2, retry_after_ms=700, should_retry=False))
    )
    assert (asked["retry-after"], asked["retry-after-ms"], asked["x-should-retry"]) == ("2", "700", "false")


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    # HTTP's delay-seconds has no fraction (urllib3 refuses `1.5`); `retry_after_ms` carries precision.
    def sent(seconds: float) -> str:
        return headers(error_reply("openai", ErrorOptions(status=429, retry_after=seconds)))["retry-after"]

    assert [sent(s) for s in (0, 0.05, 1, 1.5, 2.0000000001)] == ["0", "1", "1", "2", "2"]


def test_openai_5xx_variants() -> None:
    assert json.loads(error_reply("openai", ErrorOptions(status=500)).body)["error"]["type"] == "server_error"
    overloaded = json.loads(error_reply("openai", ErrorOptions(status=503)).body)["error"]
    assert (overloaded["type"], overloaded["code"]) == ("service_unavailable_error", "server_is_overloaded")
    html = error_reply("openai", ErrorOptions(status=502))
    assert headers(html)["content-type"] == "text/html" and b"<center>cloudflare</center>" in html.body
    cf_json = json.loads(error_reply("openai", ErrorOptions(kind="bad_gateway")).body)["error"]
    assert cf_json["code"] == 502 and cf_json["type"] == "cf_bad_gateway"  # an integer, unlike the API's


def test_anthropic_overloaded() -> None:
    reply = error_reply("anthropic", ErrorOptions(status=529))
    body = json.loads(reply.body)
    error = {"type": "overloaded_error", "message": "Overloaded", "details": None}
    assert body["type"] == "error" and body["error"] == error
    assert body["request_id"] == headers(reply)["request-id"] and body["request_id"].startswith("req_")
    assert headers(reply)["x-should-retry"] == "true"
    assert error_reply("anthropic", ErrorOptions(kind="overloaded")).status == 529
    assert json.loads(error_reply("anthropic", ErrorOptions(status=500)).body)["error"]["type"] == "api_error"


def test_gemini_quota_carries_retry_info_in_the_body() -> None:
    reply = error_reply("gemini", ErrorOptions(status=429, retry_after=20, model="gemini-2.5-flash"))
    assert b'\n  "error": {\n' in reply.body  # pretty-printed like the live API
    error = json.loads(reply.body)["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    retry = [d for d in error["details"] if d["@type"].endswith("RetryInfo")]
    assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "20s"}]
    assert "Please retry in 20s." in error["message"]
    assert "retry-after" not in headers(reply)
    unavailable = json.loads(error_reply("gemini", ErrorOptions(status=503)).body)["error"]
    assert (unavailable["code"], unavailable["status"]) == (503, "UNAVAILABLE")


def test_azure_429_has_string_code_and_retry_headers() -> None:
    reply = error_reply("azure", ErrorOptions(status=429))
    assert json.loads(reply.body)["error"]["code"] == "429"
    h = headers(reply)
    assert h["retry-after"] == "6" and h["retry-after-ms"] == "6000" and "apim-request-id" in h
    filtered = json.loads(error_reply("azure", ErrorOptions(kind="content_filter")).body)["error"]
    assert filtered["code"] == "content_filter" and filtered["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    overloaded = error_reply("azure", ErrorOptions(status=503))
    assert "openai-version" not in headers(overloaded) and "apim-request-id" in headers(overloaded)


def test_kind_and_status_together_and_fallbacks() -> None:
    assert error_reply("openai", ErrorOptions(status=500, kind="overloaded")).status == 500
    # A kind this provider lacks uses its usual status with the provider's own envelope.
    quota_on_anthropic = error_reply("anthropic", ErrorOptions(kind="insufficient_quota"))
    assert quota_on_anthropic.status == 429
    assert json.loads(quota_on_anthropic.body)["error"]["type"] == "rate_limit_error"
    odd = error_reply("gemini", ErrorOptions(status=418, message="teapot"))
    assert json.loads(odd.body)["error"] == {"code": 418, "message": "teapot", "status": "FAILED_PRECONDITION"}
    assert (
        json.loads(error_reply("openai", ErrorOptions(status=429, message="custom")).body)["error"]["message"]
        == "custom"
    )


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini", "azure", "openai-compatible"])
def test_every_kind_renders(provider: str) -> None:
    for kind, spec in catalogue(provider).items():
        reply = error_reply(provider, ErrorOptions(kind=kind))
        assert reply.status == spec.status
        assert reply.body and dict(reply.headers)["content-type"].split(";")[0] in ("application/json", "text/html")


def test_aliases_are_known() -> None:
    kinds = all_kinds()
    assert kinds["overloaded_error"] == ["anthropic"]
    assert "openai" in kinds["insufficient_quota"] and "gemini" in kinds["overloaded"]
