// src/net/endpoint.cpp — Endpoint formatting and parsing.
#include "parley/net/endpoint.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "sys.hpp"

namespace parley::net {

std::string Endpoint::address_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  switch (family) {
    case Family::v4:
      ::inet_ntop(AF_INET, address.data(), buf, sizeof buf);
      return buf;
    case Family::v6:
      ::inet_ntop(AF_INET6, address.data(), buf, sizeof buf);
      return buf;
    case Family::none:
      break;
  }
  return {};
}

std::string Endpoint::to_string() const {
  if (family == Family::none) return {};
  std::string a = address_string();
  std::string p = std::to_string(port);
  if (family == Family::v6) return "[" + a + "]:" + p;
  return a + ":" + p;
}

Result<Endpoint> Endpoint::parse(const std::string& ip, std::uint16_t port) {
  Endpoint e;
  e.port = port;
  std::string s = ip;
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  if (::inet_pton(AF_INET, s.c_str(), e.address.data()) == 1) {
    e.family = Family::v4;
    return e;
  }
  if (::inet_pton(AF_INET6, s.c_str(), e.address.data()) == 1) {
    e.family = Family::v6;
    return e;
  }
  return detail::sys_error(EINVAL, "not an IP address literal: '" + ip + "'");
}

Endpoint Endpoint::from_sockaddr(const sockaddr* sa) noexcept {
  Endpoint e;
  if (!sa) return e;
  if (sa->sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, sa, sizeof in);
    std::memcpy(e.address.data(), &in.sin_addr, 4);
    e.port = ntohs(in.sin_port);
    e.family = Family::v4;
  } else if (sa->sa_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, sa, sizeof in6);
    e.port = ntohs(in6.sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
      // An IPv4 peer of a dual-stack socket: report it as IPv4.
      std::memcpy(e.address.data(), reinterpret_cast<const std::uint8_t*>(&in6.sin6_addr) + 12, 4);
      e.family = Family::v4;
    } else {
      std::memcpy(e.address.data(), &in6.sin6_addr, 16);
      e.family = Family::v6;
    }
  }
  return e;
}

}  // namespace parley::net
