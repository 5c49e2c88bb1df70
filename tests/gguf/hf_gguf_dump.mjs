// Prints what @huggingface/gguf reads from a GGUF file, one line per item:
//   data_offset N | alignment N | meta KEY TYPE VALUE(JSON, arrays: their length) | tensor NAME DTYPE OFFSET DIM0 DIM1 ...
// Usage: node hf_gguf_dump.mjs NODE_MODULES FILE
import { createRequire } from "node:module";
import path from "node:path";

const [modules, file] = process.argv.slice(2);
const require = createRequire(path.join(modules, "noop.js"));
const { gguf } = require("@huggingface/gguf");

const out = await gguf(path.resolve(file), { allowLocalFile: true, typedMetadata: true });
const lines = [`data_offset ${out.tensorDataOffset}`];
for (const [key, v] of Object.entries(out.typedMetadata)) {
  const shown = Array.isArray(v.value) ? `len=${v.value.length}` : JSON.stringify(typeof v.value === "bigint" ? v.value.toString() : v.value);
  lines.push(`meta ${key} ${v.type}${v.subType !== undefined ? "/" + v.subType : ""} ${shown}`);
}
for (const t of out.tensorInfos) lines.push(`tensor ${t.name} ${t.dtype} ${t.offset} ${t.shape.map(String).join(" ")}`);
console.log(lines.join("\n"));
