"""`truncate`: the answer's text cut after `tokens` tokens (or a `fraction` of them), ending with
the provider's length stop: `finish_reason: length`, `stop_reason: max_tokens`, Gemini's
`MAX_TOKENS`, a Responses answer `incomplete` for `max_output_tokens`."""

from __future__ import annotations

from typing import Annotated
from typing import Self

from pydantic import Field
from pydantic import model_validator

from brownout.classify.asks import Asks
from brownout.faults.bounds import Count
from brownout.faults.content.base import ContentFault
from brownout.faults.content.editor import Editor
from brownout.faults.content.editor import Stop
from brownout.faults.outcome import Outcome
from brownout.providers.sse import split_tokens

# A share of the text kept: more than none, less than all of it.
KeptShare = Annotated[float, Field(gt=0.0, lt=1.0, allow_inf_nan=False)]


class TruncateFault(ContentFault):
    type_name = "truncate"
    summary = "The answer's text cut at N tokens or a fraction, with the provider's length stop reason."
    applied = Outcome.TRUNCATED

    tokens: Count | None = None
    fraction: KeptShare | None = None

    @model_validator(mode="after")
    def _tokens_or_fraction(self) -> Self:
        if self.tokens is not None and self.fraction is not None:
            raise ValueError("give `tokens` (a count) or `fraction` (0 to 1), not both")
        return self

    @property
    def kept_fraction(self) -> float | None:
        """The share kept when the cut is a fraction (half when neither attribute is given)."""
        if self.tokens is not None:
            return None
        return 0.5 if self.fraction is None else self.fraction

    def editor(self, asks: Asks) -> Editor:
        return Cutting(asks, self.tokens, self.kept_fraction)


class Cutting(Editor):
    """Keeps the first tokens of the text, up to a budget, and ends the answer at its length limit.
    With a fraction, the budget is that share of the text (of the request's output limit on a
    stream, whose length is not known; none there without one: the fault is not applied)."""

    def __init__(self, asks: Asks, tokens: int | None, fraction: float | None, stop: Stop = "length") -> None:
        super().__init__(asks)
        self.tokens = tokens
        self.fraction = fraction
        self.left: int | None = tokens
        self.ends_with: Stop = stop

    def begin(self, text_tokens: int | None) -> None:
        if self.fraction is None:
            return
        whole = text_tokens if text_tokens is not None else self.asks.max_output
        self.left = None if whole is None else round(self.fraction * whole)

    def edit_text(self, piece: str) -> str:
        if self.left is None or not piece:
            return piece
        self.acted = True
        if self.left <= 0:
            return ""
        kept = split_tokens(piece)[: self.left]
        self.left -= len(kept)
        return "".join(kept)

    def stop(self) -> Stop | None:
        return self.ends_with if self.acted else None
