// parley::Server behind reverse proxies (ServerOptions::trusted_proxies):
// Connection::client_address() and client_https() from Forwarded /
// X-Forwarded-For / X-Forwarded-Proto, believed only from a trusted peer,
// seen in on_handshake and for the connection's life. The header rules
// themselves are tested without sockets in forwarded_test.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "parley/parley.hpp"
#include "raw_ws_client.hpp"
#include "server_support.hpp"

namespace parley {
namespace {

/// What the hooks saw of a connection's client.
struct Seen {
  std::string in_handshake;
  std::string in_text;
  std::string remote;
  bool https_in_handshake = false;
  bool https_in_text = false;
  bool done = false;
};

/// A server trusting `trusted` that records client_address() in on_handshake
/// and in on_text, then a raw client sending `headers` and one message.
Seen run(const std::vector<std::string>& trusted, const std::vector<std::string>& headers,
         std::vector<std::string>* logs = nullptr) {
  ServerOptions o = loopback();
  o.trusted_proxies = trusted;
  o.log_level = LogLevel::warning;
  TestServer srv(o, Attach::record);
  Seen seen;
  srv.server.on_handshake([&](Connection& c, const Request&) {
    srv.ev.update([&] {
      seen.in_handshake = c.client_address().to_string();
      seen.https_in_handshake = c.client_https();
    });
    return HandshakeReply::accept();
  });
  srv.server.on_text([&](Connection& c, std::string_view) {
    srv.ev.update([&] {
      seen.in_text = c.client_address().to_string();
      seen.https_in_text = c.client_https();
      seen.remote = c.remote_endpoint().address_string();
      seen.done = true;
    });
  });
  srv.server.on_log([&](LogLevel, std::string_view m) {
    if (logs) srv.ev.update([&] { logs->emplace_back(m); });
  });
  EXPECT_TRUE(srv.start());
  RawWsClient c;
  EXPECT_TRUE(open_ws(c, srv.port(), "/", headers));
  EXPECT_TRUE(c.send_text("hi"));
  EXPECT_TRUE(srv.ev.wait([&] { return seen.done; }));
  return srv.ev.read([&] { return seen; });
}

TEST(ServerProxy, TrustedPeerXForwardedForIsTheClient) {
  Seen s = run({"127.0.0.1"}, {"X-Forwarded-For: 203.0.113.7, 198.51.100.2", "X-Forwarded-Proto: https"});
  // The right-most untrusted entry: 198.51.100.2 (203.0.113.7 could be forged).
  EXPECT_EQ(s.in_handshake, "198.51.100.2:0");
  EXPECT_EQ(s.in_text, "198.51.100.2:0");
  EXPECT_EQ(s.remote, "127.0.0.1");
  EXPECT_TRUE(s.https_in_handshake);
  EXPECT_TRUE(s.https_in_text);
}

TEST(ServerProxy, TrustedHopsAreSkipped) {
  Seen s = run({"127.0.0.0/8", "10.0.0.0/8"}, {"X-Forwarded-For: 203.0.113.7, 10.1.2.3"});
  EXPECT_EQ(s.in_text, "203.0.113.7:0");
  EXPECT_FALSE(s.https_in_text);
}

TEST(ServerProxy, UntrustedPeerHeadersAreIgnored) {
  for (const std::vector<std::string>& trusted : {std::vector<std::string>{}, std::vector<std::string>{"10.0.0.0/8"}}) {
    Seen s = run(trusted, {"X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https",
                           "Forwarded: for=198.51.100.9;proto=https"});
    EXPECT_EQ(s.remote, "127.0.0.1");
    EXPECT_EQ(s.in_handshake.rfind("127.0.0.1:", 0), 0u) << s.in_handshake;
    EXPECT_EQ(s.in_text, s.in_handshake);
    EXPECT_NE(s.in_text, "127.0.0.1:0") << "the peer's own port is kept";
    EXPECT_FALSE(s.https_in_handshake);
    EXPECT_FALSE(s.https_in_text);
  }
}

TEST(ServerProxy, ForwardedHeaderWinsWithPortAndProto) {
  Seen s = run({"127.0.0.1/32"}, {"Forwarded: for=\"[2001:db8::1]:4711\";proto=https",
                                  "X-Forwarded-For: 203.0.113.7"});
  EXPECT_EQ(s.in_handshake, "[2001:db8::1]:4711");
  EXPECT_EQ(s.in_text, "[2001:db8::1]:4711");
  EXPECT_TRUE(s.https_in_text);
}

TEST(ServerProxy, MalformedHeaderIsIgnoredAndLogged) {
  std::vector<std::string> logs;
  Seen s = run({"127.0.0.1"}, {"X-Forwarded-For: not-an-address"}, &logs);
  EXPECT_EQ(s.in_text.rfind("127.0.0.1:", 0), 0u) << s.in_text;
  bool noted = false;
  for (const auto& l : logs) noted = noted || l.find("forwarding header ignored") != std::string::npos;
  EXPECT_TRUE(noted) << (logs.empty() ? std::string("no log") : logs.front());
}

TEST(ServerProxy, ForwardedSameAsPeerKeepsThePeer) {
  Seen s = run({"127.0.0.1"}, {"X-Forwarded-For: 127.0.0.1"});
  EXPECT_EQ(s.in_text.rfind("127.0.0.1:", 0), 0u) << s.in_text;
  EXPECT_NE(s.in_text, "127.0.0.1:0");
}

TEST(ServerProxy, BadTrustedProxyEntryFailsStart) {
  ServerOptions o = loopback();
  o.trusted_proxies = {"127.0.0.1", "10.0.0.1/8"};
  Server server(o);
  Error e = server.start();
  ASSERT_TRUE(e);
  EXPECT_EQ(e.code(), std::make_error_code(std::errc::invalid_argument));
  EXPECT_NE(e.message().find("10.0.0.1/8"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("trusted_proxies"), std::string::npos) << e.message();
}

}  // namespace
}  // namespace parley
