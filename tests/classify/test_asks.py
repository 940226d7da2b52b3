from brownout.classify.asks import NOTHING
from brownout.classify.asks import asks_of
from brownout.classify.request import classify

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_chat_tools_schema_and_limit() -> None:
    body = {
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": WEATHER}},
        "max_completion_tokens": 64,
    }
    asks = asks_of("openai", "chat", body)
    assert dict(asks.tools) == {"get_weather": WEATHER}
    assert asks.json and asks.schema == WEATHER and asks.structured and asks.max_output == 64


def test_chat_json_mode_without_schema() -> None:
    asks = asks_of("azure", "chat", {"response_format": {"type": "json_object"}, "max_tokens": 5})
    assert asks.structured and asks.schema is None and asks.max_output == 5 and not asks.tools


def test_responses() -> None:
    body = {
        "tools": [{"type": "function", "name": "f", "parameters": WEATHER}, {"type": "web_search"}],
        "text": {"format": {"type": "json_schema", "name": "w", "schema": WEATHER}},
        "max_output_tokens": 100,
    }
    asks = asks_of("openai", "responses", body)
    assert list(asks.tools) == ["f"] and asks.schema == WEATHER and asks.max_output == 100


def test_anthropic_custom_tools_only_and_output_format() -> None:
    body = {
        "max_tokens": 256,
        "tools": [{"name": "f", "input_schema": WEATHER}, {"type": "web_search_20250305", "name": "web_search"}],
        "output_config": {"format": {"type": "json_schema", "schema": WEATHER}},
    }
    asks = asks_of("anthropic", "messages", body)
    assert list(asks.tools) == ["f"] and asks.schema == WEATHER and asks.max_output == 256


def test_gemini_both_spellings() -> None:
    body = {
        "tools": [{"function_declarations": [{"name": "f", "parameters_json_schema": WEATHER}]}],
        "generationConfig": {"responseMimeType": "application/json", "maxOutputTokens": 9},
    }
    asks = asks_of("gemini", "stream-generate", body)
    assert dict(asks.tools) == {"f": WEATHER} and asks.json and asks.schema is None and asks.max_output == 9


def test_plain_requests_and_other_endpoints_ask_nothing() -> None:
    assert asks_of("openai", "chat", {"messages": []}) == NOTHING
    assert asks_of("openai", "embeddings", {"tools": [{"function": {"name": "f"}}]}) == NOTHING
    assert asks_of("anthropic", "count_tokens", {"tools": [{"name": "f"}]}) == NOTHING
    assert asks_of("openai", "chat", {"max_tokens": True}).max_output is None


def test_classify_tells_tools_and_structured_output() -> None:
    tools = {"tools": [{"type": "function", "function": {"name": "f", "parameters": WEATHER}}]}
    asked = classify(host="api.openai.com", path="/v1/chat/completions", headers={}, body=tools)
    assert asked is not None and asked.tools and not asked.structured_output
    schema = {"generationConfig": {"responseMimeType": "application/json"}}
    gemini = classify(host="x", path="/v1beta/models/gemini-2.5-flash:generateContent", headers={}, body=schema)
    assert gemini is not None and gemini.structured_output and not gemini.tools
    plain = classify(host="api.anthropic.com", path="/v1/messages", headers={}, body=b'{"messages": []}')
    assert plain is not None and not plain.tools and not plain.structured_output
