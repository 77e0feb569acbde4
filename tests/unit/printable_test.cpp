// printable(): escaping and bounding bytes from a peer for log lines, error
// messages and response bodies.
#include <gtest/gtest.h>

#include <string>

#include "parley/protocol/printable.hpp"

using parley::protocol::printable;

namespace {

using namespace std::string_literals;

// No byte of `s` is a C0 control, DEL, or (when `ascii`) above 0x7F.
bool no_raw_controls(const std::string& s, bool ascii = true) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F || (ascii && c >= 0x80)) return false;
  }
  return true;
}

TEST(Printable, PrintableAsciiUnchanged) {
  EXPECT_EQ(printable(""), "");
  EXPECT_EQ(printable("hello, world ~!"), "hello, world ~!");
}

TEST(Printable, NamedEscapes) {
  EXPECT_EQ(printable("a\\b"), "a\\\\b");
  EXPECT_EQ(printable("1\n2\r3\t4"), "1\\n2\\r3\\t4");
}

TEST(Printable, ControlBytesAndDelAsHex) {
  EXPECT_EQ(printable("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
  EXPECT_EQ(printable("\x00\x01\x1f\x7f"s), "\\x00\\x01\\x1f\\x7f");
  for (int c = 0; c < 256; ++c) {
    const std::string one(1, static_cast<char>(c));
    EXPECT_TRUE(no_raw_controls(printable(one))) << c;
    EXPECT_TRUE(no_raw_controls(printable(one, 200, true))) << c;  // a lone byte is never valid UTF-8 above 0x7F
  }
}

TEST(Printable, NonAsciiAsHexUnlessUtf8) {
  EXPECT_EQ(printable("w\xc3\xb6rld"), "w\\xc3\\xb6rld");
  EXPECT_EQ(printable("w\xc3\xb6rld", 200, true), "w\xc3\xb6rld");
  EXPECT_EQ(printable("\xe2\x82\xac \xf0\x9f\x98\x80", 200, true), "\xe2\x82\xac \xf0\x9f\x98\x80");
}

TEST(Printable, Utf8ModeEscapesInvalidBytes) {
  // A lone continuation byte, a truncated sequence, an overlong form, a
  // surrogate, a code point above U+10FFFF and bytes never valid.
  EXPECT_EQ(printable("a\x80z", 200, true), "a\\x80z");
  EXPECT_EQ(printable("a\xe2\x82z", 200, true), "a\\xe2\\x82z");
  EXPECT_EQ(printable("\xc0\xaf", 200, true), "\\xc0\\xaf");
  EXPECT_EQ(printable("\xed\xa0\x80", 200, true), "\\xed\\xa0\\x80");
  EXPECT_EQ(printable("\xf4\x90\x80\x80", 200, true), "\\xf4\\x90\\x80\\x80");
  EXPECT_EQ(printable("\xfe\xff", 200, true), "\\xfe\\xff");
  EXPECT_EQ(printable("\xe2\x82", 200, true), "\\xe2\\x82");  // cut off at the end of the data
  // Valid text after an invalid byte is kept.
  EXPECT_EQ(printable("\xff\xc3\xa9", 200, true), "\\xff\xc3\xa9");
}

TEST(Printable, Utf8ModeEscapesC1Controls) {
  // U+009B is CSI for terminals that obey C1 controls; U+0085 NEL.
  EXPECT_EQ(printable("\xc2\x9b" "31m", 200, true), "\\xc2\\x9b" "31m");
  EXPECT_EQ(printable("\xc2\x85", 200, true), "\\xc2\\x85");
  EXPECT_EQ(printable("\xc2\xa0", 200, true), "\xc2\xa0");  // U+00A0 is not a control
}

TEST(Printable, BoundCountsInputBytes) {
  const std::string s(300, 'a');
  EXPECT_EQ(printable(s), std::string(200, 'a') + "...");  // the default bound: 200
  EXPECT_EQ(printable(s, 10), "aaaaaaaaaa...");
  EXPECT_EQ(printable(std::string(10, 'a'), 10), "aaaaaaaaaa");  // exactly the bound: no dots
  EXPECT_EQ(printable("abc", 0), "...");
  EXPECT_EQ(printable("", 0), "");
  // Escaped bytes count once each, however long their escape.
  EXPECT_EQ(printable("\x1b\x1b\x1b\x1b", 2), "\\x1b\\x1b...");
  EXPECT_EQ(printable(std::string(1000, '\x07'), 200).size(), 4 * 200 + 3);
}

TEST(Printable, Utf8CutNeverSplitsASequence) {
  // "é" is two bytes: a bound of 2 falls inside the second one.
  EXPECT_EQ(printable("a\xc3\xa9z", 2, true), "a...");
  EXPECT_EQ(printable("a\xc3\xa9z", 3, true), "a\xc3\xa9...");
  EXPECT_EQ(printable("\xf0\x9f\x98\x80", 3, true), "...");
  EXPECT_EQ(printable("\xf0\x9f\x98\x80", 4, true), "\xf0\x9f\x98\x80");
  // Without utf8, bytes are bytes.
  EXPECT_EQ(printable("a\xc3\xa9z", 2), "a\\xc3...");
}

TEST(Printable, EscapeSequenceInAnHttpVersionIsDefused) {
  const std::string out = printable("HTTP/1.1\x1b]0;pwned\x07");
  EXPECT_EQ(out, "HTTP/1.1\\x1b]0;pwned\\x07");
  EXPECT_TRUE(no_raw_controls(out));
}

}  // namespace
