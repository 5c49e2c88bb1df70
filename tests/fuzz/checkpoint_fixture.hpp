#pragma once
// What the checkpoint fuzzer loads into, shared with its seed writer: a small fixed model
// (tests/train/tiny_layers.hpp, 4-6-2: tensors w1 6x4, w2 2x6, g 1x6), its tag, and the input
// encoding: byte 0 is a control byte, the rest is the checkpoint file.
//   bit 0: ask for the optimizer state    bit 1: ask for the training state
//   bit 2: rewrite the checksum field (the 8 bytes before the last 4) to match the bytes
//          before it, so mutations reach the checks behind the checksum as well.
#include <cstddef>
#include <cstdint>

#include "train/tiny_layers.hpp"

namespace tern_fuzz {

using model = tern_test::tiny_mlp<float>;
inline constexpr const char* checkpoint_tag = "fuzz tiny_mlp 4-6-2";
inline model make_model(std::uint64_t seed) { return model(4, 6, 2, seed); }

inline constexpr std::uint8_t want_optimizer = 1, want_state = 2, fix_checksum = 4;

}  // namespace tern_fuzz
