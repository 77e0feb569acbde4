// Masking and UTF-8 validation throughput, each beside memcpy of a buffer of
// the same size in the same run: 16 B, 1 KiB, 64 KiB and 1 MiB. The names
// are MaskUtf8/<size>/<what>, registered size by size, so that each figure
// prints next to its memcpy baseline:
//   memcpy      copy the buffer to a second one
//   mask        apply_mask in place (the key phase 1, so nothing lines up)
//   utf8_ascii  is_valid_utf8 on ASCII text
//   utf8_mixed  is_valid_utf8 on mixed-script text: Latin with accents,
//               Greek, Cyrillic, CJK, emoji, and ASCII punctuation between
//   utf8_mixed_stream  the same text through Utf8Validator in 1500-byte
//               pieces (a typical frame size), cut anywhere in a code point
// Goals at 64 KiB: mask >= 0.7x memcpy, ASCII >= 0.5x, mixed >= 0.15x.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "parley/protocol/mask.hpp"
#include "parley/protocol/utf8.hpp"

namespace {

using parley::protocol::apply_mask;
using parley::protocol::is_valid_utf8;
using parley::protocol::Utf8Validator;

std::string ascii_text(std::size_t n) {
  static const std::string_view words = "The quick brown fox jumps over the lazy dog; 0123456789, {\"json\": true}\n";
  std::string s;
  while (s.size() < n) s += words;
  s.resize(n);
  return s;
}

// Mixed-script text of exactly n bytes, cut on a code point boundary and
// padded with spaces.
std::string mixed_text(std::size_t n) {
  static const char* const phrases[] = {
      "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, na\u00efve fa\u00e7ade, \u00fcber Stra\u00dfe, ni\u00f1o. ",
      "\u041f\u0440\u0438\u0432\u0435\u0442, \u043a\u0430\u043a \u0434\u0435\u043b\u0430? ",
      "\u0421\u0435\u0433\u043e\u0434\u043d\u044f \u0445\u043e\u0440\u043e\u0448\u0430\u044f ",
      "\u043f\u043e\u0433\u043e\u0434\u0430. ",
      "\u4eca\u65e5\u306f\u3044\u3044\u5929\u6c17\u3067\u3059\u306d\u3002\u4f60\u597d\uff0c\u4e16\u754c\uff01",
      "\u6211\u4eec\u660e\u5929\u89c1\u3002 ",
      "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5! ",
      "\U0001F600 \U0001F389 \U0001F44D \U0001F680 ok! ",
      "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8, ",
  };
  std::string s;
  for (std::size_t i = 0; s.size() < n + 64; ++i) s += phrases[i % (sizeof phrases / sizeof phrases[0])];
  std::size_t cut = n;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  s.resize(n, ' ');
  return s;
}

void bm_memcpy(benchmark::State& state, std::size_t n) {
  std::vector<std::uint8_t> src(n, 0x5A), dst(n);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), n);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

void bm_mask(benchmark::State& state, std::size_t n) {
  std::vector<std::uint8_t> buf(n, 0x5A);
  const std::uint8_t key[4] = {0x37, 0xFA, 0x21, 0x3D};
  for (auto _ : state) {
    benchmark::DoNotOptimize(apply_mask(buf.data(), n, key, 1));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

void bm_validate(benchmark::State& state, const std::string& text) {
  if (!is_valid_utf8(text)) {
    state.SkipWithError("benchmark text is not valid UTF-8");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(is_valid_utf8(text));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void bm_validate_stream(benchmark::State& state, const std::string& text) {
  for (auto _ : state) {
    Utf8Validator v;
    for (std::size_t at = 0; at < text.size(); at += 1500) {
      v.feed(std::string_view(text).substr(at, 1500));
    }
    benchmark::DoNotOptimize(v.complete());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

[[maybe_unused]] const bool registered = [] {
  for (std::size_t n : {std::size_t{16}, std::size_t{1} << 10, std::size_t{64} << 10, std::size_t{1} << 20}) {
    const std::string prefix = "MaskUtf8/" + std::to_string(n) + "/";
    benchmark::RegisterBenchmark((prefix + "memcpy").c_str(), bm_memcpy, n);
    benchmark::RegisterBenchmark((prefix + "mask").c_str(), bm_mask, n);
    benchmark::RegisterBenchmark((prefix + "utf8_ascii").c_str(), bm_validate, ascii_text(n));
    benchmark::RegisterBenchmark((prefix + "utf8_mixed").c_str(), bm_validate, mixed_text(n));
    benchmark::RegisterBenchmark((prefix + "utf8_mixed_stream").c_str(), bm_validate_stream, mixed_text(n));
  }
  return true;
}();

}  // namespace
