"""`refusal`: the model declines. OpenAI chat and Responses answer in their `refusal` shape (the
`refusal` field, a `refusal` content part); Anthropic and Gemini, which have no such field, answer
the refusal as their text with a normal stop. Usage counts the refusal's tokens."""

from __future__ import annotations

from brownout.faults.content.base import ContentFault
from brownout.faults.outcome import Outcome

REFUSAL = "I'm sorry, but I can't help with that request."


class RefusalFault(ContentFault):
    type_name = "refusal"
    summary = "The model's refusal in the provider's shape (OpenAI's `refusal` field, else refusal text)."
    applied = Outcome.REFUSED

    message: str = REFUSAL
