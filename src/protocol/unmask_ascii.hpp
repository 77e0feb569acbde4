// protocol/unmask_ascii.hpp (internal) — unmasking a payload and checking
// that it is ASCII in one pass: the receive path of small text messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

namespace parley::protocol {

/// Payloads up to this many bytes are unmasked with unmask_ascii (one pass,
/// inline, SSE2); longer ones with apply_mask (AVX2 when the CPU has it)
/// and then validated, where two vector passes cost no more than one.
inline constexpr std::size_t kFusedMax = 1024;

/// XORs `size` bytes at `data` in place with the masking `key` (payload
/// byte i with key[i % 4], as apply_mask at phase 0) and returns true when
/// every unmasked byte is ASCII (below 0x80): valid UTF-8 with no further
/// check. 16 bytes at a time (unaligned SSE2 on x86-64), then 8, 4 and 1.
inline bool unmask_ascii(std::uint8_t* data, std::size_t size, const std::uint8_t key[4]) noexcept {
  std::uint32_t k32;
  std::memcpy(&k32, key, 4);  // every step is a multiple of 4 bytes: the key stays at phase 0
  std::uint64_t high = 0;
#if defined(__x86_64__)
  if (size >= 16) {
    const __m128i k = _mm_set1_epi32(static_cast<int>(k32));
    __m128i seen = _mm_setzero_si128();
    for (; size >= 16; data += 16, size -= 16) {
      const __m128i v = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data)), k);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(data), v);
      seen = _mm_or_si128(seen, v);
    }
    high = static_cast<std::uint64_t>(_mm_movemask_epi8(seen));
  }
#endif
  const std::uint64_t k64 = static_cast<std::uint64_t>(k32) << 32 | k32;  // both halves equal: endian-free
  for (; size >= 8; data += 8, size -= 8) {
    std::uint64_t w;
    std::memcpy(&w, data, 8);
    w ^= k64;
    std::memcpy(data, &w, 8);
    high |= w & 0x8080808080808080ULL;
  }
  if (size >= 4) {
    std::uint32_t w;
    std::memcpy(&w, data, 4);
    w ^= k32;
    std::memcpy(data, &w, 4);
    high |= w & 0x80808080u;
    data += 4;
    size -= 4;
  }
  for (std::size_t i = 0; i < size; ++i) {
    data[i] ^= key[i];
    high |= data[i] & 0x80u;
  }
  return high == 0;
}

}  // namespace parley::protocol
