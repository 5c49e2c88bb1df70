#pragma once
// A Hugging Face checkpoint's weights: one safetensors file, or a sharded set described by
// "model.safetensors.index.json":
//   {"metadata": {...}, "weight_map": {"<tensor name>": "<shard file name>", ...}}
// open(path) takes a directory (it looks for model.safetensors.index.json, then
// model.safetensors), a .safetensors file, or an .index.json file. Every shard is opened and
// validated (hf/safetensors_file.hpp). Validation of the index (std::runtime_error naming the
// index file, the tensor and the shard): weight_map must be an object of plain file names in
// the index's directory (no '/' or ".."); each listed tensor must be in its shard; each
// shard's tensors must be listed, and listed for that shard; no tensor in two shards.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tern/hf/safetensors_file.hpp"

namespace tern::hf {

class safetensors_checkpoint {
 public:
  static safetensors_checkpoint open(const std::string& path) {
    namespace fs = std::filesystem;
    const fs::path p(path);
    if (fs::is_directory(p)) {
      if (fs::exists(p / "model.safetensors.index.json")) return open_index((p / "model.safetensors.index.json").string());
      if (fs::exists(p / "model.safetensors")) return open_single((p / "model.safetensors").string());
      throw std::runtime_error("safetensors checkpoint '" + path +
                               "': the directory has neither model.safetensors.index.json nor model.safetensors");
    }
    if (!fs::exists(p)) throw std::runtime_error("safetensors checkpoint '" + path + "': no such file or directory");
    const std::string s = p.string();
    if (s.size() >= 11 && s.compare(s.size() - 11, 11, ".index.json") == 0) return open_index(s);
    return open_single(s);
  }

  /// Every tensor name, sorted.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, shard] : where_) out.push_back(name);
    return out;
  }
  bool contains(std::string_view name) const { return where_.find(name) != where_.end(); }
  std::size_t size() const { return where_.size(); }
  std::size_t shard_count() const { return shards_.size(); }
  /// What the checkpoint was opened from (a file or an index file).
  const std::string& source() const { return source_; }

  /// The tensor and the file that holds it; throws naming the checkpoint if absent.
  const safetensors_tensor& tensor(std::string_view name) const { return shards_[shard_of(name)].at(name); }
  const safetensors_file& file_of(std::string_view name) const { return shards_[shard_of(name)]; }

  template <class T>
  matrix<T> to_matrix(std::string_view name) const {
    const auto& f = file_of(name);
    return safetensors_file::tensor_to_matrix<T>(f.at(name), f.name());
  }

 private:
  std::size_t shard_of(std::string_view name) const {
    const auto it = where_.find(name);
    if (it == where_.end()) throw std::runtime_error("safetensors checkpoint '" + source_ + "': no tensor '" + std::string(name) + "'");
    return it->second;
  }

  static safetensors_checkpoint open_single(const std::string& file) {
    safetensors_checkpoint c;
    c.source_ = file;
    c.shards_.push_back(safetensors_file::open(file));
    for (const auto& t : c.shards_[0].tensors()) c.where_.emplace(t.name, 0);
    return c;
  }

  static safetensors_checkpoint open_index(const std::string& index_path) {
    namespace fs = std::filesystem;
    using nlohmann::json;
    const auto fail = [&](const std::string& msg) -> void {
      throw std::runtime_error("safetensors index '" + index_path + "': " + msg);
    };
    std::ifstream in(index_path, std::ios::binary);
    if (!in) fail("cannot open the file");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    json j;
    try {
      j = json::parse(text);
    } catch (const json::exception& e) {
      fail(std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      fail("weight_map: missing, or not an object of tensor name -> shard file");
    safetensors_checkpoint c;
    c.source_ = index_path;
    std::map<std::string, std::size_t> shard_index;
    const fs::path dir = fs::path(index_path).parent_path();
    std::map<std::string, std::string, std::less<>> listed;  // tensor -> shard file name
    for (const auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string()) fail("weight_map: tensor '" + name + "': the shard must be a file name string");
      const std::string f = file.get<std::string>();
      if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos || f == "." || f == "..")
        fail("weight_map: tensor '" + name + "': shard '" + f + "' is not a plain file name in the index's directory");
      listed.emplace(name, f);
      if (!shard_index.count(f)) {
        shard_index.emplace(f, c.shards_.size());
        c.shards_.push_back(safetensors_file::open((dir / f).string()));
      }
    }
    for (const auto& [name, f] : listed) {
      const std::size_t s = shard_index.at(f);
      if (!c.shards_[s].find(name)) fail("weight_map: tensor '" + name + "' is listed in shard '" + f + "', which does not hold it");
      c.where_.emplace(name, s);
    }
    for (const auto& [f, s] : shard_index) {
      for (const auto& t : c.shards_[s].tensors()) {
        const auto it = listed.find(t.name);
        if (it == listed.end()) fail("shard '" + f + "' holds tensor '" + t.name + "', which weight_map does not list");
        if (it->second != f)
          fail("tensor '" + t.name + "' is in shard '" + f + "' but weight_map puts it in '" + it->second + "'");
      }
    }
    return c;
  }

  std::string source_;
  std::vector<safetensors_file> shards_;
  std::map<std::string, std::size_t, std::less<>> where_;
};

}  // namespace tern::hf
