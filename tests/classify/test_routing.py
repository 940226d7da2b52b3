import pytest

from brownout.classify.routing import RouteTable
from brownout.classify.routing import RoutingError
from brownout.classify.routing import Target
from brownout.classify.routing import parse_upstream_arg


def test_default_prefixes_go_to_the_real_apis() -> None:
    routes = RouteTable()
    assert routes.resolve("/openai/v1/chat/completions") == Target(
        "openai", "openai", "https", "api.openai.com", 443, "/v1/chat/completions"
    )
    assert routes.resolve("/anthropic/v1/messages?beta=true") == Target(
        "anthropic", "anthropic", "https", "api.anthropic.com", 443, "/v1/messages?beta=true"
    )
    target = routes.resolve("/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    assert target is not None
    assert (target.host, target.path) == (
        "generativelanguage.googleapis.com",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
    )


def test_azure_host_in_the_path() -> None:
    target = RouteTable().resolve("/azure/myres.openai.azure.com/openai/deployments/d/chat/completions?api-version=1")
    assert target == Target(
        "azure", "azure", "https", "myres.openai.azure.com", 443, "/openai/deployments/d/chat/completions?api-version=1"
    )


@pytest.mark.parametrize(
    "path,message",
    [
        ("/azure/evil.example.com/openai/x", "not an Azure OpenAI host"),
        ("/azure/", "Azure OpenAI requests go to /azure/<resource host>"),
        ("/azure/bad_host!/x", "got host 'bad_host!'"),
    ],
)
def test_azure_rejects_other_hosts(path: str, message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        RouteTable().resolve(path)


def test_overrides_and_new_prefixes() -> None:
    routes = RouteTable(
        [
            parse_upstream_arg("openai=http://127.0.0.1:9000/openai"),
            parse_upstream_arg("vllm=http://localhost:8000/"),
            parse_upstream_arg("azure=http://127.0.0.1:9000/azure"),
        ]
    )
    assert routes.resolve("/openai/v1/embeddings") == Target(
        "openai", "openai", "http", "127.0.0.1", 9000, "/openai/v1/embeddings"
    )
    assert routes.resolve("/vllm/v1/chat/completions") == Target(
        "openai-compatible", "vllm", "http", "localhost", 8000, "/v1/chat/completions"
    )
    # Overridden Azure keeps the resource host out of the upstream path.
    assert routes.resolve("/azure/myres.openai.azure.com/openai/deployments/d/embeddings") == Target(
        "azure", "azure", "http", "127.0.0.1", 9000, "/azure/openai/deployments/d/embeddings"
    )
    assert "/vllm" in routes.prefixes()


@pytest.mark.parametrize("path", ["/", "/v1/chat/completions", "/openaix/v1", "relative"])
def test_unknown_prefixes(path: str) -> None:
    assert RouteTable().resolve(path) is None


def test_prefix_alone() -> None:
    routes = RouteTable()
    assert routes.resolve("/openai") is not None and routes.resolve("/openai").path == "/"  # type: ignore[union-attr]
    assert routes.resolve("/openai?x=1").path == "/?x=1"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "value,message",
    [
        ("openai", "expected NAME=URL"),
        ("openai=ftp://x", "expected an http:// or https:// URL"),
        ("Open AI=http://x", "use lower-case letters"),
        ("openai=http://x/?q=1", "a query or fragment is not allowed"),
    ],
)
def test_bad_upstream_args(value: str, message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        parse_upstream_arg(value)


def test_a_providers_own_host_is_redirected_to_its_override() -> None:
    routes = RouteTable(
        [parse_upstream_arg("gemini=http://127.0.0.1:9000/gemini"), parse_upstream_arg("vllm=http://x:1")]
    )
    assert routes.redirect("generativelanguage.googleapis.com", "/v1beta/models/m:generateContent?alt=sse") == Target(
        "gemini", "gemini", "http", "127.0.0.1", 9000, "/gemini/v1beta/models/m:generateContent?alt=sse"
    )
    assert routes.redirect("api.openai.com", "/v1/chat/completions") is None  # no override: the real host
    assert routes.redirect("x", "/v1/chat/completions") is None  # not a provider's host
    assert RouteTable().redirect("api.anthropic.com", "/v1/messages") is None
