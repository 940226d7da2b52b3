"""Property tests: every registered fault, in any valid configuration, takes any request and any
upstream answer (any status, headers, body, event stream cut anywhere) without an exception, and
answers only in the contract's terms, as the Injector and Streams hooks call it."""

from __future__ import annotations

import asyncio
import json
import random
import typing
from typing import Any

import pytest
from hypothesis import assume
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from brownout.classify.request import ENDPOINTS
from brownout.classify.request import PROVIDERS
from brownout.classify.request import RequestInfo
from brownout.faults import Fault
from brownout.faults.base import Answer
from brownout.faults.base import FaultRun
from brownout.faults.base import Hangup
from brownout.faults.base import HeaderEdit
from brownout.faults.stream.base import StreamFault
from brownout.faults.stream.plan import Action
from brownout.faults.stream.plan import Alarm
from brownout.faults.stream.plan import Hold
from brownout.providers import all_kinds
from brownout.providers.base import Reply
from property_budget import budget

# Durations stay a few milliseconds: the faults really wait (asyncio.sleep), and the point here is
# what they do with what they are given, not how long they take.
DURATIONS = st.sampled_from([0, 0.001, 0.003, "0s", "1ms", "2ms"])
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "after": DURATIONS,
    "delay": DURATIONS,
    "min": DURATIONS,
    "max": DURATIONS,
    "mean": DURATIONS,
    "stddev": DURATIONS,
    "median": DURATIONS,
    "p99": DURATIONS,
    "hang": DURATIONS,
    "per_event": DURATIONS,
    "first_event_delay": DURATIONS,
    "duration": DURATIONS,
    "retry_after": DURATIONS | st.sampled_from(["30s", "1m"]),
    "retry_after_ms": st.integers(0, 100_000),
    "status": st.integers(400, 599),
    "kind": st.sampled_from(sorted(all_kinds())),
    "message": st.text(max_size=40),
    "should_retry": st.booleans(),
    # Mostly early, so the fault acts within the few events a case has.
    "after_events": st.integers(0, 2) | st.integers(0, 30),
    "after_bytes": st.integers(0, 200) | st.integers(0, 4000),
    "keep": st.floats(0, 1),
    "rpm": st.integers(1, 5),
    "tpm": st.integers(1, 5000),
    "burst": st.integers(1, 5),
    "tokens_per_second": st.floats(1, 1e6),
    "rps": st.floats(0.5, 1000),
    "concurrency": st.integers(1, 5),
    "window": st.sampled_from(["1ms", "10ms", "1s"]),
    "queue_delay": DURATIONS,
    "max_queue_delay": DURATIONS,
    "hysteresis": st.floats(0, 0.99),
    "tokens": st.integers(0, 3) | st.integers(0, 10**12),
    "after_tokens": st.integers(0, 3) | st.integers(0, 10**12),
    "fraction": st.floats(0, 1),
    "factor": st.floats(0, 10**6) | st.sampled_from([0.5, 1.5, 10]),
}


# Types whose attributes go together in set forms: drawn in those forms, not key by key.
CONFIGS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "latency": st.one_of(
        st.fixed_dictionaries({"delay": DURATIONS}),
        st.fixed_dictionaries({"distribution": st.just("uniform"), "min": DURATIONS, "max": DURATIONS}),
        st.fixed_dictionaries({"distribution": st.just("normal"), "mean": DURATIONS, "stddev": DURATIONS}),
        st.fixed_dictionaries(
            {"distribution": st.just("lognormal"), "median": st.just("1ms"), "p99": st.sampled_from(["1ms", "3ms"])}
        ),
    ),
}


def field_strategy(name: str, annotation: Any) -> st.SearchStrategy[Any]:
    literals = [arg for arg in typing.get_args(annotation) if typing.get_origin(arg) is typing.Literal]
    if typing.get_origin(annotation) is typing.Literal:
        literals.append(annotation)
    if literals:
        return st.sampled_from([value for literal in literals for value in typing.get_args(literal)])
    if name not in FIELDS:
        pytest.fail(f"no strategy for the fault attribute {name!r}: add one to FIELDS")
    return FIELDS[name]


def config_strategy(cls: type[Fault]) -> st.SearchStrategy[dict[str, Any]]:
    if cls.type_name in CONFIGS:
        return CONFIGS[cls.type_name]
    return st.fixed_dictionaries(
        {}, optional={name: field_strategy(name, info.annotation) for name, info in cls.model_fields.items()}
    )


@st.composite
def faults(draw: st.DrawFn, name: str) -> Fault:
    cls = Fault.registry[name]
    try:
        return cls.model_validate(draw(config_strategy(cls)))
    except ValidationError:
        assume(False)  # an invalid combination (a scenario would be refused): draw another
        raise


infos = st.builds(
    RequestInfo,
    provider=st.sampled_from(PROVIDERS),
    endpoint=st.sampled_from(ENDPOINTS),
    model=st.text(max_size=30),
    stream=st.booleans(),
    client=st.text(max_size=12),
    key_hash=st.text(max_size=16),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=15,
)
usage = st.fixed_dictionaries(
    {},
    optional={
        key: json_values | st.integers(-5, 10**12)
        for key in ("prompt_tokens", "completion_tokens", "total_tokens", "input_tokens", "output_tokens")
    },
)
bodies = st.one_of(
    st.binary(max_size=400),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries(
        {}, optional={"usage": usage | json_values, "usageMetadata": usage | json_values, "max_tokens": json_values}
    ).map(lambda value: json.dumps(value).encode()),
)
answers = st.builds(
    Answer,
    status=st.integers(100, 599),
    headers=st.dictionaries(
        st.sampled_from(["content-type", "content-encoding", "retry-after", "x-ratelimit-limit-requests"])
        | st.text(min_size=1, max_size=12),
        st.sampled_from(["text/event-stream", "application/json", "gzip", "2"]) | st.text(max_size=20),
        max_size=4,
    ),
    streamed=st.booleans(),
    raw=st.none() | bodies,
    content=st.none() | bodies,
)
event_lines = st.sampled_from(
    [
        "data: [DONE]",
        ": ping",
        "event: message_start",
        "event: content_block_delta",
        "event: message_stop",
        "event: error",
        'data: {"choices": [{"delta": {"content": "hi"}}]}',
        'data: {"type": "content_block_delta", "delta": {"text": "hi"}}',
        'data: {"candidates": [{"content": {"parts": [{"text": "hi"}]}}]}',
        'data: {"usage": {"total_tokens": 12}}',
        "data: {not json",
        "id: 7",
        "retry: 10",
    ]
) | st.text(max_size=30)


@st.composite
def event_streams(draw: st.DrawFn) -> list[bytes]:
    """An event stream (or any bytes) cut into chunks at arbitrary points."""
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    events = draw(st.lists(st.lists(event_lines, min_size=1, max_size=3), min_size=1, max_size=12))
    body = "".join(newline.join(lines) + newline * 2 for lines in events).encode()
    body += draw(st.binary(max_size=40))  # and whatever follows
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=8)))
    return [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]


def check_actions(actions: list[Action]) -> None:
    assert isinstance(actions, list)
    for action in actions:
        assert isinstance(action, typing.get_args(Action)), action
        if isinstance(action, (Hold, Alarm)):
            assert (action.until if isinstance(action, Hold) else action.at) >= 0


Flow = tuple[RequestInfo, bytes, int, float, Answer, list[bytes]]


async def one_flow(
    fault: Fault, info: RequestInfo, body: bytes, seed: int, capacity: float, answer: Answer, chunks: list[bytes]
) -> None:
    """What the hooks do with one flow, in their order; `on_end` once, however it ended."""
    gone = asyncio.Event()
    # The client leaves after a moment: a fault that waits for it (timeout) ends then.
    asyncio.get_running_loop().call_later(0.004, gone.set)
    run = FaultRun(info=info, rng=random.Random(seed), body=body, client_gone=gone, capacity=capacity)
    try:
        await through_hooks(fault, run, answer, chunks)
    finally:
        fault.on_end(run)


async def through_hooks(fault: Fault, run: FaultRun, answer: Answer, chunks: list[bytes]) -> None:
    act = await asyncio.wait_for(fault.on_request(run), timeout=5)
    assert act is None or isinstance(act, (Reply, Hangup))
    if isinstance(act, Reply):
        assert 100 <= act.status <= 599 and isinstance(act.body, bytes)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in act.headers)
        return
    if act is not None or not fault.needs_upstream:
        return
    edit = fault.on_response_headers(run, Answer(answer.status, answer.headers, answer.streamed))
    assert edit is None or isinstance(edit, HeaderEdit)
    if edit is not None:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in edit.headers)
        if edit.reader is not None:
            for chunk in chunks:
                edit.reader(chunk)
            edit.reader(b"")
    if isinstance(fault, StreamFault):
        plan = fault.plan_run(run)
        now = 1000.0
        check_actions(plan.start(now))
        for index, chunk in enumerate(chunks):
            check_actions(plan.feed(chunk, now + index * 0.01))
            if index % 3 == 2:
                check_actions(plan.alarm(now + index * 0.01))
        check_actions(plan.end(now + len(chunks)))
    replaced = fault.on_response(run, answer)
    assert replaced is None or isinstance(replaced, bytes)


@pytest.mark.parametrize("name", sorted(Fault.registry))
def test_every_fault_takes_any_request_and_answer(name: str) -> None:
    @budget(60)
    @given(
        fault=faults(name),
        flows=st.lists(
            st.tuples(infos, bodies, st.integers(0, 2**32), st.floats(0.05, 1), answers, event_streams()),
            min_size=1,
            max_size=3,
        ),
    )
    def check(fault: Fault, flows: list[Flow]) -> None:
        async def main() -> None:
            # One fault instance across flows at once, as in a running scenario.
            await asyncio.gather(*(one_flow(fault, *flow) for flow in flows))

        asyncio.run(main())

    check()
