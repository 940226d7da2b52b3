"""What a fault did to a flow, in one vocabulary that the hooks, the observer and the metrics share.

A fault's run starts at `NONE` and ends at one outcome: it answered in the provider's place, held
the request, hung up, armed itself for the upstream's answer, or broke the answer in some way.
The groups below say what each outcome means for the client: it got no answer at all
(`NO_ANSWER`), it got an answer it cannot use (`SPOILS_ANSWER`), or the fault never acted
(`IDLE`). How an event stream ended for its client is a second, smaller vocabulary
(`StreamEnd`), the `outcome` label of `brownout_streams_total`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Outcome(StrEnum):
    NONE = ""  # nothing yet
    ARMED = "armed"  # waits for the upstream's answer (a stream fault, a truncation)
    NOT_APPLIED = "not_applied"  # armed, but the answer was not one it can act on
    ANSWERED = "answered"  # brownout answered in the provider's place (an error, a 429)
    ADMITTED = "admitted"  # a rate limit let the request through
    DELAYED = "delayed"  # held before going upstream
    TIMEOUT = "timeout"  # held without an answer, then closed
    ABANDONED = "abandoned"  # held without an answer until the client gave up
    RESET = "reset"  # the connection reset (TCP RST / RST_STREAM), before or during the answer
    EMPTY_REPLY = "empty_reply"  # closed without a byte
    MALFORMED_TRUNCATE = "malformed_truncate"
    MALFORMED_INVALID = "malformed_invalid"
    MALFORMED_EMPTY = "malformed_empty"
    CUT = "cut"  # a stream ended mid-body (FIN / RST_STREAM)
    STALLED = "stalled"
    SLOWED = "slowed"
    ERRORED = "errored"  # the provider's mid-stream error event
    CORRUPTED = "corrupted"
    # A content fault spoiled a valid answer (`brownout.faults.content`), or changed its usage.
    EMPTIED = "emptied"
    TRUNCATED = "truncated"
    REFUSED = "refused"
    FILTERED = "filtered"
    BAD_STRUCTURED_OUTPUT = "bad_structured_output"
    BAD_TOOL_CALL = "bad_tool_call"
    USAGE_SPIKED = "usage_spiked"
    USAGE_MISSING = "usage_missing"
    FAULT_ERROR = "fault_error"  # the fault's own code raised; the flow passed through


# The attempt got no answer at all: what the proxy did to it is what the client saw.
NO_ANSWER = frozenset({Outcome.RESET, Outcome.TIMEOUT, Outcome.EMPTY_REPLY})
# A whole, well-formed 200 whose content a content fault (`brownout.faults.content`) spoiled:
# emptied, cut at the length limit, refused, filtered, bad JSON, a bad tool call. A bad answer,
# which the client must notice itself (finish reason, validation) and ask again.
BAD_ANSWER = frozenset(
    {
        Outcome.EMPTIED,
        Outcome.TRUNCATED,
        Outcome.REFUSED,
        Outcome.FILTERED,
        Outcome.BAD_STRUCTURED_OUTPUT,
        Outcome.BAD_TOOL_CALL,
    }
)
# A 200 the client cannot use: a cut, an error event, corrupted events, a broken body, or a bad
# answer. A stall that resumed or a slowed stream still delivered the whole answer, and an answer
# whose usage figures alone are wrong is still the answer (a client that asks again after one is
# not retrying a failure).
SPOILS_ANSWER = (
    frozenset(
        {
            Outcome.CUT,
            Outcome.RESET,
            Outcome.ERRORED,
            Outcome.CORRUPTED,
            Outcome.MALFORMED_TRUNCATE,
            Outcome.MALFORMED_INVALID,
            Outcome.MALFORMED_EMPTY,
        }
    )
    | BAD_ANSWER
)
# What a content fault changed that a client may stop reading at: a bad answer, or a usage object
# taken out (the anthropic stream helper raises on it). Leaving then is a reaction to the fault,
# not an abandonment, and what the attempt failed on is the fault.
CLIENT_STOPS_AT = BAD_ANSWER | {Outcome.USAGE_MISSING}
# A fault that never acted on the answer (armed, or could not apply to it).
IDLE = frozenset({Outcome.NONE, Outcome.ARMED, Outcome.NOT_APPLIED})

StreamEnd = Literal[
    "completed", "cut", "reset", "stalled", "slowed", "errored", "corrupted", "abandoned", "upstream_error"
]
STREAM_ENDS: tuple[StreamEnd, ...] = (
    "completed",
    "cut",
    "reset",
    "stalled",
    "slowed",
    "errored",
    "corrupted",
    "abandoned",
    "upstream_error",
)
_PLAN_ENDS: dict[Outcome, StreamEnd] = {
    Outcome.CUT: "cut",
    Outcome.RESET: "reset",
    Outcome.STALLED: "stalled",
    Outcome.SLOWED: "slowed",
    Outcome.ERRORED: "errored",
    Outcome.CORRUPTED: "corrupted",
}


def stream_end(plan_outcome: Outcome, error: str | None, cut_by_us: bool, upstream_broke: bool = False) -> StreamEnd:
    """How a stream ended for its client: from what its plan did, and the flow's error message
    (`cut_by_us` when that error is brownout's own cut; `upstream_broke` when brownout ended it
    because the upstream failed mid-answer, e.g. went idle past its limit)."""
    if upstream_broke:
        return "upstream_error"
    if error is not None and not cut_by_us:
        lowered = error.lower()
        return "abandoned" if "client" in lowered or "cancel" in lowered else "upstream_error"
    return _PLAN_ENDS.get(plan_outcome, "completed")
