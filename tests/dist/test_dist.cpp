// include/tern/dist/ on one process (the communicator without MPI): the shards of a global
// batch, the averager's one-rank identity, and the root checkpoint's round trip and errors.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <set>

#include "tern/tern.hpp"
#include "tern/dist/environment.hpp"
#include "tern/dist/gradient_averager.hpp"
#include "tern/dist/root_checkpoint.hpp"
#include "tern/dist/shard_batch.hpp"

namespace td = tern::dist;

TEST_CASE("shard_of: disjoint contiguous shards that cover the global batch", "[dist]") {
  for (tern::index batch : {1, 2, 3, 7, 16, 33})
    for (int size = 1; size <= batch && size <= 8; ++size) {
      tern::index next = 0;
      for (int r = 0; r < size; ++r) {
        const td::shard_range s = td::shard_of(batch, r, size);
        CHECK(s.begin == next);
        CHECK(s.count >= batch / size);
        CHECK(s.count <= batch / size + 1);
        next = s.begin + s.count;
      }
      CHECK(next == batch);
    }
  CHECK_THROWS_WITH(td::shard_of(1, 0, 2), Catch::Contains("cannot give each of 2 ranks a window"));
  CHECK_THROWS_WITH(td::shard_of(4, 2, 2), Catch::Contains("rank 2 is not in [0, 2)"));
}

TEST_CASE("shard_batch: each rank's windows are rows of the global batch", "[dist]") {
  const tern::byte_corpus corpus(tern::markov_source().generate(4096, 1), "m", 0.1, 9);
  tern::rng r(5);
  const tern::token_batch g = corpus.sample_train(5, 8, r);
  std::vector<std::int32_t> joined;
  for (int rank = 0; rank < 2; ++rank) {
    const tern::token_batch s = td::shard_batch(g, rank, 2);
    CHECK(s.seq == 8);
    CHECK(s.batch == (rank == 0 ? 2 : 3));
    CHECK(s.inputs.size() == std::size_t(s.batch * 8));
    joined.insert(joined.end(), s.inputs.begin(), s.inputs.end());
  }
  CHECK(joined == g.inputs);
}

namespace {
using model_t = tern::transformer<float, tern::extra_norm_policy>;
tern::transformer_config tiny() {
  tern::transformer_config c;
  c.dim = 8, c.n_layers = 1, c.n_heads = 2, c.n_kv_heads = 2, c.ffn_hidden = 16, c.max_seq = 8;
  return c;
}
}  // namespace

TEST_CASE("gradient_averager on one rank: the loss and gradients are left as they are", "[dist]") {
  model_t a(tiny(), 1), b(tiny(), 1);
  const tern::byte_corpus corpus(tern::markov_source().generate(4096, 1), "m", 0.1, 9);
  tern::rng r(2);
  const tern::token_batch batch = corpus.sample_train(3, 8, r);
  tern::cross_entropy<float> ce;
  const double la = tern::lm_step(a, batch, ce);
  const double lb = tern::lm_step(b, batch, ce);
  td::gradient_averager<float> avg(td::communicator::world());
  CHECK(avg.average(b, lb, 24) == la);
  std::vector<tern::matrix<float>> ga;
  a.for_each_parameter([&](std::string_view, tern::parameter<float>& p) { ga.push_back(p.grad); });
  std::size_t i = 0;
  b.for_each_parameter([&](std::string_view, tern::parameter<float>& p) { CHECK(p.grad == ga[i++]); });
  CHECK(avg.replicas_identical(b));
  CHECK_THROWS_WITH(avg.average(b, lb, 0), Catch::Contains("local_tokens must be > 0"));
  CHECK_THROWS_AS(td::gradient_averager<float>(td::communicator::world(), 2), std::invalid_argument);
}

TEST_CASE("root checkpoint: save on rank 0, load everywhere, errors name the file", "[dist]") {
  const td::communicator comm = td::communicator::world();
  const std::string path = (std::filesystem::temp_directory_path() / "tern_test_dist.ckpt").string();
  model_t a(tiny(), 1), b(tiny(), 2);
  tern::adamw<float> opt_a(tern::adamw_config{}), opt_b(tern::adamw_config{});
  tern::train_state st_a, st_b;
  st_a.step = 3;
  st_a.tokens = 72;
  td::save_checkpoint_on_root(comm, path, a, "tiny", &opt_a, &st_a);
  td::load_checkpoint_from_root(comm, path, b, "tiny", &opt_b, &st_b);
  CHECK(st_b.step == 3);
  CHECK(st_b.tokens == 72);
  CHECK(td::gradient_averager<float>(comm).replicas_identical(b));
  std::vector<tern::matrix<float>> va;
  a.for_each_parameter([&](std::string_view, tern::parameter<float>& p) { va.push_back(p.value); });
  std::size_t i = 0;
  b.for_each_parameter([&](std::string_view, tern::parameter<float>& p) { CHECK(p.value == va[i++]); });
  CHECK_THROWS_WITH(td::load_checkpoint_from_root(comm, path, b, "another tag", &opt_b, &st_b),
                    Catch::Contains("model tag"));
  std::remove(path.c_str());
  CHECK_THROWS_WITH(td::load_checkpoint_from_root(comm, path, b, "tiny", &opt_b, &st_b),
                    Catch::Contains("tern_test_dist.ckpt") && Catch::Contains("cannot open"));
  CHECK_THROWS_WITH(td::save_checkpoint_on_root(comm, "/nonexistent-dir/x.ckpt", a, "tiny"),
                    Catch::Contains("/nonexistent-dir/x.ckpt"));
}

TEST_CASE("environment without MPI: one rank, stop_all returns the code", "[dist]") {
  int argc = 1;
  char name[] = "test_dist";
  char* args[] = {name, nullptr};
  char** argv = args;
  const td::environment env(argc, argv);
  CHECK(env.world().size() == 1);
  CHECK(env.world().rank() == 0);
  CHECK(env.stop_all(3) == 3);
}
