// parley/protocol/mask.hpp — the WebSocket masking transform (RFC 6455 §5.3).
#pragma once

#include <cstddef>
#include <cstdint>

#include "parley/export.hpp"

namespace parley::protocol {

/// XORs `size` bytes at `data` in place with the 4-byte masking `key`
/// (key[0] is the first key byte on the wire), starting at key byte
/// `phase % 4`: payload byte i of a frame is XORed with key[(i) % 4], so a
/// payload processed in pieces passes each piece's offset within the payload
/// as `phase`. Returns the phase for the next piece, `(phase + size) % 4`.
/// Masking and unmasking are the same operation. Vectorized (AVX2 when the
/// CPU has it, chosen at run time on the first call; SSE2 otherwise on
/// x86-64; a portable 64-bit word loop elsewhere); correct at any alignment
/// and length. Setting the environment variable PARLEY_SIMD to `sse` or
/// `scalar` before the first call caps the choice (meant for tests).
PARLEY_EXPORT std::size_t apply_mask(std::uint8_t* data, std::size_t size, const std::uint8_t key[4],
                                     std::size_t phase = 0) noexcept;

}  // namespace parley::protocol
