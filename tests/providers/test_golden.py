"""Golden tests: every error kind's status, type, code, param and key headers against the recorded
facts (captures quoted in public issues, provider docs, the installed SDKs' sources), each row
naming its source, as `docs/wire-formats.md` records them. The expected values are written here
from those sources, never read back from brownout's own output.

Columns: provider, kind, status, type, code, param, headers (name -> regular expression the
value must match fully), source. For Anthropic, `type` is `error.type` and `code` is
`error.details.error_code`; for Gemini, `type` is the RPC `status` and `code` the integer code.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from brownout.providers import catalogue
from brownout.providers import error_reply
from brownout.providers.base import ErrorOptions

UNSET = object()  # the field is absent from the body
OPENAI_RID = {"x-request-id": r"req_[0-9a-f]{32}", "content-type": "application/json"}
ANTHROPIC_RID = {"request-id": r"req_011C[0-9A-Za-z]{20}", "content-type": "application/json"}
RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
ANTHROPIC_429 = {
    **ANTHROPIC_RID,
    "retry-after": r"\d+",
    "x-should-retry": "true",
    **{f"anthropic-ratelimit-{f}-{p}": RFC3339 if p == "reset" else r"\d+" for f in (
        "requests", "input-tokens", "output-tokens", "tokens") for p in ("limit", "remaining", "reset")},
}  # fmt: skip
GEMINI = {"content-type": "application/json; charset=UTF-8"}
AZURE = {"apim-request-id": r"[0-9a-f-]{36}", "content-type": "application/json"}

GOLDEN: list[tuple[str, str, int, Any, Any, Any, dict[str, str], str]] = [
    # -- OpenAI (reference/providers.md §1.2, §1.3)
    ("openai", "invalid_request", 400, "invalid_request_error", None, None, OPENAI_RID,
     "OpenAI error-codes guide (400 invalid_request_error); code null as the OpenAPI Error schema allows [no capture]"),
    ("openai", "context_length", 400, "invalid_request_error", "context_length_exceeded", "messages", OPENAI_RID,
     "obs: chathub-dev/chathub#126, deepwiki-open#144"),
    ("openai", "authentication", 401, "invalid_request_error", "invalid_api_key", None, OPENAI_RID,
     "obs: chatanywhere/GPT_API_free#62, continuedev/continue#9358"),
    ("openai", "permission", 403, "request_forbidden", "unsupported_country_region_territory", None, OPENAI_RID,
     "obs: aurora-develop/Duck2api#33, home-assistant/core#120072"),
    ("openai", "not_found", 404, "invalid_request_error", "model_not_found", None, OPENAI_RID,
     "obs: Aider-AI/aider#2030, rd-1-2022/ai-openai-helloworld#9"),
    ("openai", "rate_limit", 429, "tokens", "rate_limit_exceeded", None,
     {**OPENAI_RID, "retry-after": r"\d+", "x-ratelimit-reset-tokens": r"(\d+h)?(\d+m)?(\d+(\.\d+)?s|\d+ms)"},
     "obs: BuilderIO/micro-agent#86 (TPM, 644ms); integer Retry-After: OpenAI error-codes guide"),
    ("openai", "insufficient_quota", 429, "insufficient_quota", "insufficient_quota", None, OPENAI_RID,
     "obs: ChatGPTNextWeb/NextChat#4101"),
    ("openai", "server_error", 500, "server_error", "server_error", None, OPENAI_RID, "obs: openai/openai-node#1730"),
    ("openai", "bad_gateway", 502, "cf_bad_gateway", 502, None, {"server": "cloudflare"},
     "obs: stanfordnlp/dspy PR#203 (integer code)"),
    ("openai", "overloaded", 503, "service_unavailable_error", "server_is_overloaded", None, OPENAI_RID,
     "obs: Wei-Shaw/sub2api#6631"),
    # -- Anthropic (§3.1, §3.2; anthropic 2.12 _error_classes.py for details.error_code)
    ("anthropic", "invalid_request", 400, "invalid_request_error", None, UNSET, ANTHROPIC_RID,
     "doc: docs.claude.com/en/api/errors"),
    ("anthropic", "authentication", 401, "authentication_error", None, UNSET, ANTHROPIC_RID,
     "doc: docs.claude.com/en/api/errors"),
    ("anthropic", "billing", 402, "billing_error", None, UNSET, ANTHROPIC_RID,
     "doc: docs.claude.com/en/api/errors; SDK types/shared/error_type.py"),
    ("anthropic", "permission", 403, "permission_error", None, UNSET, ANTHROPIC_RID,
     "doc: docs.claude.com/en/api/errors"),
    ("anthropic", "not_found", 404, "not_found_error", None, UNSET, ANTHROPIC_RID,
     "doc: docs.claude.com/en/api/errors"),
    ("anthropic", "request_too_large", 413, "request_too_large", None, UNSET, ANTHROPIC_RID,
     "doc: docs.claude.com/en/api/errors"),
    ("anthropic", "rate_limit", 429, "rate_limit_error", None, UNSET, ANTHROPIC_429,
     "obs: anthropics/claude-code#71279; headers: tidyllm recording (§3.2); retry-after: docs' rate-limits page"),
    ("anthropic", "ramp_limit_exceeded", 429, "rate_limit_error", "ramp_limit_exceeded", UNSET, ANTHROPIC_429,
     "SDK: _error_classes.py (429, ramp_limit_exceeded) -> RampLimitExceededError"),
    ("anthropic", "enforced_spend_limit_reached", 429, "rate_limit_error", "enforced_spend_limit_reached", UNSET,
     {**ANTHROPIC_RID, "retry-after": r"\d+"},
     "SDK: _error_classes.py (429, enforced_spend_limit_reached) -> EnforcedSpendLimitReachedError"),
    ("anthropic", "contract_spend_limit_reached", 429, "rate_limit_error", "contract_spend_limit_reached", UNSET,
     {**ANTHROPIC_RID, "retry-after": r"\d+"},
     "SDK: _error_classes.py (429, contract_spend_limit_reached) -> ContractSpendLimitReachedError"),
    ("anthropic", "server_error", 500, "api_error", None, UNSET, ANTHROPIC_RID, "doc: platform.claude.com errors"),
    ("anthropic", "timeout", 504, "timeout_error", None, UNSET, ANTHROPIC_RID, "SDK: types/shared/error_type.py"),
    ("anthropic", "overloaded", 529, "overloaded_error", None, UNSET, {**ANTHROPIC_RID, "x-should-retry": "true"},
     "obs: cline/cline#52, anthropics/claude-code#3628, gotgenes/pi-anthropic-auth#73"),
    # -- Gemini (§4.1: ai.google.dev/gemini-api/docs/troubleshooting)
    ("gemini", "invalid_request", 400, "INVALID_ARGUMENT", 400, UNSET, GEMINI, "doc: Gemini troubleshooting table"),
    ("gemini", "authentication", 400, "INVALID_ARGUMENT", 400, UNSET, GEMINI, "obs: continuedev/continue#9251"),
    ("gemini", "permission", 403, "PERMISSION_DENIED", 403, UNSET, GEMINI, "doc: Gemini troubleshooting table"),
    ("gemini", "not_found", 404, "NOT_FOUND", 404, UNSET, GEMINI, "doc: Gemini troubleshooting table"),
    ("gemini", "rate_limit", 429, "RESOURCE_EXHAUSTED", 429, UNSET, GEMINI,
     "obs: continuedev/continue#9570, gemini-cli#8437"),
    ("gemini", "exhausted", 429, "RESOURCE_EXHAUSTED", 429, UNSET, GEMINI, "obs: gemini-cli#1509"),
    ("gemini", "server_error", 500, "INTERNAL", 500, UNSET, GEMINI, "obs: PublicAffairs/openai-gemini#15"),
    ("gemini", "overloaded", 503, "UNAVAILABLE", 503, UNSET, GEMINI, "obs: google-gemini/cookbook#425"),
    ("gemini", "high_demand", 503, "UNAVAILABLE", 503, UNSET, GEMINI, "obs: VectifyAI/OpenKB#164"),
    ("gemini", "timeout", 504, "DEADLINE_EXCEEDED", 504, UNSET, GEMINI, "doc: Gemini troubleshooting table"),
    # -- Azure OpenAI (§5)
    ("azure", "invalid_request", 400, "invalid_request_error", None, None, AZURE, "OpenAI's envelope behind Azure"),
    ("azure", "content_filter", 400, None, "content_filter", "prompt", AZURE, "obs: vibrantlabsai/ragas#649"),
    ("azure", "authentication", 401, UNSET, "401", UNSET, AZURE,
     "obs: SciSharp/BotSharp#386, microsoft/semantic-kernel#10337"),
    ("azure", "not_found", 404, UNSET, "DeploymentNotFound", UNSET, AZURE,
     "obs: MicrosoftLearning/mslearn-ai-semantic-kernel#10, microsoft/azure-openai-in-a-day-workshop#8"),
    ("azure", "rate_limit", 429, UNSET, "429", UNSET, {**AZURE, "retry-after": r"\d+", "retry-after-ms": r"\d+"},
     "obs: microsoft/sample-app-aoai-chatGPT#406, jasonacox/TinyLLM#17"),
    ("azure", "server_error", 500, "server_error", "server_error", None, AZURE, "obs: microsoft/agent-framework#2525"),
    ("azure", "overloaded", 503, "service_unavailable_error", "server_is_overloaded", None, AZURE,
     "OpenAI's 503 (Wei-Shaw/sub2api#6631) behind Azure [no Azure capture]"),
]  # fmt: skip


def _fields(provider: str, body: dict[str, Any]) -> tuple[Any, Any, Any]:
    error = body["error"]
    if provider == "anthropic":
        details = error["details"]
        return error["type"], (details or {}).get("error_code"), error.get("param", UNSET)
    if provider == "gemini":
        return error["status"], error["code"], error.get("param", UNSET)
    return error.get("type", UNSET), error.get("code", UNSET), error.get("param", UNSET)


@pytest.mark.parametrize(
    ("provider", "kind", "status", "type_", "code", "param", "headers", "source"),
    GOLDEN,
    ids=[f"{row[0]}-{row[1]}" for row in GOLDEN],
)
def test_error_kind_matches_the_record(
    provider: str, kind: str, status: int, type_: Any, code: Any, param: Any, headers: dict[str, str], source: str
) -> None:
    reply = error_reply(provider, ErrorOptions(kind=kind))
    assert reply.status == status, source
    got_type, got_code, got_param = _fields(provider, json.loads(reply.body))
    assert (got_type, got_code, got_param) == (type_, code, param), source
    sent = {name.lower(): value for name, value in reply.headers}
    for name, pattern in headers.items():
        assert name in sent and re.fullmatch(pattern, sent[name]), f"{name}: {sent.get(name)!r} ({source})"


def test_every_kind_has_a_golden_row() -> None:
    """A new kind needs its recorded fact here (Cloudflare's HTML pages have no JSON fields)."""
    rows = {(row[0], row[1]) for row in GOLDEN}
    pages = {("openai", "cloudflare_html"), ("openai", "timeout")}
    for provider in ("openai", "anthropic", "gemini", "azure"):
        for kind in catalogue(provider):
            assert (provider, kind) in rows | pages, f"{provider} {kind}: no golden row"
