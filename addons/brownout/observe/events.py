"""The observer's vocabulary: its settings, the events it is fed, the observations it returns.

Plain frozen dataclasses, each event carrying its own time, so a test (or a saved run) can feed
the `Observer` without a proxy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# -- settings


@dataclass(frozen=True, slots=True)
class Settings:
    # A failure repeated this long afterwards (plus its Retry-After) is still being retried.
    retry_window: float = 30.0
    # The same conversation at another provider or model this long after a failure is a fallback.
    fallback_window: float = 60.0
    # How long after a switch-off brownout waits for the first success before it stops watching.
    recovery_window: float = 600.0
    # A retry this much earlier than Retry-After asked is still on time (clock and network jitter).
    retry_after_tolerance: float = 0.05
    # A retry storm: within `storm_window`, at least `storm_min_retries` retries to a provider
    # and at least `storm_ratio` retries per first attempt.
    storm_window: float = 10.0
    storm_min_retries: int = 10
    storm_ratio: float = 1.0
    # A retry backs off when it waits at least `backoff_floor` and, after an earlier retry of the
    # same request, at least `backoff_growth` times as long as that one waited (unless it waited
    # out the Retry-After the server asked for).
    backoff_floor: float = 0.1
    backoff_growth: float = 1.1
    # Cap of every table (attempts in flight, failures awaiting a retry, conversations).
    max_tracked: int = 10_000


# -- events in


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    attempt: str  # unique per attempt (the flow id)
    time: float  # when the request began to arrive
    provider: str
    endpoint: str
    model: str = ""
    client: str = "other"  # classify.clients.CLIENT_FAMILIES
    identity: str = ""  # signals.identity(): key hash + client address
    fingerprint: str = ""  # signals.fingerprint()
    conversation: str = ""  # signals.conversation_key(); "" when the request has no user message
    origin: str = ""  # the client's address: a fallback goes to another provider with another key
    retry_count: int | None = None  # x-stainless-retry-count
    declared_timeout: float | None = None  # seconds, where the SDK declares it
    # signals.turn_prefixes(): salted hashes of the request's turns, the first k of them for the
    # last few k, the whole list last; a re-ask that continues the conversation starts with the
    # spoiled request's whole list.
    turns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AttemptEnded:
    attempt: str
    time: float  # when the answer (or the failure) ended
    failure: str = ""  # "" when the client got a good answer, else what it got: "429", "reset", ...
    retry_after: float | None = None  # seconds the answer asked the client to wait
    nonretryable: bool = False  # retrying this answer is a mistake (signals.is_nonretryable)
    scenario: str = ""  # the scenario whose fault acted on this attempt
    fault: str = ""  # that fault's type (`timeout`, `stream_cut`, ...)
    broken: str = ""  # a broken stream: how it broke (`cut`, `stalled`, `errored`, `corrupted`)
    bad_answer: bool = False  # a content fault spoiled this 200 (failures.is_bad_answer)


@dataclass(frozen=True, slots=True)
class ClientAbandoned:
    """The client closed before the response ended (its timeout, or it gave up)."""

    attempt: str
    time: float
    scenario: str = ""
    fault: str = ""  # the fault that held the attempt when the client left, if any


@dataclass(frozen=True, slots=True)
class FaultsSwitched:
    """A scenario was switched on or off, or one phase of its timeline ended (an off)."""

    scenario: str
    active: bool
    time: float
    phase: str = ""  # the timeline phase that ended (an off while the scenario stays on); "" for the scenario


Event = AttemptStarted | AttemptEnded | ClientAbandoned | FaultsSwitched

# Who retried: `sdk` an attempt the SDK numbered above 0 (`x-stainless-retry-count`); `app` a repeat
# above the SDK (its numbering started over at 0), or any repeat from a plain HTTP client, which
# has no SDK layer; `unknown` a repeat from a client that does not number its attempts (google-genai,
# the Vercel AI SDK, an unrecognised client).
Layer = Literal["sdk", "app", "unknown"]
LAYERS: tuple[Layer, ...] = ("sdk", "app", "unknown")

# What `after` says when an attempt failed without a status.
ABANDONED = "timeout"  # the client gave up waiting: its timeout, from its side
UNKNOWN = "unknown"  # an SDK-numbered retry whose earlier attempt brownout did not see fail

# -- observations out


@dataclass(frozen=True, slots=True)
class Retry:
    provider: str
    client: str
    after: str  # what the failed attempt got: "429", "529", "reset", "timeout", ...
    delay: float | None  # failed attempt's end to the retry's start; None when unknown
    violation: bool  # sent before the Retry-After of the failed attempt elapsed
    nonretryable: bool  # the failed attempt must not have been retried
    layer: Layer = "unknown"
    no_backoff: bool = False  # it did not wait longer than the retry before it (or barely at all)
    retry_after: float | None = None  # what the failed answer asked the client to wait, seconds
    # It re-asks after a bad answer (a 200): a 200 asks for no wait, so it is not judged for backoff.
    reask: bool = False


@dataclass(frozen=True, slots=True)
class LogicalRequestEnded:
    provider: str
    endpoint: str
    client: str
    attempts: int
    outcome: Literal["success", "failure", "abandoned"]
    # Given up while the fault that failed its last attempt was still on (the client stopped first).
    while_faulted: bool = False
    after: str = ""  # what its last attempt got, when that failed


@dataclass(frozen=True, slots=True)
class Abandoned:
    provider: str
    endpoint: str
    client: str
    waited: float | None  # the attempt's start to the client's close; None when unknown
    declared_timeout: float | None


@dataclass(frozen=True, slots=True)
class Fallback:
    from_provider: str
    to_provider: str
    from_model: str
    to_model: str
    seconds: float  # the first failure of the conversation's run to the fallback's start
    client: str = "other"  # the client that fell back, as it was labelled where it failed


@dataclass(frozen=True, slots=True)
class Recovered:
    scenario: str
    provider: str
    seconds: float  # switch-off to the start of the first attempt that then succeeded


@dataclass(frozen=True, slots=True)
class RetryStorm:
    provider: str
    active: bool  # True when a storm starts, False when it is over
    retries: int  # retries within the storm window when it changed
    first_attempts: int


@dataclass(frozen=True, slots=True)
class BrokenStream:
    """A stream that broke (cut, stalled, errored, corrupted), and whether the client asked again."""

    provider: str
    client: str
    broken: str
    reissued: bool
    attempts: int = 1  # attempts of its logical request so far (1: this stream was its first try)


@dataclass(frozen=True, slots=True)
class Hang:
    """An attempt a `timeout` fault held without an answer: the client gave up, or waited it out."""

    provider: str
    client: str
    waited: float  # the attempt's start to its end
    gave_up: bool


# What a client did after a bad answer: asked again in the same conversation, or took it.
Next = Literal["reasked", "carried_on"]
NEXTS: tuple[Next, ...] = ("reasked", "carried_on")


@dataclass(frozen=True, slots=True)
class BadAnswer:
    """A 200 a content fault spoiled, and what its client did next: `reasked` when the same
    conversation came again within the retry window (the same request, or one continuing it:
    see `grouping`), `carried_on` when the window closed without that."""

    provider: str
    client: str
    fault: str  # the content fault's type (`empty_answer`, `truncate`, ...)
    next: Next
    attempts: int = 1  # attempts of its logical request so far (1: the bad answer was its first try)


Observation = (
    Retry | LogicalRequestEnded | Abandoned | Fallback | Recovered | RetryStorm | BrokenStream | Hang | BadAnswer
)
