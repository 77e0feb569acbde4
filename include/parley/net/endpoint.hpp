// parley/net/endpoint.hpp — an IPv4 or IPv6 address and a port.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "parley/error.hpp"
#include "parley/export.hpp"

struct sockaddr;

namespace parley::net {

/// An IP address and a TCP port, small enough to pass by value (20 bytes).
struct PARLEY_EXPORT Endpoint {
  /// The address family of the endpoint.
  enum class Family : std::uint8_t {
    none = 0,  ///< empty (default-constructed, or the socket had no address)
    v4 = 4,    ///< IPv4: the first 4 bytes of `address` are used
    v6 = 6,    ///< IPv6: all 16 bytes of `address` are used
  };
  std::array<std::uint8_t, 16> address{};  ///< network byte order
  std::uint16_t port = 0;                  ///< host byte order
  Family family = Family::none;            ///< which address family

  /// The address alone: "127.0.0.1", "::1" ("" when empty).
  std::string address_string() const;
  /// Address and port: "127.0.0.1:8080", "[::1]:8080" ("" when empty).
  std::string to_string() const;

  /// Parses an IP literal ("127.0.0.1", "::1", "[::1]"); an Error of the
  /// system category (EINVAL) if it is not one. No name resolution.
  static Result<Endpoint> parse(const std::string& ip, std::uint16_t port);
  /// From a sockaddr of family AF_INET or AF_INET6 (else an empty
  /// Endpoint). An IPv4-mapped IPv6 address (\::ffff:a.b.c.d, the IPv4 peers
  /// of a dual-stack listener) becomes the IPv4 endpoint a.b.c.d.
  static Endpoint from_sockaddr(const sockaddr* sa) noexcept;

  /// Equal when every field is equal.
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

}  // namespace parley::net
