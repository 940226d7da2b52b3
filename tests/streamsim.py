"""Run a StreamPlan against a timed list of upstream chunks, with the relay's queue rules and a
virtual clock: what the client would receive, and when. For plan tests without a proxy."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from brownout.faults.stream.plan import Action
from brownout.faults.stream.plan import Alarm
from brownout.faults.stream.plan import Cut
from brownout.faults.stream.plan import Finish
from brownout.faults.stream.plan import Hold
from brownout.faults.stream.plan import Send
from brownout.faults.stream.plan import StreamPlan


@dataclass
class Received:
    at: float
    data: bytes = b""
    end: str = ""  # "", "end" (clean, upstream's), "finish" (clean, early), "close", "reset"


def simulate(plan: StreamPlan, chunks: list[tuple[float, bytes]], upstream_end: float | None = None) -> list[Received]:
    """`chunks`: (arrival time, bytes); the upstream ends at `upstream_end` (default: last arrival)."""
    if upstream_end is None:
        upstream_end = chunks[-1][0] if chunks else 0.0
    out: list[Received] = []
    queue: deque[Action] = deque()
    alarms: list[float] = []
    state = {"waiting_until": None, "closed": False, "upstream_done": False}

    def add(actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Alarm):
                alarms.append(action.at)
            else:
                queue.append(action)

    def pump(now: float) -> None:
        if state["waiting_until"] is not None and now < state["waiting_until"]:
            return
        state["waiting_until"] = None
        while queue and not state["closed"]:
            action = queue[0]
            if isinstance(action, Send):
                queue.popleft()
                if action.data:
                    out.append(Received(now, action.data))
            elif isinstance(action, Hold):
                if action.until > now + 1e-9:
                    state["waiting_until"] = action.until
                    return
                queue.popleft()
            else:
                queue.clear()
                state["closed"] = True
                out.append(Received(now, end="finish" if isinstance(action, Finish) else action.mode))
                return
        if state["upstream_done"] and not state["closed"]:
            state["closed"] = True
            out.append(Received(now, end="end"))

    add(plan.start(0.0))
    pump(0.0)
    pending = sorted(chunks, key=lambda c: c[0])
    index = 0
    while not state["closed"]:
        candidates = []
        if index < len(pending):
            candidates.append(pending[index][0])
        elif not state["upstream_done"]:
            candidates.append(upstream_end)
        if state["waiting_until"] is not None:
            candidates.append(state["waiting_until"])
        candidates += alarms
        if not candidates:
            break
        now = min(candidates)
        if now in alarms:
            alarms.remove(now)
            actions = plan.alarm(now)
            if any(isinstance(a, Cut | Finish) for a in actions):
                queue.clear()
                state["waiting_until"] = None
            queue.extendleft(reversed(actions))
            pump(now)
        elif state["waiting_until"] is not None and now >= state["waiting_until"]:
            pump(now)
        elif index < len(pending) and pending[index][0] == now:
            add(plan.feed(pending[index][1], now))
            index += 1
            pump(now)
        else:
            state["upstream_done"] = True
            add(plan.end(now))
            pump(now)
    return out


def body(received: list[Received]) -> bytes:
    return b"".join(r.data for r in received)


def ending(received: list[Received]) -> Received:
    return received[-1]


def paced(events: list[bytes], gap: float, start: float = 0.0) -> list[tuple[float, bytes]]:
    return [(start + i * gap, event) for i, event in enumerate(events)]
