// parley/protocol/uri.hpp — WebSocket URIs (RFC 6455 §3) and query strings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/error.hpp"
#include "parley/export.hpp"

namespace parley::protocol {

/// One `name=value` pair of a query string, percent-decoded.
struct QueryParam {
  std::string name;   ///< decoded; may be repeated in a query
  std::string value;  ///< "" for a bare `name` without `=`

  /// Equal when every field is equal.
  friend bool operator==(const QueryParam&, const QueryParam&) = default;
};

/// Decodes `%XX` escapes (hex digits of either case). A `%` not followed by
/// two hex digits (e.g. `%zz`, or `%4` at the end) is kept as it is, as
/// browsers do. With `plus_as_space` a `+` becomes a space (the
/// application/x-www-form-urlencoded rule used for query strings).
/// The result may contain any byte, including NUL.
PARLEY_EXPORT std::string percent_decode(std::string_view s, bool plus_as_space = false);

/// Splits a raw query string (without the `?`) on `&` into name/value pairs
/// split at the first `=`, percent-decoded with `+` as space, in order.
/// Repeated names are all kept; empty pieces (`a=1&&b=2`) are skipped.
PARLEY_EXPORT std::vector<QueryParam> parse_query(std::string_view query);

/// A parsed `ws://`, `wss://`, `http://` or `https://` URI.
///
/// Accepted: a scheme of any case; a host that is a name (letters, digits,
/// `-`, `.`, `_`), a dotted-quad IPv4 address (no leading zeros) or an IPv6
/// literal in brackets; an optional port 1-65535; a path and a query made of
/// RFC 3986 characters with well-formed `%XX` escapes.
/// Rejected (`HandshakeError::bad_uri`): other schemes, a missing `//`, an
/// empty host, an empty, non-numeric, 0 or > 65535 port, a fragment (`#`,
/// which RFC 6455 §3 forbids), userinfo (`user:pass@` — credentials in a
/// WebSocket URI are never sent by parley; pass them in a header), IPv6
/// zone identifiers and IPvFuture literals, spaces, control characters,
/// non-ASCII bytes and other characters RFC 3986 does not allow.
class PARLEY_EXPORT Uri {
 public:
  /// Parses `text`; errors are `HandshakeError::bad_uri` with a message.
  static Result<Uri> parse(std::string_view text);

  /// The scheme in lower case: "ws", "wss", "http" or "https".
  const std::string& scheme() const noexcept { return scheme_; }
  /// True for wss and https (TLS).
  bool secure() const noexcept { return scheme_ == "wss" || scheme_ == "https"; }
  /// The host in lower case; an IPv6 literal without its brackets.
  const std::string& host() const noexcept { return host_; }
  /// True when the host is an IPv6 literal.
  bool is_ipv6() const noexcept { return ipv6_; }
  /// The port: the explicit one, else 443 when secure(), else 80.
  std::uint16_t port() const noexcept { return port_; }
  /// True when the port was written in the URI.
  bool has_explicit_port() const noexcept { return explicit_port_; }
  /// The path as written (still percent-encoded); "/" when the URI has none.
  const std::string& path() const noexcept { return path_; }
  /// The raw query without the `?` (still encoded); "" when there is none.
  const std::string& query() const noexcept { return query_; }
  /// The decoded query parameters (see parse_query()).
  std::vector<QueryParam> query_params() const { return parse_query(query_); }
  /// The request target: path, then `?` and the query when there is one.
  std::string resource() const;
  /// The Host header value: the host (in brackets for IPv6), then `:port`
  /// when the port is not the scheme's default.
  std::string host_header() const;
  /// The URI rebuilt in normal form: `scheme://host_header()resource()`.
  std::string to_string() const;

 private:
  std::string scheme_;
  std::string host_;
  std::string path_ = "/";
  std::string query_;
  std::uint16_t port_ = 80;
  bool explicit_port_ = false;
  bool ipv6_ = false;
  bool has_query_ = false;
};

}  // namespace parley::protocol
