"""Which client sent a request, from its user agent and SDK headers: the `client` label.

The set is bounded (`CLIENT_FAMILIES`). What each client really sends was captured from the
installed packages talking to a local server (openai 3.54 and 7.57 for Node, anthropic 2.12 and
1.11 for Node, google-genai 2.8 and 3.1 for JS, the Vercel AI SDK 7.0, pydantic-ai 2.68, the
OpenAI Agents SDK 0.24, LiteLLM 1.110, langchain-openai 1.7, llama-index-llms-openai 0.8):

- The Stainless SDKs send `<client class>/<Python|JS> <version>` (`OpenAI/Python 3.54.0`,
  `AsyncAnthropic/Python 2.12.0`, `OpenAI/JS 7.57.0`) and `x-stainless-lang`.
- Frameworks built on the openai SDK keep its `x-stainless-*` headers; some put their own name in
  the user agent (`pydantic-ai/2.68.0`, `Agents/Python 0.24.0`), others do not: langchain-openai and
  llama-index-llms-openai send the SDK's own user agent and read as `openai-python`.
- google-genai sends `google-genai-sdk/<version> gl-python/<v>` or `gl-node/<v>`; the Vercel AI
  SDK `ai/<version> ai-sdk-provider-utils/<v> <runtime>`; LiteLLM's own HTTP calls `litellm/<v>`.
- Plain HTTP clients (curl, requests, httpx, aiohttp, urllib, Node's fetch, axios, Go, okhttp)
  are `generic`: there is no SDK layer between them and the app.
"""

from __future__ import annotations

from collections.abc import Mapping

CLIENT_FAMILIES = (
    "openai-python",
    "openai-node",
    "anthropic-python",
    "anthropic-node",
    "google-genai-python",
    "google-genai-js",
    "vercel-ai",
    "langchain",
    "llamaindex",
    "litellm",
    "pydantic-ai",
    "openai-agents",
    "generic",
    "other",
)

# Families that are an SDK or a framework over one (a retry may be theirs or the app's).
SDK_FAMILIES = frozenset(CLIENT_FAMILIES) - {"generic", "other"}

# Frameworks that name themselves at the start of the user agent, before any SDK's name.
_FRAMEWORK_PREFIXES = (
    ("pydantic-ai/", "pydantic-ai"),
    ("agents/python", "openai-agents"),
    ("agents/js", "openai-agents"),
    ("litellm/", "litellm"),
    ("ai/", "vercel-ai"),
)
# Frameworks recognised anywhere in the user agent (their JS editions and wrappers add a product).
_FRAMEWORK_WORDS = (("langchain", "langchain"), ("llama-index", "llamaindex"), ("llamaindex", "llamaindex"))
_GENERIC_PREFIXES = (
    "curl/",
    "python-requests/",
    "python-httpx/",
    "python-urllib/",
    "python/",  # aiohttp: `Python/3.13 aiohttp/3.12`
    "node",  # Node's own fetch (undici) sends `node`
    "undici",
    "axios/",
    "go-http-client/",
    "okhttp/",
    "wget/",
    "httpie/",
)


def client_family(headers: Mapping[str, str]) -> str:
    """The `client` label for a request's headers (lower-case names)."""
    agent = headers.get("user-agent", "").strip().lower()
    for prefix, family in _FRAMEWORK_PREFIXES:
        if agent.startswith(prefix):
            return family
    for word, family in _FRAMEWORK_WORDS:
        if word in agent:
            return family
    if "google-genai-sdk" in agent or "google-genai-sdk" in headers.get("x-goog-api-client", ""):
        api_client = headers.get("x-goog-api-client", "") + " " + agent
        return "google-genai-js" if "gl-node" in api_client or "gl-js" in api_client else "google-genai-python"
    # Stainless SDKs: `<client class>/<Python|JS> <version>` (OpenAI, AsyncOpenAI, AzureOpenAI,
    # Anthropic, AsyncAnthropic, AnthropicBedrock...).
    product, _, rest = agent.partition("/")
    lang = headers.get("x-stainless-lang", "").lower()
    node = lang == "js" or rest.startswith("js")
    if "openai" in product and rest:
        return "openai-node" if node else "openai-python"
    if "anthropic" in product and rest:
        return "anthropic-node" if node else "anthropic-python"
    if agent.startswith(_GENERIC_PREFIXES):
        return "generic"
    return "other"


def is_sdk(family: str) -> bool:
    """Whether the client has an SDK layer of its own below the app."""
    return family in SDK_FAMILIES
