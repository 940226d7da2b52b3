"""`truncate`: the answer's text cut after `tokens` tokens (or a `fraction` of them), ending with
the provider's length stop: `finish_reason: length`, `stop_reason: max_tokens`, Gemini's
`MAX_TOKENS`, a Responses answer `incomplete` for `max_output_tokens`."""

from __future__ import annotations

from typing import Annotated
from typing import Self

from pydantic import Field
from pydantic import model_validator

from brownout.faults.bounds import Count
from brownout.faults.content.base import ContentFault
from brownout.faults.outcome import Outcome

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
