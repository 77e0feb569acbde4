// Internal: trusted reverse proxies, without I/O. IP addresses and networks
// (IPv4, IPv6, CIDR), a list of trusted proxies, and the client address
// derived from `Forwarded` (RFC 7239) or `X-Forwarded-For` /
// `X-Forwarded-Proto` when — and only when — the TCP peer is a trusted
// proxy. Not installed; the Server wires it to ServerOptions and
// Connection::client_address().
//
// The rules, in one place:
//
// Addresses. IPv4 in dotted-quad form only: four decimal octets 0-255,
// each without leading zeros ("010.0.0.1" is refused: some parsers read it
// as octal, and a trust list must mean the same thing everywhere). IPv6 in
// any RFC 4291 §2.2 text form (hex groups of 1-4 digits, one "::", an
// IPv4 dotted quad in the last 32 bits), either case; no zone identifier
// ("%eth0"), no brackets. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) IS
// the IPv4 address a.b.c.d: it parses to it, prints as it and matches the
// IPv4 rules (a dual-stack listener reports IPv4 peers that way).
//
// Networks. "ADDRESS" (a single host: /32 or /128) or "ADDRESS/PREFIX"
// with PREFIX decimal, no sign, no leading zero, 0-32 for IPv4 and 0-128
// for IPv6. Bits set past the prefix are refused ("10.0.0.1/8": the
// message names the network meant, 10.0.0.0/8), since such an entry is
// usually a typo for a narrower one. An IPv6 network inside ::ffff:0:0/96
// (prefix 96 or more) is the IPv4 network it maps ("::ffff:10.0.0.0/104"
// is 10.0.0.0/8). Otherwise families never mix: "::/0" matches every IPv6
// address and no IPv4 one; write "0.0.0.0/0" for those.
//
// Errors are `std::errc::invalid_argument` with a message quoting the
// entry (escaped and bounded by printable()).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/error.hpp"
#include "parley/export.hpp"
#include "parley/protocol/headers.hpp"

namespace parley::protocol {

/// An IPv4 or IPv6 address. IPv4-mapped IPv6 addresses are held as IPv4.
class PARLEY_EXPORT IpAddress {
 public:
  /// The unspecified IPv4 address 0.0.0.0.
  IpAddress() = default;

  /// Parses an address literal (see the rules above): "192.0.2.1", "::1",
  /// "::ffff:10.0.0.1" (becomes 10.0.0.1). No brackets, no port, no zone.
  static Result<IpAddress> parse(std::string_view text);
  /// An IPv4 address from its four bytes, in network order.
  static IpAddress v4(const std::array<std::uint8_t, 4>& bytes) noexcept;
  /// An IPv6 address from its 16 bytes, in network order; an IPv4-mapped
  /// one becomes the IPv4 address (as net::Endpoint::from_sockaddr does).
  static IpAddress v6(const std::array<std::uint8_t, 16>& bytes) noexcept;

  /// True for IPv4 (including what arrived IPv4-mapped).
  bool is_v4() const noexcept { return v4_; }
  /// The bytes in network order: the first 4 for IPv4, all 16 for IPv6
  /// (the rest are zero). This is the layout of net::Endpoint::address.
  const std::array<std::uint8_t, 16>& bytes() const noexcept { return bytes_; }
  /// The text form: dotted quad, or RFC 5952 for IPv6 (lower case, the
  /// longest run of two or more zero groups shortened to "::").
  std::string to_string() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  std::array<std::uint8_t, 16> bytes_{};
  bool v4_ = true;
};

/// An IP network: an address and a prefix length (CIDR).
class PARLEY_EXPORT IpNetwork {
 public:
  /// Parses "10.0.0.0/8", "192.168.1.7" (a /32), "fd00::/8", "::1" (a
  /// /128), "::ffff:10.0.0.0/104" (10.0.0.0/8). See the rules above.
  static Result<IpNetwork> parse(std::string_view text);
  /// The network of `prefix` bits (clamped to 32 or 128) around `address`:
  /// the bits past the prefix are cleared, not refused.
  static IpNetwork of(const IpAddress& address, unsigned prefix) noexcept;

  /// True when `address` is in the network (same family, same first
  /// prefix_length() bits).
  bool contains(const IpAddress& address) const noexcept;
  /// The network's address (its bits past the prefix are zero).
  const IpAddress& address() const noexcept { return address_; }
  /// 0-32 for IPv4, 0-128 for IPv6.
  unsigned prefix_length() const noexcept { return prefix_; }
  /// "10.0.0.0/8", "::1/128".
  std::string to_string() const;

  friend bool operator==(const IpNetwork&, const IpNetwork&) = default;

 private:
  IpAddress address_;
  unsigned prefix_ = 32;
};

/// The proxies whose forwarding headers are believed. Empty (the default):
/// nobody's, so the TCP peer is always the client.
class PARLEY_EXPORT TrustedProxies {
 public:
  TrustedProxies() = default;

  /// Parses every entry with IpNetwork::parse(); the first bad one is the
  /// Error (its message names the entry and its position in the list).
  static Result<TrustedProxies> parse(const std::vector<std::string>& entries);

  /// True when `address` is in one of the networks.
  bool contains(const IpAddress& address) const noexcept;
  bool empty() const noexcept { return networks_.empty(); }
  const std::vector<IpNetwork>& networks() const noexcept { return networks_; }

 private:
  std::vector<IpNetwork> networks_;
};

/// Which headers a trusted proxy's request is read from.
enum class ForwardedHeaders : std::uint8_t {
  /// `Forwarded` when the request has one, else `X-Forwarded-For` and
  /// `X-Forwarded-Proto`. Caution: a proxy that sets only one kind passes
  /// the other through from the client unchanged — configure the proxy to
  /// set or remove both (docs/deployment.md), or name the one it sets.
  automatic,
  /// `Forwarded` only.
  forwarded,
  /// `X-Forwarded-For` and `X-Forwarded-Proto` only.
  x_forwarded,
};

/// Where a ClientOrigin's address came from.
enum class OriginSource : std::uint8_t {
  peer,       ///< the TCP peer (untrusted, no usable header, or a header ignored)
  forwarded,  ///< the `Forwarded` header
  x_forwarded_for,  ///< the `X-Forwarded-For` header
};

/// The client as the trusted proxies describe it.
struct ClientOrigin {
  /// The client's address: the TCP peer's unless a trusted proxy said otherwise.
  IpAddress address;
  /// The client's port when a header gave a numeric one (`for="[::1]:4711"`,
  /// `X-Forwarded-For: 192.0.2.1:4711`); never the peer's port.
  std::optional<std::uint16_t> port;
  /// True when the original request was https (or wss): the header's
  /// `proto=` / `X-Forwarded-Proto` when one applies, else `peer_https`.
  bool https = false;
  /// Where `address` came from.
  OriginSource source = OriginSource::peer;
  /// Empty, or why a header was ignored in whole or in part (malformed,
  /// `unknown` or obfuscated hop, too many hops, a bad proto): for a log
  /// line; header bytes in it are escaped by printable().
  std::string note;
};

/// At most this many hops (list elements of the header, counted from the
/// right across all its fields) are looked at; past them the walk stops as
/// at an `unknown` hop, with a note. Bounds the work per request: the
/// headers themselves are bounded by the HTTP head limits.
inline constexpr std::size_t kMaxForwardedHops = 64;

/// The client of a request that arrived from `peer`, over TLS or not
/// (`peer_https`), with `headers`.
///
/// Only when `trusted.contains(peer)` are headers read (which ones:
/// `which`). Their fields are taken in order, as one list, and walked from
/// the right (the nearest proxy's entry first): a hop whose address is
/// trusted is skipped (another proxy of ours), the first untrusted address
/// is the client. Entries further left were written by the client or
/// proxies we do not trust and are never read, so a client cannot forge
/// its address by sending the header itself. When every hop is trusted,
/// the left-most is the client.
///
/// The walk stops early, keeping what the hops to the right gave (the peer
/// when there are none), at a hop that has no usable address: `for=unknown`
/// or an obfuscated identifier (`for=_hidden`) or no `for=` at all (RFC 7239
/// §6: the proxy does not disclose who its client was, so its own address
/// — a trusted one — is as far as we can see), a malformed entry, or the
/// kMaxForwardedHops limit. `note` says why.
///
/// `Forwarded` (RFC 7239 §4): elements separated by commas, pairs by
/// semicolons, `for` / `proto` (and any others, ignored) with token or
/// quoted-string values; a parameter twice in one element makes it
/// malformed. Leniencies, since they cannot change which element is read:
/// an unquoted value may hold ':' '[' ']' (`for=[::1]:80`, `for=::1`, as
/// some proxy recipes write them), and an IPv6 address without brackets is
/// taken when it is one. Elements are split from the right, so an
/// unbalanced quote the client sent on the left cannot swallow what a
/// proxy appended on the same line. Node forms: `192.0.2.1`,
/// `192.0.2.1:4711`, `"[2001:db8::1]"`, `"[2001:db8::1]:4711"`, ports
/// numeric or obfuscated (`:_abc`, ignored).
///
/// `X-Forwarded-For`: comma-separated addresses, each `192.0.2.1`,
/// `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`;
/// empty elements are skipped, `unknown` stops the walk, anything else is
/// malformed. `X-Forwarded-Proto`: when it has as many elements as
/// X-Forwarded-For, the element at the client's position applies (each
/// proxy appended both); otherwise its right-most element (the nearest
/// proxy's). `https` and `wss` are https, `http` and `ws` are not (ASCII
/// case-insensitive), anything else is ignored with a note.
///
/// Never fails: anything unusable leaves the peer (or the hops to the
/// right) as the answer, with a note.
PARLEY_EXPORT ClientOrigin client_origin(const TrustedProxies& trusted, const IpAddress& peer, bool peer_https,
                                         const Headers& headers,
                                         ForwardedHeaders which = ForwardedHeaders::automatic);

}  // namespace parley::protocol
