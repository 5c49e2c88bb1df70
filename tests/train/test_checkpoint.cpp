// Checkpoints: round trip of weights + AdamW state + training state; a run interrupted,
// saved, loaded into fresh objects and resumed equals the uninterrupted run bit for bit;
// mismatching checkpoints fail with a message naming the first mismatch.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>
#include <fstream>
#include <sstream>

#include "tern/io/checkpoint.hpp"
#include "tern/io/safetensors.hpp"
#include "tern/train/trainer.hpp"
#include "tiny_layers.hpp"

namespace {

using mlp = tern_test::tiny_mlp<float>;

// One training step of tiny_mlp on a regression target y = sin(sum x), batch drawn from r.
struct regression_step {
  mlp& model;
  tern::rng& r;
  float operator()(std::int64_t) {
    tern::matrix<float> x(8, 4), y(8, 2);
    for (tern::index i = 0; i < x.size(); ++i) x.data()[i] = float(r.normal());
    for (tern::index i = 0; i < 8; ++i) {
      y(i, 0) = std::sin(x.row(i).sum());
      y(i, 1) = std::cos(x(i, 0));
    }
    const tern::matrix<float> d = model.forward(x) - y;
    model.backward(d * (2.0f / float(d.size())));
    return d.squaredNorm() / float(d.size());
  }
};

bool same_params(mlp& a, mlp& b) {
  bool same = true;
  std::vector<tern::matrix<float>> va;
  a.for_each_parameter([&](std::string_view, tern::parameter<float>& p) { va.push_back(p.value); });
  std::size_t i = 0;
  b.for_each_parameter([&](std::string_view, tern::parameter<float>& p) {
    same = same && p.value.rows() == va[i].rows() && p.value.cols() == va[i].cols() && p.value == va[i];
    ++i;
  });
  return same;
}

tern::adamw_config opt_config() {
  tern::adamw_config c;
  c.lr = 3e-3;
  c.weight_decay = 0.01;
  return c;
}

}  // namespace

TEST_CASE("checkpoint: round trip restores weights, moments, step and rng exactly") {
  mlp a(4, 6, 2, 1);
  tern::adamw<float> opt(opt_config());
  tern::rng r(5);
  tern::train_state st;
  const tern::lr_schedule lr(3e-3, 2, 10);
  tern::trainer_options o;
  o.end_step = 4;
  o.tokens_per_step = 8;
  tern::train(a, opt, lr, st, regression_step{a, r}, o);
  st.rng_state = r.state();
  const std::string path = "tern_test_roundtrip.ckpt";
  tern::save_checkpoint(path, a, "tiny_mlp 4-6-2", &opt, &st);

  mlp b(4, 6, 2, 99);  // different initial weights
  tern::adamw<float> opt_b(opt_config());
  tern::train_state st_b;
  tern::load_checkpoint(path, b, "tiny_mlp 4-6-2", &opt_b, &st_b);
  CHECK(same_params(a, b));
  CHECK(st_b.step == 4);
  CHECK(st_b.tokens == 32);
  CHECK(st_b.rng_state == r.state());
  CHECK(opt_b.step_count() == 4);
  REQUIRE(opt_b.slot_count() == 3);
  std::vector<tern::matrix<float>> ma, mb;
  opt.for_each_state([&](std::string_view, const auto& m, const auto& v) { ma.push_back(m); ma.push_back(v); });
  opt_b.for_each_state([&](std::string_view, const auto& m, const auto& v) { mb.push_back(m); mb.push_back(v); });
  CHECK(ma == mb);
  std::remove(path.c_str());
}

TEST_CASE("checkpoint: an interrupted and resumed run is bit-identical to an uninterrupted one") {
  const tern::lr_schedule lr(3e-3, 3, 20, 1e-4);
  tern::trainer_options o;
  o.end_step = 20;
  o.tokens_per_step = 8;

  mlp full(4, 6, 2, 1);
  {
    tern::adamw<float> opt(opt_config());
    tern::rng r(11);
    tern::train_state st;
    tern::train(full, opt, lr, st, regression_step{full, r}, o);
  }

  const std::string path = "tern_test_resume.ckpt";
  {
    mlp part(4, 6, 2, 1);
    tern::adamw<float> opt(opt_config());
    tern::rng r(11);
    tern::train_state st;
    tern::trainer_options first = o;
    first.end_step = 7;
    tern::train(part, opt, lr, st, regression_step{part, r}, first);
    st.rng_state = r.state();
    tern::save_checkpoint(path, part, "tiny_mlp", &opt, &st);
  }
  mlp resumed(4, 6, 2, 12345);  // fresh object, other weights: everything must come from the file
  tern::adamw<float> opt(opt_config());
  tern::rng r(0);
  tern::train_state st;
  tern::load_checkpoint(path, resumed, "tiny_mlp", &opt, &st);
  r.set_state(st.rng_state);
  CHECK(st.step == 7);
  tern::train(resumed, opt, lr, st, regression_step{resumed, r}, o);
  CHECK(st.step == 20);
  CHECK(st.tokens == 160);
  CHECK(same_params(full, resumed));

  // Control: without restoring the optimizer state the result differs (the test can fail).
  mlp no_opt(4, 6, 2, 1);
  tern::adamw<float> fresh(opt_config());
  tern::rng r2(0);
  tern::train_state st2;
  tern::load_checkpoint(path, no_opt, "tiny_mlp", nullptr, &st2);
  r2.set_state(st2.rng_state);
  tern::train(no_opt, fresh, lr, st2, regression_step{no_opt, r2}, o);
  CHECK_FALSE(same_params(full, no_opt));
  std::remove(path.c_str());
}

TEST_CASE("checkpoint: mismatches fail with a message naming the field, and change nothing") {
  const std::string path = "tern_test_mismatch.ckpt";
  mlp a(4, 6, 2, 1);
  tern::save_checkpoint(path, a, "tiny_mlp 4-6-2");

  mlp wider(4, 8, 2, 2);
  const tern::matrix<float> before = wider.w1.value;
  try {
    tern::load_checkpoint(path, wider, "tiny_mlp 4-6-2");
    FAIL("expected an error");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("'w1'") && Catch::Contains("6x4") &&
                             Catch::Contains("8x4"));
  }
  CHECK(wider.w1.value == before);

  try {
    tern::load_checkpoint(path, a, "tiny_mlp 4-8-2");
    FAIL("expected an error");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("model tag") && Catch::Contains("tiny_mlp 4-6-2"));
  }

  tern_test::tiny_mlp<double> dbl(4, 6, 2, 1);
  CHECK_THROWS_WITH(tern::load_checkpoint(path, dbl, "tiny_mlp 4-6-2"), Catch::Contains("scalar type"));

  tern::adamw<float> opt;
  CHECK_THROWS_WITH(tern::load_checkpoint(path, a, "tiny_mlp 4-6-2", &opt), Catch::Contains("no optimizer state"));

  // A truncated file.
  {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string data = ss.str();
    std::ofstream(path, std::ios::binary | std::ios::trunc) << data.substr(0, data.size() - 20);
  }
  CHECK_THROWS_WITH(tern::load_checkpoint(path, a, "tiny_mlp 4-6-2"), Catch::Contains("truncated"));
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "not a checkpoint at all";
  CHECK_THROWS_WITH(tern::load_checkpoint(path, a, "tiny_mlp 4-6-2"), Catch::Contains("bad magic"));
  CHECK_THROWS_WITH(tern::load_checkpoint("/nonexistent/x.ckpt", a, "t"), Catch::Contains("/nonexistent/x.ckpt"));
  std::remove(path.c_str());
}

TEST_CASE("trainer: a NaN loss skips the update instead of corrupting the weights") {
  mlp a(4, 6, 2, 1);
  const tern::matrix<float> before = a.w1.value;
  tern::adamw<float> opt;
  tern::train_state st;
  tern::trainer_options o;
  o.end_step = 3;
  auto nan_step = [&](std::int64_t) {
    a.w1.grad.setConstant(std::numeric_limits<float>::quiet_NaN());
    return std::numeric_limits<float>::quiet_NaN();
  };
  const auto rep = tern::train(a, opt, tern::lr_schedule(1e-3, 0, 3), st, nan_step, o);
  CHECK(rep.skipped == 3);
  CHECK(a.w1.value == before);
}

TEST_CASE("trainer: on_step sees every step's loss, lr, pre-clip gradient norm and skips") {
  mlp a(4, 6, 2, 1);
  tern::rng r(5);
  tern::adamw<float> opt(opt_config());
  tern::train_state st;
  tern::trainer_options o;
  o.end_step = 4;
  o.tokens_per_step = 8;
  o.clip = 1e-3;  // clips every step: the record must hold the norm before clipping
  const tern::lr_schedule lr(3e-3, 1, 4, 3e-4);
  std::vector<tern::step_record> seen;
  std::vector<double> losses, norms;
  o.on_step = [&](const tern::step_record& rec) { seen.push_back(rec); };
  regression_step inner{a, r};
  auto step = [&](std::int64_t t) -> float {
    const float loss = inner(t);
    double sq = 0;
    a.for_each_parameter([&](std::string_view, tern::parameter<float>& p) { sq += double(p.grad.squaredNorm()); });
    norms.push_back(std::sqrt(sq));
    losses.push_back(t == 2 ? std::numeric_limits<double>::quiet_NaN() : loss);
    return float(losses.back());
  };
  tern::train(a, opt, lr, st, step, o);
  REQUIRE(seen.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(seen[i].step == std::int64_t(i) + 1);
    CHECK(seen[i].lr == lr(std::int64_t(i)));
    CHECK(seen[i].skipped == (i == 2));
    if (i != 2) {
      CHECK(seen[i].loss == losses[i]);
      CHECK(seen[i].grad_norm == Approx(norms[i]).epsilon(1e-5));
      CHECK(seen[i].grad_norm > 10 * o.clip);
    }
    CHECK(seen[i].tokens_per_s > 0);
  }
}

TEST_CASE("safetensors: header lists every tensor with shape and offsets") {
  mlp a(4, 6, 2, 1);
  const std::string path = "tern_test.safetensors";
  tern::export_safetensors(path, a, "tiny");
  std::ifstream in(path, std::ios::binary);
  std::uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  std::string header(n, '\0');
  in.read(header.data(), std::streamsize(n));
  CHECK(n % 8 == 0);
  CHECK_THAT(header, Catch::Contains("\"w1\":{\"dtype\":\"F32\",\"shape\":[6,4],\"data_offsets\":[0,96]}"));
  CHECK_THAT(header, Catch::Contains("\"w2\":{\"dtype\":\"F32\",\"shape\":[2,6],\"data_offsets\":[96,144]}"));
  std::vector<float> w1(24);
  in.read(reinterpret_cast<char*>(w1.data()), 96);
  CHECK(w1[5] == a.w1.value(1, 1));  // row-major
  in.close();
  std::remove(path.c_str());
}

TEST_CASE("checkpoint: a default train_state holds a valid rng state and round-trips") {
  const tern::train_state fresh;
  CHECK(fresh.rng_state == tern::rng(0).state());  // never the all-zero state
  tern::rng r(0);
  CHECK_NOTHROW(r.set_state(fresh.rng_state));
  mlp a(4, 6, 2, 1);
  const std::string path = "tern_test_default_state.ckpt";
  tern::train_state st;
  st.step = 5;
  tern::save_checkpoint(path, a, "tiny", nullptr, &st);
  tern::train_state back;
  back.step = 99;
  mlp b(4, 6, 2, 2);
  tern::load_checkpoint(path, b, "tiny", nullptr, &back);
  CHECK(back.step == 5);
  CHECK(back.rng_state == fresh.rng_state);
  std::remove(path.c_str());
}
