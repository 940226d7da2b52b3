import pytest

from brownout.classify.routing import RoutingError
from brownout.classify.upstream_providers import ProviderMap
from brownout.classify.upstream_providers import ProviderRule
from brownout.classify.upstream_providers import parse_provider_rule


def test_parse_host_port_and_path() -> None:
    assert parse_provider_rule("127.0.0.1:9000/anthropic=anthropic") == ProviderRule(
        "127.0.0.1", 9000, "/anthropic", "anthropic"
    )
    assert parse_provider_rule("Gateway.Internal=openai") == ProviderRule("gateway.internal", None, "", "openai")
    assert parse_provider_rule("*/v1beta/=gemini") == ProviderRule("*", None, "/v1beta", "gemini")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("127.0.0.1:9000", "expected HOST\\[:PORT\\]\\[/PATH\\]=PROVIDER"),
        ("=openai", "expected HOST"),
        ("127.0.0.1=bedrock", "'bedrock' is not one of openai, anthropic, gemini, azure, openai-compatible"),
        ("127.0.0.1:http=openai", "port 'http' is not a number"),
        ("127.0.0.1:0=openai", "port '0' is not a number from 1 to 65535"),
        (":9000=openai", "no host"),
    ],
)
def test_bad_values_say_what_is_allowed(value: str, message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        parse_provider_rule(value)


def test_the_first_matching_rule_names_the_provider() -> None:
    providers = ProviderMap(
        parse_provider_rule(v)
        for v in ("127.0.0.1:9000/anthropic=anthropic", "127.0.0.1:9000/gemini=gemini", "127.0.0.1=openai")
    )
    assert providers.provider_of("127.0.0.1", 9000, "/anthropic/v1/messages") == "anthropic"
    assert providers.provider_of("127.0.0.1", 9000, "/anthropic") == "anthropic"
    assert providers.provider_of("127.0.0.1", 9000, "/anthropicx/v1/messages") == "openai"  # a prefix, not a start
    assert providers.provider_of("127.0.0.1", 9000, "/gemini/v1beta/models/m:generateContent") == "gemini"
    assert providers.provider_of("127.0.0.1", 8000, "/anything") == "openai"
    assert providers.provider_of("localhost", 9000, "/anthropic/v1/messages") is None
    assert ProviderMap([parse_provider_rule("*=azure")]).provider_of("any.host", 1, "/") == "azure"
