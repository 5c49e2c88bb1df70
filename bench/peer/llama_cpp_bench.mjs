// llama.cpp's side of the peer benchmark (bench/peer/run.sh), through node-llama-cpp on the CPU:
// prefill tokens/s (a 128-token prompt into an empty sequence, one batch) and decode tokens/s
// (single greedy tokens after it), the median of repetitions as bench_peer measures tern;
// prints one JSON line.
// Usage: node llama_cpp_bench.mjs NODE_MODULES FILE.gguf THREADS
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [modules, model, threadsArg] = process.argv.slice(2);
const threads = Number(threadsArg);
const require = createRequire(path.join(modules, "noop.js"));
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(require.resolve("node-llama-cpp")).href);

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads });
const m = await llama.loadModel({ modelPath: path.resolve(model), gpuLayers: 0 });
const ctx = await m.createContext({ contextSize: 512, batchSize: 128, sequences: 1, threads: { ideal: threads, min: threads } });
const seq = ctx.getSequence();
let x = 0x12345678;
const rnd = () => ((x = (x * 1103515245 + 12345) >>> 0) % 256);  // ids below 256: valid in any vocabulary; speed does not depend on them
const prompt = Array.from({ length: 128 }, rnd);
const median = (v) => v.slice().sort((a, b) => a - b)[Math.floor(v.length / 2)];

const pre = [], dec = [];
for (let r = 0; r < 6; ++r) {
  await seq.clearHistory();
  const t0 = process.hrtime.bigint();
  await seq.evaluateWithoutGeneratingNewTokens(prompt);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r > 0) pre.push(prompt.length / s);
}
for (let r = 0; r < 5; ++r) {
  await seq.clearHistory();
  await seq.evaluateWithoutGeneratingNewTokens(prompt);
  let t = 1;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 32; ++i) {
    const res = await seq.controlledEvaluate([[t, { generateNext: { token: true, options: { temperature: 0 } } }]]);
    t = res[0]?.next?.token ?? 1;
  }
  dec.push(32 / (Number(process.hrtime.bigint() - t0) / 1e9));
}
console.log(JSON.stringify({ runtime: "llama.cpp (node-llama-cpp 3.21.1)", threads, prefill_tokens_per_s: +median(pre).toFixed(2),
                             decode_tokens_per_s: +median(dec).toFixed(2) }));
await ctx.dispose();
await m.dispose();
