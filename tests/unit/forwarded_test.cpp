// Trusted proxies (protocol/forwarded.hpp): IP addresses and networks, and
// the client address from Forwarded / X-Forwarded-For, on values alone.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/forwarded.hpp"

namespace parley::protocol {
namespace {

IpAddress ip(std::string_view text) {
  auto a = IpAddress::parse(text);
  EXPECT_TRUE(a) << text << ": " << a.error().message();
  return a ? *a : IpAddress{};
}

IpNetwork net(std::string_view text) {
  auto n = IpNetwork::parse(text);
  EXPECT_TRUE(n) << text << ": " << n.error().message();
  return n ? *n : IpNetwork{};
}

TrustedProxies trust(const std::vector<std::string>& entries) {
  auto t = TrustedProxies::parse(entries);
  EXPECT_TRUE(t) << t.error().message();
  return t ? *t : TrustedProxies{};
}

Headers headers(const std::vector<std::pair<std::string, std::string>>& fields) {
  Headers h;
  for (const auto& [name, value] : fields) h.add(name, value);
  return h;
}

// ---- addresses ----------------------------------------------------------------

TEST(IpAddress, ParsesIpv4) {
  const IpAddress a = ip("192.168.1.7");
  EXPECT_TRUE(a.is_v4());
  EXPECT_EQ(a.bytes()[0], 192);
  EXPECT_EQ(a.bytes()[3], 7);
  EXPECT_EQ(a.to_string(), "192.168.1.7");
  EXPECT_EQ(ip("0.0.0.0").to_string(), "0.0.0.0");
  EXPECT_EQ(ip("255.255.255.255").to_string(), "255.255.255.255");
}

TEST(IpAddress, RefusesBadIpv4IncludingLeadingZeros) {
  for (const char* bad : {"", "1", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.-4", "1..2.3", "1.2.3.4.", ".1.2.3.4",
                          "01.2.3.4", "1.2.3.04", "00.0.0.0", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4/8", "0x7f.0.0.1",
                          "1.2.3.1000", "localhost", "[1.2.3.4]"}) {
    auto a = IpAddress::parse(bad);
    EXPECT_FALSE(a) << bad;
    if (!a) {
      EXPECT_EQ(a.error().code(), std::make_error_code(std::errc::invalid_argument));
      EXPECT_NE(a.error().message().find("not an IP address"), std::string::npos);
    }
  }
}

TEST(IpAddress, ParsesIpv6FormsAndPrintsRfc5952) {
  EXPECT_EQ(ip("::1").to_string(), "::1");
  EXPECT_FALSE(ip("::1").is_v4());
  EXPECT_EQ(ip("::").to_string(), "::");
  EXPECT_EQ(ip("2001:DB8:0:0:0:0:0:1").to_string(), "2001:db8::1");
  EXPECT_EQ(ip("2001:0db8:0000:0000:0001:0000:0000:0001").to_string(), "2001:db8::1:0:0:1");  // first of equal runs
  EXPECT_EQ(ip("2001:db8:0:1:1:1:1:1").to_string(), "2001:db8:0:1:1:1:1:1");  // one zero group stays
  EXPECT_EQ(ip("fe80::").to_string(), "fe80::");
  EXPECT_EQ(ip("1:2:3:4:5:6:7:8").to_string(), "1:2:3:4:5:6:7:8");
  EXPECT_EQ(ip("1:2:3:4:5:6:7::").to_string(), "1:2:3:4:5:6:7:0");
  EXPECT_EQ(ip("::2:3:4:5:6:7:8").to_string(), "0:2:3:4:5:6:7:8");
  EXPECT_EQ(ip("::192.0.2.1").to_string(), "::c000:201");  // IPv4-compatible: plain IPv6
  EXPECT_EQ(ip("64:ff9b::192.0.2.1").to_string(), "64:ff9b::c000:201");
}

TEST(IpAddress, Ipv4MappedIsIpv4) {
  const IpAddress a = ip("::ffff:10.0.0.1");
  EXPECT_TRUE(a.is_v4());
  EXPECT_EQ(a, ip("10.0.0.1"));
  EXPECT_EQ(a.to_string(), "10.0.0.1");
  EXPECT_EQ(ip("::FFFF:a00:1"), ip("10.0.0.1"));
  EXPECT_EQ(ip("0:0:0:0:0:ffff:10.0.0.1"), ip("10.0.0.1"));
  std::array<std::uint8_t, 16> bytes{};
  bytes[10] = bytes[11] = 0xff;
  bytes[12] = 127;
  bytes[15] = 1;
  EXPECT_EQ(IpAddress::v6(bytes), ip("127.0.0.1"));
  EXPECT_EQ(IpAddress::v4({127, 0, 0, 1}), ip("127.0.0.1"));
}

TEST(IpAddress, RefusesBadIpv6) {
  for (const char* bad : {":", ":::", "1:::2", "1::2::3", ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:", "1:2:3:4:5:6:7:8:9",
                          "1:2:3:4:5:6:7", "12345::1", "g::1", "::1%eth0", "[::1]", "::1.2.3", "::1.2.3.4:5",
                          "1:2:3:4:5:6:7:1.2.3.4", "::ffff:010.0.0.1", "1::2:3:4:5:6:7:8", "::1 ", "fe80::1/64"}) {
    EXPECT_FALSE(IpAddress::parse(bad)) << bad;
  }
}

// ---- networks -----------------------------------------------------------------

TEST(IpNetwork, CidrEdges) {
  const IpNetwork all4 = net("0.0.0.0/0");
  EXPECT_TRUE(all4.contains(ip("1.2.3.4")));
  EXPECT_TRUE(all4.contains(ip("::ffff:1.2.3.4")));
  EXPECT_FALSE(all4.contains(ip("::1")));  // families never mix
  const IpNetwork all6 = net("::/0");
  EXPECT_TRUE(all6.contains(ip("2001:db8::1")));
  EXPECT_FALSE(all6.contains(ip("1.2.3.4")));

  const IpNetwork host = net("192.168.1.7");
  EXPECT_EQ(host.prefix_length(), 32u);
  EXPECT_EQ(host, net("192.168.1.7/32"));
  EXPECT_TRUE(host.contains(ip("192.168.1.7")));
  EXPECT_FALSE(host.contains(ip("192.168.1.8")));
  const IpNetwork loop6 = net("::1");
  EXPECT_EQ(loop6.prefix_length(), 128u);
  EXPECT_EQ(loop6.to_string(), "::1/128");
  EXPECT_TRUE(loop6.contains(ip("::1")));
  EXPECT_FALSE(loop6.contains(ip("::2")));

  const IpNetwork ten = net("10.0.0.0/8");
  EXPECT_TRUE(ten.contains(ip("10.255.255.255")));
  EXPECT_FALSE(ten.contains(ip("11.0.0.0")));
  const IpNetwork odd = net("172.16.0.0/12");  // a prefix inside a byte
  EXPECT_TRUE(odd.contains(ip("172.31.255.255")));
  EXPECT_FALSE(odd.contains(ip("172.32.0.0")));
  const IpNetwork ula = net("fd00::/8");
  EXPECT_TRUE(ula.contains(ip("fd12:3456::1")));
  EXPECT_FALSE(ula.contains(ip("fe80::1")));
  EXPECT_TRUE(net("2001:db8::/127").contains(ip("2001:db8::1")));
  EXPECT_FALSE(net("2001:db8::/128").contains(ip("2001:db8::1")));
}

TEST(IpNetwork, MappedNetworksAreIpv4Networks) {
  const IpNetwork n = net("::ffff:10.0.0.0/104");
  EXPECT_TRUE(n.address().is_v4());
  EXPECT_EQ(n.to_string(), "10.0.0.0/8");
  EXPECT_TRUE(n.contains(ip("10.1.2.3")));
  EXPECT_EQ(net("::ffff:0.0.0.0/96").to_string(), "0.0.0.0/0");
  EXPECT_EQ(net("::ffff:10.0.0.1").to_string(), "10.0.0.1/32");
  EXPECT_FALSE(IpNetwork::parse("::ffff:10.0.0.0/64"));
}

TEST(IpNetwork, RefusesBadPrefixesAndHostBits) {
  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/08", "10.0.0.0/-1", "10.0.0.0/+8",
                          "10.0.0.0/8/8", "10.0.0.0/ 8", "10.0.0.0/1000", "/8", "10.0.0.0/x", "fd00::/08"}) {
    auto n = IpNetwork::parse(bad);
    EXPECT_FALSE(n) << bad;
  }
  auto host_bits = IpNetwork::parse("10.0.0.1/8");
  ASSERT_FALSE(host_bits);
  EXPECT_NE(host_bits.error().message().find("did you mean 10.0.0.0/8?"), std::string::npos)
      << host_bits.error().message();
  auto host_bits6 = IpNetwork::parse("fd00::1/8");
  ASSERT_FALSE(host_bits6);
  EXPECT_NE(host_bits6.error().message().find("fd00::/8"), std::string::npos) << host_bits6.error().message();
  auto prefix = IpNetwork::parse("10.0.0.0/33");
  ASSERT_FALSE(prefix);
  EXPECT_NE(prefix.error().message().find("\"10.0.0.0/33\""), std::string::npos);
  EXPECT_NE(prefix.error().message().find("0 to 32"), std::string::npos);
}

TEST(TrustedProxies, ParsesAListAndNamesTheFirstBadEntry) {
  const TrustedProxies t = trust({"10.0.0.0/8", "::1", "192.168.1.7"});
  EXPECT_EQ(t.networks().size(), 3u);
  EXPECT_TRUE(t.contains(ip("10.9.8.7")));
  EXPECT_TRUE(t.contains(ip("::1")));
  EXPECT_TRUE(t.contains(ip("::ffff:192.168.1.7")));
  EXPECT_FALSE(t.contains(ip("192.168.1.8")));
  EXPECT_FALSE(TrustedProxies{}.contains(ip("127.0.0.1")));

  auto bad = TrustedProxies::parse({"10.0.0.0/8", "garbage\x1b[31m", "also bad"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), std::make_error_code(std::errc::invalid_argument));
  const std::string m = bad.error().message();
  EXPECT_NE(m.find("trusted proxy 2 of 3"), std::string::npos) << m;
  EXPECT_NE(m.find("garbage\\x1b[31m"), std::string::npos) << m;  // escaped
  EXPECT_EQ(m.find("also bad"), std::string::npos) << m;
}

// ---- the client address ----------------------------------------------------------

/// 10.0.0.0/8 and fd00::/8.
const TrustedProxies& proxies() {
  static const TrustedProxies t = TrustedProxies::parse({"10.0.0.0/8", "fd00::/8"}).value();
  return t;
}

TEST(ClientOrigin, UntrustedPeerHeadersIgnored) {
  const Headers h = headers({{"X-Forwarded-For", "1.2.3.4"}, {"Forwarded", "for=5.6.7.8;proto=https"},
                             {"X-Forwarded-Proto", "https"}});
  const ClientOrigin o = client_origin(proxies(), ip("203.0.113.9"), false, h);
  EXPECT_EQ(o.address, ip("203.0.113.9"));
  EXPECT_FALSE(o.https);
  EXPECT_EQ(o.source, OriginSource::peer);
  EXPECT_TRUE(o.note.empty());
  // Nothing trusted by default.
  EXPECT_EQ(client_origin(TrustedProxies{}, ip("10.0.0.1"), true, h).address, ip("10.0.0.1"));
  EXPECT_TRUE(client_origin(TrustedProxies{}, ip("10.0.0.1"), true, h).https);
}

TEST(ClientOrigin, XForwardedForFromOneProxy) {
  const Headers h = headers({{"X-Forwarded-For", "203.0.113.9"}, {"X-Forwarded-Proto", "https"}});
  const ClientOrigin o = client_origin(proxies(), ip("10.0.0.2"), false, h);
  EXPECT_EQ(o.address, ip("203.0.113.9"));
  EXPECT_TRUE(o.https);
  EXPECT_EQ(o.source, OriginSource::x_forwarded_for);
  EXPECT_FALSE(o.port);
  EXPECT_TRUE(o.note.empty()) << o.note;
}

TEST(ClientOrigin, ForgedLeftMostEntryIsIgnored) {
  // The client sent "X-Forwarded-For: 1.1.1.1, 10.0.0.66"; nginx appended its peer.
  const Headers h = headers({{"X-Forwarded-For", "1.1.1.1, 10.0.0.66, 198.51.100.7"}});
  EXPECT_EQ(client_origin(proxies(), ip("10.0.0.2"), false, h).address, ip("198.51.100.7"));
  // The same with the client's header on its own line.
  const Headers lines = headers({{"X-Forwarded-For", "1.1.1.1, 10.0.0.66"}, {"X-Forwarded-For", "198.51.100.7"}});
  EXPECT_EQ(client_origin(proxies(), ip("10.0.0.2"), false, lines).address, ip("198.51.100.7"));
  // Forwarded alike.
  const Headers f = headers({{"Forwarded", "for=1.1.1.1, for=10.0.0.66"}, {"Forwarded", "for=198.51.100.7"}});
  EXPECT_EQ(client_origin(proxies(), ip("10.0.0.2"), false, f).address, ip("198.51.100.7"));
}

TEST(ClientOrigin, SeveralTrustedProxiesAreSkipped) {
  const Headers h = headers({{"X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.1.1.1, fd00::5"}});
  const ClientOrigin o = client_origin(proxies(), ip("10.0.0.2"), false, h);
  EXPECT_EQ(o.address, ip("198.51.100.7"));
  // All trusted: the left-most.
  const Headers all = headers({{"X-Forwarded-For", "10.9.9.9, 10.1.1.1"}});
  EXPECT_EQ(client_origin(proxies(), ip("10.0.0.2"), false, all).address, ip("10.9.9.9"));
  // Forwarded: all trusted, IPv6.
  const Headers f = headers({{"Forwarded", "for=\"[fd00::9]\", for=10.1.1.1"}});
  EXPECT_EQ(client_origin(proxies(), ip("fd00::1"), false, f).address, ip("fd00::9"));
}

TEST(ClientOrigin, ForwardedForms) {
  auto from = [](const std::string& value) {
    return client_origin(proxies(), ip("10.0.0.2"), false, headers({{"Forwarded", value}}));
  };
  ClientOrigin o = from("for=\"[2001:db8:cafe::17]:4711\";proto=https;by=10.0.0.2");
  EXPECT_EQ(o.address, ip("2001:db8:cafe::17"));
  ASSERT_TRUE(o.port);
  EXPECT_EQ(*o.port, 4711);
  EXPECT_TRUE(o.https);
  EXPECT_EQ(o.source, OriginSource::forwarded);
  EXPECT_TRUE(o.note.empty()) << o.note;

  o = from("For=\"192.0.2.60:_port\" ; Proto=HTTP; host=example.com");  // case-insensitive names, OWS around ';'
  EXPECT_EQ(o.address, ip("192.0.2.60"));
  EXPECT_FALSE(o.port);
  EXPECT_FALSE(o.https);
  EXPECT_TRUE(o.note.empty()) << o.note;

  EXPECT_EQ(from("for=192.0.2.43, for=198.51.100.17").address, ip("198.51.100.17"));
  EXPECT_EQ(from("for=\"[2001:db8::1]\"").address, ip("2001:db8::1"));
  EXPECT_EQ(from("for=\"\\[2001:db8::1\\]\"").address, ip("2001:db8::1"));  // quoted-pairs
  EXPECT_EQ(from("for=\"192.0.2.1\";ext=\"a,b;c\"").address, ip("192.0.2.1"));  // ',' and ';' quoted
  // Lenient: unquoted IPv6 and ports, as some proxy recipes write them.
  EXPECT_EQ(from("for=[2001:db8::1]:80").address, ip("2001:db8::1"));
  EXPECT_EQ(from("for=2001:db8::1").address, ip("2001:db8::1"));
  EXPECT_EQ(from("for=192.0.2.1:80").address, ip("192.0.2.1"));
  EXPECT_EQ(*from("for=192.0.2.1:80").port, 80);
  // Empty elements and pairs are skipped.
  EXPECT_EQ(from("for=192.0.2.1;;proto=https, ,").address, ip("192.0.2.1"));
}

TEST(ClientOrigin, ForwardedIsPreferredUnlessTold) {
  const Headers h = headers({{"Forwarded", "for=192.0.2.1;proto=https"}, {"X-Forwarded-For", "198.51.100.2"},
                             {"X-Forwarded-Proto", "http"}});
  ClientOrigin o = client_origin(proxies(), ip("10.0.0.2"), false, h);
  EXPECT_EQ(o.address, ip("192.0.2.1"));
  EXPECT_TRUE(o.https);
  o = client_origin(proxies(), ip("10.0.0.2"), false, h, ForwardedHeaders::x_forwarded);
  EXPECT_EQ(o.address, ip("198.51.100.2"));
  EXPECT_FALSE(o.https);
  EXPECT_EQ(o.source, OriginSource::x_forwarded_for);
  const Headers xff_only = headers({{"X-Forwarded-For", "198.51.100.2"}});
  o = client_origin(proxies(), ip("10.0.0.2"), false, xff_only, ForwardedHeaders::forwarded);
  EXPECT_EQ(o.address, ip("10.0.0.2"));
  EXPECT_EQ(o.source, OriginSource::peer);
  EXPECT_EQ(client_origin(proxies(), ip("10.0.0.2"), false, xff_only).address, ip("198.51.100.2"));
}

TEST(ClientOrigin, UnknownAndObfuscatedStopTheWalk) {
  // The right-most hop hides its client: the peer stays.
  ClientOrigin o = client_origin(proxies(), ip("10.0.0.2"), true, headers({{"Forwarded", "for=unknown"}}));
  EXPECT_EQ(o.address, ip("10.0.0.2"));
  EXPECT_TRUE(o.https);
  EXPECT_EQ(o.source, OriginSource::peer);
  EXPECT_NE(o.note.find("hidden"), std::string::npos) << o.note;
  // Behind a trusted hop: that hop is as far as we see.
  o = client_origin(proxies(), ip("10.0.0.2"), false, headers({{"Forwarded", "for=192.0.2.1, for=_hidden, for=10.3.3.3"}}));
  EXPECT_EQ(o.address, ip("10.3.3.3"));
  EXPECT_EQ(o.source, OriginSource::forwarded);
  EXPECT_FALSE(o.note.empty());
  // No for= at all.
  o = client_origin(proxies(), ip("10.0.0.2"), false, headers({{"Forwarded", "proto=https;by=10.0.0.2"}}));
  EXPECT_EQ(o.address, ip("10.0.0.2"));
  EXPECT_NE(o.note.find("no for="), std::string::npos) << o.note;
  // X-Forwarded-For "unknown".
  o = client_origin(proxies(), ip("10.0.0.2"), false, headers({{"X-Forwarded-For", "192.0.2.1, unknown"}}));
  EXPECT_EQ(o.address, ip("10.0.0.2"));
  EXPECT_FALSE(o.note.empty());
}

TEST(ClientOrigin, MalformedIsIgnoredNeverFatal) {
  const std::vector<std::string> bad_forwarded = {
      "for", "for=", "for=\"", "for=\"192.0.2.1", "for=192.0.2.1 x", "=192.0.2.1", "for =192.0.2.1",
      "for=192.0.2.1;for=192.0.2.2", "for=192.0.2.1;proto=http;proto=https", "for=300.1.1.1", "for=\"[192.0.2.1]\"",
      "for=\"[::1\"", "for=\"[::1]x\"", "for=\"192.0.2.1:99999\"", "for=\"192.0.2.1:\"", "for=_", "for=\"_a b\"",
      "for=01.2.3.4", "for=\"\\\"", std::string("for=1.2.3.4\x7f")};
  for (const std::string& value : bad_forwarded) {
    const ClientOrigin o = client_origin(proxies(), ip("10.0.0.2"), false, headers({{"Forwarded", value}}));
    EXPECT_EQ(o.address, ip("10.0.0.2")) << value;
    EXPECT_EQ(o.source, OriginSource::peer) << value;
    EXPECT_FALSE(o.note.empty()) << value;
  }
  for (const char* value : {"1.2.3.4 5.6.7.8", "1.2.3.4;", "host.example", "1.2.3.4:", "[1.2.3.4]", "::1]:80"}) {
    const ClientOrigin o = client_origin(proxies(), ip("10.0.0.2"), false, headers({{"X-Forwarded-For", value}}));
    EXPECT_EQ(o.address, ip("10.0.0.2")) << value;
    EXPECT_NE(o.note.find("malformed X-Forwarded-For"), std::string::npos) << value << ": " << o.note;
  }
  // Malformed on the left of the client's entry is never read.
  ClientOrigin o = client_origin(proxies(), ip("10.0.0.2"), false, headers({{"X-Forwarded-For", "junk!, 192.0.2.1"}}));
  EXPECT_EQ(o.address, ip("192.0.2.1"));
  EXPECT_TRUE(o.note.empty()) << o.note;
  // An unbalanced quote the client sent cannot swallow the entry a proxy
  // appended on the same line.
  o = client_origin(proxies(), ip("10.0.0.2"), false, headers({{"Forwarded", "for=\", for=192.0.2.1"}}));
  EXPECT_EQ(o.address, ip("192.0.2.1"));
  EXPECT_TRUE(o.note.empty()) << o.note;
  // Malformed behind a trusted hop: that hop is the answer.
  o = client_origin(proxies(), ip("10.0.0.2"), false, headers({{"X-Forwarded-For", "junk!, 10.4.4.4"}}));
  EXPECT_EQ(o.address, ip("10.4.4.4"));
  EXPECT_FALSE(o.note.empty());
  // Control bytes in a note are escaped.
  o = client_origin(proxies(), ip("10.0.0.2"), false, headers({{"X-Forwarded-For", "\x1b[2J"}}));
  EXPECT_EQ(o.note.find('\x1b'), std::string::npos);
  EXPECT_NE(o.note.find("\\x1b[2J"), std::string::npos) << o.note;
}

TEST(ClientOrigin, XForwardedProtoAlignedOrRightMost) {
  // One value per hop: the client's position.
  ClientOrigin o = client_origin(proxies(), ip("10.0.0.2"), false,
                                 headers({{"X-Forwarded-For", "192.0.2.1, 10.1.1.1"},
                                          {"X-Forwarded-Proto", "https, http"}}));
  EXPECT_EQ(o.address, ip("192.0.2.1"));
  EXPECT_TRUE(o.https);
  // Not aligned: the right-most (the nearest proxy's).
  o = client_origin(proxies(), ip("10.0.0.2"), false,
                    headers({{"X-Forwarded-For", "192.0.2.1, 10.1.1.1"}, {"X-Forwarded-Proto", "HTTPS"}}));
  EXPECT_TRUE(o.https);
  o = client_origin(proxies(), ip("10.0.0.2"), true,
                    headers({{"X-Forwarded-For", "192.0.2.1"}, {"X-Forwarded-Proto", "https, http"}}));
  EXPECT_FALSE(o.https);
  // Without X-Forwarded-For it still tells the scheme.
  o = client_origin(proxies(), ip("10.0.0.2"), false, headers({{"X-Forwarded-Proto", "wss"}}));
  EXPECT_EQ(o.address, ip("10.0.0.2"));
  EXPECT_TRUE(o.https);
  // A bad one is ignored with a note.
  o = client_origin(proxies(), ip("10.0.0.2"), true,
                    headers({{"X-Forwarded-For", "192.0.2.1"}, {"X-Forwarded-Proto", "gopher"}}));
  EXPECT_EQ(o.address, ip("192.0.2.1"));
  EXPECT_TRUE(o.https);
  EXPECT_NE(o.note.find("gopher"), std::string::npos);
}

TEST(ClientOrigin, PortsAndMappedAddresses) {
  ClientOrigin o = client_origin(proxies(), ip("::ffff:10.0.0.2"), false,
                                 headers({{"X-Forwarded-For", "[2001:db8::7]:5000"}}));
  EXPECT_EQ(o.address, ip("2001:db8::7"));
  EXPECT_EQ(*o.port, 5000);
  o = client_origin(proxies(), ip("10.0.0.2"), false, headers({{"X-Forwarded-For", "::ffff:192.0.2.1, 10.0.0.9"}}));
  EXPECT_EQ(o.address, ip("192.0.2.1"));
  EXPECT_EQ(o.address.to_string(), "192.0.2.1");
  // A mapped trusted hop is skipped like its IPv4 form.
  o = client_origin(proxies(), ip("10.0.0.2"), false, headers({{"X-Forwarded-For", "192.0.2.1, ::ffff:10.0.0.9"}}));
  EXPECT_EQ(o.address, ip("192.0.2.1"));
}

TEST(ClientOrigin, HopsAreBounded) {
  std::string many;
  for (int i = 0; i < 1000; ++i) many += "10.0.0." + std::to_string(i % 250 + 1) + ", ";
  many += "10.0.0.1";
  ClientOrigin o = client_origin(proxies(), ip("10.0.0.2"), false, headers({{"X-Forwarded-For", many}}));
  EXPECT_TRUE(o.address.is_v4());
  EXPECT_EQ(o.source, OriginSource::x_forwarded_for);
  EXPECT_NE(o.note.find("more than 64 hops"), std::string::npos) << o.note;
  // 64 exactly: no note, the left-most.
  std::string sixty_four = "10.9.9.9";
  for (int i = 1; i < 64; ++i) sixty_four += ", 10.0.0.1";
  o = client_origin(proxies(), ip("10.0.0.2"), false, headers({{"X-Forwarded-For", sixty_four}}));
  EXPECT_EQ(o.address, ip("10.9.9.9"));
  EXPECT_TRUE(o.note.empty()) << o.note;
  std::string forwarded;
  for (int i = 0; i < 200; ++i) forwarded += "for=10.0.0.1, ";
  o = client_origin(proxies(), ip("10.0.0.2"), false, headers({{"Forwarded", forwarded + "for=10.0.0.3"}}));
  EXPECT_NE(o.note.find("more than 64 hops"), std::string::npos) << o.note;
}

}  // namespace
}  // namespace parley::protocol
