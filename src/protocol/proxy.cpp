// A client's HTTP CONNECT proxy (see proxy.hpp).
#include "protocol/proxy.hpp"

#include <algorithm>
#include <system_error>

#include "http_text.hpp"
#include "parley/protocol/handshake.hpp"
#include "parley/protocol/printable.hpp"
#include "protocol/forwarded.hpp"

namespace parley::protocol {
namespace {

Error invalid(std::string message) { return Error(std::make_error_code(std::errc::invalid_argument), std::move(message)); }

bool is_host_char(char c) noexcept {
  return text::is_alpha(c) || text::is_digit(c) || c == '-' || c == '.' || c == '_';
}

/// A port of 1-5 digits, 1-65535.
std::optional<std::uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (!text::is_digit(c)) return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v == 0 || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

/// `host[:port]` or `[v6][:port]`: the host (no brackets), whether it is
/// IPv6, and the port text (empty when none). False when malformed.
bool split_host_port(std::string_view s, std::string_view& host, bool& ipv6, std::string_view& port, bool& has_port) {
  has_port = false;
  ipv6 = false;
  if (!s.empty() && s[0] == '[') {
    const std::size_t close = s.find(']');
    if (close == std::string_view::npos) return false;
    host = s.substr(1, close - 1);
    ipv6 = true;
    const std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return false;
      port = rest.substr(1);
      has_port = true;
    }
    return true;
  }
  const std::size_t colon = s.rfind(':');
  host = s.substr(0, colon);
  if (colon != std::string_view::npos) {
    port = s.substr(colon + 1);
    has_port = true;
  }
  return true;
}

/// `host:port` as a request target or Host value.
std::string authority(std::string_view host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string_view::npos;
  return (v6 ? "[" + std::string(host) + "]" : std::string(host)) + ":" + std::to_string(port);
}

/// The status line for a message: `HTTP/1.1 407 Proxy Authentication Required`.
std::string status_line(const Response& r) {
  std::string line = "HTTP/" + std::to_string(r.version_major) + "." + std::to_string(r.version_minor) + " " +
                     std::to_string(r.status);
  if (!r.reason.empty()) line += " " + printable(r.reason, 100);
  return line;
}

}  // namespace

// ---- ProxyUrl ------------------------------------------------------------------

Result<ServiceUrl> parse_service_url(std::string_view url, std::string_view scheme, bool scheme_optional,
                                     std::string_view label, std::string_view supported) {
  // Never show the credentials: name the URL without them.
  const std::string what(label);
  std::string_view rest = url;
  const std::size_t scheme_end = rest.find("://");
  if (scheme_end != std::string_view::npos) {
    const std::string_view given = rest.substr(0, scheme_end);
    if (!text::iequals(given, scheme)) {
      return invalid(what + " scheme " + printable(given, 20) + ":// is not supported: " + std::string(supported));
    }
    rest.remove_prefix(scheme_end + 3);
  } else if (!scheme_optional) {
    // (Shown without what precedes an '@': it may be a password.)
    const std::size_t at = url.rfind('@');
    return invalid(what + " " + printable(at == std::string_view::npos ? url : url.substr(at + 1), 100) + ": not " +
                   std::string(scheme) + "://...");
  }
  ServiceUrl u;
  const std::size_t slash = rest.find_first_of("/?#");
  std::string_view authority_text = rest.substr(0, slash);
  const std::size_t at = authority_text.rfind('@');
  const std::string shown = std::string(scheme) + "://" +
                            printable(at == std::string_view::npos ? authority_text : authority_text.substr(at + 1), 100);
  if (slash != std::string_view::npos && rest.substr(slash) != "/") {
    return invalid(what + " " + shown + ": a path, query or fragment is not allowed (only a trailing '/')");
  }
  if (at != std::string_view::npos) {
    const std::string_view userinfo = authority_text.substr(0, at);
    const std::size_t colon = userinfo.find(':');
    u.username = percent_decode(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) u.password = percent_decode(userinfo.substr(colon + 1));
    u.credentials = true;
    authority_text.remove_prefix(at + 1);
  }
  std::string_view host, port;
  bool has_port = false;
  if (!split_host_port(authority_text, host, u.ipv6, port, has_port)) {
    return invalid(what + " " + shown + ": unbalanced '[' around an IPv6 address");
  }
  if (host.empty()) return invalid(what + " " + shown + ": no host");
  if (u.ipv6) {
    auto a = IpAddress::parse(host);
    if (!a || host.find(':') == std::string_view::npos) {
      return invalid(what + " " + shown + ": not an IPv6 address in brackets");
    }
  } else {
    for (char c : host) {
      if (!is_host_char(c)) return invalid(what + " " + shown + ": bad character in the host name");
    }
  }
  if (has_port) {
    const auto n = parse_port(port);
    if (!n) return invalid(what + " " + shown + ": the port must be a number from 1 to 65535");
    u.port = *n;
  }
  u.host = text::lower(host);
  return u;
}

Result<ProxyUrl> ProxyUrl::parse(std::string_view url) {
  auto u = parse_service_url(url, "http", true, "proxy URL", "only http:// proxies (HTTP CONNECT)");
  if (!u) return u.error();
  ProxyUrl p;
  p.host_ = std::move(u->host);
  p.username_ = std::move(u->username);
  p.password_ = std::move(u->password);
  p.port_ = u->port.value_or(kDefaultProxyPort);
  p.ipv6_ = u->ipv6;
  p.credentials_ = u->credentials;
  return p;
}

std::string ProxyUrl::to_string() const { return "http://" + authority(host_, port_); }

// ---- CONNECT ---------------------------------------------------------------------

Result<std::string> connect_request(const ProxyUrl& proxy, std::string_view host, std::uint16_t port) {
  bool good = !host.empty();
  for (char c : host) {
    if (!is_host_char(c) && c != ':') good = false;
  }
  if (!good) return invalid("CONNECT: bad target host \"" + printable(host, 100) + "\"");
  const std::string target = authority(host, port);
  std::string r = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
  if (proxy.has_credentials()) {
    r += "Proxy-Authorization: Basic " + base64_encode(proxy.username() + ":" + proxy.password()) + "\r\n";
  }
  r += "\r\n";
  return r;
}

ConnectReply::ConnectReply(std::string proxy, std::string target, HttpLimits limits)
    : proxy_(std::move(proxy)), target_(std::move(target)), parser_(HeadParser::Kind::response, limits) {}

ConnectReply::Status ConnectReply::feed(std::string_view bytes) {
  if (status_ == Status::open) {
    rest_.append(bytes);
    return status_;
  }
  if (status_ == Status::failed) return status_;
  const HeadParser::Progress progress = parser_.feed(bytes);
  switch (progress.status) {
    case HeadParser::Status::need_more:
      return status_;
    case HeadParser::Status::error:
      error_ = Error(parser_.error().code(), "proxy " + proxy_ + " answered CONNECT " + target_ +
                                                 " with something that is not an HTTP/1.x answer: " +
                                                 parser_.error().message());
      return status_ = Status::failed;
    case HeadParser::Status::done:
      break;
  }
  const Response& r = parser_.response();
  if (r.status >= 200 && r.status < 300) {
    rest_.assign(bytes.substr(progress.consumed));
    return status_ = Status::open;
  }
  std::string message = "proxy " + proxy_ + " refused the tunnel to " + target_ + ": " + status_line(r);
  switch (r.status) {
    case 407: message += " (the proxy wants credentials: http://user:password@host:port; or they are wrong)"; break;
    case 403: message += " (the proxy does not allow this destination or port)"; break;
    case 502: case 503: case 504: message += " (the proxy could not reach the destination)"; break;
    default: break;
  }
  error_ = Error(HandshakeError::bad_status, std::move(message));
  return status_ = Status::failed;
}

ConnectReply::Status ConnectReply::closed() {
  if (status_ != Status::reading) return status_;
  error_ = Error(HandshakeError::closed, "proxy " + proxy_ + " closed the connection before answering CONNECT " + target_);
  return status_ = Status::failed;
}

// ---- the environment -------------------------------------------------------------

std::optional<EnvironmentProxy> proxy_from_environment(const Uri& target, const GetEnv& getenv) {
  auto value = [&](const char* name) -> const char* {
    const char* v = getenv ? getenv(name) : nullptr;
    return v && *v ? v : nullptr;
  };
  const char* no_proxy = getenv ? getenv("no_proxy") : nullptr;
  if (!no_proxy) no_proxy = getenv ? getenv("NO_PROXY") : nullptr;
  if (no_proxy && no_proxy_matches(no_proxy, target.host(), target.port())) return std::nullopt;
  static constexpr const char* kSecure[] = {"wss_proxy", "WSS_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                                            "ALL_PROXY"};
  static constexpr const char* kPlain[] = {"ws_proxy", "WS_PROXY", "http_proxy", "all_proxy", "ALL_PROXY"};
  if (target.secure()) {
    for (const char* name : kSecure) {
      if (const char* v = value(name)) return EnvironmentProxy{name, v};
    }
  } else {
    for (const char* name : kPlain) {
      if (const char* v = value(name)) return EnvironmentProxy{name, v};
    }
  }
  return std::nullopt;
}

namespace {

/// One no_proxy entry against the host.
bool entry_matches(std::string_view entry, std::string_view host, std::uint16_t port) {
  if (entry == "*") return true;
  // The entry's port, if any.
  std::string_view name = entry;
  if (!entry.empty() && entry[0] == '[') {
    std::string_view h, p;
    bool v6 = false, has_port = false;
    if (!split_host_port(entry, h, v6, p, has_port)) return false;
    if (has_port && parse_port(p) != port) return false;
    name = h;
  } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
    const std::size_t colon = entry.find(':');
    if (parse_port(entry.substr(colon + 1)) != port) return false;
    name = entry.substr(0, colon);
  }
  if (name.empty()) return false;
  // An IP address or network, against an IP-literal host.
  const std::size_t slash = name.find('/');
  if (auto a = IpAddress::parse(name.substr(0, slash))) {
    auto h = IpAddress::parse(host);
    if (!h) return false;
    if (slash == std::string_view::npos) return *a == *h;
    const std::string_view prefix_text = name.substr(slash + 1);
    unsigned prefix = 0;
    if (prefix_text.empty() || prefix_text.size() > 3) return false;
    for (char c : prefix_text) {
      if (!text::is_digit(c)) return false;
      prefix = prefix * 10 + static_cast<unsigned>(c - '0');
    }
    // Written IPv6 (even IPv4-mapped) counts 128 bits.
    const bool written_v6 = name.substr(0, slash).find(':') != std::string_view::npos;
    if (written_v6 && a->is_v4()) {
      if (prefix < 96) return false;
      prefix -= 96;
    }
    return IpNetwork::of(*a, prefix).contains(*h);
  }
  // A domain: the name itself or any name under it.
  if (name.front() == '.') name.remove_prefix(1);
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (name.empty() || name.size() > host.size()) return false;
  const std::string_view tail = host.substr(host.size() - name.size());
  if (!text::iequals(tail, name)) return false;
  return host.size() == name.size() || host[host.size() - name.size() - 1] == '.';
}

}  // namespace

bool no_proxy_matches(std::string_view no_proxy, std::string_view host, std::uint16_t port) {
  std::size_t i = 0;
  while (i < no_proxy.size()) {
    const std::size_t end = no_proxy.find_first_of(", \t", i);
    const std::string_view entry = no_proxy.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
    if (!entry.empty() && entry_matches(entry, host, port)) return true;
    if (end == std::string_view::npos) break;
    i = end + 1;
  }
  return false;
}

}  // namespace parley::protocol
