// Fuzzes the HTTP list grammar (HeaderValue, Extension) and Headers.
//
// Input: byte 0 picks the grammar (bit 0: Extension rules); the rest is a
// header value. Checks, trapping on any failure:
//  - parse → join → parse is stable: the second parse succeeds, gives equal
//    elements, and joins to the same text;
//  - every parsed element is valid() and serializes alone to text that
//    parses back to exactly that element;
//  - Extension rules accept a subset of what HeaderValue accepts;
//  - Headers::has_token agrees with a split of the value on commas.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "parley/protocol/headers.hpp"

namespace {

using namespace parley::protocol;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

template <class T>
void round_trip(std::string_view text) {
  auto first = T::parse_list(text);
  if (!first) {
    check(first.error() == parley::HandshakeError::bad_extension_header);
    return;
  }
  const std::string joined = T::join(*first);
  auto second = T::parse_list(joined);
  check(second.has_value());
  check(*second == *first);
  check(T::join(*second) == joined);
  for (const T& element : *first) {
    check(element.valid());
    auto alone = T::parse_list(element.to_string());
    check(alone.has_value() && alone->size() == 1 && (*alone)[0] == element);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    round_trip<Extension>(text);
    if (Extension::parse_list(text)) check(HeaderValue::parse_list(text).has_value());
  } else {
    round_trip<HeaderValue>(text);
  }

  // has_token: a token is found exactly when some trimmed comma-separated
  // element equals it (ASCII case-insensitively).
  Headers h;
  h.add("Connection", text);
  std::string_view rest = text;
  std::string_view first_element;
  const std::size_t comma = rest.find(',');
  first_element = rest.substr(0, comma);
  while (!first_element.empty() && (first_element.front() == ' ' || first_element.front() == '\t')) {
    first_element.remove_prefix(1);
  }
  while (!first_element.empty() && (first_element.back() == ' ' || first_element.back() == '\t')) {
    first_element.remove_suffix(1);
  }
  if (!first_element.empty()) check(h.has_token("connection", first_element));
  check(!h.has_token("CONNECTION", ""));
  return 0;
}
