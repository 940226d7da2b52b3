import json

from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons
from mitmproxy.test import tflow

from brownout.classify.routing import RouteTable
from brownout.classify.routing import parse_upstream_arg
from brownout.engine.state import Brownout
from brownout.hooks.options import Config
from brownout.hooks.router import UNROUTED
from brownout.hooks.router import Router


def reverse_flow(path: str, mode: str = f"reverse:{UNROUTED}@8080"):  # type: ignore[no-untyped-def]
    flow = tflow.tflow()
    flow.client_conn.proxy_mode = ProxyMode.parse(mode)
    flow.request.path = path
    flow.request.headers["host"] = "unrouted.brownout.invalid:9"
    return flow


def test_prefix_is_rewritten_to_the_upstream() -> None:
    state = Brownout(routes=RouteTable([parse_upstream_arg("anthropic=http://127.0.0.1:9000/anthropic")]))
    router = Router(state)
    with taddons.context(router):
        flow = reverse_flow("/openai/v1/chat/completions")
        router.requestheaders(flow)
        assert flow.request.url == "https://api.openai.com/v1/chat/completions"
        assert flow.request.headers["host"] == "api.openai.com"
        assert flow.metadata["brownout"] == {"provider": "openai", "route": "openai"}

        flow = reverse_flow("/anthropic/v1/messages")
        router.requestheaders(flow)
        assert flow.request.url == "http://127.0.0.1:9000/anthropic/v1/messages"
        assert flow.request.headers["host"] == "127.0.0.1:9000"


def test_unknown_prefix_gets_a_json_404() -> None:
    router = Router(Brownout())
    with taddons.context(router):
        flow = reverse_flow("/v1/chat/completions")
        router.requestheaders(flow)
        assert flow.response is not None and flow.response.status_code == 404
        message = json.loads(flow.response.content or b"")["error"]["message"]
        assert "path prefixes: /anthropic, /azure/<resource host>, /gemini, /openai" in message


def test_bad_azure_host_gets_a_400() -> None:
    router = Router(Brownout())
    with taddons.context(router):
        flow = reverse_flow("/azure/example.com/openai/deployments/x/chat/completions")
        router.requestheaders(flow)
        assert flow.response is not None and flow.response.status_code == 400


def test_a_users_own_reverse_target_is_left_alone() -> None:
    router = Router(Brownout())
    with taddons.context(router):
        flow = reverse_flow("/v1/chat/completions", "reverse:https://api.openai.com@8081")
        flow.request.host = "api.openai.com"
        router.requestheaders(flow)
        assert flow.response is None and flow.request.path == "/v1/chat/completions"
        assert flow.metadata["brownout"]["provider"] == "openai"


def test_forward_mode_tells_the_provider_by_host() -> None:
    router = Router(Brownout())
    with taddons.context(router):
        flow = tflow.tflow()
        flow.request.host = "api.anthropic.com"
        flow.request.path = "/openai/v1/messages"  # a prefix means nothing outside reverse mode
        router.requestheaders(flow)
        assert flow.request.host == "api.anthropic.com" and flow.request.path == "/openai/v1/messages"
        assert flow.metadata["brownout"]["provider"] == "anthropic"


def forward_flow(url: str):  # type: ignore[no-untyped-def]
    flow = tflow.tflow()
    flow.request.url = url
    return flow


def test_forward_mode_sends_a_providers_host_to_its_override() -> None:
    routes = RouteTable(
        [
            parse_upstream_arg("openai=http://127.0.0.1:9000/openai"),
            parse_upstream_arg("azure=http://127.0.0.1:9000/azure"),
        ]
    )
    router = Router(Brownout(routes=routes))
    with taddons.context(router):
        flow = forward_flow("https://api.openai.com/v1/chat/completions?x=1")
        router.requestheaders(flow)
        assert flow.request.url == "http://127.0.0.1:9000/openai/v1/chat/completions?x=1"
        assert flow.request.headers["host"] == "127.0.0.1:9000"
        assert flow.metadata["brownout"] == {"provider": "openai", "route": "openai"}

        flow = forward_flow("https://myres.openai.azure.com/openai/deployments/d/chat/completions")
        router.requestheaders(flow)
        assert flow.request.url == "http://127.0.0.1:9000/azure/openai/deployments/d/chat/completions"

        # No override for Anthropic: its host stays, told by name.
        flow = forward_flow("https://api.anthropic.com/v1/messages")
        router.requestheaders(flow)
        assert flow.request.url == "https://api.anthropic.com/v1/messages"
        assert flow.metadata["brownout"]["provider"] == "anthropic"


def test_the_user_says_which_provider_an_upstream_is() -> None:
    state = Brownout()
    router, config = Router(state), Config(state)
    with taddons.context(config, router) as tctx:
        flow = forward_flow("http://127.0.0.1:9000/openai/v1/chat/completions")
        router.requestheaders(flow)
        assert flow.metadata["brownout"]["provider"] == "openai-compatible"  # guessed from the path

        tctx.configure(config, brownout_providers=["127.0.0.1:9000/openai=openai"])
        flow = forward_flow("http://127.0.0.1:9000/openai/v1/chat/completions")
        router.requestheaders(flow)
        assert flow.request.url == "http://127.0.0.1:9000/openai/v1/chat/completions"  # not moved
        assert flow.metadata["brownout"]["provider"] == "openai"


def test_claude_behind_the_gemini_and_azure_prefixes_is_anthropic() -> None:
    state = Brownout(routes=RouteTable([parse_upstream_arg("azure=http://127.0.0.1:9000/azure")]))
    router = Router(state)
    with taddons.context(router):
        flow = reverse_flow(
            "/gemini/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude:streamRawPredict"
        )
        router.requestheaders(flow)
        assert flow.metadata["brownout"]["provider"] == "anthropic"
        flow = reverse_flow("/azure/myres.services.ai.azure.com/anthropic/v1/messages")
        router.requestheaders(flow)
        assert flow.metadata["brownout"] == {"provider": "anthropic", "route": "azure"}
        flow = reverse_flow("/gemini/v1beta/models/gemini-2.5-flash:generateContent")
        router.requestheaders(flow)
        assert flow.metadata["brownout"]["provider"] == "gemini"
