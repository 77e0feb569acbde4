// Internal: the character classes and small text helpers of HTTP/1.1
// (RFC 7230 §3.2.6, RFC 3986) shared by the header, HTTP, URI and handshake
// code. Not installed; not part of the public API.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace parley::protocol::text {

/// tchar (RFC 7230 §3.2.6): the characters of a token.
constexpr bool is_tchar(unsigned char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~': return true;
    default: return false;
  }
}

/// A non-empty run of tchar.
constexpr bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

/// Optional whitespace: SP or HTAB.
constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

/// A character allowed inside a field value: HTAB, SP, VCHAR, obs-text
/// (everything but the controls 0x00-0x1F except HTAB, and DEL).
constexpr bool is_field_char(unsigned char c) noexcept { return c == '\t' || (c >= 0x20 && c != 0x7f); }

/// A field value: only field characters (no CR, LF, NUL or other controls).
constexpr bool is_field_value(std::string_view s) noexcept {
  for (char c : s) {
    if (!is_field_char(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

constexpr char to_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

/// ASCII case-insensitive equality.
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}

/// Appends `s` to `out` as a JSON string (RFC 8259), quotes included:
/// `"` and `\` escaped, control characters as `\u00XX`; when `s` is not
/// valid UTF-8, every byte of 0x80 or above becomes U+FFFD, so the result
/// is always valid JSON.
inline void append_json_string(std::string& out, std::string_view s, bool valid_utf8) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else if (c >= 0x80 && !valid_utf8) {
      out += "\\ufffd";
    } else {
      out += ch;
    }
  }
  out += '"';
}

/// `s` without leading and trailing SP/HTAB.
constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/// The value of a hex digit, or -1.
constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// A lower-case copy.
inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = to_lower(c);
  return out;
}

/// Calls `f(element)` for each element of a comma-separated list (RFC 7230
/// §7), OWS-trimmed, skipping empty elements, until `f` returns true; returns
/// whether it did. Commas inside quoted strings are not special-cased: use it
/// for lists of tokens.
template <class F>
constexpr bool any_list_element(std::string_view list, F&& f) {
  while (true) {
    const std::size_t comma = list.find(',');
    const std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty() && f(element)) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace parley::protocol::text
