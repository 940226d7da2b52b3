"""`empty_answer`: a valid answer whose text is empty; its stop reason and tool calls as the upstream
sent them, its output tokens less the text's."""

from __future__ import annotations

from brownout.faults.content.base import ContentFault
from brownout.faults.outcome import Outcome


class EmptyAnswerFault(ContentFault):
    type_name = "empty_answer"
    summary = "A valid 200 answer with its text emptied; the stop reason stays, usage counts the text gone."
    applied = Outcome.EMPTIED
