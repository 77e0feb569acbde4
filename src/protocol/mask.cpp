// The WebSocket masking transform (RFC 6455 §5.3), vectorized.
//
// The key repeats every 4 bytes, so once it is rotated to the current phase
// a 16- or 32-byte register holding it 4 or 8 times lines up with any
// position that is a multiple of 4 further on. Each implementation first
// masks a few bytes with scalar code until the stores are aligned (this is
// what keeps the vector loop near memcpy speed), re-rotates the key for the
// bytes it skipped, runs the vector loop, and finishes the tail with 8-, 4-
// and 1-byte steps. XOR is not idempotent, so tails are never handled with an
// overlapping vector store. Buffers under 64 bytes skip all that (and the
// dispatch): unaligned 16-byte steps on x86-64, then words.
//
// The implementation for longer buffers is chosen once, on the first call: AVX2 when the CPU
// (and OS) support it, SSE2 otherwise on x86-64, a 64-bit word loop on other
// targets. The environment variable PARLEY_SIMD (scalar, sse, avx2) caps the
// choice, which is how the tests reach every path on one machine.
#include "parley/protocol/mask.hpp"

#include <bit>
#include <cstdlib>
#include <cstring>
#include <string_view>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace parley::protocol {
namespace {

// The 4 key bytes starting at `phase`, in memory order, as a native word:
// XORing a word loaded with memcpy by it masks those 4 bytes whatever the
// byte order.
inline std::uint32_t key_word(const std::uint8_t key[4], std::size_t phase) noexcept {
  std::uint32_t word;
  std::memcpy(&word, key, 4);
  const auto shift = static_cast<int>(8 * (phase & 3));
  if constexpr (std::endian::native == std::endian::little) return std::rotr(word, shift);
  else return std::rotl(word, shift);
}

// Masks `size` bytes with the already rotated key word `k32`, 8 bytes at a
// time. Works at any alignment (memcpy loads and stores).
inline void mask_words(std::uint8_t* p, std::size_t size, std::uint32_t k32) noexcept {
  const std::uint64_t k64 = static_cast<std::uint64_t>(k32) << 32 | k32;  // both halves equal: endian-free
  while (size >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    w ^= k64;
    std::memcpy(p, &w, 8);
    p += 8;
    size -= 8;
  }
  if (size >= 4) {
    std::uint32_t w;
    std::memcpy(&w, p, 4);
    w ^= k32;
    std::memcpy(p, &w, 4);
    p += 4;
    size -= 4;
  }
  std::uint8_t kb[4];
  std::memcpy(kb, &k32, 4);
  for (std::size_t i = 0; i < size; ++i) p[i] ^= kb[i];
}

void mask_portable(std::uint8_t* data, std::size_t size, const std::uint8_t key[4], std::size_t phase) noexcept {
  // Align the word stores to 8 bytes.
  const std::size_t head = (8 - (reinterpret_cast<std::uintptr_t>(data) & 7)) & 7;
  mask_words(data, head, key_word(key, phase));
  data += head;
  size -= head;
  phase += head;
  mask_words(data, size, key_word(key, phase));
}

#if defined(__x86_64__)

// The implementations below are called for size >= 64 only.

void mask_sse2(std::uint8_t* data, std::size_t size, const std::uint8_t key[4], std::size_t phase) noexcept {
  const std::size_t head = (16 - (reinterpret_cast<std::uintptr_t>(data) & 15)) & 15;
  mask_words(data, head, key_word(key, phase));
  data += head;
  size -= head;
  phase += head;
  const std::uint32_t k32 = key_word(key, phase);
  const __m128i k = _mm_set1_epi32(static_cast<int>(k32));
  for (; size >= 64; data += 64, size -= 64) {
    auto* v = reinterpret_cast<__m128i*>(data);
    const __m128i a = _mm_load_si128(v), b = _mm_load_si128(v + 1);
    const __m128i c = _mm_load_si128(v + 2), d = _mm_load_si128(v + 3);
    _mm_store_si128(v, _mm_xor_si128(a, k));
    _mm_store_si128(v + 1, _mm_xor_si128(b, k));
    _mm_store_si128(v + 2, _mm_xor_si128(c, k));
    _mm_store_si128(v + 3, _mm_xor_si128(d, k));
  }
  for (; size >= 16; data += 16, size -= 16) {
    auto* v = reinterpret_cast<__m128i*>(data);
    _mm_store_si128(v, _mm_xor_si128(_mm_load_si128(v), k));
  }
  mask_words(data, size, k32);
}

__attribute__((target("avx2"))) void mask_avx2(std::uint8_t* data, std::size_t size, const std::uint8_t key[4],
                                                std::size_t phase) noexcept {
  const std::size_t head = (32 - (reinterpret_cast<std::uintptr_t>(data) & 31)) & 31;
  mask_words(data, head, key_word(key, phase));
  data += head;
  size -= head;
  phase += head;
  const std::uint32_t k32 = key_word(key, phase);
  const __m256i k = _mm256_set1_epi32(static_cast<int>(k32));
  for (; size >= 128; data += 128, size -= 128) {
    auto* v = reinterpret_cast<__m256i*>(data);
    const __m256i a = _mm256_load_si256(v), b = _mm256_load_si256(v + 1);
    const __m256i c = _mm256_load_si256(v + 2), d = _mm256_load_si256(v + 3);
    _mm256_store_si256(v, _mm256_xor_si256(a, k));
    _mm256_store_si256(v + 1, _mm256_xor_si256(b, k));
    _mm256_store_si256(v + 2, _mm256_xor_si256(c, k));
    _mm256_store_si256(v + 3, _mm256_xor_si256(d, k));
  }
  for (; size >= 32; data += 32, size -= 32) {
    auto* v = reinterpret_cast<__m256i*>(data);
    _mm256_store_si256(v, _mm256_xor_si256(_mm256_load_si256(v), k));
  }
  if (size >= 16) {
    auto* v = reinterpret_cast<__m128i*>(data);
    _mm_store_si128(v, _mm_xor_si128(_mm_load_si128(v), _mm256_castsi256_si128(k)));
    data += 16;
    size -= 16;
  }
  mask_words(data, size, k32);
}

#endif  // __x86_64__

// Short buffers (most control frames and small messages) skip the dispatch
// and the alignment steps: unaligned 16-byte steps on x86-64, then words.
inline void mask_short(std::uint8_t* data, std::size_t size, const std::uint8_t key[4], std::size_t phase) noexcept {
  const std::uint32_t k32 = key_word(key, phase);
#if defined(__x86_64__)
  const __m128i k = _mm_set1_epi32(static_cast<int>(k32));
  for (; size >= 16; data += 16, size -= 16) {
    auto* v = reinterpret_cast<__m128i*>(data);
    _mm_storeu_si128(v, _mm_xor_si128(_mm_loadu_si128(v), k));
  }
#endif
  mask_words(data, size, k32);
}

using MaskFn = void (*)(std::uint8_t*, std::size_t, const std::uint8_t*, std::size_t) noexcept;

MaskFn resolve() noexcept {
  const char* env = std::getenv("PARLEY_SIMD");
  const std::string_view cap = env ? env : "";
  if (cap == "scalar") return mask_portable;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (cap != "sse" && __builtin_cpu_supports("avx2")) return mask_avx2;
  return mask_sse2;
#else
  return mask_portable;
#endif
}

}  // namespace

std::size_t apply_mask(std::uint8_t* data, std::size_t size, const std::uint8_t key[4], std::size_t phase) noexcept {
  if (size < 64) {
    mask_short(data, size, key, phase);
  } else {
    static const MaskFn impl = resolve();
    impl(data, size, key, phase);
  }
  return (phase + size) & 3;
}

}  // namespace parley::protocol
