"""Fault types, one small module each; importing this package registers them all."""

from brownout.faults import empty_reply
from brownout.faults import error
from brownout.faults import latency
from brownout.faults import malformed
from brownout.faults import reset
from brownout.faults import timeout
from brownout.faults.base import Duration
from brownout.faults.base import Fault
from brownout.faults.base import FaultRun
from brownout.faults.base import fault_types
from brownout.faults.content import bad_structured_output
from brownout.faults.content import bad_tool_call
from brownout.faults.content import content_filter
from brownout.faults.content import empty_answer
from brownout.faults.content import refusal
from brownout.faults.content import truncate
from brownout.faults.content import usage_missing
from brownout.faults.content import usage_spike
from brownout.faults.overload import fault as overload
from brownout.faults.rate_limit import fault as rate_limit
from brownout.faults.stream import corrupt as stream_corrupt
from brownout.faults.stream import cut as stream_cut
from brownout.faults.stream import error as stream_error
from brownout.faults.stream import slow as stream_slow
from brownout.faults.stream import stall as stream_stall

__all__ = [
    "Duration",
    "Fault",
    "FaultRun",
    "bad_structured_output",
    "bad_tool_call",
    "content_filter",
    "empty_answer",
    "empty_reply",
    "error",
    "fault_types",
    "latency",
    "malformed",
    "overload",
    "rate_limit",
    "refusal",
    "reset",
    "stream_corrupt",
    "stream_cut",
    "stream_error",
    "stream_slow",
    "stream_stall",
    "timeout",
    "truncate",
    "usage_missing",
    "usage_spike",
]
