// Internal: a client's HTTP CONNECT proxy, without I/O (RFC 9110 §9.3.6).
// The proxy's URL, the CONNECT request, the proxy's answer read
// incrementally, and which proxy the environment names for a ws:// or
// wss:// URL (the variables curl and Python read). Not installed; the
// Client wires it to ClientOptions::proxy. The runtime connects to the
// proxy, sends connect_request(), feeds the answer to ConnectReply and,
// once it is `open`, runs TLS (for wss://, verified against the target's
// name) and the WebSocket handshake through the tunnel, starting with
// ConnectReply::rest().
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "parley/error.hpp"
#include "parley/export.hpp"
#include "parley/protocol/http.hpp"
#include "parley/protocol/uri.hpp"

namespace parley::protocol {

/// The parts of a `scheme://[user[:password]@]host[:port][/]` URL: a
/// proxy's, Redis's.
struct ServiceUrl {
  std::string host;  ///< lower case; an IPv6 literal without brackets
  std::string username;
  std::string password;
  std::optional<std::uint16_t> port;  ///< none when the URL names none
  bool ipv6 = false;
  bool credentials = false;  ///< the URL had `user[:password]@`
};

/// Parses such a URL: the scheme `scheme` in any case (or none, when
/// `scheme_optional`); user and password percent-decoded (`%40` for '@',
/// `%3A` for ':'); a host name (letters, digits, '-', '.', '_'), an IPv4
/// address or an IPv6 literal in brackets; a port 1-65535; an optional
/// trailing '/'. Refused, with `std::errc::invalid_argument` and a message
/// that starts with `label` ("proxy URL") and never shows the password:
/// another scheme (the message then ends with `supported`), an empty host,
/// a bad port, a path, query or fragment.
Result<ServiceUrl> parse_service_url(std::string_view url, std::string_view scheme, bool scheme_optional,
                                     std::string_view label, std::string_view supported);

/// The port of a proxy URL that names none: 1080, as curl assumes for
/// every proxy but https:// ones (curl(1), --proxy; CURLOPT_PROXYPORT).
inline constexpr std::uint16_t kDefaultProxyPort = 1080;

/// An HTTP proxy: `http://[user:password@]host[:port][/]`.
class PARLEY_EXPORT ProxyUrl {
 public:
  /// Parses a proxy URL. Accepted: the scheme `http` in any case, or none
  /// (`proxy.example:3128` is http://, as curl and the environment
  /// variables allow); user and password percent-decoded (`%40` for '@',
  /// `%3A` for ':'); a host name (letters, digits, '-', '.', '_'), an IPv4
  /// address or an IPv6 literal in brackets; a port 1-65535, else
  /// kDefaultProxyPort; an optional trailing '/'. Refused, with
  /// `std::errc::invalid_argument` and a message that never shows the
  /// password: other schemes (https://, socks5://: not supported), an
  /// empty host, a bad port, a path, query or fragment.
  static Result<ProxyUrl> parse(std::string_view url);

  /// The host, lower case; an IPv6 literal without brackets.
  const std::string& host() const noexcept { return host_; }
  bool is_ipv6() const noexcept { return ipv6_; }
  std::uint16_t port() const noexcept { return port_; }
  /// True when the URL had `user[:password]@`: CONNECT then carries
  /// `Proxy-Authorization: Basic`.
  bool has_credentials() const noexcept { return credentials_; }
  const std::string& username() const noexcept { return username_; }
  const std::string& password() const noexcept { return password_; }
  /// `http://host:port` (brackets for IPv6), without the credentials: the
  /// proxy's name in messages and logs.
  std::string to_string() const;

 private:
  std::string host_;
  std::string username_;
  std::string password_;
  std::uint16_t port_ = kDefaultProxyPort;
  bool ipv6_ = false;
  bool credentials_ = false;
};

/// The CONNECT request for a tunnel to `host`:`port` (`host` as
/// Uri::host() gives it: an IPv6 literal without brackets, which are added):
/// `CONNECT host:port HTTP/1.1`, `Host: host:port`, and
/// `Proxy-Authorization: Basic base64(user:password)` when the proxy has
/// credentials. Error (`std::errc::invalid_argument`): an empty host or one
/// with characters that cannot be in a host (spaces, controls, '/', '@').
PARLEY_EXPORT Result<std::string> connect_request(const ProxyUrl& proxy, std::string_view host, std::uint16_t port);

/// The proxy's answer to CONNECT, read incrementally.
class PARLEY_EXPORT ConnectReply {
 public:
  enum class Status : std::uint8_t {
    reading,  ///< the answer's head is incomplete: feed more bytes
    open,     ///< a 2xx: the tunnel is up; rest() holds what came after the head
    failed,   ///< refused, malformed, too large or closed: error() says why
  };

  /// `proxy` and `target` ("host:port") name both ends in error messages;
  /// `limits` bound the answer's head (a body is never read: a refusal's is
  /// dropped with the connection).
  ConnectReply(std::string proxy, std::string target, HttpLimits limits = {});

  /// Takes bytes from the proxy. Once open or failed, further bytes are
  /// appended to rest() (open) or ignored (failed).
  Status feed(std::string_view bytes);
  /// The proxy closed the connection: fails unless already open or failed.
  Status closed();

  Status status() const noexcept { return status_; }
  /// Why it failed. Codes: `HandshakeError::bad_status` for a non-2xx
  /// answer (the message names the proxy, the target and the status line,
  /// with a hint for 407, 403 and 502), `malformed` / `head_too_large` /
  /// `line_too_long` / `too_many_headers` for an answer that is not
  /// HTTP/1.x, `closed` when the proxy closed before answering.
  const Error& error() const noexcept { return error_; }
  /// The answer's status code (0 while reading or when malformed).
  int status_code() const noexcept { return parser_.status() == HeadParser::Status::done ? parser_.response().status : 0; }
  /// The answer's head, complete once open or refused with a status.
  const Response& response() const noexcept { return parser_.response(); }
  /// (open) The tunnel's first bytes: whatever followed the answer's head.
  std::string& rest() noexcept { return rest_; }

 private:
  std::string proxy_;
  std::string target_;
  HeadParser parser_;
  Status status_ = Status::reading;
  Error error_;
  std::string rest_;
};

/// Looks an environment variable up: its value, or nullptr when unset
/// (`std::getenv` fits).
using GetEnv = std::function<const char*(const char*)>;

/// Where a proxy setting came from.
struct EnvironmentProxy {
  std::string variable;  ///< e.g. "https_proxy"
  std::string value;     ///< its value, to parse with ProxyUrl::parse()
};

/// The proxy the environment names for `target` (ws://, wss://; http:// and
/// https:// the same way), or none: go direct.
///
/// Variables, the first set and non-empty wins, lower case before upper
/// case as curl does: for wss:// (and https://) `wss_proxy`, `WSS_PROXY`,
/// `https_proxy`, `HTTPS_PROXY`; for ws:// (and http://) `ws_proxy`,
/// `WS_PROXY`, `http_proxy` — never `HTTP_PROXY`, which curl ignores (a CGI
/// program gets a request's `Proxy:` header under that name); then for both
/// `all_proxy`, `ALL_PROXY`. None when `no_proxy` (else `NO_PROXY`) matches
/// the target: see no_proxy_matches().
PARLEY_EXPORT std::optional<EnvironmentProxy> proxy_from_environment(const Uri& target, const GetEnv& getenv);

/// True when the `no_proxy` list says to reach `host`:`port` directly.
/// `host` as Uri::host() gives it (lower case, IPv6 without brackets).
/// Entries are separated by commas or whitespace; each one is:
/// - `*`: every host;
/// - an IP address or CIDR network (`192.168.0.0/16`, `::1`, `fd00::/8`,
///   IPv6 bare or in brackets; bits past the prefix are ignored, as curl
///   does): an IP-literal host in it;
/// - a host name, with or without a leading dot: that name and every name
///   under it (`example.com` and `.example.com` both match `example.com`
///   and `www.example.com`, not `notexample.com`), ASCII case-insensitive,
///   a trailing dot on either side ignored;
/// - any of these but `*` followed by `:port` (`[::1]:8080` for IPv6):
///   only that port.
/// Entries that are none of these never match.
PARLEY_EXPORT bool no_proxy_matches(std::string_view no_proxy, std::string_view host, std::uint16_t port);

}  // namespace parley::protocol
