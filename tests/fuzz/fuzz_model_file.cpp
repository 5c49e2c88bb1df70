// libFuzzer target: tern::load_model_from_bytes on arbitrary bytes (model_file_fixture.hpp: a
// control byte, then the file). Findings, beyond what the sanitizers and libFuzzer's allocation
// and time limits report:
//   - any exception other than tern::model_file_error escapes the loader (std::bad_alloc too);
//   - an accepted model whose forward over two tokens crashes or throws anything but a clear
//     tern error (a domain_error from activations that overflowed is a clear error).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "fuzz/model_file_fixture.hpp"
#include "tern/infer/session.hpp"
#include "tern/io/model_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t control = data[0];
  std::vector<std::uint8_t> file(data + 1, data + size);
  if (control & tern_fuzz::fix_header_checksum) tern_fuzz::fix_checksum(file);
  try {
    const tern::infer::inference_model m = tern::load_model_from_bytes(
        file.data(), file.size(), "fuzz.tern", {.verify_checksums = (control & tern_fuzz::verify_checksums) != 0});
    tern::kernels::sequential_executor ex;
    tern::infer::session s(m, tern::kernels::path::reference, 2);
    const tern::token t[2] = {0, tern::token(m.config().vocab - 1)};
    try {
      (void)s.forward(t, true, ex);
    } catch (const std::domain_error&) {
      // finite weights can still overflow float activations: refused with a clear error
    }
  } catch (const tern::model_file_error&) {
    // refused: what a bad file must get
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_model_file: unexpected exception: %s\n", e.what());
    std::abort();
  }
  return 0;
}
