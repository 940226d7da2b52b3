import json

import pytest

from brownout.classify.request import RequestInfo
from brownout.classify.request import api_key_hash
from brownout.classify.request import classify
from brownout.classify.request import plain_headers


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


CASES = [
    # host, path, body, hint -> provider, endpoint, model, stream
    (
        "api.openai.com",
        "/v1/chat/completions",
        body(model="gpt-4o", stream=True),
        None,
        ("openai", "chat", "gpt-4o", True),
    ),
    ("api.openai.com", "/v1/responses", body(model="gpt-5"), None, ("openai", "responses", "gpt-5", False)),
    (
        "api.openai.com",
        "/v1/embeddings",
        body(model="text-embedding-3-small"),
        None,
        ("openai", "embeddings", "text-embedding-3-small", False),
    ),
    (
        "api.openai.com",
        "/v1/completions",
        body(model="gpt-3.5-turbo-instruct"),
        None,
        ("openai", "completions", "gpt-3.5-turbo-instruct", False),
    ),
    ("api.openai.com", "/v1/models", None, None, ("openai", "models", "", False)),
    ("api.openai.com", "/v1/images/generations", body(model="dall-e-3"), None, ("openai", "images", "dall-e-3", False)),
    (
        "api.anthropic.com",
        "/v1/messages",
        body(model="claude-sonnet-4-6", stream=True),
        None,
        ("anthropic", "messages", "claude-sonnet-4-6", True),
    ),
    (
        "api.anthropic.com",
        "/v1/messages/count_tokens",
        body(model="claude-haiku-4-5"),
        None,
        ("anthropic", "count_tokens", "claude-haiku-4-5", False),
    ),
    (
        "generativelanguage.googleapis.com",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        body(),
        None,
        ("gemini", "generate", "gemini-2.5-flash", False),
    ),
    (
        "generativelanguage.googleapis.com",
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
        body(),
        None,
        ("gemini", "stream-generate", "gemini-2.5-pro", True),
    ),
    (
        "generativelanguage.googleapis.com",
        "/v1/models/text-embedding-004:embedContent",
        body(),
        None,
        ("gemini", "embeddings", "text-embedding-004", False),
    ),
    (
        "us-central1-aiplatform.googleapis.com",
        "/v1beta1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent",
        body(),
        None,
        ("gemini", "generate", "gemini-2.0-flash", False),
    ),
    (
        "myres.openai.azure.com",
        "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21",
        body(stream=True),
        None,
        ("azure", "chat", "gpt4o-prod", True),
    ),
    (
        "myres.openai.azure.com",
        "/openai/v1/chat/completions",
        body(model="gpt-4o"),
        None,
        ("azure", "chat", "gpt-4o", False),
    ),
    ("localhost", "/v1/chat/completions", body(model="llama3"), None, ("openai-compatible", "chat", "llama3", False)),
    # A routing prefix names the provider even when the upstream is a local simulator.
    ("127.0.0.1", "/openai/v1/chat/completions", body(model="gpt-4o"), "openai", ("openai", "chat", "gpt-4o", False)),
    (
        "127.0.0.1",
        "/gemini/v1beta/models/gemini-2.5-flash:generateContent",
        body(),
        "gemini",
        ("gemini", "generate", "gemini-2.5-flash", False),
    ),
    # stream only counts when it is literally true
    (
        "api.openai.com",
        "/v1/chat/completions",
        body(model="gpt-4o", stream="yes"),
        None,
        ("openai", "chat", "gpt-4o", False),
    ),
    ("api.openai.com", "/v1/chat/completions", b"not json", None, ("openai", "chat", "", False)),
]


@pytest.mark.parametrize("host,path,raw,hint,expected", CASES)
def test_classify(host: str, path: str, raw: bytes | None, hint: str | None, expected: tuple) -> None:
    info = classify(host=host, path=path, headers={}, body=raw, provider_hint=hint)
    assert info is not None
    assert (info.provider, info.endpoint, info.model, info.stream) == expected


@pytest.mark.parametrize("host,path", [("example.com", "/index.html"), ("pypi.org", "/simple/")])
def test_not_an_ai_request(host: str, path: str) -> None:
    assert classify(host=host, path=path, headers={}, body=None) is None


def test_key_hash_is_stable_and_hides_the_key() -> None:
    first = api_key_hash({"authorization": "Bearer sk-secret"})
    assert first == api_key_hash({"authorization": "Bearer sk-secret"})
    assert first != api_key_hash({"authorization": "Bearer sk-other"})
    assert "secret" not in first and len(first) == 16
    assert api_key_hash({"x-goog-api-key": "g"}) == api_key_hash({}, "key=g")
    assert api_key_hash({}) == ""


def test_info_is_plain_data() -> None:
    info = RequestInfo("openai", "chat", "gpt-4o", False)
    assert info.client == "other" and info.key_hash == ""


def test_plain_headers_lower_cases_names_and_keeps_the_first_value() -> None:
    fields = [
        (b"Authorization", b"Bearer sk-1"),
        (b"X-Stainless-Retry-Count", b"1"),
        (b"authorization", b"Bearer sk-2"),
    ]
    assert plain_headers(fields) == {"authorization": "Bearer sk-1", "x-stainless-retry-count": "1"}


# Platform paths whose wire format is not their host's (issue 15, item 3 and 4), with the
# source that gives each path: host, path, body, hint -> provider, endpoint, model, stream, platform.
VERTEX_CLAUDE = "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929"
PLATFORM_CASES = [
    # anthropic SDK lib/vertex/_client.py `_prepare_options`: streamRawPredict when `stream` is set.
    (
        "us-east5-aiplatform.googleapis.com",
        VERTEX_CLAUDE + ":streamRawPredict",
        body(anthropic_version="vertex-2023-10-16", stream=True, max_tokens=10),
        None,
        ("anthropic", "messages", "claude-sonnet-4-5@20250929", True, "vertex"),
    ),
    (
        "us-east5-aiplatform.googleapis.com",
        VERTEX_CLAUDE + ":rawPredict",
        body(anthropic_version="vertex-2023-10-16", max_tokens=10),
        None,
        ("anthropic", "messages", "claude-sonnet-4-5@20250929", False, "vertex"),
    ),
    # Through the /gemini prefix (its hint is gemini), the path still tells.
    (
        "127.0.0.1",
        VERTEX_CLAUDE + ":streamRawPredict",
        body(stream=True),
        "gemini",
        ("anthropic", "messages", "claude-sonnet-4-5@20250929", True, "vertex"),
    ),
    (
        "aiplatform.googleapis.com",
        "/v1/projects/p/locations/global/publishers/anthropic/models/count-tokens:rawPredict",
        body(model="claude-haiku-4-5"),
        None,
        ("anthropic", "count_tokens", "claude-haiku-4-5", False, "vertex"),
    ),
    # anthropic SDK lib/foundry.py: https://{resource}.services.ai.azure.com/anthropic/ + /v1/messages.
    (
        "myres.services.ai.azure.com",
        "/anthropic/v1/messages",
        body(model="claude-sonnet-4-5", stream=True),
        None,
        ("anthropic", "messages", "claude-sonnet-4-5", True, "foundry"),
    ),
    (
        "127.0.0.1",
        "/anthropic/v1/messages",
        body(model="claude-sonnet-4-5"),
        "azure",
        ("anthropic", "messages", "claude-sonnet-4-5", False, "foundry"),
    ),
    # ai.google.dev/gemini-api/docs/openai: base_url .../v1beta/openai/.
    (
        "generativelanguage.googleapis.com",
        "/v1beta/openai/chat/completions",
        body(model="gemini-2.5-flash", stream=True),
        None,
        ("openai-compatible", "chat", "gemini-2.5-flash", True, "google"),
    ),
    (
        "127.0.0.1",
        "/v1beta/openai/chat/completions",
        body(model="gemini-2.5-flash"),
        "gemini",
        ("openai-compatible", "chat", "gemini-2.5-flash", False, "google"),
    ),
    # Vertex's OpenAI-compatible endpoint (cloud.google.com/vertex-ai/generative-ai/docs/migrate/openai).
    (
        "us-central1-aiplatform.googleapis.com",
        "/v1/projects/p/locations/us-central1/endpoints/openapi/chat/completions",
        body(model="google/gemini-2.5-flash"),
        None,
        ("openai-compatible", "chat", "google/gemini-2.5-flash", False, "google"),
    ),
    # OpenAI's data-residency hosts (platform.openai.com/docs/guides/your-data): the same API.
    ("eu.api.openai.com", "/v1/chat/completions", body(model="gpt-4o"), None, ("openai", "chat", "gpt-4o", False, "")),
    ("us.api.openai.com", "/v1/responses", body(model="gpt-5"), None, ("openai", "responses", "gpt-5", False, "")),
    # Bedrock's OpenAI-compatible APIs (docs.aws.amazon.com/bedrock/latest/userguide/
    # inference-chat-completions-mantle.html, inference-responses-api.html).
    (
        "bedrock-runtime.us-west-2.amazonaws.com",
        "/openai/v1/chat/completions",
        body(model="openai.gpt-oss-20b-1:0"),
        None,
        ("openai-compatible", "chat", "openai.gpt-oss-20b-1:0", False, "bedrock"),
    ),
    (
        "bedrock-mantle.us-east-1.api.aws",
        "/v1/chat/completions",
        body(model="openai.gpt-oss-120b"),
        None,
        ("openai-compatible", "chat", "openai.gpt-oss-120b", False, "bedrock"),
    ),
    (
        "bedrock-mantle.us-east-1.api.aws",
        "/openai/v1/responses",
        body(model="openai.gpt-oss-120b", stream=True),
        None,
        ("openai-compatible", "responses", "openai.gpt-oss-120b", True, "bedrock"),
    ),
]


@pytest.mark.parametrize("host,path,raw,hint,expected", PLATFORM_CASES)
def test_platform_paths(host: str, path: str, raw: bytes | None, hint: str | None, expected: tuple) -> None:
    info = classify(host=host, path=path, headers={}, body=raw, provider_hint=hint)
    assert info is not None
    assert (info.provider, info.endpoint, info.model, info.stream, info.platform) == expected
