// tern's GGUF files read by independent readers from the npm registry (installed by
// gguf_npm_install into NODE_MODULES; exit code 77 = SKIPPED, with the reason printed, when
// node or a package is missing):
//   hf      @huggingface/gguf parses every kind of file tern writes; names, types, dims, offsets,
//           the data offset and every metadata key and value type agree with what tern meant.
//   llama   llama.cpp (node-llama-cpp, CPU, flash attention off, F32 KV cache) loads tern's
//           llama exports and its next-token distributions match tern's at every prompt position:
//           F32 weights to 1e-5 (probabilities) and 1e-4 (log-probabilities of tokens above
//           1e-4); TQ2_0 / TQ1_0 (llama.cpp quantizes activations per 256-block, Q8_K, tern per
//           token) to 2e-3 and 0.1, and to within 1.5 x the distance of tern's own forward from
//           the FP32 forward of the same dequantized weights (docs/gguf.md derives why);
//           llama.cpp refuses tern-llama by its architecture name.
// Usage: test_gguf_npm hf|llama NODE_MODULES SCRIPT_DIR WORK_DIR
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gguf_test_models.hpp"
#include "tern/infer/session.hpp"
#include "tern/io/gguf_model.hpp"
#include "tern/kernels/executor.hpp"

namespace fs = std::filesystem;
using namespace tern;

namespace {

int failures = 0;
void check(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    std::cout << "FAIL: " << what << "\n";
  }
}

/// Runs a command; its stdout, and its exit status in rc.
std::string run(const std::string& cmd, int& rc) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return rc = -1, out;
  std::array<char, 65536> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int st = ::pclose(p);
  rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

int hf(const std::string& modules, const std::string& scripts, const fs::path& work) {
  if (!fs::exists(fs::path(modules) / "@huggingface/gguf/package.json")) {
    std::cout << "SKIP: @huggingface/gguf is not installed in " << modules << "\n";
    return 77;
  }
  struct kase {
    std::string name;
    gguf_writer w;
  };
  std::vector<kase> cases;
  cases.push_back({"llama_tq2", gguf_export(gguf_test::frozen<qat_policy>())});
  cases.push_back({"llama_tq1_rows", gguf_export(gguf_test::frozen<gguf_test::per_row_policy>(gguf_test::config(), {.ternary = infer::weight_format::tq1}))});
  cases.push_back({"llama_groups", gguf_export(gguf_test::frozen<gguf_test::per_group_policy>())});
  cases.push_back({"llama_f32", gguf_export(gguf_test::frozen<fp_policy>())});
  cases.push_back({"tern_llama", gguf_export(gguf_test::frozen<extra_norm_policy>())});
  gguf_export_options f16;
  f16.fallback = gguf_tensor_type::f16;
  cases.push_back({"fallback_f16", gguf_export(gguf_test::frozen<qat_policy>(gguf_test::config(128, 384)), f16)});
  gguf_export_options bf16;
  bf16.fallback = gguf_tensor_type::bf16;
  cases.push_back({"fallback_bf16", gguf_export(gguf_test::frozen<qat_policy>(gguf_test::config(128, 384)), bf16)});
  for (const kase& k : cases) {
    const fs::path file = work / (k.name + ".gguf");
    k.w.write(file.string());
    const gguf_file f = gguf_file::open(file.string());
    int rc = 0;
    const std::string out = run("node " + quote(scripts + "/hf_gguf_dump.mjs") + " " + quote(modules) + " " + quote(file.string()), rc);
    check(rc == 0, k.name + ": @huggingface/gguf failed (" + std::to_string(rc) + ")");
    std::map<std::string, std::string> meta, tensors;
    std::string data_offset;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string kind, name;
      ls >> kind >> name;
      std::string rest;
      std::getline(ls, rest);
      if (kind == "data_offset") data_offset = name;
      else if (kind == "meta") meta[name] = rest;
      else if (kind == "tensor") tensors[name] = rest;
    }
    check(data_offset == std::to_string(f.data_offset()), k.name + ": data offset " + data_offset + ", tern wrote " + std::to_string(f.data_offset()));
    // the header's fields, which @huggingface/gguf lists with the metadata
    check(meta["version"] == " 4 3", k.name + ": version read as '" + meta["version"] + "'");
    check(meta["tensor_count"] == " 10 \"" + std::to_string(f.tensors().size()) + "\"", k.name + ": tensor_count read as '" + meta["tensor_count"] + "'");
    check(meta["kv_count"] == " 10 \"" + std::to_string(f.metadata().size()) + "\"", k.name + ": kv_count read as '" + meta["kv_count"] + "'");
    for (const char* h : {"version", "tensor_count", "kv_count"}) meta.erase(h);
    check(meta.size() == f.metadata().size(), k.name + ": " + std::to_string(meta.size()) + " metadata keys read, tern wrote " + std::to_string(f.metadata().size()));
    for (const auto& [key, v] : f.metadata()) {
      auto it = meta.find(key);
      if (it == meta.end()) {
        check(false, k.name + ": key " + key + " not read");
        continue;
      }
      std::string want = " " + std::to_string(std::uint32_t(v.type()));
      if (v.is_array()) want += "/" + std::to_string(std::uint32_t(v.element_type())) + " len=" + std::to_string(v.items().size());
      else if (v.is_string()) want += " \"";
      check(it->second.rfind(want, 0) == 0, k.name + ": key " + key + " read as '" + it->second + "', expected it to start with '" + want + "'");
    }
    const std::vector<std::uint64_t> offsets = k.w.offsets();
    check(tensors.size() == f.tensors().size(), k.name + ": tensor count");
    for (std::size_t i = 0; i < f.tensors().size(); ++i) {
      const gguf_tensor_info& t = f.tensors()[i];
      std::string want = " " + std::to_string(std::uint32_t(t.type)) + " " + std::to_string(offsets[i]);
      for (auto d : t.dims) want.append(" ").append(std::to_string(d));
      check(tensors[t.name] == want, k.name + ": tensor " + t.name + " read as '" + tensors[t.name] + "', tern meant '" + want + "'");
    }
    std::cout << k.name << ": " << f.tensors().size() << " tensors, " << f.metadata().size() << " keys checked\n";
  }
  return failures ? 1 : 0;
}

/// tern's next-token probabilities at every position of the prompt.
matrix<double> tern_probs(const infer::inference_model& m, const std::vector<token>& toks) {
  infer::session s(m);
  kernels::sequential_executor ex;
  const matrix<float> lg = s.forward(toks, true, ex);
  matrix<double> p(lg.rows(), lg.cols());
  for (tern::index i = 0; i < lg.rows(); ++i) {
    const double mx = lg.row(i).maxCoeff();
    double sum = 0;
    for (tern::index j = 0; j < lg.cols(); ++j) sum += (p(i, j) = std::exp(double(lg(i, j)) - mx));
    p.row(i) /= sum;
  }
  return p;
}

/// llama.cpp's probabilities (every id it reports; the others 0), or an empty matrix on failure.
matrix<double> llama_probs(const std::string& modules, const std::string& scripts, const fs::path& file,
                           const std::vector<token>& toks, tern::index vocab, int& rc, std::string& out) {
  std::string ids;
  for (token t : toks) ids += (ids.empty() ? "" : ",") + std::to_string(t);
  out = run("node " + quote(scripts + "/llama_cpp_probs.mjs") + " " + quote(modules) + " " + quote(file.string()) + " " + ids + " 2>&1", rc);
  if (rc != 0) return {};
  matrix<double> p = matrix<double>::Zero(tern::index(toks.size()), vocab);
  std::istringstream in(out);
  std::string line;
  tern::index row = 0;
  while (std::getline(in, line) && row < p.rows()) {
    std::istringstream ls(line);
    std::string item;
    while (ls >> item) {
      const auto c = item.find(':');
      if (c == std::string::npos) continue;
      const long id = std::stol(item.substr(0, c));
      if (id >= 0 && id < vocab) p(row, id) = std::stod(item.substr(c + 1));
    }
    ++row;
  }
  if (row != p.rows()) rc = -2;
  return p;
}

/// The model with every projection replaced by its dequantized weights in FP32 (the same
/// function without activation quantization: what both int8 schemes approximate).
infer::inference_model dequantized_copy(const infer::inference_model& m) {
  const auto deq = [](const infer::frozen_linear& l) {
    matrix<float> w = std::visit([](const auto& x) -> matrix<float> {
      using W = std::decay_t<decltype(x)>;
      if constexpr (std::is_same_v<W, kernels::packed_ternary> || std::is_same_v<W, kernels::packed_ternary_base3>) {
        const quantized<float> q = x.unpack();
        matrix<float> out(q.rows(), q.cols());
        for (tern::index i = 0; i < q.rows(); ++i)
          for (tern::index j = 0; j < q.cols(); ++j) out(i, j) = float(q.codes(i, j)) * x.scale(i, j / x.layout().group);
        return out;
      } else if constexpr (std::is_same_v<W, infer::dense_f32>) {
        return matrix<float>(x.view());
      } else {
        return x.dequantize();
      }
    }, l.weight());
    return infer::frozen_linear(infer::dense_f32(w), l.input_norm());
  };
  std::vector<infer::frozen_block> layers;
  for (tern::index l = 0; l < m.config().n_layers; ++l) {
    const infer::frozen_block& b = m.layer(l);
    layers.push_back({b.attn_norm, deq(b.q), deq(b.k), deq(b.v), deq(b.o), b.mlp_norm, deq(b.gate), deq(b.up), deq(b.down)});
  }
  return infer::inference_model(m.config(), m.policy(), infer::dense_f32(matrix<float>(m.embedding().view())), std::move(layers),
                                m.final_norm(), deq(m.head()));
}

struct diff {
  double prob = 0, logp = 0, mass = 0;
};
diff compare(const matrix<double>& a, const matrix<double>& b) {
  diff d;
  for (tern::index i = 0; i < a.rows(); ++i) {
    d.mass = std::max(d.mass, std::abs(b.row(i).sum() - 1.0));
    for (tern::index j = 0; j < a.cols(); ++j) {
      d.prob = std::max(d.prob, std::abs(a(i, j) - b(i, j)));
      if (a(i, j) > 1e-4) d.logp = std::max(d.logp, std::abs(std::log(a(i, j)) - std::log(std::max(b(i, j), 1e-30))));
    }
  }
  return d;
}

int llama(const std::string& modules, const std::string& scripts, const fs::path& work) {
  for (const char* p : {"node-llama-cpp/package.json", "@node-llama-cpp/linux-x64/package.json"})
    if (!fs::exists(fs::path(modules) / p)) {
      std::cout << "SKIP: " << p << " is not installed in " << modules << " (llama.cpp comparison not run)\n";
      return 77;
    }
  const std::vector<token> toks = {72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100};  // "Hello, world"
  transformer_config c = gguf_test::config();
  c.init_std = 0.3;  // peaked distributions: the comparison sees more than near-uniform noise
  // ternary models at the default init (std 0.05, max p about 0.04): less chaotic, so the two
  // int8 activation schemes stay in the regime where their difference is small and linear
  const transformer_config ct = gguf_test::config();
  struct kase {
    std::string name;
    infer::inference_model m;
    double prob_tol, logp_tol;
  };
  std::vector<kase> cases;
  cases.push_back({"f32", gguf_test::frozen<fp_policy>(c), 1e-5, 1e-4});
  cases.push_back({"tq2_0", gguf_test::frozen<qat_policy>(ct), 2e-3, 1e-1});
  cases.push_back({"tq2_0_rows", gguf_test::frozen<gguf_test::per_row_policy>(ct), 2e-3, 1e-1});
  cases.push_back({"tq2_0_groups256", gguf_test::frozen<gguf_test::per_group_policy>(ct), 2e-3, 1e-1});
  cases.push_back({"tq1_0", gguf_test::frozen<qat_policy>(ct, {.ternary = infer::weight_format::tq1}), 2e-3, 1e-1});
  for (const kase& k : cases) {
    const fs::path file = work / ("llama_" + k.name + ".gguf");
    save_gguf(file.string(), k.m);
    // tern's side runs on the model read back from the same file (f16 block scales)
    const infer::inference_model back = load_gguf(file.string());
    const matrix<double> want = tern_probs(back, toks);
    int rc = 0;
    std::string out;
    const matrix<double> got = llama_probs(modules, scripts, file, toks, back.config().vocab, rc, out);
    if (rc != 0) {
      check(false, k.name + ": llama.cpp failed (" + std::to_string(rc) + "): " + out.substr(0, 2000));
      continue;
    }
    const diff d = compare(want, got);
    const matrix<double> ref = tern_probs(dequantized_copy(back), toks);
    const diff dt = compare(ref, want), dl = compare(ref, got);
    std::cout << k.name << ": against the FP32 forward of the dequantized weights: tern " << dt.prob << " (log " << dt.logp
              << "), llama.cpp " << dl.prob << " (log " << dl.logp << ")\n";
    std::cout << k.name << ": max |p_tern - p_llama.cpp| = " << d.prob << ", max |log p difference| (p > 1e-4) = " << d.logp
              << ", max |sum p - 1| (llama.cpp) = " << d.mass << ", max p = " << want.maxCoeff() << "\n";
    check(d.prob <= k.prob_tol, k.name + ": probabilities differ by " + std::to_string(d.prob));
    if (k.name != "f32") {
      // the two int8 schemes agree with each other about as well as tern agrees with the exact
      // product of its own weights: the difference is activation quantization, not the file
      check(d.prob <= 1.5 * dt.prob && d.logp <= 1.5 * dt.logp,
            k.name + ": tern and llama.cpp differ by more than 1.5 x tern's own activation-quantization effect");
    }
    check(d.logp <= k.logp_tol, k.name + ": log-probabilities differ by " + std::to_string(d.logp));
  }
  // tern-llama is tern's own: llama.cpp must refuse it, not misread it
  const fs::path tl = work / "tern_llama.gguf";
  save_gguf(tl.string(), gguf_test::frozen<extra_norm_policy>(c));
  int rc = 0;
  std::string out;
  llama_probs(modules, scripts, tl, toks, c.vocab, rc, out);
  check(rc != 0 && out.find("unknown model architecture: 'tern-llama'") != std::string::npos,
        "llama.cpp did not refuse the tern-llama file by its architecture: " + out.substr(0, 500));
  std::cout << "tern-llama: llama.cpp refuses it (" << (rc != 0 ? "as expected" : "unexpectedly loaded") << ")\n";
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: test_gguf_npm hf|llama NODE_MODULES SCRIPT_DIR WORK_DIR\n";
    return 2;
  }
  const std::string mode = argv[1], modules = argv[2], scripts = argv[3];
  int rc = 0;
  run("node --version > /dev/null 2>&1", rc);
  if (rc != 0) {
    std::cout << "SKIP: node is not on PATH\n";
    return 77;
  }
  const fs::path work = fs::path(argv[4]) / mode;
  fs::create_directories(work);
  try {
    return mode == "hf" ? hf(modules, scripts, work) : llama(modules, scripts, work);
  } catch (const std::exception& e) {
    std::cout << "FAIL: " << e.what() << "\n";
    return 1;
  }
}
