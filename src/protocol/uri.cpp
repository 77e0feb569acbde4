// WebSocket URIs (RFC 6455 §3, RFC 3986) and query strings.
#include "parley/protocol/uri.hpp"

#include "http_text.hpp"
#include "parley/protocol/printable.hpp"

namespace parley::protocol {
namespace {

using text::hex_value;
using text::is_digit;

Error bad_uri(std::string msg) { return Error(HandshakeError::bad_uri, std::move(msg)); }

// unreserved / sub-delims / ":" / "@" (RFC 3986 pchar without pct-encoded).
bool is_pchar(char c) noexcept {
  if (text::is_alpha(c) || is_digit(c)) return true;
  switch (c) {
    case '-': case '.': case '_': case '~':                        // unreserved
    case '!': case '$': case '&': case '\'': case '(': case ')':   // sub-delims
    case '*': case '+': case ',': case ';': case '=':
    case ':': case '@': return true;
    default: return false;
  }
}

// Path or query characters; `extra` are the other characters allowed
// ("/" in a path, "/?" in a query). Every `%` must start a `%XX` escape.
bool valid_component(std::string_view s, std::string_view extra) noexcept {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0) return false;
      i += 2;
    } else if (!is_pchar(c) && extra.find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// A dotted quad of decimal octets 0-255 without leading zeros.
bool valid_ipv4(std::string_view s) noexcept {
  int parts = 0;
  while (true) {
    std::size_t n = 0;
    int value = 0;
    while (n < s.size() && is_digit(s[n]) && n < 4) value = value * 10 + (s[n++] - '0');
    if (n == 0 || n > 3 || value > 255 || (n > 1 && s[0] == '0')) return false;
    ++parts;
    s.remove_prefix(n);
    if (s.empty()) return parts == 4;
    if (s[0] != '.' || parts == 4) return false;
    s.remove_prefix(1);
  }
}

// RFC 4291 §2.2 text forms, with an optional trailing IPv4 part; no zone.
bool valid_ipv6(std::string_view s) noexcept {
  const std::size_t n = s.size();
  std::size_t i = 0;
  int groups = 0;
  bool compressed = false;
  if (s.substr(0, 2) == "::") {
    compressed = true;
    i = 2;
    if (i == n) return true;
  } else if (n == 0 || s[0] == ':') {
    return false;
  }
  while (i < n) {
    std::size_t j = i;
    while (j < n && hex_value(s[j]) >= 0) ++j;
    if (j < n && s[j] == '.') {  // an embedded IPv4 address ends the literal
      if (!valid_ipv4(s.substr(i))) return false;
      groups += 2;
      break;
    }
    if (j == i || j - i > 4) return false;
    ++groups;
    i = j;
    if (i == n) break;
    if (s[i] != ':') return false;
    if (++i == n) return false;  // a single trailing colon
    if (s[i] == ':') {
      if (compressed) return false;
      compressed = true;
      if (++i == n) break;
    }
  }
  return compressed ? groups <= 7 : groups == 8;
}

// A host name: labels of letters, digits, '-' and '_' separated by single
// dots, an optional trailing dot (a fully qualified name).
bool valid_reg_name(std::string_view s) noexcept {
  if (s.empty() || s[0] == '.') return false;
  char prev = 0;
  for (char c : s) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (!(text::is_alpha(c) || is_digit(c) || c == '-' || c == '_')) {
      return false;
    }
    prev = c;
  }
  return true;
}

}  // namespace

std::string percent_decode(std::string_view s, bool plus_as_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += (plus_as_space && c == '+') ? ' ' : c;
  }
  return out;
}

std::vector<QueryParam> parse_query(std::string_view query) {
  std::vector<QueryParam> out;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    if (!piece.empty()) {
      const std::size_t eq = piece.find('=');
      if (eq == std::string_view::npos) {
        out.push_back(QueryParam{percent_decode(piece, true), std::string()});
      } else {
        out.push_back(QueryParam{percent_decode(piece.substr(0, eq), true), percent_decode(piece.substr(eq + 1), true)});
      }
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

Result<Uri> Uri::parse(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c <= 0x20 || c >= 0x7f) {
      return bad_uri("space, control or non-ASCII character at offset " + std::to_string(i) + " of the URI");
    }
  }
  Uri uri;
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) return bad_uri("URI has no scheme");
  uri.scheme_ = text::lower(text.substr(0, colon));
  if (uri.scheme_ != "ws" && uri.scheme_ != "wss" && uri.scheme_ != "http" && uri.scheme_ != "https") {
    return bad_uri("unsupported URI scheme '" + printable(text.substr(0, colon), 32) + "' (want ws, wss, http or https)");
  }
  std::string_view rest = text.substr(colon + 1);
  if (rest.substr(0, 2) != "//") return bad_uri("URI lacks '//' after the scheme");
  rest.remove_prefix(2);
  if (rest.find('#') != std::string_view::npos) return bad_uri("WebSocket URIs may not have a fragment (RFC 6455 section 3)");

  const std::size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  rest = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) return bad_uri("userinfo (user:password@) is not supported in URIs");

  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority[0] == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad_uri("unterminated IPv6 literal");
    host = authority.substr(1, close - 1);
    if (!valid_ipv6(host)) return bad_uri("invalid IPv6 literal '" + printable(host) + "'");
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad_uri("unexpected characters after the IPv6 literal");
      port = after.substr(1);
      has_port = true;
    }
    uri.ipv6_ = true;
  } else {
    const std::size_t pc = authority.find(':');
    host = authority.substr(0, pc);
    if (pc != std::string_view::npos) {
      port = authority.substr(pc + 1);
      has_port = true;
    }
    if (host.empty()) return bad_uri("URI has an empty host");
    bool numeric = true;
    for (char c : host) numeric = numeric && (is_digit(c) || c == '.');
    if (numeric ? !valid_ipv4(host) : !valid_reg_name(host)) {
      return bad_uri("invalid host '" + printable(host) + "'");
    }
  }
  uri.host_ = text::lower(host);

  if (has_port) {
    if (port.empty() || port.size() > 5) return bad_uri("invalid port '" + printable(port, 16) + "'");
    std::uint32_t value = 0;
    for (char c : port) {
      if (!is_digit(c)) return bad_uri("invalid port '" + printable(port, 16) + "'");
      value = value * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (value == 0 || value > 65535) return bad_uri("port " + std::string(port) + " is out of range 1-65535");
    uri.port_ = static_cast<std::uint16_t>(value);
    uri.explicit_port_ = true;
  } else {
    uri.port_ = uri.secure() ? 443 : 80;
  }

  const std::size_t q = rest.find('?');
  const std::string_view path = rest.substr(0, q);
  if (!valid_component(path, "/")) return bad_uri("invalid character or escape in the URI path");
  if (!path.empty()) uri.path_ = std::string(path);
  if (q != std::string_view::npos) {
    const std::string_view query = rest.substr(q + 1);
    if (!valid_component(query, "/?")) return bad_uri("invalid character or escape in the URI query");
    uri.query_ = std::string(query);
    uri.has_query_ = true;
  }
  return uri;
}

std::string Uri::resource() const {
  std::string out = path_;
  if (has_query_) out.append("?").append(query_);
  return out;
}

std::string Uri::host_header() const {
  std::string out;
  if (ipv6_) {
    out.append("[").append(host_).append("]");
  } else {
    out = host_;
  }
  const bool default_port = port_ == (secure() ? 443 : 80);
  if (!default_port) out.append(":").append(std::to_string(port_));
  return out;
}

std::string Uri::to_string() const { return scheme_ + "://" + host_header() + resource(); }

}  // namespace parley::protocol
