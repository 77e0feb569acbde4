// A small, strict JSON reader for the one shape the auth example accepts —
// a flat object of string values, `{"text":"hi","csrf":"..."}` — and a
// JSON string writer. Not a general JSON library (none is among parley's
// dependencies): anything else is refused, with a reason.
//
// Strict: RFC 8259 syntax only (no comments, no trailing commas, no single
// quotes), string values only, no duplicate names, at most `max_members`
// members, the whole input consumed; escapes decoded (\uXXXX as UTF-8,
// surrogates only in pairs). Bounded: one pass over the input, no
// recursion; the caller bounds the input's size (max_message_size).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace flat_json {

using Object = std::map<std::string, std::string, std::less<>>;

struct Parsed {
  std::optional<Object> object;  // nullopt: refused (why says why)
  std::string why;
};

namespace detail {

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  void skip_space() {
    while (pos_ < in_.size() && (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\n' || in_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool eat(char c) {
    skip_space();
    if (pos_ < in_.size() && in_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool at_end() {
    skip_space();
    return pos_ == in_.size();
  }
  bool peek(char c) {
    skip_space();
    return pos_ < in_.size() && in_[pos_] == c;
  }

  // A string at the current position (after spaces), decoded into `out`.
  bool string(std::string& out, std::string& why) {
    if (!eat('"')) return fail(why, "expected a string");
    out.clear();
    while (pos_ < in_.size()) {
      const auto c = static_cast<unsigned char>(in_[pos_++]);
      if (c == '"') return true;
      if (c < 0x20) return fail(why, "a control character in a string");
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (pos_ >= in_.size()) break;
      const char e = in_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) return fail(why, "a bad \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // a high surrogate: its low one must follow
            std::uint32_t low = 0;
            if (pos_ + 2 > in_.size() || in_[pos_] != '\\' || in_[pos_ + 1] != 'u') {
              return fail(why, "a lone surrogate");
            }
            pos_ += 2;
            if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) return fail(why, "a lone surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return fail(why, "a lone surrogate");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          return fail(why, "a bad escape");
      }
    }
    return fail(why, "an unterminated string");
  }

  static bool fail(std::string& why, const char* reason) {
    why = reason;
    return false;
  }

 private:
  bool hex4(std::uint32_t& cp) {
    if (pos_ + 4 > in_.size()) return false;
    for (int i = 0; i < 4; ++i) {
      const char h = in_[pos_++];
      const int d = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
      if (d < 0) return false;
      cp = cp * 16 + static_cast<std::uint32_t>(d);
    }
    return true;
  }
  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace detail

/// Parses `in` as a flat JSON object whose values are all strings.
inline Parsed parse_object(std::string_view in, std::size_t max_members = 8) {
  Parsed p;
  detail::Reader r(in);
  Object obj;
  if (!r.eat('{')) {
    p.why = "not a JSON object";
    return p;
  }
  if (!r.eat('}')) {
    for (;;) {
      std::string name, value;
      if (!r.string(name, p.why)) return p;
      if (!r.eat(':')) {
        p.why = "expected ':'";
        return p;
      }
      if (!r.peek('"')) {
        p.why = "only string values are accepted";
        return p;
      }
      if (!r.string(value, p.why)) return p;
      if (obj.size() == max_members) {
        p.why = "too many members";
        return p;
      }
      if (!obj.emplace(std::move(name), std::move(value)).second) {
        p.why = "a duplicate name";
        return p;
      }
      if (r.eat('}')) break;
      if (!r.eat(',')) {
        p.why = "expected ',' or '}'";
        return p;
      }
    }
  }
  if (!r.at_end()) {
    p.why = "text after the object";
    return p;
  }
  p.object = std::move(obj);
  return p;
}

/// `s` as a JSON string, quotes included. `s` must be UTF-8 (a text
/// message is, parley checks it); `"`, `\` and control characters are
/// escaped, and so are `<`, `>` and `&` (harmless in a page either way).
inline std::string quote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  out += '"';
  return out;
}

}  // namespace flat_json
