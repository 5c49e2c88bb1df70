// libFuzzer target: load_checkpoint_bytes into a small fixed model (checkpoint_fixture.hpp).
// Findings, beyond what the sanitizers and libFuzzer's allocation and time limits report:
//   - any exception other than std::runtime_error (std::bad_alloc included) escapes: a crash;
//   - a refusal that changed the model, its gradients, the optimizer or the training state;
//   - an accepted file that left a non-finite value, a negative count or a zero rng state.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <stdexcept>
#include <vector>

#include "checkpoint_fixture.hpp"
#include "tern/io/checkpoint.hpp"

namespace {

struct state_copy {
  std::vector<tern::matrix<float>> values, grads, moments;
  std::int64_t opt_steps = 0;
  tern::train_state st;
  bool operator==(const state_copy& o) const {
    return values == o.values && grads == o.grads && moments == o.moments && opt_steps == o.opt_steps &&
           st.step == o.st.step && st.tokens == o.st.tokens && st.rng_state == o.st.rng_state;
  }
};
state_copy copy_of(tern_fuzz::model& m, const tern::adamw<float>& opt, const tern::train_state& st) {
  state_copy c;
  m.for_each_parameter([&](std::string_view, tern::parameter<float>& p) {
    c.values.push_back(p.value);
    c.grads.push_back(p.grad);
  });
  opt.for_each_state([&](std::string_view, const tern::matrix<float>& mm, const tern::matrix<float>& v) {
    c.moments.push_back(mm);
    c.moments.push_back(v);
  });
  c.opt_steps = opt.step_count();
  c.st = st;
  return c;
}
void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_checkpoint: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static tern_fuzz::model m = tern_fuzz::make_model(3);
  static tern::adamw<float> opt;
  static tern::train_state st;
  const std::uint8_t control = data[0];
  std::vector<std::byte> file(size - 1);
  if (size > 1) std::memcpy(file.data(), data + 1, size - 1);
  if ((control & tern_fuzz::fix_checksum) && file.size() >= 12) {
    tern::checksum_state sum;
    sum.update(file.data(), file.size() - 12);
    const std::uint64_t h = sum.digest();
    std::memcpy(file.data() + file.size() - 12, &h, 8);
  }
  const state_copy before = copy_of(m, opt, st);
  try {
    tern::load_checkpoint_bytes(std::span<const std::byte>(file), "fuzz input", m, tern_fuzz::checkpoint_tag,
                                (control & tern_fuzz::want_optimizer) ? &opt : nullptr,
                                (control & tern_fuzz::want_state) ? &st : nullptr);
  } catch (const std::runtime_error&) {
    require(copy_of(m, opt, st) == before, "a refused checkpoint changed the loaded objects");
    return 0;
  }
  const state_copy after = copy_of(m, opt, st);
  for (std::size_t i = 0; i < after.values.size(); ++i) {
    require(after.values[i].rows() == before.values[i].rows() && after.values[i].cols() == before.values[i].cols(),
            "a load changed a tensor's shape");
    require(after.values[i].allFinite(), "a load accepted a non-finite weight");
    require(after.grads[i].isZero(0), "a load left non-zero gradients");
  }
  for (const auto& mm : after.moments) require(mm.allFinite(), "a load accepted a non-finite moment");
  require(after.opt_steps >= 0 && after.st.step >= 0 && after.st.tokens >= 0, "a load accepted a negative count");
  if (control & tern_fuzz::want_state)
    require(after.st.rng_state != tern::rng::state_type{}, "a load accepted an all-zero rng state");
  return 0;
}
