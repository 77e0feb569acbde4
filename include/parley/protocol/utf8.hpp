// parley/protocol/utf8.hpp — UTF-8 validation (RFC 3629) for text messages
// and close reasons (RFC 6455 §5.6, §8.1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "parley/export.hpp"

namespace parley::protocol {

/// True when `text` is entirely valid UTF-8: no overlong forms, no UTF-16
/// surrogates (U+D800-U+DFFF), nothing above U+10FFFF, no truncated sequence.
/// Vectorized: AVX2 or SSSE3 when the CPU has them (chosen at run time on the
/// first call), a scalar validator with a word-at-a-time ASCII path otherwise.
/// Setting the environment variable PARLEY_SIMD to `sse` or `scalar` before
/// the first call caps the choice (meant for tests).
PARLEY_EXPORT bool is_valid_utf8(std::string_view text) noexcept;

/// An incremental UTF-8 validator for a text message that arrives in pieces
/// (frames, fragments, socket reads). It fails fast: `feed()` returns false as
/// soon as the bytes seen so far cannot be the start of valid UTF-8 — at the
/// first invalid byte, not at the end of the message — while a code point
/// split between two pieces is accepted. Small (a few bytes of state), no
/// allocation; each piece is checked with the same vector code as
/// is_valid_utf8(). An incomplete code point at the end of a piece is
/// accepted only while it can still become valid: `F4 90`, `ED A0`, `E0 80`,
/// `C0` or `F5` fail at once, on the piece that holds them.
class PARLEY_EXPORT Utf8Validator {
 public:
  /// Validates the next `size` bytes. Returns false once the input is known
  /// to be invalid; after that it keeps returning false until reset().
  bool feed(const std::uint8_t* data, std::size_t size) noexcept;
  /// Validates the next bytes of `s` (as feed(data, size)).
  bool feed(std::string_view s) noexcept {
    return feed(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  }
  /// True when everything fed so far is valid and ends on a code point
  /// boundary: call at the end of the message.
  bool complete() const noexcept { return !failed_ && pending_ == 0; }
  /// True once invalid input was seen.
  bool failed() const noexcept { return failed_; }
  /// Forgets everything, ready for a new message.
  void reset() noexcept { *this = Utf8Validator{}; }

 private:
  // A code point cut at the end of the last piece: its first bytes, how many
  // there are, and how many continuation bytes are still expected.
  std::uint8_t partial_[4] = {};
  std::uint8_t partial_len_ = 0;
  std::uint8_t pending_ = 0;
  bool failed_ = false;
};

}  // namespace parley::protocol
