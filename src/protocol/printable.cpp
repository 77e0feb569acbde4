// Escaping peer bytes for log lines, error messages and response bodies.
#include "parley/protocol/printable.hpp"

#include <algorithm>

#include "parley/protocol/utf8.hpp"

namespace parley::protocol {
namespace {

// The length of the valid UTF-8 sequence that starts at `data[i]` (2 to 4),
// or 0 when none does there.
std::size_t utf8_sequence(std::string_view data, std::size_t i) noexcept {
  const auto lead = static_cast<unsigned char>(data[i]);
  const std::size_t n = lead >= 0xC2 && lead <= 0xDF   ? 2
                        : lead >= 0xE0 && lead <= 0xEF ? 3
                        : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                       : 0;
  if (n == 0 || data.size() - i < n || !is_valid_utf8(data.substr(i, n))) return 0;
  return n;
}

void append_hex(std::string& out, unsigned char c) {
  static constexpr char digits[] = "0123456789abcdef";
  out += "\\x";
  out += digits[c >> 4];
  out += digits[c & 15];
}

}  // namespace

std::string printable(std::string_view data, std::size_t max_bytes, bool utf8) {
  std::string out;
  out.reserve(std::min(data.size(), max_bytes) + 3);
  std::size_t i = 0;
  while (i < data.size()) {
    const auto c = static_cast<unsigned char>(data[i]);
    const std::size_t sequence = utf8 && c >= 0x80 ? utf8_sequence(data, i) : 0;
    if (i + (sequence != 0 ? sequence : 1) > max_bytes) break;
    if (sequence != 0) {
      const auto second = static_cast<unsigned char>(data[i + 1]);
      if (c == 0xC2 && second < 0xA0) {  // a C1 control, U+0080-U+009F
        append_hex(out, c);
        append_hex(out, second);
      } else {
        out.append(data.substr(i, sequence));
      }
      i += sequence;
      continue;
    }
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c >= 0x20 && c < 0x7F) {
          out += static_cast<char>(c);
        } else {
          append_hex(out, c);
        }
    }
    ++i;
  }
  if (i < data.size()) out += "...";
  return out;
}

}  // namespace parley::protocol
