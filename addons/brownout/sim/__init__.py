"""brownout's simulated upstream: OpenAI, Azure OpenAI, Anthropic and Gemini on one port.

`brownout sim --port 9000` serves, in the providers' own wire formats (streaming and not):

- `/openai/v1/chat/completions`, `/openai/v1/responses`, `/openai/v1/embeddings`,
  `GET /openai/v1/models[/{model}]`
- `/azure/openai/deployments/{deployment}/chat/completions|embeddings?api-version=...`
  (and Azure's `/azure/openai/v1/...` surface)
- `/anthropic/v1/messages`, `/anthropic/v1/messages/count_tokens`
- `/gemini/{v1beta|v1}/models/{model}:generateContent|streamGenerateContent|embedContent|`
  `batchEmbedContents|countTokens` (`?alt=sse` streams SSE, otherwise a streamed JSON array)

Any other path under a provider's prefix gets a 404 in that provider's error envelope.

Replies are prose chosen by a hash of the last user message, one word per token, with usage
estimated at about four characters per prompt token. Generation takes `first_token_delay` plus
one `1 / tokens_per_second` tick per token, for streamed and non-streamed answers alike; each
streamed event is written and flushed on its own. With `SimConfig.fixed_clock` set, timestamps
are that clock and ids are hashes of the request, so identical requests get byte-identical
answers (aiohttp's `Date` header aside).

Beyond prose (`asks` reads the request, `schema` makes values, `docs/wire-formats.md` has the
sources): tools offered get a call (always when the tool choice requires one, else when the
conversation ends with the user's words; text after a tool result), with arguments valid for
the tool's schema; structured output answers JSON its schema accepts; reasoning models reason
first (a Responses reasoning item, an Anthropic thinking block, Gemini thought parts) and count
reasoning tokens; OpenAI and Anthropic replies name the snapshot behind an alias (`snapshots`).

Per-request knobs, as request headers (a proxy in between passes them through):

- `x-sim-tokens: N`: reply length in tokens (words) for this request.
- `x-sim-tps: F`: tokens per second for this request (0: unpaced).
- `x-sim-first-token-delay: S`: seconds before generation starts, for this request.

Output caps in the request (`max_tokens`, `max_completion_tokens`, `max_output_tokens`,
`generationConfig.maxOutputTokens`) cut the reply and report it as the API does (`length`,
`max_tokens`, `incomplete`, `MAX_TOKENS`).

`SimServer.requests` counts the requests served per endpoint key (`openai.chat`,
`openai.responses`, `openai.embeddings`, `openai.models`, `openai.model`, `azure.chat`,
`azure.responses`, `azure.embeddings`, `anthropic.messages`, `anthropic.count_tokens`,
`gemini.generate`, `gemini.stream`, `gemini.embed`, `gemini.batch_embed`,
`gemini.count_tokens`, and `<provider>.unknown` / `other.unknown` for 404s), so a test can tell
whether a request reached the upstream.
"""

from brownout.sim.server import SimConfig
from brownout.sim.server import SimServer
from brownout.sim.server import build_app
from brownout.sim.server import run_sim

__all__ = ["SimConfig", "SimServer", "build_app", "run_sim"]
