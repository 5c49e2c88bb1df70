#pragma once
// Checkpoints of a data-parallel run. The replicas are identical (dist/gradient_averager.hpp),
// so one file describes the run: rank 0 writes it, and rank 0 reads it and sends its bytes to
// every rank, so resuming needs no file system shared between machines.
//
//   save_checkpoint_on_root(comm, path, model, tag, opt, state)
//       rank 0 runs tern::save_checkpoint; its success or its error message is broadcast, so
//       either every rank returns or every rank throws std::runtime_error with rank 0's message.
//   load_checkpoint_from_root(comm, path, model, tag, opt, state)
//       rank 0 reads the file (a missing or unreadable file: its message is broadcast and every
//       rank throws it); the bytes are broadcast and every rank loads them with
//       tern::load_checkpoint_bytes, so every rank validates the same bytes and succeeds or
//       throws the same error, leaving its model, optimizer and state unchanged.
// Both are collective: every rank must call them, in the same order.
//
// The state's rng_state is the shared data rng (every rank draws the same global batch), so
// restoring it on every rank resumes the batches where they stopped, on every rank alike.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tern/dist/communicator.hpp"
#include "tern/io/checkpoint.hpp"
#include "tern/io/regular_file.hpp"

namespace tern::dist {

namespace detail {
/// Broadcasts rank 0's `bytes` (any size) to every rank; returns them on every rank.
inline std::vector<std::byte> broadcast_bytes(const communicator& comm, std::vector<std::byte> bytes) {
  std::uint64_t n = bytes.size();
  comm.broadcast(std::as_writable_bytes(std::span<std::uint64_t>(&n, 1)));
  bytes.resize(static_cast<std::size_t>(n));
  comm.broadcast(std::span<std::byte>(bytes));
  return bytes;
}
inline std::vector<std::byte> to_bytes(const std::string& s) {
  std::vector<std::byte> b(s.size());
  if (!s.empty()) std::memcpy(b.data(), s.data(), s.size());
  return b;
}
inline std::string to_string(const std::vector<std::byte>& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}
}  // namespace detail

/// Rank 0 saves; every rank returns, or every rank throws rank 0's error.
template <Parameterized M>
void save_checkpoint_on_root(const communicator& comm, const std::string& path, M& model, std::string_view model_tag,
                             const adamw<typename M::scalar>* opt = nullptr, const train_state* state = nullptr) {
  std::string error;
  if (comm.is_root()) {
    try {
      save_checkpoint(path, model, model_tag, opt, state);
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "save_checkpoint '" + path + "' failed";
    }
  }
  error = detail::to_string(detail::broadcast_bytes(comm, detail::to_bytes(error)));
  if (!error.empty()) throw std::runtime_error(error + (comm.is_root() ? "" : " (on rank 0)"));
}

/// Rank 0 reads `path`; every rank loads its bytes (or every rank throws the same error).
template <Parameterized M>
void load_checkpoint_from_root(const communicator& comm, const std::string& path, M& model,
                               std::string_view model_tag, adamw<typename M::scalar>* opt = nullptr,
                               train_state* state = nullptr) {
  std::string error;
  std::vector<std::byte> bytes;
  if (comm.is_root()) {
    try {
      regular_file f(path, "load_checkpoint");
      const std::vector<std::uint8_t> raw = f.read_rest();
      bytes.resize(raw.size());
      if (!raw.empty()) std::memcpy(bytes.data(), raw.data(), raw.size());
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "load_checkpoint '" + path + "' failed";
    }
  }
  error = detail::to_string(detail::broadcast_bytes(comm, detail::to_bytes(error)));
  if (!error.empty()) throw std::runtime_error(error + (comm.is_root() ? "" : " (on rank 0)"));
  bytes = detail::broadcast_bytes(comm, std::move(bytes));
  load_checkpoint_bytes(std::span<const std::byte>(bytes), path, model, model_tag, opt, state);
}

}  // namespace tern::dist
