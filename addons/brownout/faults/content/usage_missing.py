"""`usage_missing`: the answer arrives without its usage figures (the `usage` / `usageMetadata`
object gone, in a body and in every stream event); the answer itself is untouched."""

from __future__ import annotations

from brownout.faults.content.base import ContentFault
from brownout.faults.outcome import Outcome


class UsageMissingFault(ContentFault):
    type_name = "usage_missing"
    summary = "The answer without its usage figures; the answer itself unchanged."
    applied = Outcome.USAGE_MISSING
