"""The snapshot an alias names: the APIs answer `model: gpt-5-2025-08-07` to a request for `gpt-5`.

Sources: each dated name is listed next to its alias in the SDKs' model literals (openai-python
`types/shared/chat_model.py`, anthropic-python `types/model.py`); which snapshot an alias points
to is on the providers' model pages (OpenAI: "gpt-4o points to gpt-4o-2024-08-06"; Anthropic's
models overview lists each alias with its snapshot). An alias not in the table, or a name that is
already a snapshot, comes back as sent, as an unknown fine-tune or a newer model would. Gemini
answers `modelVersion` with the alias (`gemini-2.5-flash`), so it has no entries; Azure answers
with the deployment's model, which the simulator does not know.
"""

from __future__ import annotations

SNAPSHOTS: dict[str, str] = {
    # OpenAI
    "gpt-5.5": "gpt-5.5-2026-04-23",
    "gpt-5.4-mini": "gpt-5.4-mini-2026-03-17",
    "gpt-5.4-nano": "gpt-5.4-nano-2026-03-17",
    "gpt-5.2": "gpt-5.2-2025-12-11",
    "gpt-5.2-pro": "gpt-5.2-pro-2025-12-11",
    "gpt-5.1": "gpt-5.1-2025-11-13",
    "gpt-5": "gpt-5-2025-08-07",
    "gpt-5-mini": "gpt-5-mini-2025-08-07",
    "gpt-5-nano": "gpt-5-nano-2025-08-07",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "o4-mini": "o4-mini-2025-04-16",
    "o3": "o3-2025-04-16",
    "o3-mini": "o3-mini-2025-01-31",
    "o1": "o1-2024-12-17",
    # Anthropic
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
    "claude-opus-4-5": "claude-opus-4-5-20251101",
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
}


def snapshot(model: str) -> str:
    """The snapshot name the API reports for `model`; unknown names are kept."""
    return SNAPSHOTS.get(model, model)
