// UTF-8 validation (RFC 3629), vectorized.
//
// The vector validators follow the lookup-table method of Keiser & Lemire,
// "Validating UTF-8 In Less Than One Instruction Per Byte" (2021). Every
// error in UTF-8 is visible in a window of at most four bytes; most are
// visible in a pair of adjacent bytes (the high nibble of the earlier byte,
// its low nibble, and the high nibble of the later byte). Three 16-entry
// tables, looked up with pshufb on those three nibbles, give for each
// nibble the set of errors it is compatible with, one bit per error kind; a
// bit that survives the AND of the three lookups is an error. The one
// pairwise "error" that is not always an error — a continuation byte after a
// continuation byte — is then checked against the bytes two and three back:
// it is valid exactly where a 3- or 4-byte lead requires it.
//
// The vector loop looks at whole blocks and carries the previous block
// across (the shifted views prev1..prev3 reach back into it), so it never
// reports an error that is not there. Bytes after the last whole block are
// checked by checking the last block's worth of input again (overlapping
// loads), or for input shorter than two blocks, a zero-padded copy of it.
// What a block check cannot see is whether a code point cut by the end of
// the input would be completed by more input: when the last three bytes may
// start one (or the zero padding showed an error), the scalar validator
// settles it from the start of that code point, and reports how many bytes
// of a still-incomplete but so far valid code point end the input: that is
// what Utf8Validator keeps for the next piece.
//
// The implementation is chosen once: AVX2, else SSSE3 (x86-64, run-time
// check), else scalar. PARLEY_SIMD=scalar|sse|avx2 in the environment caps
// the choice (for tests).
#include "parley/protocol/utf8.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace parley::protocol {
namespace {

// Result of a validator: the number of bytes (1-3) of an incomplete but so
// far valid code point at the end of the input, 0 when the input ends on a
// code point boundary, kInvalid when the input is invalid.
constexpr int kInvalid = -1;

// The length of the sequence a lead byte >= 0xC0 announces (F5-FF are
// rejected later; they are given 4 so that a lone one at the end is checked).
inline int lead_length(std::uint8_t b) noexcept { return b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4; }

// Validates p[0, n), which starts on a code point boundary.
int validate_scalar(const std::uint8_t* p, std::size_t n) noexcept {
  std::size_t i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      // ASCII run: 8 bytes at a time, then byte by byte to its end.
      for (; i + 8 <= n; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ULL) break;
      }
      while (i < n && p[i] < 0x80) ++i;
      continue;
    }
    const std::uint8_t b = p[i];
    std::size_t len;
    std::uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b < 0xC2) {
      return kInvalid;  // continuation byte, or C0/C1 (overlong 2-byte form)
    } else if (b < 0xE0) {
      len = 2;
    } else if (b < 0xF0) {
      len = 3;
      if (b == 0xE0) lo = 0xA0;       // overlong 3-byte form
      else if (b == 0xED) hi = 0x9F;  // UTF-16 surrogates
    } else if (b < 0xF5) {
      len = 4;
      if (b == 0xF0) lo = 0x90;       // overlong 4-byte form
      else if (b == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return kInvalid;  // above U+10FFFF, or 5- and 6-byte forms
    }
    const std::size_t avail = std::min(len, n - i);
    if (avail >= 2 && (p[i + 1] < lo || p[i + 1] > hi)) return kInvalid;
    for (std::size_t k = 2; k < avail; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return kInvalid;
    }
    if (avail < len) return static_cast<int>(avail);  // cut by the end of the input
    i += len;
  }
  return 0;
}

#if defined(__x86_64__)

// Given that p[0, m) passed the vector checks, the position from which the
// scalar validator must take over: the start of a code point that begins
// before m and ends after it, else m.
inline std::size_t resume_point(const std::uint8_t* p, std::size_t m) noexcept {
  for (std::size_t k = 1; k <= 3 && k <= m; ++k) {
    const std::uint8_t b = p[m - k];
    if (b < 0x80) return m;
    if (b >= 0xC0) return static_cast<std::size_t>(lead_length(b)) > k ? m - k : m;
  }
  return m;
}

// The exact answer for p[0, n) when the vector code found p[0, m) valid
// (whole blocks) but could not settle the rest: the scalar validator from
// the start of the code point that m cuts, if any.
inline int validate_from(const std::uint8_t* p, std::size_t m, std::size_t n) noexcept {
  const std::size_t from = resume_point(p, m);
  return validate_scalar(p + from, n - from);
}

// Error bits of the pairwise tables. Bit 6 serves two errors that never
// share a lead byte (F0 vs F5-FF).
constexpr std::uint8_t kTooShort = 1 << 0;    // lead byte, then no continuation
constexpr std::uint8_t kTooLong = 1 << 1;     // ASCII, then a continuation
constexpr std::uint8_t kOverlong3 = 1 << 2;   // E0 80-9F
constexpr std::uint8_t kTooLarge = 1 << 3;    // F4 90-BF, F5-FF 90-BF
constexpr std::uint8_t kSurrogate = 1 << 4;   // ED A0-BF
constexpr std::uint8_t kOverlong2 = 1 << 5;   // C0-C1 80-BF
constexpr std::uint8_t kTooLarge1000 = 1 << 6;  // F5-FF 80-8F
constexpr std::uint8_t kOverlong4 = 1 << 6;   // F0 80-8F
constexpr std::uint8_t kTwoConts = 1 << 7;    // continuation, then continuation (checked separately)
constexpr std::uint8_t kCarry = kTooShort | kTooLong | kTwoConts;  // errors the low nibble cannot rule out

// Indexed by the high nibble of the earlier byte.
alignas(16) constexpr std::uint8_t kByte1High[16] = {
    kTooLong, kTooLong, kTooLong, kTooLong, kTooLong, kTooLong, kTooLong, kTooLong,  // 0-7 ASCII
    kTwoConts, kTwoConts, kTwoConts, kTwoConts,                                      // 8-B continuation
    kTooShort | kOverlong2,                                                          // C
    kTooShort,                                                                       // D
    kTooShort | kOverlong3 | kSurrogate,                                             // E
    kTooShort | kTooLarge | kTooLarge1000 | kOverlong4,                              // F
};
// Indexed by the low nibble of the earlier byte.
alignas(16) constexpr std::uint8_t kByte1Low[16] = {
    kCarry | kOverlong3 | kOverlong2 | kOverlong4,          // x0
    kCarry | kOverlong2,                                    // x1
    kCarry,                                                 // x2
    kCarry,                                                 // x3
    kCarry | kTooLarge,                                     // x4
    kCarry | kTooLarge | kTooLarge1000,                     // x5
    kCarry | kTooLarge | kTooLarge1000,                     // x6
    kCarry | kTooLarge | kTooLarge1000,                     // x7
    kCarry | kTooLarge | kTooLarge1000,                     // x8
    kCarry | kTooLarge | kTooLarge1000,                     // x9
    kCarry | kTooLarge | kTooLarge1000,                     // xA
    kCarry | kTooLarge | kTooLarge1000,                     // xB
    kCarry | kTooLarge | kTooLarge1000,                     // xC
    kCarry | kTooLarge | kTooLarge1000 | kSurrogate,        // xD
    kCarry | kTooLarge | kTooLarge1000,                     // xE
    kCarry | kTooLarge | kTooLarge1000,                     // xF
};
// Indexed by the high nibble of the later byte.
alignas(16) constexpr std::uint8_t kByte2High[16] = {
    kTooShort, kTooShort, kTooShort, kTooShort, kTooShort, kTooShort, kTooShort, kTooShort,  // 0-7
    kTooLong | kOverlong2 | kTwoConts | kOverlong3 | kTooLarge1000 | kOverlong4,             // 8
    kTooLong | kOverlong2 | kTwoConts | kOverlong3 | kTooLarge,                              // 9
    kTooLong | kOverlong2 | kTwoConts | kSurrogate | kTooLarge,                              // A
    kTooLong | kOverlong2 | kTwoConts | kSurrogate | kTooLarge,                              // B
    kTooShort, kTooShort, kTooShort, kTooShort,                                              // C-F
};
// A block whose last three bytes may start a code point that continues in
// the next block: byte >= this threshold (saturating subtraction nonzero).
alignas(32) constexpr std::uint8_t kIncompleteMax[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0 - 1, 0xE0 - 1, 0xC0 - 1,
};

inline char byte(int v) noexcept { return static_cast<char>(v); }

// ---- SSSE3, 16-byte blocks ----------------------------------------------

struct Ssse3Checker {
  __m128i error = _mm_setzero_si128();
  __m128i prev_input = _mm_setzero_si128();
  __m128i prev_incomplete = _mm_setzero_si128();

  __attribute__((target("ssse3"))) void check_block(__m128i input) noexcept {
    const __m128i nibble = _mm_set1_epi8(0x0F);
    const __m128i prev1 = _mm_alignr_epi8(input, prev_input, 15);
    const __m128i b1h = _mm_shuffle_epi8(_mm_load_si128(reinterpret_cast<const __m128i*>(kByte1High)),
                                         _mm_and_si128(_mm_srli_epi16(prev1, 4), nibble));
    const __m128i b1l =
        _mm_shuffle_epi8(_mm_load_si128(reinterpret_cast<const __m128i*>(kByte1Low)), _mm_and_si128(prev1, nibble));
    const __m128i b2h = _mm_shuffle_epi8(_mm_load_si128(reinterpret_cast<const __m128i*>(kByte2High)),
                                         _mm_and_si128(_mm_srli_epi16(input, 4), nibble));
    const __m128i special = _mm_and_si128(_mm_and_si128(b1h, b1l), b2h);
    const __m128i prev2 = _mm_alignr_epi8(input, prev_input, 14);
    const __m128i prev3 = _mm_alignr_epi8(input, prev_input, 13);
    const __m128i third = _mm_subs_epu8(prev2, _mm_set1_epi8(byte(0xE0 - 0x80)));
    const __m128i fourth = _mm_subs_epu8(prev3, _mm_set1_epi8(byte(0xF0 - 0x80)));
    const __m128i must_be_cont = _mm_and_si128(_mm_or_si128(third, fourth), _mm_set1_epi8(byte(0x80)));
    error = _mm_or_si128(error, _mm_xor_si128(must_be_cont, special));
    prev_incomplete = _mm_subs_epu8(input, _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIncompleteMax + 16)));
    prev_input = input;
  }
  __attribute__((target("ssse3"))) void ascii_block(__m128i input) noexcept {
    error = _mm_or_si128(error, prev_incomplete);
    prev_incomplete = _mm_setzero_si128();
    prev_input = input;
  }
  __attribute__((target("ssse3"))) void block(__m128i input) noexcept {
    if (_mm_movemask_epi8(input) == 0) ascii_block(input);
    else check_block(input);
  }
  __attribute__((target("ssse3"))) bool failed() const noexcept {
    return _mm_movemask_epi8(_mm_cmpeq_epi8(error, _mm_setzero_si128())) != 0xFFFF;
  }
  // The last block checked may end inside a code point.
  __attribute__((target("ssse3"))) bool incomplete() const noexcept {
    return _mm_movemask_epi8(_mm_cmpeq_epi8(prev_incomplete, _mm_setzero_si128())) != 0xFFFF;
  }
};

__attribute__((target("ssse3"))) int validate_ssse3(const std::uint8_t* p, std::size_t n) noexcept {
  Ssse3Checker c;
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 16));
    const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 32));
    const __m128i e = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 48));
    if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(d, e))) == 0) {
      c.ascii_block(e);
    } else {
      c.check_block(a);
      c.check_block(b);
      c.check_block(d);
      c.check_block(e);
    }
    if ((i & 1023) == 0 && c.failed()) return kInvalid;  // fail fast in long inputs
  }
  for (; i + 16 <= n; i += 16) c.block(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)));
  if (c.failed()) return kInvalid;
  if (i < n) {
    if (n >= 32) {
      // The last 16 bytes again, overlapping what was checked, after the 16
      // before them.
      c.prev_input = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + n - 32));
      c.block(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + n - 16)));
      if (c.failed()) return kInvalid;
    } else {
      // The rest, zero-padded: zeros after a cut code point read as an error,
      // so a clean result means valid and complete, and an error is sorted
      // out exactly by the scalar code.
      alignas(16) std::uint8_t last[16] = {};
      std::memcpy(last, p + i, n - i);
      c.block(_mm_load_si128(reinterpret_cast<const __m128i*>(last)));
      return c.failed() ? validate_from(p, i, n) : 0;
    }
  }
  return c.incomplete() ? validate_from(p, n, n) : 0;
}

// ---- AVX2, 32-byte blocks -----------------------------------------------

struct Avx2Checker {
  __m256i error;
  __m256i prev_input;
  __m256i prev_incomplete;
  __m256i byte1_high, byte1_low, byte2_high, incomplete_max;

  __attribute__((target("avx2"))) Avx2Checker() noexcept
      : error(_mm256_setzero_si256()),
        prev_input(_mm256_setzero_si256()),
        prev_incomplete(_mm256_setzero_si256()),
        byte1_high(_mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(kByte1High)))),
        byte1_low(_mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(kByte1Low)))),
        byte2_high(_mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(kByte2High)))),
        incomplete_max(_mm256_load_si256(reinterpret_cast<const __m256i*>(kIncompleteMax))) {}

  __attribute__((target("avx2"))) void check_block(__m256i input) noexcept {
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    // [last 16 bytes of the previous block, first 16 of this one]: alignr
    // works within 128-bit lanes, so the low lane needs this as its "before".
    const __m256i before = _mm256_permute2x128_si256(prev_input, input, 0x21);
    const __m256i prev1 = _mm256_alignr_epi8(input, before, 15);
    const __m256i b1h = _mm256_shuffle_epi8(byte1_high, _mm256_and_si256(_mm256_srli_epi16(prev1, 4), nibble));
    const __m256i b1l = _mm256_shuffle_epi8(byte1_low, _mm256_and_si256(prev1, nibble));
    const __m256i b2h = _mm256_shuffle_epi8(byte2_high, _mm256_and_si256(_mm256_srli_epi16(input, 4), nibble));
    const __m256i special = _mm256_and_si256(_mm256_and_si256(b1h, b1l), b2h);
    const __m256i prev2 = _mm256_alignr_epi8(input, before, 14);
    const __m256i prev3 = _mm256_alignr_epi8(input, before, 13);
    const __m256i third = _mm256_subs_epu8(prev2, _mm256_set1_epi8(byte(0xE0 - 0x80)));
    const __m256i fourth = _mm256_subs_epu8(prev3, _mm256_set1_epi8(byte(0xF0 - 0x80)));
    const __m256i must_be_cont = _mm256_and_si256(_mm256_or_si256(third, fourth), _mm256_set1_epi8(byte(0x80)));
    error = _mm256_or_si256(error, _mm256_xor_si256(must_be_cont, special));
    prev_incomplete = _mm256_subs_epu8(input, incomplete_max);
    prev_input = input;
  }
  __attribute__((target("avx2"))) void ascii_block(__m256i input) noexcept {
    error = _mm256_or_si256(error, prev_incomplete);
    prev_incomplete = _mm256_setzero_si256();
    prev_input = input;
  }
  __attribute__((target("avx2"))) void block(__m256i input) noexcept {
    if (_mm256_movemask_epi8(input) == 0) ascii_block(input);
    else check_block(input);
  }
  __attribute__((target("avx2"))) bool failed() const noexcept { return !_mm256_testz_si256(error, error); }
  // The last block checked may end inside a code point.
  __attribute__((target("avx2"))) bool incomplete() const noexcept {
    return !_mm256_testz_si256(prev_incomplete, prev_incomplete);
  }
};

__attribute__((target("avx2"))) int validate_avx2(const std::uint8_t* p, std::size_t n) noexcept {
  if (n < 64) return validate_ssse3(p, n);
  Avx2Checker c;
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32));
    if (_mm256_movemask_epi8(_mm256_or_si256(a, b)) == 0) {
      c.ascii_block(b);
    } else {
      c.check_block(a);
      c.check_block(b);
    }
    if ((i & 1023) == 0 && c.failed()) return kInvalid;  // fail fast in long inputs
  }
  if (i + 32 <= n) {
    c.block(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    i += 32;
  }
  if (i < n) {
    // The last 32 bytes again, overlapping what was checked, after the 32
    // before them (n >= 64).
    c.prev_input = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + n - 64));
    c.block(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + n - 32)));
  }
  if (c.failed()) return kInvalid;
  return c.incomplete() ? validate_from(p, n, n) : 0;
}

#endif  // __x86_64__

using ValidateFn = int (*)(const std::uint8_t*, std::size_t) noexcept;

ValidateFn resolve() noexcept {
  const char* env = std::getenv("PARLEY_SIMD");
  const std::string_view cap = env ? env : "";
  if (cap == "scalar") return validate_scalar;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (cap != "sse" && __builtin_cpu_supports("avx2")) return validate_avx2;
  if (__builtin_cpu_supports("ssse3")) return validate_ssse3;
#endif
  return validate_scalar;
}

int validate(const std::uint8_t* p, std::size_t n) noexcept {
  static const ValidateFn impl = resolve();
  return impl(p, n);
}

}  // namespace

bool is_valid_utf8(std::string_view text) noexcept {
  return validate(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()) == 0;
}

bool Utf8Validator::feed(const std::uint8_t* data, std::size_t size) noexcept {
  if (failed_) return false;
  if (size == 0) return true;
  if (pending_ != 0) {
    // Finish the code point cut at the end of the last piece.
    std::uint8_t cp[4];
    std::memcpy(cp, partial_, partial_len_);
    const std::size_t take = std::min<std::size_t>(pending_, size);
    std::memcpy(cp + partial_len_, data, take);
    const std::size_t have = partial_len_ + take;
    const int r = validate_scalar(cp, have);
    if (r == kInvalid) {
      failed_ = true;
      return false;
    }
    if (r != 0) {  // still cut: the piece was shorter than what was missing
      std::memcpy(partial_, cp, have);
      partial_len_ = static_cast<std::uint8_t>(have);
      pending_ = static_cast<std::uint8_t>(pending_ - take);
      return true;
    }
    partial_len_ = 0;
    pending_ = 0;
    data += take;
    size -= take;
  }
  const int tail = validate(data, size);
  if (tail == kInvalid) {
    failed_ = true;
    return false;
  }
  if (tail != 0) {
    const auto t = static_cast<std::size_t>(tail);
    std::memcpy(partial_, data + size - t, t);
    partial_len_ = static_cast<std::uint8_t>(t);
    pending_ = static_cast<std::uint8_t>(static_cast<std::size_t>(lead_length(partial_[0])) - t);
  }
  return true;
}

}  // namespace parley::protocol
