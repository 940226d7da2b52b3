"""Client recognition, from headers the real clients sent (captured from the installed packages,
see `brownout.classify.clients`)."""

import pytest

from brownout.classify.clients import CLIENT_FAMILIES
from brownout.classify.clients import client_family
from brownout.classify.clients import is_sdk

STAINLESS_PY = {"x-stainless-lang": "python", "x-stainless-package-version": "3.54.0"}
STAINLESS_JS = {"x-stainless-lang": "js", "x-stainless-package-version": "7.57.0"}


@pytest.mark.parametrize(
    "headers,family",
    [
        ({"user-agent": "OpenAI/Python 3.54.0", **STAINLESS_PY}, "openai-python"),
        ({"user-agent": "AsyncOpenAI/Python 3.54.0", **STAINLESS_PY}, "openai-python"),
        ({"user-agent": "AsyncAzureOpenAI/Python 3.54.0"}, "openai-python"),
        ({"user-agent": "OpenAI/JS 7.57.0", **STAINLESS_JS}, "openai-node"),
        ({"user-agent": "Anthropic/Python 2.12.0"}, "anthropic-python"),
        ({"user-agent": "AsyncAnthropic/Python 2.12.0"}, "anthropic-python"),
        ({"user-agent": "Anthropic/JS 1.11.0", "x-stainless-lang": "js"}, "anthropic-node"),
        ({"user-agent": "AnthropicBedrock/JS 0.9.0", "x-stainless-lang": "js"}, "anthropic-node"),
        (
            {"user-agent": "google-genai-sdk/2.8.0 gl-python/3.13.0", "x-goog-api-client": "google-genai-sdk/2.8.0"},
            "google-genai-python",
        ),
        (
            {
                "user-agent": "google-genai-sdk/3.1.0 gl-node/v20.20.2",
                "x-goog-api-client": "google-genai-sdk/3.1.0 gl-node/v20.20.2",
            },
            "google-genai-js",
        ),
        ({"user-agent": "ai/7.0.170 ai-sdk-provider-utils/5.0.79 node.js/v20.20.2"}, "vercel-ai"),
        ({"user-agent": "pydantic-ai/2.68.0", **STAINLESS_PY}, "pydantic-ai"),
        ({"user-agent": "Agents/Python 0.24.0", **STAINLESS_PY}, "openai-agents"),
        ({"user-agent": "litellm/1.110.2"}, "litellm"),
        ({"user-agent": "langchain-openai/0.3 OpenAI/Python 1.0"}, "langchain"),
        ({"user-agent": "llama-index/0.12 OpenAI/Python 2.54.0"}, "llamaindex"),
        # langchain-openai 1.7 and llama-index-llms-openai 0.8 send the openai SDK's own headers.
        ({"user-agent": "OpenAI/Python 3.54.0", **STAINLESS_PY, "x-stainless-raw-response": "true"}, "openai-python"),
        ({"user-agent": "curl/8.5.0"}, "generic"),
        ({"user-agent": "python-requests/2.32.3"}, "generic"),
        ({"user-agent": "python-httpx/0.28.1"}, "generic"),
        ({"user-agent": "Python/3.13 aiohttp/3.12.15"}, "generic"),
        ({"user-agent": "node"}, "generic"),
        ({"user-agent": "axios/1.8.4"}, "generic"),
        ({"user-agent": "Go-http-client/2.0"}, "generic"),
        ({"user-agent": "Mozilla/5.0"}, "other"),
        ({}, "other"),
    ],
)
def test_client_family(headers: dict[str, str], family: str) -> None:
    assert client_family(headers) == family


def test_the_label_set_is_bounded_and_says_which_have_an_sdk_layer() -> None:
    assert len(CLIENT_FAMILIES) == len(set(CLIENT_FAMILIES)) == 14
    assert is_sdk("openai-python") and is_sdk("vercel-ai") and is_sdk("google-genai-js")
    assert not is_sdk("generic") and not is_sdk("other")
