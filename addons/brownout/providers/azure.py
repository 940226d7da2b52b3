"""Azure OpenAI's error replies (`reference/providers.md` §5): OpenAI's envelope, Azure's headers.

The 429 carries `code` as the string "429" and `retry-after` / `retry-after-ms` always.
"""

from __future__ import annotations

import json
import secrets
import uuid

from brownout.providers import openai
from brownout.providers.base import ErrorKind
from brownout.providers.base import ErrorOptions
from brownout.providers.base import Render
from brownout.providers.base import Reply
from brownout.providers.base import compact_json
from brownout.providers.base import retry_delay_seconds
from brownout.providers.base import retry_headers
from brownout.providers.base import seconds_text

DEFAULT_RETRY_SECONDS = 6.0


def api_headers() -> list[tuple[str, str]]:
    rid = str(uuid.uuid4())
    return [
        ("content-type", "application/json"),
        ("apim-request-id", rid),
        ("x-request-id", rid),
        ("x-ms-region", "East US"),
        ("x-ms-client-request-id", str(uuid.UUID(bytes=secrets.token_bytes(16)))),
        ("strict-transport-security", "max-age=31536000; includeSubDomains; preload"),
    ]


def envelope(code: str, message: str) -> bytes:
    """Azure's own envelope (APIM's throttling, routing errors): `{"error":{"code":"429",...}}`."""
    return compact_json({"error": {"code": code, "message": message}})


def _rate_limit(opts: ErrorOptions, status: int) -> Reply:
    delay = retry_delay_seconds(opts)
    if delay is None:
        delay = DEFAULT_RETRY_SECONDS
    message = opts.message or (
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 "
        "have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after "
        f"{seconds_text(delay)} seconds. Please go here: https://aka.ms/oai/quotaincrease if you "
        "would like to further increase the default rate limit."
    )
    headers = api_headers() + [("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-remaining-tokens", "0")]
    explicit = retry_headers(opts)
    names = {name for name, _ in explicit}
    if "retry-after" not in names:
        headers.append(("retry-after", seconds_text(max(1.0, round(delay)))))
    if "retry-after-ms" not in names:
        headers.append(("retry-after-ms", str(round(delay * 1000))))
    body = envelope(str(status), message)
    return Reply(status, headers + explicit, body)


def _azure_envelope(code: str, default_message: str) -> Render:
    def render(opts: ErrorOptions, status: int) -> Reply:
        return Reply(status, api_headers() + retry_headers(opts), envelope(code, opts.message or default_message))

    return render


# Captured bodies: 401 in SciSharp/BotSharp#386 and microsoft/semantic-kernel#10337 (code the
# string "401"); 404 code `DeploymentNotFound` in MicrosoftLearning/mslearn-ai-semantic-kernel#10,
# its message in microsoft/azure-openai-in-a-day-workshop#8.
_ACCESS_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
    "key for an active subscription and use a correct regional API endpoint for your resource."
)
_DEPLOYMENT_NOT_FOUND = (
    "The API deployment for this resource does not exist. If you created the deployment within the "
    "last 5 minutes, please wait a moment and try again."
)


def _content_filter(opts: ErrorOptions, status: int) -> Reply:
    message = opts.message or (
        "The response was filtered due to the prompt triggering Azure OpenAI's content management "
        "policy. Please modify your prompt and retry. To learn more about our content filtering "
        "policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
    )
    severity = {"filtered": False, "severity": "safe"}
    body = {
        "error": {
            "message": message,
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": status,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    "hate": severity,
                    "jailbreak": {"filtered": False, "detected": False},
                    "self_harm": severity,
                    "sexual": severity,
                    "violence": {"filtered": True, "severity": "medium"},
                },
            },
        }
    }
    return Reply(status, api_headers() + retry_headers(opts), json.dumps(body).encode())


def _server_error(opts: ErrorOptions, status: int) -> Reply:
    headers = api_headers()
    message = opts.message or (
        "An error occurred while processing your request. You can retry your request, or contact us "
        "through an Azure support request at: https://go.microsoft.com/fwlink/?linkid=2213926 if the "
        f"error persists. Please include the request ID {dict(headers)['apim-request-id']} in your message."
    )
    return Reply(status, headers + retry_headers(opts), openai.envelope(message, "server_error", "server_error"))


_OPENAI_EDGE_HEADERS = {name for name, _ in openai.api_headers(200)}


def _from_openai(kind: str) -> Render:
    render = openai.KINDS[kind].render

    def rendered(opts: ErrorOptions, status: int) -> Reply:
        reply = render(opts, status)
        # Keep what the variant adds (rate-limit and retry headers), not OpenAI's edge headers.
        kept = [h for h in reply.headers if h[0] not in _OPENAI_EDGE_HEADERS]
        return Reply(reply.status, api_headers() + kept, reply.body)

    return rendered


KINDS: dict[str, ErrorKind] = {
    "invalid_request": ErrorKind(400, _from_openai("invalid_request"), "400 invalid_request_error", retryable=False),
    "content_filter": ErrorKind(
        400, _content_filter, "400 content_filter (ResponsibleAIPolicyViolation)", retryable=False
    ),
    "authentication": ErrorKind(
        401, _azure_envelope("401", _ACCESS_DENIED), '401 code "401", access denied', retryable=False
    ),
    "not_found": ErrorKind(
        404, _azure_envelope("DeploymentNotFound", _DEPLOYMENT_NOT_FOUND), "404 DeploymentNotFound", retryable=False
    ),
    "rate_limit": ErrorKind(429, _rate_limit, '429 token rate limit, code "429", retry-after always set'),
    "server_error": ErrorKind(500, _server_error, "500 server_error"),
    "overloaded": ErrorKind(503, _from_openai("overloaded"), "503 server_is_overloaded"),
}

STATUS_DEFAULTS: dict[int, str] = {
    400: "invalid_request",
    401: "authentication",
    404: "not_found",
    429: "rate_limit",
    500: "server_error",
    503: "overloaded",
}


def generic(opts: ErrorOptions, status: int) -> Reply:
    reply = openai.generic(opts, status)
    return Reply(status, api_headers() + retry_headers(opts), reply.body)
