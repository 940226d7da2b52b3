"""Fault types, one module each; importing this package registers them all."""

from brownout.faults import empty_reply
from brownout.faults import error
from brownout.faults import latency
from brownout.faults import malformed
from brownout.faults import rate_limit
from brownout.faults import reset
from brownout.faults import stream_corrupt
from brownout.faults import stream_cut
from brownout.faults import stream_error
from brownout.faults import stream_slow
from brownout.faults import stream_stall
from brownout.faults import timeout
from brownout.faults.base import Duration
from brownout.faults.base import Fault
from brownout.faults.base import FaultRun
from brownout.faults.base import fault_types

__all__ = [
    "Duration",
    "Fault",
    "FaultRun",
    "empty_reply",
    "error",
    "fault_types",
    "latency",
    "malformed",
    "rate_limit",
    "reset",
    "stream_corrupt",
    "stream_cut",
    "stream_error",
    "stream_slow",
    "stream_stall",
    "timeout",
]
