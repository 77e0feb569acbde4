// Trusted reverse proxies: IP addresses and networks, and the client address
// from Forwarded / X-Forwarded-For (see forwarded.hpp for the rules).
#include "protocol/forwarded.hpp"

#include <algorithm>
#include <system_error>

#include "http_text.hpp"
#include "parley/protocol/printable.hpp"

namespace parley::protocol {
namespace {

Error invalid(std::string message) { return Error(std::make_error_code(std::errc::invalid_argument), std::move(message)); }

std::string quoted(std::string_view text) { return "\"" + printable(text, 100) + "\""; }

/// A decimal number of 1 to `max_digits` digits without a leading zero
/// (but "0" itself), at most `max`.
std::optional<unsigned> decimal(std::string_view s, std::size_t max_digits, unsigned max) {
  if (s.empty() || s.size() > max_digits || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (!text::is_digit(c)) return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

std::optional<std::array<std::uint8_t, 4>> parse_v4(std::string_view s) {
  std::array<std::uint8_t, 4> out{};
  for (std::size_t i = 0; i < 4; ++i) {
    const std::size_t dot = s.find('.');
    if ((i < 3) == (dot == std::string_view::npos)) return std::nullopt;
    const auto octet = decimal(s.substr(0, dot), 3, 255);
    if (!octet) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(*octet);
    if (dot != std::string_view::npos) s.remove_prefix(dot + 1);
  }
  return out;
}

std::optional<std::array<std::uint8_t, 16>> parse_v6(std::string_view s) {
  // "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" is the longest form.
  if (s.size() < 2 || s.size() > 45) return std::nullopt;
  std::array<std::uint16_t, 8> groups{};
  std::size_t count = 0;                       // groups written
  std::size_t gap = std::string_view::npos;    // where "::" stands, in groups
  std::size_t i = 0;
  if (s[0] == ':') {
    if (s[1] != ':') return std::nullopt;
    gap = 0;
    i = 2;
  }
  while (i < s.size()) {
    const std::size_t colon = s.find(':', i);
    const std::string_view piece = s.substr(i, colon == std::string_view::npos ? std::string_view::npos : colon - i);
    if (piece.empty()) return std::nullopt;  // ":::" or a ':' at the end
    if (piece.find('.') != std::string_view::npos) {
      // An IPv4 dotted quad: the last 32 bits, nothing after it.
      if (colon != std::string_view::npos || count > 6) return std::nullopt;
      const auto v4 = parse_v4(piece);
      if (!v4) return std::nullopt;
      groups[count++] = static_cast<std::uint16_t>((*v4)[0] << 8 | (*v4)[1]);
      groups[count++] = static_cast<std::uint16_t>((*v4)[2] << 8 | (*v4)[3]);
      break;
    }
    if (piece.size() > 4 || count == 8) return std::nullopt;
    unsigned v = 0;
    for (char c : piece) {
      const int h = text::hex_value(c);
      if (h < 0) return std::nullopt;
      v = v << 4 | static_cast<unsigned>(h);
    }
    groups[count++] = static_cast<std::uint16_t>(v);
    if (colon == std::string_view::npos) break;
    if (colon + 1 < s.size() && s[colon + 1] == ':') {
      if (gap != std::string_view::npos) return std::nullopt;  // a second "::"
      gap = count;
      i = colon + 2;
    } else {
      i = colon + 1;
      if (i == s.size()) return std::nullopt;  // a single ':' at the end
    }
  }
  if (gap == std::string_view::npos ? count != 8 : count > 7) return std::nullopt;
  std::array<std::uint8_t, 16> out{};
  // Groups before the gap at the front, the rest at the back.
  const std::size_t head = gap == std::string_view::npos ? count : gap;
  for (std::size_t g = 0; g < count; ++g) {
    const std::size_t at = g < head ? g : 8 - (count - g);
    out[2 * at] = static_cast<std::uint8_t>(groups[g] >> 8);
    out[2 * at + 1] = static_cast<std::uint8_t>(groups[g] & 0xff);
  }
  return out;
}

bool is_mapped(const std::array<std::uint8_t, 16>& b) noexcept {
  for (std::size_t i = 0; i < 10; ++i) {
    if (b[i] != 0) return false;
  }
  return b[10] == 0xff && b[11] == 0xff;
}

/// `bytes` with every bit from `prefix` on cleared (`size` bytes used).
std::array<std::uint8_t, 16> masked(std::array<std::uint8_t, 16> bytes, unsigned prefix, std::size_t size) noexcept {
  for (std::size_t i = 0; i < size; ++i) {
    const unsigned bit = static_cast<unsigned>(i) * 8;
    if (bit >= prefix) {
      bytes[i] = 0;
    } else if (prefix - bit < 8) {
      bytes[i] = static_cast<std::uint8_t>(bytes[i] & (0xff << (8 - (prefix - bit))));
    }
  }
  return bytes;
}

}  // namespace

// ---- IpAddress -------------------------------------------------------------------

IpAddress IpAddress::v4(const std::array<std::uint8_t, 4>& bytes) noexcept {
  IpAddress a;
  std::copy(bytes.begin(), bytes.end(), a.bytes_.begin());
  a.v4_ = true;
  return a;
}

IpAddress IpAddress::v6(const std::array<std::uint8_t, 16>& bytes) noexcept {
  if (is_mapped(bytes)) return v4({bytes[12], bytes[13], bytes[14], bytes[15]});
  IpAddress a;
  a.bytes_ = bytes;
  a.v4_ = false;
  return a;
}

Result<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.find(':') == std::string_view::npos) {
    if (auto b = parse_v4(text)) return v4(*b);
  } else if (auto b = parse_v6(text)) {
    return v6(*b);
  }
  return invalid("not an IP address: " + quoted(text) +
                 " (IPv4 as four decimal octets without leading zeros, or IPv6 without brackets or zone)");
}

std::string IpAddress::to_string() const {
  std::string out;
  if (v4_) {
    for (std::size_t i = 0; i < 4; ++i) {
      if (i) out += '.';
      out += std::to_string(bytes_[i]);
    }
    return out;
  }
  std::array<unsigned, 8> g{};
  for (std::size_t i = 0; i < 8; ++i) g[i] = static_cast<unsigned>(bytes_[2 * i] << 8 | bytes_[2 * i + 1]);
  // RFC 5952 §4.2: the longest run of two or more zero groups (the first
  // of equal runs) becomes "::".
  std::size_t best = 8, best_len = 1;
  for (std::size_t i = 0; i < 8;) {
    if (g[i] != 0) { ++i; continue; }
    std::size_t j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len) { best = i; best_len = j - i; }
    i = j;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (i && i != best + best_len) out += ':';
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const unsigned nibble = (g[i] >> shift) & 15;
      if (nibble || started || shift == 0) { out += kHex[nibble]; started = true; }
    }
  }
  return out;
}

// ---- IpNetwork -------------------------------------------------------------------

Result<IpNetwork> IpNetwork::parse(std::string_view text) {
  const std::size_t slash = text.find('/');
  const std::string_view address_text = text.substr(0, slash);
  Result<IpAddress> address = IpAddress::parse(address_text);
  if (!address) {
    return invalid("not an IP address or network: " + quoted(text) +
                   " (e.g. 10.0.0.0/8, 192.168.1.7, ::1, fd00::/8)");
  }
  const bool written_v6 = address_text.find(':') != std::string_view::npos;
  const unsigned width = written_v6 ? 128 : 32;
  unsigned prefix = width;
  if (slash != std::string_view::npos) {
    const auto p = decimal(text.substr(slash + 1), 3, width);
    if (!p) {
      return invalid("bad prefix length in " + quoted(text) + ": a decimal number from 0 to " +
                     std::to_string(width) + " without leading zeros");
    }
    prefix = *p;
  }
  IpNetwork n;
  n.address_ = *address;
  if (written_v6 && address->is_v4()) {
    // ::ffff:a.b.c.d/P is the IPv4 network a.b.c.d/(P-96); below 96 it
    // would cover the ::ffff prefix itself, whose bits are not zero.
    if (prefix < 96) {
      return invalid(quoted(text) + " has bits set past its prefix length (an IPv4-mapped network needs /96 or more)");
    }
    prefix -= 96;
  }
  n.prefix_ = prefix;
  const std::size_t size = n.address_.is_v4() ? 4 : 16;
  const std::array<std::uint8_t, 16> network = masked(n.address_.bytes(), prefix, size);
  if (network != n.address_.bytes()) {
    IpNetwork meant = n;
    meant.address_ = n.address_.is_v4() ? IpAddress::v4({network[0], network[1], network[2], network[3]})
                                         : IpAddress::v6(network);
    return invalid(quoted(text) + " has bits set past its prefix length: did you mean " + meant.to_string() + "?");
  }
  return n;
}

IpNetwork IpNetwork::of(const IpAddress& address, unsigned prefix) noexcept {
  IpNetwork n;
  const std::size_t size = address.is_v4() ? 4 : 16;
  n.prefix_ = std::min(prefix, static_cast<unsigned>(size * 8));
  const std::array<std::uint8_t, 16> b = masked(address.bytes(), n.prefix_, size);
  n.address_ = address.is_v4() ? IpAddress::v4({b[0], b[1], b[2], b[3]}) : IpAddress::v6(b);
  return n;
}

bool IpNetwork::contains(const IpAddress& address) const noexcept {
  if (address.is_v4() != address_.is_v4()) return false;
  const std::size_t size = address_.is_v4() ? 4 : 16;
  return masked(address.bytes(), prefix_, size) == address_.bytes();
}

std::string IpNetwork::to_string() const { return address_.to_string() + "/" + std::to_string(prefix_); }

// ---- TrustedProxies --------------------------------------------------------------

Result<TrustedProxies> TrustedProxies::parse(const std::vector<std::string>& entries) {
  TrustedProxies t;
  t.networks_.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    Result<IpNetwork> n = IpNetwork::parse(entries[i]);
    if (!n) return invalid("trusted proxy " + std::to_string(i + 1) + " of " + std::to_string(entries.size()) + ": " +
                           n.error().message());
    t.networks_.push_back(*n);
  }
  return t;
}

bool TrustedProxies::contains(const IpAddress& address) const noexcept {
  return std::any_of(networks_.begin(), networks_.end(), [&](const IpNetwork& n) { return n.contains(address); });
}

// ---- the headers -----------------------------------------------------------------

namespace {

/// One hop's node (RFC 7239 §6), as a `for=` value or an X-Forwarded-For
/// element.
struct Node {
  enum class Kind : std::uint8_t { address, hidden, malformed } kind = Kind::malformed;
  IpAddress address;
  std::optional<std::uint16_t> port;
};

bool is_obfuscated(std::string_view s) noexcept {
  // obfnode / obfport = "_" 1*(ALPHA / DIGIT / "." / "_" / "-")
  if (s.size() < 2 || s[0] != '_') return false;
  return std::all_of(s.begin() + 1, s.end(), [](char c) {
    return text::is_alpha(c) || text::is_digit(c) || c == '.' || c == '_' || c == '-';
  });
}

/// `port` after a node's ':'; false when malformed. An obfuscated port is
/// valid but gives none.
bool parse_port(std::string_view s, std::optional<std::uint16_t>& port) {
  if (is_obfuscated(s)) return true;
  if (s.empty() || s.size() > 5) return false;
  unsigned v = 0;
  for (char c : s) {
    if (!text::is_digit(c)) return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return true;
}

Node parse_node(std::string_view s) {
  Node n;
  if (text::iequals(s, "unknown") || is_obfuscated(s)) {
    n.kind = Node::Kind::hidden;
    return n;
  }
  std::string_view host = s, port;
  bool has_port = false;
  if (!s.empty() && s[0] == '[') {
    const std::size_t close = s.find(']');
    if (close == std::string_view::npos) return n;
    host = s.substr(1, close - 1);
    if (host.find(':') == std::string_view::npos) return n;  // brackets are for IPv6 only
    const std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return n;
      port = rest.substr(1);
      has_port = true;
    }
  } else if (std::count(s.begin(), s.end(), ':') == 1) {
    // IPv4 with a port (an IPv6 address has two colons or more).
    const std::size_t colon = s.find(':');
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    has_port = true;
  }
  Result<IpAddress> address = IpAddress::parse(host);
  if (!address) return n;
  if (has_port && !parse_port(port, n.port)) return n;
  n.address = *address;
  n.kind = Node::Kind::address;
  return n;
}

std::optional<bool> parse_proto(std::string_view s) {
  if (text::iequals(s, "https") || text::iequals(s, "wss")) return true;
  if (text::iequals(s, "http") || text::iequals(s, "ws")) return false;
  return std::nullopt;
}

void add_note(std::string& note, const std::string& what) {
  if (!note.empty()) note += "; ";
  note += what;
}

/// Calls `f(element)` for each element of the list made of `fields` joined
/// by commas, right to left, until `f` returns false. With `quotes`,
/// commas inside quoted strings do not split: a '"' preceded by an odd run
/// of backslashes is escaped (the same split as reading left to right, for
/// a well-formed value; and what the client wrote on the left can never
/// change how the right-most elements split).
template <class F>
void each_from_right(const std::vector<std::string_view>& fields, bool quotes, F&& f) {
  for (auto field = fields.rbegin(); field != fields.rend(); ++field) {
    const std::string_view s = *field;
    std::size_t end = s.size();
    bool in_quote = false;
    for (std::size_t j = s.size(); j-- > 0;) {
      if (quotes && s[j] == '"') {
        std::size_t backslashes = 0;
        while (backslashes < j && s[j - 1 - backslashes] == '\\') ++backslashes;
        if (backslashes % 2 == 0) in_quote = !in_quote;
      } else if (s[j] == ',' && !in_quote) {
        if (!f(s.substr(j + 1, end - j - 1))) return;
        end = j;
      }
    }
    if (!f(s.substr(0, end))) return;
  }
}

/// One Forwarded element's `for` and `proto` (RFC 7239 §4); false when
/// malformed.
struct Element {
  std::optional<std::string> for_, proto;
};

bool parse_element(std::string_view e, Element& out) {
  bool seen_by = false, seen_host = false;
  std::size_t i = 0;
  const std::size_t n = e.size();
  while (true) {
    while (i < n && text::is_ows(e[i])) ++i;
    if (i == n) return true;
    if (e[i] == ';') { ++i; continue; }
    const std::size_t name_start = i;
    while (i < n && text::is_tchar(static_cast<unsigned char>(e[i]))) ++i;
    const std::string_view name = e.substr(name_start, i - name_start);
    if (name.empty() || i == n || e[i] != '=') return false;
    ++i;
    std::string value;
    if (i < n && e[i] == '"') {
      ++i;
      bool closed = false;
      while (i < n) {
        const char c = e[i++];
        if (c == '"') { closed = true; break; }
        if (c == '\\') {
          if (i == n) return false;
          value += e[i++];
        } else {
          value += c;
        }
      }
      if (!closed) return false;
    } else {
      // A token; leniently also ':' '[' ']' (unquoted IPv6 and ports).
      const std::size_t start = i;
      while (i < n && (text::is_tchar(static_cast<unsigned char>(e[i])) || e[i] == ':' || e[i] == '[' || e[i] == ']')) ++i;
      if (i == start) return false;
      value.assign(e.substr(start, i - start));
    }
    while (i < n && text::is_ows(e[i])) ++i;
    if (i < n && e[i] != ';') return false;
    // RFC 7239 §4: each parameter at most once per element.
    if (text::iequals(name, "for")) {
      if (out.for_) return false;
      out.for_ = std::move(value);
    } else if (text::iequals(name, "proto")) {
      if (out.proto) return false;
      out.proto = std::move(value);
    } else if (text::iequals(name, "by")) {
      if (seen_by) return false;
      seen_by = true;
    } else if (text::iequals(name, "host")) {
      if (seen_host) return false;
      seen_host = true;
    }
  }
}

std::string hops_note(std::string_view header) {
  return std::string(header) + ": more than " + std::to_string(kMaxForwardedHops) +
         " hops, the walk stopped at the limit";
}

void walk_forwarded(const TrustedProxies& trusted, const Headers& headers, ClientOrigin& o) {
  std::size_t hops = 0;
  each_from_right(headers.get_all("Forwarded"), true, [&](std::string_view raw) {
    const std::string_view element = text::trim_ows(raw);
    if (element.empty()) return true;
    if (++hops > kMaxForwardedHops) {
      add_note(o.note, hops_note("Forwarded"));
      return false;
    }
    Element e;
    if (!parse_element(element, e)) {
      add_note(o.note, "malformed Forwarded element " + quoted(element) + " ignored, and the hops left of it");
      return false;
    }
    if (!e.for_) {
      add_note(o.note, "Forwarded element " + quoted(element) + " has no for=: the client is hidden behind it");
      return false;
    }
    const Node node = parse_node(*e.for_);
    if (node.kind == Node::Kind::malformed) {
      add_note(o.note, "malformed Forwarded for=" + quoted(*e.for_) + " ignored, and the hops left of it");
      return false;
    }
    if (node.kind == Node::Kind::hidden) {
      add_note(o.note, "Forwarded for=" + quoted(*e.for_) + ": the client is hidden behind it");
      return false;
    }
    o.address = node.address;
    o.port = node.port;
    o.source = OriginSource::forwarded;
    if (e.proto) {
      if (auto https = parse_proto(*e.proto)) {
        o.https = *https;
      } else {
        add_note(o.note, "Forwarded proto=" + quoted(*e.proto) + " ignored (not http, https, ws or wss)");
      }
    }
    return trusted.contains(node.address);
  });
}

void walk_x_forwarded(const TrustedProxies& trusted, const Headers& headers, ClientOrigin& o) {
  const std::vector<std::string_view> xff = headers.get_all("X-Forwarded-For");
  std::size_t xff_count = 0;
  each_from_right(xff, false, [&](std::string_view e) {
    if (!text::trim_ows(e).empty()) ++xff_count;
    return true;
  });
  // X-Forwarded-Proto: its right-most kMaxForwardedHops elements, right first.
  std::vector<std::string_view> protos;
  std::size_t proto_count = 0;
  each_from_right(headers.get_all("X-Forwarded-Proto"), false, [&](std::string_view raw) {
    const std::string_view e = text::trim_ows(raw);
    if (e.empty()) return true;
    if (protos.size() < kMaxForwardedHops) protos.push_back(e);
    ++proto_count;
    return true;
  });
  const bool aligned = proto_count == xff_count && xff_count > 0;
  auto apply_proto = [&](std::string_view p) {
    if (auto https = parse_proto(p)) {
      o.https = *https;
    } else {
      add_note(o.note, "X-Forwarded-Proto " + quoted(p) + " ignored (not http, https, ws or wss)");
    }
  };
  if (!aligned && !protos.empty()) apply_proto(protos.front());

  std::size_t hops = 0;
  each_from_right(xff, false, [&](std::string_view raw) {
    const std::string_view element = text::trim_ows(raw);
    if (element.empty()) return true;
    if (hops >= kMaxForwardedHops) {
      add_note(o.note, hops_note("X-Forwarded-For"));
      return false;
    }
    const std::size_t index = hops++;
    const Node node = parse_node(element);
    if (node.kind == Node::Kind::malformed) {
      add_note(o.note, "malformed X-Forwarded-For element " + quoted(element) + " ignored, and the hops left of it");
      return false;
    }
    if (node.kind == Node::Kind::hidden) {
      add_note(o.note, "X-Forwarded-For element " + quoted(element) + ": the client is hidden behind it");
      return false;
    }
    o.address = node.address;
    o.port = node.port;
    o.source = OriginSource::x_forwarded_for;
    if (aligned) apply_proto(protos[index]);
    return trusted.contains(node.address);
  });
}

}  // namespace

ClientOrigin client_origin(const TrustedProxies& trusted, const IpAddress& peer, bool peer_https,
                           const Headers& headers, ForwardedHeaders which) {
  ClientOrigin o;
  o.address = peer;
  o.https = peer_https;
  if (!trusted.contains(peer)) return o;
  const bool forwarded =
      which == ForwardedHeaders::forwarded || (which == ForwardedHeaders::automatic && headers.has("Forwarded"));
  if (forwarded) {
    walk_forwarded(trusted, headers, o);
  } else {
    walk_x_forwarded(trusted, headers, o);
  }
  return o;
}

}  // namespace parley::protocol
