// Client shapes for brownout's truth matrix, driven through the real Node SDKs:
//   node truth.mjs <shape> <proxy base URL>
// Each shape makes its calls with the SDK's production retry settings unless it says otherwise,
// and prints one JSON line: what the SDK raised (or "ok") per call.
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { generateText } from "ai";
import { createOpenAI } from "@ai-sdk/openai";

const [shape, base] = process.argv.slice(2);
const messages = [{ role: "user", content: `truth matrix: ${shape}` }];

async function outcome(call) {
  try {
    await call();
    return "ok";
  } catch (error) {
    return error?.constructor?.name ?? String(error);
  }
}

const shapes = {
  // openai-node, default retries (2), against a 429.
  "openai-node": () =>
    outcome(() =>
      new OpenAI({ baseURL: `${base}/openai/v1`, apiKey: "sk-node" }).chat.completions.create({ model: "gpt-4o-mini", messages }),
    ),
  // anthropic-node, default retries (2), against a 529.
  "anthropic-node": () =>
    outcome(() =>
      new Anthropic({ baseURL: `${base}/anthropic`, apiKey: "sk-ant-node" }).messages.create({
        model: "claude-sonnet-4-6",
        max_tokens: 20,
        messages,
      }),
    ),
  // The Vercel AI SDK with one retry of its own (it waits 2 s), against a 503.
  "vercel-ai": () =>
    outcome(() =>
      generateText({
        model: createOpenAI({ baseURL: `${base}/openai/v1`, apiKey: "sk-vercel" }).chat("gpt-4o-mini"),
        prompt: messages[0].content,
        maxRetries: 1,
      }),
    ),
};

const run = shapes[shape];
if (!run) {
  console.error(`unknown shape ${shape}; known: ${Object.keys(shapes).join(", ")}`);
  process.exit(2);
}
console.log(JSON.stringify({ shape, outcome: await run() }));
