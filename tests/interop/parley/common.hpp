// Shared by parley's interop programs: the fixed payloads of the path
// protocol (tests/interop/README.md) and a JSON string writer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace interop {

inline constexpr std::string_view kFragText =
    "fragmented \u2713 message: \u00fcn\u00efc\u00f8d\u00e9 \u20ac \U0001F600";
inline constexpr std::string_view kRefusalBody = "forbidden by interop test";

// bytes 0..255, four times
inline std::string frag_binary() {
  std::string s;
  for (int r = 0; r < 4; ++r)
    for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
  return s;
}

// A JSON string literal of UTF-8 `s` (non-ASCII passes through).
inline std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace interop
