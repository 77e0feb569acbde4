// UTF-8 validation: the Autobahn case 6 style vectors, every valid vector
// split into two and three pieces, fail-fast, a differential test against a
// simple decoding validator written here, and long inputs that put errors
// and multi-byte characters at every position across SIMD block boundaries.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "parley/protocol/utf8.hpp"

using parley::protocol::is_valid_utf8;
using parley::protocol::Utf8Validator;

namespace {

// ---- the reference ----------------------------------------------------------

enum class Status { Valid, Incomplete, Invalid };

// Decodes code point by code point; a code point is valid when its lead byte
// announces its length, the rest are continuation bytes, and the value is
// minimal for the length, not a surrogate and at most U+10FFFF.
bool reference_valid(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::uint32_t c = static_cast<unsigned char>(s[i]);
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
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      c = c << 6 | (b & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// Valid, a valid prefix of something valid (Incomplete), or Invalid. A cut
// sequence is a valid prefix when some continuation bytes complete it; trying
// 80, 90 and A0 in each missing position covers every second-byte range.
Status reference_status(const std::string& s) {
  if (reference_valid(s)) return Status::Valid;
  // Where does the last code point start? At most 3 bytes back.
  for (std::size_t k = 1; k <= 3 && k <= s.size(); ++k) {
    const auto b = static_cast<unsigned char>(s[s.size() - k]);
    if ((b & 0xC0) == 0x80) continue;
    if (b < 0x80 || !reference_valid(s.substr(0, s.size() - k))) return Status::Invalid;
    const std::string tail = s.substr(s.size() - k);
    const char fill[] = {'\x80', '\x90', '\xA0'};
    for (std::size_t missing = 1; missing <= 3; ++missing) {
      for (int combo = 0; combo < 27; ++combo) {
        std::string t = tail;
        for (std::size_t m = 0, c = static_cast<std::size_t>(combo); m < missing; ++m, c /= 3) t += fill[c % 3];
        if (reference_valid(t)) return Status::Incomplete;
      }
    }
    return Status::Invalid;
  }
  return Status::Invalid;
}

std::string bytes(std::initializer_list<int> list) {
  std::string s;
  for (int b : list) s += static_cast<char>(b);
  return s;
}

std::string hex(const std::string& s) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
    out += ' ';
  }
  return out;
}

std::string encode(std::uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | cp >> 6);
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | cp >> 12);
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | cp >> 18);
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// Feeds `s` cut at `cuts` (ascending positions) and checks every feed()
// against the reference on the prefix seen so far, then complete().
void check_stream(const std::string& s, const std::vector<std::size_t>& cuts) {
  Utf8Validator v;
  std::size_t from = 0;
  bool seen_invalid = false;
  auto piece = [&](std::size_t to) {
    const bool ok = v.feed(std::string_view(s).substr(from, to - from));
    seen_invalid = seen_invalid || reference_status(s.substr(0, to)) == Status::Invalid;
    ASSERT_EQ(ok, !seen_invalid) << "input " << hex(s) << "piece [" << from << ", " << to << ")";
    ASSERT_EQ(v.failed(), seen_invalid);
    from = to;
  };
  for (std::size_t c : cuts) {
    piece(c);
  }
  piece(s.size());
  ASSERT_EQ(v.complete(), reference_status(s) == Status::Valid) << "input " << hex(s);
}

// ---- the vectors --------------------------------------------------------------

const std::vector<std::string>& valid_vectors() {
  static const std::vector<std::string> v = {
      "",
      "Hello-\xC2\xB5@\xC3\x9F\xC3\xB6\xC3\xA4\xC3\xBC\xC3\xA0\xC3\xA1-UTF-8!!",  // Autobahn 6.2
      "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5",                          // κόσμε, 6.3
      std::string(1, '\0'),                                                   // U+0000
      "\xC2\x80", "\xE0\xA0\x80", "\xF0\x90\x80\x80",                         // first of each length
      "\x7F", "\xDF\xBF", "\xEF\xBF\xBF", "\xF4\x8F\xBF\xBF",                 // last of each length
      "\xED\x9F\xBF", "\xEE\x80\x80", "\xEF\xBF\xBD",                         // around the surrogates
      "\xEF\xBF\xBE", "\xEF\xBB\xBF", "\xEF\xB7\x90",                         // U+FFFE, BOM, U+FDD0
      "\xF0\x9F\x98\x80", "\xF3\xBF\xBF\xBF", "\xF1\x80\x80\x80",             // emoji, planes
      "\xE4\xB8\xAD\xE6\x96\x87 \xD0\xBF\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 caf\xC3\xA9 \xF0\x9F\x8E\x89",
      std::string(100, 'a') + "\xF4\x8F\xBF\xBF" + std::string(100, 'b'),
  };
  return v;
}

const std::vector<std::string>& invalid_vectors() {
  static const std::vector<std::string> v = [] {
    std::vector<std::string> out = {
        // 5- and 6-byte forms, first and last possible, and beyond U+10FFFF.
        bytes({0xF8, 0x88, 0x80, 0x80, 0x80}), bytes({0xFC, 0x84, 0x80, 0x80, 0x80, 0x80}),
        bytes({0xFB, 0xBF, 0xBF, 0xBF, 0xBF}), bytes({0xFD, 0xBF, 0xBF, 0xBF, 0xBF, 0xBF}),
        bytes({0xF4, 0x90, 0x80, 0x80}), bytes({0xF7, 0xBF, 0xBF, 0xBF}), bytes({0xF5, 0x80, 0x80, 0x80}),
        // Lone and stray continuation bytes.
        bytes({0x80}), bytes({0xBF}), bytes({0x80, 0xBF}), bytes({0x80, 0xBF, 0x80}), bytes({0x41, 0x80}),
        bytes({0xC2, 0x80, 0x80}), bytes({0xE0, 0xA0, 0x80, 0x80}), bytes({0xF0, 0x90, 0x80, 0x80, 0x80}),
        // Sequences with the last byte missing (some also overlong or too big).
        bytes({0xC0}), bytes({0xE0, 0x80}), bytes({0xF0, 0x80, 0x80}), bytes({0xF7, 0xBF, 0xBF}), bytes({0xDF}),
        bytes({0xEF, 0xBF}), bytes({0xF4, 0x8F, 0xBF}), bytes({0xC2}), bytes({0xE2, 0x82}),
        bytes({0xDF, 0xEF, 0xBF, 0xF4, 0x8F, 0xBF}),
        // Impossible bytes.
        bytes({0xFE}), bytes({0xFF}), bytes({0xFE, 0xFE, 0xFF, 0xFF}),
        // Overlong forms: '/', the largest overlong of each length, NUL.
        bytes({0xC0, 0xAF}), bytes({0xE0, 0x80, 0xAF}), bytes({0xF0, 0x80, 0x80, 0xAF}),
        bytes({0xF8, 0x80, 0x80, 0x80, 0xAF}), bytes({0xFC, 0x80, 0x80, 0x80, 0x80, 0xAF}), bytes({0xC1, 0xBF}),
        bytes({0xE0, 0x9F, 0xBF}), bytes({0xF0, 0x8F, 0xBF, 0xBF}), bytes({0xC0, 0x80}),
        bytes({0xE0, 0x80, 0x80}), bytes({0xF0, 0x80, 0x80, 0x80}),
        // UTF-16 surrogates, single and paired.
        bytes({0xED, 0xA0, 0x80}), bytes({0xED, 0xAD, 0xBF}), bytes({0xED, 0xAE, 0x80}),
        bytes({0xED, 0xAF, 0xBF}), bytes({0xED, 0xB0, 0x80}), bytes({0xED, 0xBE, 0x80}),
        bytes({0xED, 0xBF, 0xBF}), bytes({0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80}),
        bytes({0xED, 0xAF, 0xBF, 0xED, 0xBF, 0xBF}),
        // Autobahn 6.4: valid text, then a bad sequence, then more text.
        "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80" "edited",
        "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xF4\x90\x80\x80" "edited",
    };
    // Every continuation byte alone; every lead byte followed by a space.
    for (int b = 0x80; b <= 0xBF; ++b) out.push_back(bytes({b}));
    for (int b = 0xC0; b <= 0xFF; ++b) out.push_back(bytes({b, 0x20}));
    return out;
  }();
  return v;
}

}  // namespace

// ---- tests ------------------------------------------------------------------

TEST(Utf8Reference, AgreesWithTheVectors) {
  for (const auto& s : valid_vectors()) EXPECT_EQ(reference_status(s), Status::Valid) << hex(s);
  for (const auto& s : invalid_vectors()) EXPECT_NE(reference_status(s), Status::Valid) << hex(s);
  EXPECT_EQ(reference_status(bytes({0xF4, 0x8F})), Status::Incomplete);
  EXPECT_EQ(reference_status(bytes({0xF4, 0x90})), Status::Invalid);
  EXPECT_EQ(reference_status(bytes({0xED, 0xA0})), Status::Invalid);
  EXPECT_EQ(reference_status(bytes({0xC0})), Status::Invalid);
  EXPECT_EQ(reference_status(bytes({0xE0})), Status::Incomplete);
}

TEST(Utf8, ValidVectors) {
  for (const auto& s : valid_vectors()) {
    EXPECT_TRUE(is_valid_utf8(s)) << hex(s);
    Utf8Validator v;
    EXPECT_TRUE(v.feed(s)) << hex(s);
    EXPECT_TRUE(v.complete()) << hex(s);
  }
}

TEST(Utf8, InvalidVectors) {
  for (const auto& s : invalid_vectors()) {
    EXPECT_FALSE(is_valid_utf8(s)) << hex(s);
    Utf8Validator v;
    v.feed(s);
    EXPECT_FALSE(v.complete()) << hex(s);
  }
}

TEST(Utf8, EveryCodePoint) {
  for (std::uint32_t cp = 0; cp <= 0x10FFFF; cp += (cp < 0x10000 ? 1 : 61)) {
    const std::string s = encode(cp);
    const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    ASSERT_EQ(is_valid_utf8(s), !surrogate) << std::hex << cp;
  }
  EXPECT_TRUE(is_valid_utf8(encode(0x10FFFF)));
  EXPECT_FALSE(is_valid_utf8(encode(0x110000)));
}

TEST(Utf8, EveryVectorSplitIntoTwoAndThreePieces) {
  std::vector<std::string> all = valid_vectors();
  all.insert(all.end(), invalid_vectors().begin(), invalid_vectors().end());
  for (const auto& s : all) {
    for (std::size_t i = 0; i <= s.size(); ++i) {
      check_stream(s, {i});
      for (std::size_t j = i; j <= s.size(); ++j) check_stream(s, {i, j});
    }
  }
}

TEST(Utf8, FailsFastOnTheChunkWithTheBadByte) {
  struct Case {
    std::vector<std::string> pieces;
    std::size_t failing_piece;
  };
  const std::vector<Case> cases = {
      {{"\xCE\xBA\xE1\xBD\xB9", "\xED\xA0\x80", "edited"}, 1},
      {{"\xCE\xBA\xE1\xBD\xB9\xF4", "\x90", "\x80\x80 more"}, 1},
      {{"ok", "\xF4\x90"}, 1},
      {{"ok", "\xED\xA0"}, 1},
      {{"ok", "\xC0"}, 1},
      {{"ok", "\xC1"}, 1},
      {{"ok", "\xF5"}, 1},
      {{"\xE0", "\x80"}, 1},
      {{"\xE0", "\x9F"}, 1},
      {{"\xF0", "\x8F"}, 1},
      {{"\xF0\x90", "\x80", "A"}, 2},
      {{"abc", "\x80", "def"}, 1},
      {{std::string(1000, 'x'), std::string(500, 'y') + "\xFF" + std::string(5000, 'z'), "tail"}, 1},
  };
  for (const auto& c : cases) {
    Utf8Validator v;
    for (std::size_t i = 0; i < c.pieces.size(); ++i) {
      EXPECT_EQ(v.feed(c.pieces[i]), i < c.failing_piece) << "piece " << i << ": " << hex(c.pieces[i]);
      EXPECT_EQ(v.failed(), i >= c.failing_piece);
    }
    EXPECT_FALSE(v.complete());
  }
}

TEST(Utf8, SplitCodePointsAndCompletion) {
  Utf8Validator v;
  EXPECT_TRUE(v.feed("\xF0"));
  EXPECT_FALSE(v.complete());
  EXPECT_TRUE(v.feed("\x9F"));
  EXPECT_TRUE(v.feed(""));
  EXPECT_TRUE(v.feed("\x98"));
  EXPECT_FALSE(v.complete());
  EXPECT_FALSE(v.failed());
  EXPECT_TRUE(v.feed("\x80"));
  EXPECT_TRUE(v.complete());
  EXPECT_TRUE(v.feed("abc\xE2\x82"));
  EXPECT_FALSE(v.complete());  // truncated at the end of the message
  EXPECT_TRUE(v.feed("\xAC"));
  EXPECT_TRUE(v.complete());
}

TEST(Utf8, StaysFailedUntilReset) {
  Utf8Validator v;
  EXPECT_FALSE(v.feed("\xFF"));
  EXPECT_FALSE(v.feed("abc"));
  EXPECT_TRUE(v.failed());
  EXPECT_FALSE(v.complete());
  v.reset();
  EXPECT_FALSE(v.failed());
  EXPECT_TRUE(v.complete());
  EXPECT_TRUE(v.feed("abc"));
  EXPECT_TRUE(v.feed("\xE2"));
  v.reset();  // forgets the partial code point too
  EXPECT_TRUE(v.complete());
  EXPECT_TRUE(v.feed("abc"));
  EXPECT_TRUE(v.complete());
}

TEST(Utf8, EmptyAndNull) {
  EXPECT_TRUE(is_valid_utf8(std::string_view()));
  Utf8Validator v;
  EXPECT_TRUE(v.feed(nullptr, 0));
  EXPECT_TRUE(v.complete());
}

// Errors of each kind at every position 0..100 of inputs long enough to run
// through several SIMD blocks, with ASCII or multi-byte filler, fed whole and
// in pieces of odd sizes; and a valid multi-byte character at every position.
TEST(Utf8, LongInputsWithTheErrorAtEveryPosition) {
  const std::vector<std::string> errors = {
      bytes({0x80}),       bytes({0xC0, 0x80}),       bytes({0xED, 0xA0, 0x80}), bytes({0xF4, 0x90, 0x80, 0x80}),
      bytes({0xFF}),       bytes({0xE0, 0x80, 0x80}), bytes({0xE2, 0x82}),       bytes({0xF0, 0x8F, 0xBF, 0xBF}),
      bytes({0xC2, 0x41}), bytes({0xF5}),             bytes({0xE2, 0x82, 0xAC, 0xAC}),
      // Truncated: a block may end inside them and the next one be all ASCII.
      bytes({0xF0, 0x9F, 0x98}), bytes({0xF0, 0x9F}), bytes({0xE4, 0xB8}), bytes({0xC3}),
  };
  const std::vector<std::string> fillers = {"a", "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "a\xD0\xB6"};
  const std::vector<std::string> good = {"\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF"};
  for (const auto& filler : fillers) {
    std::string text;
    while (text.size() < 400) text += filler;
    for (std::size_t pos = 0; pos <= 100; ++pos) {
      // Cut at a character boundary at or before pos.
      std::size_t at = pos;
      while (at > 0 && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) --at;
      for (const auto& e : errors) {
        const std::string s = text.substr(0, at) + e + text.substr(at);
        ASSERT_FALSE(is_valid_utf8(s)) << "error " << hex(e) << "at " << at;
        check_stream(s, {});
        check_stream(s, {17, 64 + 5, 200});
        check_stream(s, {at + 1});
        // The same error near the end of the input (the scalar tail).
        const std::string t = text + text.substr(0, at) + e + text.substr(at, 100 - at);
        ASSERT_FALSE(is_valid_utf8(t)) << "error " << hex(e) << "at " << at << " from the end";
        check_stream(t, {t.size() / 2});
      }
      for (const auto& g : good) {
        const std::string s = text.substr(0, at) + g + text.substr(at);
        ASSERT_TRUE(is_valid_utf8(s)) << hex(g) << "at " << at;
        check_stream(s, {at + 1});
        check_stream(s, {at + 2, at + 3});
        // Valid, but cut: every prefix ending inside g is incomplete, not invalid.
        for (std::size_t cut = at + 1; cut < at + g.size(); ++cut) {
          Utf8Validator v;
          ASSERT_TRUE(v.feed(std::string_view(s).substr(0, cut)));
          ASSERT_FALSE(v.complete());
          ASSERT_FALSE(is_valid_utf8(std::string_view(s).substr(0, cut)));
        }
      }
    }
  }
}

// Random strings made of UTF-8-like pieces, checked against the reference
// whole and fed in random pieces. Two in five are valid text (ASCII runs,
// characters of every length, characters at every boundary); two in five are
// such text with one mutation (a byte replaced by a special or random byte,
// a byte inserted or deleted), so that the one error decides the outcome;
// one in five mixes special bytes, truncated characters and random bytes.
TEST(Utf8, DifferentialAgainstReference) {
  std::mt19937 rng(20261125);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  const std::uint32_t boundaries[] = {0x0,    0x7F,   0x80,    0x7FF,   0x800,   0xD7FF,   0xE000,
                                      0xFFFD, 0xFFFF, 0x10000, 0x3FFFF, 0x40000, 0x10FFFF};
  const int special[] = {0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                         0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xF7, 0xF8, 0xFC, 0xFF};
  auto special_byte = [&] { return static_cast<char>(special[pick(std::size(special))]); };
  auto valid_char = [&]() -> std::string {
    switch (pick(6)) {
      case 0: return encode(boundaries[pick(std::size(boundaries))]);
      case 1: return encode(static_cast<std::uint32_t>(0x80 + pick(0x780)));
      case 2: {
        auto cp = static_cast<std::uint32_t>(0x800 + pick(0xF800));
        return encode(cp >= 0xD800 && cp <= 0xDFFF ? 0xFFFD : cp);
      }
      case 3: return encode(static_cast<std::uint32_t>(0x10000 + pick(0x100000)));
      default: return std::string(pick(70), static_cast<char>('a' + pick(26)));
    }
  };
  std::size_t counts[3] = {};
  for (int round = 0; round < 100000; ++round) {
    std::string s;
    const std::size_t target = pick(8) == 0 ? pick(600) : pick(120);
    const std::size_t mode = pick(5);
    if (mode < 4) {
      while (s.size() < target) s += valid_char();
      if (mode >= 2 && !s.empty()) {
        const std::size_t at = pick(s.size());
        switch (pick(4)) {
          case 0: s[at] = special_byte(); break;
          case 1: s[at] = static_cast<char>(pick(256)); break;
          case 2: s.insert(at, 1, special_byte()); break;
          default: s.erase(at, 1); break;
        }
      }
    } else {
      while (s.size() < target) {
        switch (pick(4)) {
          case 0: s += special_byte(); break;
          case 1: s += static_cast<char>(pick(256)); break;
          case 2: {
            const std::string c = valid_char();
            s += c.substr(0, 1 + pick(std::max<std::size_t>(c.size(), 1)));  // maybe truncated
            break;
          }
          default: s += valid_char(); break;
        }
      }
    }
    const Status expected = reference_status(s);
    ++counts[static_cast<int>(expected)];
    ASSERT_EQ(is_valid_utf8(s), expected == Status::Valid) << hex(s);
    std::vector<std::size_t> cuts;
    for (std::size_t c = 0; s.size() > 0 && cuts.size() < 4;) {
      c += pick(s.size()) / 2 + 1;
      if (c >= s.size()) break;
      cuts.push_back(c);
    }
    check_stream(s, cuts);
    if (HasFatalFailure()) return;
  }
  // The generator should produce every outcome in quantity.
  EXPECT_GT(counts[static_cast<int>(Status::Valid)], 40000u);
  EXPECT_GT(counts[static_cast<int>(Status::Invalid)], 30000u);
  EXPECT_GT(counts[static_cast<int>(Status::Incomplete)], 200u);
}
