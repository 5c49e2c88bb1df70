#pragma once
// A SentencePiece .model tokenizer (Llama 2, TinyLlama, Mistral style), through the
// SentencePiece library itself (Debian's libsentencepiece-dev): encode and decode are the
// library's, with its normalization and byte fallback as the model defines them.
// Errors (std::runtime_error) name the file; decode checks every id first
// (std::out_of_range naming it).
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <sentencepiece_processor.h>

#include "tern/tokenizer/tokenizer.hpp"

namespace tern::hf {

class sentencepiece_tokenizer {
 public:
  static sentencepiece_tokenizer from_file(const std::string& path) {
    auto p = std::make_shared<sentencepiece::SentencePieceProcessor>();
    const auto status = p->Load(path);
    if (!status.ok()) throw std::runtime_error("sentencepiece '" + path + "': " + status.ToString());
    return sentencepiece_tokenizer(path, std::move(p));
  }

  /// From the serialized model bytes (a .model file's content); `name` stands for it in messages.
  static sentencepiece_tokenizer from_bytes(std::string_view bytes, const std::string& name) {
    auto p = std::make_shared<sentencepiece::SentencePieceProcessor>();
    const auto status = p->LoadFromSerializedProto(bytes);
    if (!status.ok()) throw std::runtime_error("sentencepiece '" + name + "': " + status.ToString());
    return sentencepiece_tokenizer(name, std::move(p));
  }

  const std::string& name() const { return name_; }

  std::vector<token> encode(std::string_view text) const {
    std::vector<int> ids;
    const auto status = sp_->Encode(text, &ids);
    if (!status.ok()) throw std::runtime_error("sentencepiece '" + name_ + "': encode: " + status.ToString());
    return std::vector<token>(ids.begin(), ids.end());
  }

  std::string decode(std::span<const token> ids) const {
    const int n = sp_->GetPieceSize();
    std::vector<int> v(ids.begin(), ids.end());
    for (std::size_t i = 0; i < v.size(); ++i)
      if (v[i] < 0 || v[i] >= n)
        throw std::out_of_range("sentencepiece '" + name_ + "': decode: id " + std::to_string(v[i]) + " at position " +
                                std::to_string(i) + " is outside [0, " + std::to_string(n) + ")");
    std::string out;
    const auto status = sp_->Decode(v, &out);
    if (!status.ok()) throw std::runtime_error("sentencepiece '" + name_ + "': decode: " + status.ToString());
    return out;
  }

  index vocab_size() const { return sp_->GetPieceSize(); }
  token bos_id() const { return sp_->bos_id(); }
  token eos_id() const { return sp_->eos_id(); }
  /// The piece of an id (e.g. "\xe2\x96\x81the").
  std::string id_to_piece(token id) const { return sp_->IdToPiece(id); }

 private:
  sentencepiece_tokenizer(std::string name, std::shared_ptr<sentencepiece::SentencePieceProcessor> p)
      : name_(std::move(name)), sp_(std::move(p)) {}
  std::string name_;
  std::shared_ptr<const sentencepiece::SentencePieceProcessor> sp_;
};

static_assert(Tokenizer<sentencepiece_tokenizer>);

}  // namespace tern::hf
