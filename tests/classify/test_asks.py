from brownout.classify.asks import NOTHING
from brownout.classify.asks import asks_of
from brownout.classify.asks import read_asks
from brownout.classify.request import RequestInfo

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def info(provider: str, endpoint: str) -> RequestInfo:
    return RequestInfo(provider=provider, endpoint=endpoint, model="m", stream=False)


def test_chat_tools_schema_and_limit() -> None:
    body = {
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": WEATHER}},
        "max_completion_tokens": 64,
    }
    asks = asks_of(info("openai", "chat"), body)
    assert dict(asks.tools) == {"get_weather": WEATHER}
    assert asks.json and asks.schema == WEATHER and asks.structured and asks.max_output == 64


def test_chat_json_mode_without_schema() -> None:
    asks = asks_of(info("azure", "chat"), {"response_format": {"type": "json_object"}, "max_tokens": 5})
    assert asks.structured and asks.schema is None and asks.max_output == 5 and not asks.tools


def test_responses() -> None:
    body = {
        "tools": [{"type": "function", "name": "f", "parameters": WEATHER}, {"type": "web_search"}],
        "text": {"format": {"type": "json_schema", "name": "w", "schema": WEATHER}},
        "max_output_tokens": 100,
    }
    asks = asks_of(info("openai", "responses"), body)
    assert list(asks.tools) == ["f"] and asks.schema == WEATHER and asks.max_output == 100


def test_anthropic_custom_tools_only_and_output_format() -> None:
    body = {
        "max_tokens": 256,
        "tools": [{"name": "f", "input_schema": WEATHER}, {"type": "web_search_20250305", "name": "web_search"}],
        "output_config": {"format": {"type": "json_schema", "schema": WEATHER}},
    }
    asks = asks_of(info("anthropic", "messages"), body)
    assert list(asks.tools) == ["f"] and asks.schema == WEATHER and asks.max_output == 256


def test_gemini_both_spellings() -> None:
    body = {
        "tools": [{"function_declarations": [{"name": "f", "parameters_json_schema": WEATHER}]}],
        "generationConfig": {"responseMimeType": "application/json", "maxOutputTokens": 9},
    }
    asks = asks_of(info("gemini", "stream-generate"), body)
    assert dict(asks.tools) == {"f": WEATHER} and asks.json and asks.schema is None and asks.max_output == 9


def test_plain_requests_and_other_endpoints_ask_nothing() -> None:
    assert asks_of(info("openai", "chat"), {"messages": []}) == NOTHING
    assert asks_of(info("openai", "embeddings"), {"tools": [{"function": {"name": "f"}}]}) == NOTHING
    assert read_asks(info("openai", "chat"), b"not json") == NOTHING
    assert asks_of(info("openai", "chat"), {"max_tokens": True}).max_output is None
