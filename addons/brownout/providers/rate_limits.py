"""Each provider's rate-limit headers and its 429, filled with a limiter's true figures.

- OpenAI (and OpenAI-compatible servers): `x-ratelimit-limit|remaining|reset-requests|tokens`
  on every answer, resets as Go durations (`reference/providers.md` §1.3); the 429 body names
  the limit hit (`type` "requests" or "tokens", code `rate_limit_exceeded`).
- Anthropic: `anthropic-ratelimit-requests|tokens-limit|remaining|reset`, resets as RFC 3339
  times (§3.2); the 429 is a `rate_limit_error` with `retry-after` in whole seconds.
- Azure OpenAI: `x-ratelimit-remaining-requests|tokens`; the 429 always carries `retry-after`
  and `retry-after-ms` (§5).
- Gemini sends no rate-limit headers; its 429 is `RESOURCE_EXHAUSTED` with the delay in a
  `RetryInfo` detail and in the message (§4).

Retry delays are rounded up: a client that honours them exactly finds the bucket refilled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from brownout.providers import anthropic
from brownout.providers import azure
from brownout.providers import gemini
from brownout.providers import openai
from brownout.providers.base import Reply
from brownout.providers.base import seconds_text
from brownout.providers.base import whole_seconds
from brownout.units import go_duration
from brownout.units import rfc3339


@dataclass(frozen=True, slots=True)
class LimitState:
    """One limit as the rate-limit headers report it."""

    limit: int  # per minute
    remaining: int  # whole units available after this request
    reset: float  # seconds until the bucket is full again


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    requests: LimitState | None
    tokens: LimitState | None
    wait: float  # seconds until this request would be let through (0 when it was)
    exhausted: Literal["requests", "tokens"] | None  # the limit that refused it
    requested_tokens: int


def retry_after_seconds(wait: float) -> int:
    """`retry-after` is whole seconds; at least 1, never shorter than the real wait."""
    return max(1, whole_seconds(wait))


def retry_after_millis(wait: float) -> int:
    return max(1, math.ceil(wait * 1000 - 1e-6))


def limit_headers(provider: str, verdict: Verdict, wall: float) -> list[tuple[str, str]]:
    """The headers the provider puts on every answer, for the limits this scenario sets."""
    requests, tokens = verdict.requests, verdict.tokens
    if provider in ("openai", "openai-compatible"):
        headers = []
        if requests:
            headers.append(("x-ratelimit-limit-requests", str(requests.limit)))
        if tokens:
            headers.append(("x-ratelimit-limit-tokens", str(tokens.limit)))
        if requests:
            headers.append(("x-ratelimit-remaining-requests", str(requests.remaining)))
        if tokens:
            headers.append(("x-ratelimit-remaining-tokens", str(tokens.remaining)))
        if requests:
            headers.append(("x-ratelimit-reset-requests", go_duration(requests.reset)))
        if tokens:
            headers.append(("x-ratelimit-reset-tokens", go_duration(tokens.reset)))
        return headers
    if provider == "anthropic":
        headers = []
        # One token bucket (input plus the output asked for): Anthropic's combined `tokens` family;
        # `input-tokens` and `output-tokens` would be figures this limiter does not keep.
        for name, limit in (("requests", requests), ("tokens", tokens)):
            if limit:
                headers += [
                    (f"anthropic-ratelimit-{name}-limit", str(limit.limit)),
                    (f"anthropic-ratelimit-{name}-remaining", str(limit.remaining)),
                    (f"anthropic-ratelimit-{name}-reset", rfc3339(wall + limit.reset)),
                ]
        return headers
    if provider == "azure":
        headers = []
        if requests:
            headers.append(("x-ratelimit-remaining-requests", str(requests.remaining)))
        if tokens:
            headers.append(("x-ratelimit-remaining-tokens", str(tokens.remaining)))
        return headers
    return []  # Gemini


def _hit(verdict: Verdict) -> tuple[str, LimitState, int]:
    """Which limit refused the request, its state, and what the request asked of it."""
    if verdict.exhausted == "tokens" and verdict.tokens:
        return "tokens", verdict.tokens, verdict.requested_tokens
    assert verdict.requests is not None
    return "requests", verdict.requests, 1


def rate_limited_reply(provider: str, verdict: Verdict, model: str, wall: float) -> Reply:
    """The provider's own 429 for a refused request, with truthful delays and figures."""
    kind, state, requested = _hit(verdict)
    wait = verdict.wait
    retry = [("retry-after", str(retry_after_seconds(wait)))]
    if provider == "anthropic":
        return _anthropic(kind, state, verdict, wall, retry)
    if provider == "gemini":
        return _gemini(kind, state, model, wait)
    if provider == "azure":
        return _azure(kind, verdict, wall, wait)
    return _openai(provider, kind, state, requested, verdict, model, wall, retry)


def _openai(
    provider: str,
    kind: str,
    state: LimitState,
    requested: int,
    verdict: Verdict,
    model: str,
    wall: float,
    retry: list[tuple[str, str]],
) -> Reply:
    unit = "requests per min (RPM)" if kind == "requests" else "tokens per min (TPM)"
    message = (
        f"Rate limit reached for {model or 'gpt-4o'} in organization org-brownout on {unit}: "
        f"Limit {state.limit}, Used {state.limit - state.remaining}, Requested {requested}. "
        f"Please try again in {go_duration(verdict.wait)}. "
        "Visit https://platform.openai.com/account/rate-limits to learn more."
    )
    headers = openai.api_headers(429) + limit_headers(provider, verdict, wall)
    # The Stainless SDKs read `retry-after-ms` first, so the precise delay is honoured.
    headers += [*retry, ("retry-after-ms", str(retry_after_millis(verdict.wait)))]
    return Reply(429, headers, openai.envelope(message, kind, "rate_limit_exceeded"))


def _anthropic(kind: str, state: LimitState, verdict: Verdict, wall: float, retry: list[tuple[str, str]]) -> Reply:
    rid, headers = anthropic.api_headers()
    unit = "requests" if kind == "requests" else "tokens"
    message = (
        "This request would exceed the rate limit for your organization "
        f"({anthropic.ORGANIZATION_ID}) of {state.limit:,} {unit} per minute. For details, refer to: "
        "https://docs.anthropic.com/en/api/rate-limits. You can see the response headers for current usage. "
        "Please reduce the prompt length or the maximum tokens requested, or try again later. You may also "
        "contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase."
    )
    headers += limit_headers("anthropic", verdict, wall) + retry + [("x-should-retry", "true")]
    return Reply(429, headers, anthropic.error_body("rate_limit_error", message, rid))


_GEMINI_QUOTAS = {
    "requests": (
        "generativelanguage.googleapis.com/generate_content_free_tier_requests",
        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
    ),
    "tokens": (
        "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
        "GenerateContentInputTokensPerModelPerMinute-FreeTier",
    ),
}


def _gemini(kind: str, state: LimitState, model: str, wait: float) -> Reply:
    model = model or "gemini-2.5-flash"
    metric, quota_id = _GEMINI_QUOTAS[kind]
    delay = f"{math.ceil(wait * 1000 - 1e-6) / 1000:g}s"
    message = (
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. "
        "To monitor your current usage, head to: https://ai.dev/rate-limit. \n"
        f"* Quota exceeded for metric: {metric}, limit: {state.limit}, model: {model}\n"
        f"Please retry in {delay}."
    )
    details: list[dict[str, object]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": metric,
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": str(state.limit),
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
    ]
    return Reply(429, gemini.api_headers(), gemini.error_body(429, "RESOURCE_EXHAUSTED", message, details))


def _azure(kind: str, verdict: Verdict, wall: float, wait: float) -> Reply:
    seconds = retry_after_seconds(wait)
    limit = "call rate limit" if kind == "requests" else "token rate limit"
    message = (
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 "
        f"have exceeded {limit} of your current OpenAI S0 pricing tier. Please retry after "
        f"{seconds_text(seconds)} seconds. Please go here: https://aka.ms/oai/quotaincrease if you "
        "would like to further increase the default rate limit."
    )
    headers = azure.api_headers() + limit_headers("azure", verdict, wall)
    headers += [("retry-after", str(seconds)), ("retry-after-ms", str(retry_after_millis(wait)))]
    return Reply(429, headers, azure.envelope("429", message))
