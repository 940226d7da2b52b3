from brownout.faults.outcome import Outcome
from brownout.observe.failures import failure_of_error
from brownout.observe.failures import failure_of_response
from brownout.observe.failures import is_bad_answer


def test_what_an_answer_means() -> None:
    assert failure_of_response(200, Outcome.NONE, "") == ""
    assert failure_of_response(200, Outcome.DELAYED, "latency") == ""
    assert failure_of_response(200, Outcome.MALFORMED_TRUNCATE, "malformed") == "malformed"
    assert failure_of_response(200, Outcome.ERRORED, "stream_error") == "stream_error"
    assert failure_of_response(200, Outcome.CORRUPTED, "stream_corrupt") == "stream_corrupt"
    assert failure_of_response(200, Outcome.ARMED, "stream_cut") == ""  # it never acted
    assert failure_of_response(200, Outcome.STALLED, "stream_stall") == ""  # resumed: the whole answer
    assert failure_of_response(200, Outcome.SLOWED, "stream_slow") == ""
    assert failure_of_response(529, Outcome.NONE, "") == "529"
    assert failure_of_response(429, Outcome.ANSWERED, "rate_limit") == "429"


def test_what_a_transport_error_means() -> None:
    assert failure_of_error(Outcome.RESET, "reset", None) == "reset"
    assert failure_of_error(Outcome.RESET, "stream_cut", 200) == "reset"
    assert failure_of_error(Outcome.TIMEOUT, "timeout", None) == "timeout"
    assert failure_of_error(Outcome.EMPTY_REPLY, "empty_reply", None) == "empty_reply"
    assert failure_of_error(Outcome.CUT, "stream_cut", 200) == "stream_cut"
    assert failure_of_error(Outcome.STALLED, "stream_stall", 200) == "stream_stall"
    assert failure_of_error(Outcome.ARMED, "stream_cut", 200) == "aborted"
    assert failure_of_error(Outcome.NONE, "", 200) == "aborted"
    assert failure_of_error(Outcome.NONE, "", 503) == "503"
    assert failure_of_error(Outcome.NONE, "", None) == "error"


def test_400_is_the_first_error_status() -> None:
    assert failure_of_response(400, Outcome.NONE, "") == "400"
    assert failure_of_response(399, Outcome.NONE, "") == ""
    assert failure_of_error(Outcome.NONE, "", 400) == "400"
    assert failure_of_error(Outcome.NONE, "", 399) == "aborted"


def test_a_spoiled_answer_without_a_fault_name_says_what_happened() -> None:
    assert failure_of_response(200, Outcome.CUT, "") == "cut"


def test_upstream_failures_and_fault_errors_have_their_own_words() -> None:
    assert failure_of_response(200, Outcome.NONE, "", upstream_broke=True) == "upstream_error"  # went idle
    assert failure_of_response(504, Outcome.NONE, "", upstream_broke=True) == "504"  # brownout's 504: its number
    assert failure_of_error(Outcome.NONE, "", 200, upstream_broke=True) == "upstream_error"
    assert failure_of_error(Outcome.FAULT_ERROR, "latency", None) == "fault_error"


def test_a_content_fault_spoils_the_answer_unless_it_is_about_usage() -> None:
    for outcome, fault in [
        (Outcome.EMPTIED, "empty_answer"),
        (Outcome.TRUNCATED, "truncate"),
        (Outcome.REFUSED, "refusal"),
        (Outcome.FILTERED, "content_filter"),
        (Outcome.BAD_STRUCTURED_OUTPUT, "bad_structured_output"),
        (Outcome.BAD_TOOL_CALL, "bad_tool_call"),
    ]:
        assert failure_of_response(200, outcome, fault) == fault
    assert failure_of_response(200, Outcome.USAGE_SPIKED, "usage_spike") == ""
    assert failure_of_response(200, Outcome.USAGE_MISSING, "usage_missing") == ""
    assert failure_of_response(200, Outcome.NOT_APPLIED, "bad_tool_call") == ""  # it did not act


def test_a_client_that_leaves_a_content_faulted_answer_got_the_fault() -> None:
    # It stopped reading an answer the fault had changed (a finish reason read, a helper raising
    # on a missing usage object): the fault, not a body that broke off nor a timeout of its own.
    assert failure_of_error(Outcome.TRUNCATED, "truncate", 200) == "truncate"
    assert failure_of_error(Outcome.BAD_TOOL_CALL, "bad_tool_call", 200) == "bad_tool_call"
    assert failure_of_error(Outcome.USAGE_MISSING, "usage_missing", 200) == "usage_missing"


def test_a_bad_answer_is_a_content_spoiled_200() -> None:
    assert is_bad_answer(200, Outcome.EMPTIED)
    assert is_bad_answer(200, Outcome.BAD_STRUCTURED_OUTPUT)
    assert not is_bad_answer(400, Outcome.FILTERED)  # content_filter mode: error is an error answer
    assert not is_bad_answer(200, Outcome.CUT)  # a broken stream, judged as one
    assert not is_bad_answer(200, Outcome.USAGE_MISSING)  # the answer itself is whole
