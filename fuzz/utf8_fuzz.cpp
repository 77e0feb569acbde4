// libFuzzer target for UTF-8 validation and masking.
//
// Input: 4 control bytes, then the text. The control bytes choose two cut
// points, a piece size and a buffer misalignment. Checks, trapping on any
// disagreement with the simple references below:
//  - is_valid_utf8(text) against a code-point-decoding validator;
//  - Utf8Validator fed the text cut at the two points, and in pieces of the
//    chosen size: each feed() must return false exactly when the text seen
//    so far can no longer be the start of valid UTF-8 (fail fast), and
//    complete() must agree with the whole-text verdict;
//  - apply_mask on the text at the chosen misalignment and phase, whole and
//    in the two pieces, against a byte-at-a-time loop;
//  - unmask_ascii on the text at that misalignment: the same bytes, and
//    ASCII exactly when no unmasked byte is 0x80 or above.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "parley/protocol/mask.hpp"
#include "parley/protocol/utf8.hpp"
#include "protocol/unmask_ascii.hpp"

namespace {

using Bytes = std::span<const std::uint8_t>;

bool reference_valid(Bytes s) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::uint32_t c = s[i];
    std::size_t len;
    std::uint32_t min;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, c &= 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, c &= 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, c &= 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      c = c << 6 | (s[i + k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// True when some continuation bytes appended to `s` make it valid (or it
// already is). 80, 90 and A0 in each missing position cover every range a
// second byte may be restricted to.
bool reference_viable(Bytes s) {
  if (reference_valid(s)) return true;
  std::size_t start = s.size();
  for (std::size_t k = 1; k <= 3 && k <= s.size(); ++k) {
    if ((s[s.size() - k] & 0xC0) != 0x80) {
      start = s.size() - k;
      break;
    }
  }
  if (start == s.size() || s[start] < 0xC0 || !reference_valid(s.first(start))) return false;
  const std::uint8_t fill[3] = {0x80, 0x90, 0xA0};
  for (std::size_t missing = 1; missing <= 3; ++missing) {
    for (std::size_t combo = 0; combo < 27; ++combo) {
      std::uint8_t t[8];
      const std::size_t have = s.size() - start;
      std::memcpy(t, s.data() + start, have);
      for (std::size_t m = 0, c = combo; m < missing; ++m, c /= 3) t[have + m] = fill[c % 3];
      if (reference_valid(Bytes(t, have + missing))) return true;
    }
  }
  return false;
}

// The length of the longest viable prefix (viability only ever gets lost).
std::size_t reference_fail_point(Bytes s) {
  std::size_t lo = 0, hi = s.size();  // prefix lo is viable; find the largest such
  if (reference_viable(s)) return s.size();
  while (lo + 1 < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if (reference_viable(s.first(mid))) lo = mid;
    else hi = mid;
  }
  return lo;
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_pieces(Bytes text, const std::vector<std::size_t>& cuts, std::size_t fail_point, bool valid) {
  parley::protocol::Utf8Validator v;
  std::size_t from = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t to = i < cuts.size() ? cuts[i] : text.size();
    check(v.feed(text.data() + from, to - from) == (to <= fail_point));
    from = to;
  }
  check(v.complete() == valid);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::uint8_t ctl[4] = {};
  if (size != 0) std::memcpy(ctl, data, size < 4 ? size : 4);
  const Bytes text = size > 4 ? Bytes(data + 4, size - 4) : Bytes();
  const std::size_t n = text.size();

  // UTF-8.
  const bool valid = reference_valid(text);
  check(parley::protocol::is_valid_utf8(
            std::string_view(reinterpret_cast<const char*>(text.data()), text.size())) == valid);
  const std::size_t fail_point = reference_fail_point(text);
  std::size_t c1 = n * ctl[0] / 255, c2 = n * ctl[1] / 255;
  if (c1 > c2) std::swap(c1, c2);
  check_pieces(text, {}, fail_point, valid);
  check_pieces(text, {c1, c2}, fail_point, valid);
  std::vector<std::size_t> cuts;
  const std::size_t step = ctl[2] % 40 + 1;
  for (std::size_t c = step; c < n; c += step) cuts.push_back(c);
  check_pieces(text, cuts, fail_point, valid);

  // Masking.
  const std::uint8_t key[4] = {ctl[0], ctl[1], ctl[2], ctl[3]};
  const std::size_t offset = ctl[3] % 64, phase = ctl[2] % 4;
  std::vector<std::uint8_t> buf(offset + n + 8), expected(offset + n + 8);
  std::copy(text.begin(), text.end(), buf.begin() + static_cast<std::ptrdiff_t>(offset));
  std::copy(text.begin(), text.end(), expected.begin() + static_cast<std::ptrdiff_t>(offset));
  for (std::size_t i = 0; i < n; ++i) expected[offset + i] ^= key[(phase + i) % 4];
  check(parley::protocol::apply_mask(buf.data() + offset, n, key, phase) == (phase + n) % 4);
  check(buf == expected);
  std::copy(text.begin(), text.end(), buf.begin() + static_cast<std::ptrdiff_t>(offset));
  std::size_t p = parley::protocol::apply_mask(buf.data() + offset, c1, key, phase);
  p = parley::protocol::apply_mask(buf.data() + offset + c1, c2 - c1, key, p);
  parley::protocol::apply_mask(buf.data() + offset + c2, n - c2, key, p);
  check(buf == expected);
  // Unmasking a payload (phase 0) and finding whether it is ASCII, in one pass.
  std::copy(text.begin(), text.end(), buf.begin() + static_cast<std::ptrdiff_t>(offset));
  std::copy(text.begin(), text.end(), expected.begin() + static_cast<std::ptrdiff_t>(offset));
  bool ascii = true;
  for (std::size_t i = 0; i < n; ++i) {
    expected[offset + i] ^= key[i % 4];
    ascii = ascii && expected[offset + i] < 0x80;
  }
  check(parley::protocol::unmask_ascii(buf.data() + offset, n, key) == ascii);
  check(buf == expected);
  return 0;
}
