// The reference encoder for test_tokenizer_npm: @lenml/tokenizers (the transformers.js
// tokenizer code, published on npm) loads a tokenizer.json and encodes each input file.
// usage: node encode_reference.js <node_modules dir> <tokenizer.json> <tokenizer_config.json|-> <out.json> <text files...>
// Writes {"ids": [[...], ...], "decoded": ["...", ...]} (no special tokens added).
const fs = require("fs");
const path = require("path");
const [modules, tokPath, cfgPath, outPath, ...inputs] = process.argv.slice(2);
const { TokenizerLoader } = require(path.resolve(modules, "@lenml", "tokenizers"));
const tokenizerJSON = JSON.parse(fs.readFileSync(tokPath, "utf8"));
const tokenizerConfig = cfgPath === "-" ? {} : JSON.parse(fs.readFileSync(cfgPath, "utf8"));
const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });
const ids = [], decoded = [];
for (const f of inputs) {
  const text = fs.readFileSync(f, "utf8");
  const e = tok.encode(text, { add_special_tokens: false });
  ids.push(e);
  decoded.push(e.length === 0 ? "" : tok.decode(e, { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
}
fs.writeFileSync(outPath, JSON.stringify({ ids, decoded }));
