// token_corpus: the same batches as byte_corpus on the same bytes (byte tokenizer), the same
// validation loss through evaluate_lm, any vocabulary, and clear errors.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tern/data/byte_corpus.hpp"
#include "tern/data/token_corpus.hpp"
#include "tern/nn/transformer.hpp"
#include "tern/tokenizer/byte_tokenizer.hpp"
#include "tern/train/lm_step.hpp"

namespace {
std::vector<std::uint8_t> some_bytes(std::size_t n) {
  std::vector<std::uint8_t> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = std::uint8_t((i * 7919 + (i >> 3)) % 251);
  return b;
}
}  // namespace

TEST_CASE("token_corpus: the byte tokenizer's ids give byte_corpus's batches and losses") {
  const auto bytes = some_bytes(5000);
  const tern::byte_corpus bc(bytes, "bytes", 0.1, 33);
  const std::string text(bytes.begin(), bytes.end());
  const tern::token_corpus tc(tern::byte_tokenizer{}.encode(text), 256, "ids", 0.1, 33);
  CHECK(tc.train_size() == bc.train_size());
  CHECK(tc.validation_size() == bc.validation_size());
  tern::rng r1(5), r2(5);
  for (int i = 0; i < 3; ++i) {
    const auto a = bc.sample_train(4, 32, r1), b = tc.sample_train(4, 32, r2);
    CHECK(a.inputs == b.inputs);
    CHECK(a.targets == b.targets);
  }
  CHECK(bc.validation_starts(32, 10) == tc.validation_starts(32, 10));
  tern::transformer_config cfg;
  cfg.dim = 16;
  cfg.n_layers = 1;
  cfg.n_heads = 2;
  cfg.n_kv_heads = 2;
  cfg.ffn_hidden = 32;
  cfg.max_seq = 32;
  tern::transformer<float> m(cfg, 3);
  const auto starts = bc.validation_starts(32, 8);
  CHECK(tern::evaluate_lm(m, bc, starts, 32) == tern::evaluate_lm(m, tc, starts, 32));
}

TEST_CASE("token_corpus: a vocabulary larger than 256 trains through lm_step") {
  std::vector<std::int32_t> ids(3000);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = std::int32_t((i * 37) % 300);  // periodic: learnable
  const tern::token_corpus tc(ids, 300, "periodic", 0.1, 17);
  CHECK(tc.vocab() == 300);
  tern::transformer_config cfg;
  cfg.vocab = 300;
  cfg.dim = 16;
  cfg.n_layers = 1;
  cfg.n_heads = 2;
  cfg.n_kv_heads = 1;
  cfg.ffn_hidden = 32;
  cfg.max_seq = 16;
  tern::transformer<float> m(cfg, 1);
  tern::rng r(1);
  tern::cross_entropy<float> ce;
  const auto starts = tc.validation_starts(16, 0);
  const double before = tern::evaluate_lm(m, tc, starts, 16);
  CHECK(before == Approx(std::log(300.0)).epsilon(0.05));
  for (int step = 0; step < 40; ++step) {
    m.zero_grad();
    tern::lm_step(m, tc.sample_train(8, 16, r), ce);
    m.for_each_parameter([](std::string_view, tern::parameter<float>& p) { p.value -= 0.5f * p.grad; });
  }
  CHECK(tern::evaluate_lm(m, tc, starts, 16) < 0.8 * before);
}

TEST_CASE("token_corpus: errors name the corpus, the token and the sizes") {
  CHECK_THROWS_WITH(tern::token_corpus({1, 2, 300}, 300, "c"), Catch::Contains("token 300 at position 2"));
  CHECK_THROWS_WITH(tern::token_corpus({1, -1}, 300, "c"), Catch::Contains("token -1 at position 1"));
  CHECK_THROWS_WITH(tern::token_corpus({}, 10, "c"), Catch::Contains("c is empty"));
  CHECK_THROWS_WITH(tern::token_corpus(std::vector<std::int32_t>(20, 1), 10, "c", 0.1, 8), Catch::Contains("too short"));
  const tern::token_corpus tc(std::vector<std::int32_t>(100, 1), 10, "c");
  CHECK_THROWS_WITH(tc.validation_batch({5}, 8), Catch::Contains("out of range"));
  tern::rng r(1);
  CHECK_THROWS_WITH(tc.sample_train(1, 95, r), Catch::Contains("does not fit"));
  CHECK_THROWS_WITH(tern::token_corpus::from_file("/nonexistent/x.txt", tern::byte_tokenizer{}), Catch::Contains("cannot open"));
}
