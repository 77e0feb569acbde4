// Shared by parley's interop programs: the fixed payloads of the path
// protocol (tests/interop/README.md) and JSON strings.
#pragma once

#include <parley/protocol/utf8.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

// Internal and header-only (not installed): tests/interop/CMakeLists.txt puts
// src/ on these programs' include path, as it is on the unit tests'.
#include "protocol/http_text.hpp"

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

// A JSON string literal of `s`: the library's own writer (the one that
// writes reject_json bodies), with non-ASCII passed through when `s` is
// valid UTF-8 and U+FFFD for each byte of 0x80 or above when it is not, so
// run_interop.py always reads valid JSON.
inline std::string json_string(std::string_view s) {
  std::string out;
  parley::protocol::text::append_json_string(out, s, parley::protocol::is_valid_utf8(s));
  return out;
}

}  // namespace interop
