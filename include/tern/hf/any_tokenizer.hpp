#pragma once
// any_tokenizer: any Tokenizer behind one value type, for programs that choose the tokenizer
// at run time (a checkpoint directory's own). Copies share the tokenizer (immutable).
// load_tokenizer(dir) picks what a Hugging Face directory holds:
//   tokenizer.json (byte-level BPE, hf/bpe_tokenizer.hpp), else tokenizer.model
//   (SentencePiece, hf/sentencepiece_tokenizer.hpp). When tokenizer.json is of a kind tern does
//   not read (e.g. a SentencePiece-style BPE) and tokenizer.model exists, the latter is used.
//   bos/eos come from tokenizer_config.json's bos_token / eos_token when it names them.
//   Neither file: std::runtime_error naming the directory.
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tern/hf/bpe_tokenizer.hpp"
#include "tern/hf/sentencepiece_tokenizer.hpp"
#include "tern/tokenizer/byte_tokenizer.hpp"
#include "tern/tokenizer/tokenizer.hpp"

namespace tern::hf {

class any_tokenizer {
 public:
  /// Tok: any Tokenizer (byte_tokenizer, bpe_tokenizer, sentencepiece_tokenizer, a user type).
  template <Tokenizer Tok>
  any_tokenizer(Tok t, std::string kind) : impl_(std::make_shared<model<Tok>>(std::move(t))), kind_(std::move(kind)) {}
  any_tokenizer() : any_tokenizer(byte_tokenizer{}, "byte") {}

  std::vector<token> encode(std::string_view text) const { return impl_->encode(text); }
  std::string decode(std::span<const token> ids) const { return impl_->decode(ids); }
  index vocab_size() const { return impl_->vocab_size(); }
  token bos_id() const { return impl_->bos_id(); }
  token eos_id() const { return impl_->eos_id(); }
  /// "byte", "bpe (tokenizer.json)", "sentencepiece (tokenizer.model)", or the caller's word.
  const std::string& kind() const { return kind_; }

 private:
  struct concept_t {
    virtual ~concept_t() = default;
    virtual std::vector<token> encode(std::string_view) const = 0;
    virtual std::string decode(std::span<const token>) const = 0;
    virtual index vocab_size() const = 0;
    virtual token bos_id() const = 0;
    virtual token eos_id() const = 0;
  };
  template <class Tok>
  struct model final : concept_t {
    explicit model(Tok t) : tok(std::move(t)) {}
    std::vector<token> encode(std::string_view s) const override { return tok.encode(s); }
    std::string decode(std::span<const token> ids) const override { return tok.decode(ids); }
    index vocab_size() const override { return tok.vocab_size(); }
    token bos_id() const override { return tok.bos_id(); }
    token eos_id() const override { return tok.eos_id(); }
    Tok tok;
  };
  std::shared_ptr<const concept_t> impl_;
  std::string kind_;
};

static_assert(Tokenizer<any_tokenizer>);

namespace detail {
/// tokenizer_config.json's bos_token / eos_token as strings ("" when absent).
inline std::pair<std::string, std::string> special_token_names(const std::filesystem::path& dir) {
  std::ifstream in(dir / "tokenizer_config.json", std::ios::binary);
  if (!in) return {};
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("tokenizer_config '" + (dir / "tokenizer_config.json").string() + "': not valid JSON: " + e.what());
  }
  const auto name = [&](const char* key) -> std::string {
    if (!j.is_object() || !j.contains(key)) return "";
    const auto& v = j[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    return "";
  };
  return {name("bos_token"), name("eos_token")};
}
}  // namespace detail

inline any_tokenizer load_tokenizer(const std::string& dir_path) {
  namespace fs = std::filesystem;
  const fs::path dir(dir_path);
  const fs::path json = dir / "tokenizer.json", spm = dir / "tokenizer.model";
  if (fs::exists(json)) {
    try {
      bpe_tokenizer t = bpe_tokenizer::from_file(json.string());
      const auto [bos, eos] = detail::special_token_names(dir);
      if (!bos.empty() && t.token_to_id(bos) >= 0) t.set_bos_id(t.token_to_id(bos));
      if (!eos.empty() && t.token_to_id(eos) >= 0) t.set_eos_id(t.token_to_id(eos));
      return any_tokenizer(std::move(t), "bpe (tokenizer.json)");
    } catch (const std::runtime_error&) {
      if (!fs::exists(spm)) throw;
    }
  }
  if (fs::exists(spm)) return any_tokenizer(sentencepiece_tokenizer::from_file(spm.string()), "sentencepiece (tokenizer.model)");
  throw std::runtime_error("load_tokenizer '" + dir_path + "': the directory has neither tokenizer.json nor tokenizer.model");
}

}  // namespace tern::hf
