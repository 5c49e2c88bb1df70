// Next-token probabilities from llama.cpp (node-llama-cpp, CPU only) for a prompt of token ids:
// one line per prompt position, `id:probability` for every id llama.cpp reports.
// Flash attention off, F32 KV cache, one sequence, a fresh context.
// Usage: node llama_cpp_probs.mjs NODE_MODULES MODEL.gguf ID,ID,... [THREADS]
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [modules, model, ids, threads] = process.argv.slice(2);
const require = createRequire(path.join(modules, "noop.js"));
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(require.resolve("node-llama-cpp")).href);

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const m = await llama.loadModel({ modelPath: path.resolve(model), gpuLayers: 0 });
const ctx = await m.createContext({
  contextSize: 64, batchSize: 64, sequences: 1, flashAttention: false, threads: Number(threads ?? 1),
  experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
});
const seq = ctx.getSequence();
const toks = ids.split(",").map(Number);
const res = await seq.controlledEvaluate(toks.map((t) => [t, { generateNext: { probabilities: true } }]));
const lines = [];
for (let i = 0; i < toks.length; ++i) {
  const p = res[i]?.next?.probabilities;
  if (!p) throw new Error(`no probabilities for position ${i}`);
  const row = [];
  for (const [t, v] of p) row.push(`${t}:${v}`);
  lines.push(row.join(" "));
}
console.log(lines.join("\n"));
await ctx.dispose();
await m.dispose();
