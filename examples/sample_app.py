"""A small app that asks OpenAI a few questions, as production code does: the official SDK with its
default retries and a timeout. With `--fallback` it moves a question to Anthropic when OpenAI fails.

Point it at brownout with the SDKs' own environment (OPENAI_BASE_URL, ANTHROPIC_BASE_URL), which is
what `brownout drill` does:

    uv run brownout drill openai-total-outage --sim --fail-on fallback -- python examples/sample_app.py
"""

from __future__ import annotations

import argparse
import sys
import time

import anthropic
import openai

QUESTIONS = ["What is a brownout?", "Name three retry strategies.", "Why does jitter help?"]


def ask(question: str, fallback: bool) -> str:
    client = openai.OpenAI(timeout=20)
    try:
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
        return f"openai: {reply.choices[0].message.content}"
    except openai.APIError as exc:
        if not fallback:
            return f"failed: {type(exc).__name__}"
    backup = anthropic.Anthropic(timeout=20)
    answer = backup.messages.create(
        model="claude-sonnet-4-6", max_tokens=200, messages=[{"role": "user", "content": question}]
    )
    return f"anthropic: {answer.content[0].text if answer.content else ''}"  # type: ignore[union-attr]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fallback", action="store_true", help="move a question to Anthropic when OpenAI fails")
    parser.add_argument("--rounds", type=int, default=1, help="ask the questions this many times, a second apart")
    args = parser.parse_args()
    failed = 0
    for round_ in range(args.rounds):
        if round_:
            time.sleep(1)
        for question in QUESTIONS:
            answer = ask(question, args.fallback)
            failed += answer.startswith("failed")
            print(f"{question} -> {answer[:60]}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
