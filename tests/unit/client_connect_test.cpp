// parley::Client's connect errors (refused, DNS, malformed URIs, bad
// options) and addresses (IPv6 loopback, localhost) over real sockets.
// Fixtures and recorders: client_support.hpp.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "client_support.hpp"
#include "parley/parley.hpp"

namespace parley {
namespace {

TEST(ClientConnect, RefusedPort) {
  ClosedPort closed;
  ASSERT_NE(closed.port, 0);
  TestClient cli;
  ASSERT_TRUE(cli.client.connect(closed.url()));
  ASSERT_TRUE(cli.ev.wait_errors(1));
  const Error e = cli.ev.error_at(0).error;
  EXPECT_EQ(e.code().category(), std::system_category());
  EXPECT_EQ(e.code().value(), ECONNREFUSED);
  EXPECT_TRUE(e.code() == std::errc::connection_refused);
  EXPECT_NE(e.message().find("127.0.0.1:" + std::to_string(closed.port)), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("refused"), std::string::npos) << e.message();
  cli.ev.read([&] { EXPECT_TRUE(cli.ev.opened.empty() && cli.ev.closes.empty() && cli.ev.reconnects.empty()); });
}

TEST(ClientConnect, DnsFailure) {
  TestClient cli;
  ASSERT_TRUE(cli.client.connect("ws://nonexistent.invalid/"));
  ASSERT_TRUE(cli.ev.wait_errors(1, 15s));
  const Error e = cli.ev.error_at(0).error;
  EXPECT_STREQ(e.code().category().name(), "parley.resolver") << e.message();
  EXPECT_NE(e.message().find("cannot resolve nonexistent.invalid"), std::string::npos) << e.message();
  cli.ev.read([&] { EXPECT_TRUE(cli.ev.opened.empty()); });
}

TEST(ClientConnect, MalformedUris) {
  Client client;
  for (const char* uri : {"", "127.0.0.1:80", "ws//127.0.0.1/", "ws://", "ws://127.0.0.1:99999/", "ws://[::1/",
                          "ftp://127.0.0.1/", "ws://exa mple.com/"}) {
    auto r = client.connect(uri);
    ASSERT_FALSE(r) << uri;
    EXPECT_EQ(r.error(), HandshakeError::bad_uri) << uri << ": " << r.error().message();
    EXPECT_FALSE(r.error().message().empty());
  }
  auto http = client.connect("http://127.0.0.1:1/");
  ASSERT_FALSE(http);
  EXPECT_EQ(http.error(), HandshakeError::bad_uri) << http.error().message();
}

TEST(ClientConnect, BadOptionsAreErrors) {
  ClientOptions zero;
  zero.threads = 0;
  Client a(zero);
  EXPECT_TRUE(a.start().code() == std::errc::invalid_argument);
  EXPECT_FALSE(a.connect("ws://127.0.0.1:1/"));

  ClientOptions reserved;
  reserved.headers.add("Sec-WebSocket-Key", "x");
  Client b(reserved);
  auto r = b.connect("ws://127.0.0.1:1/");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), HandshakeError::malformed) << r.error().message();

  ClientOptions fatal;
  fatal.fatal = true;
  Client c(fatal);
  try {
    (void)c.connect("ftp://127.0.0.1:1/");
    ADD_FAILURE() << "no exception";
  } catch (const Exception& e) {
    EXPECT_EQ(e.error(), HandshakeError::bad_uri);
  }
}

// ---- addresses --------------------------------------------------------------

TEST(ClientAddress, Ipv6Loopback) {
  ServerOptions so = quiet_loopback();
  so.host = "::1";
  CommandServer srv(so);
  if (Error e = srv.server.start()) GTEST_SKIP() << "no IPv6 loopback: " << e.message();
  net::Endpoint remote;
  TestClient cli;
  cli.ev.open_hook = [&](Connection& c) { remote = c.remote_endpoint(); };
  ASSERT_TRUE(cli.client.connect("ws://[::1]:" + std::to_string(srv.port()) + "/v6"));
  ASSERT_TRUE(cli.ev.wait_open(1));
  cli.ev.read([&] { EXPECT_EQ(remote.to_string(), "[::1]:" + std::to_string(srv.port())); });
  srv.ev.read([&] {
    EXPECT_EQ(srv.ev.requests.at(0).host().value_or(""), "[::1]:" + std::to_string(srv.port()));
  });
}

TEST(ClientAddress, Localhost) {
  // Whatever localhost resolves to (127.0.0.1, ::1 or both, in any order),
  // the client must reach a server on either loopback address: it tries
  // each address in turn.
  for (const char* host : {"127.0.0.1", "::1"}) {
    ServerOptions so = quiet_loopback();
    so.host = host;
    CommandServer srv(so);
    if (srv.server.start()) continue;  // no IPv6
    TestClient cli;
    ASSERT_TRUE(cli.client.connect("ws://localhost:" + std::to_string(srv.port()) + "/"));
    // When localhost does not resolve to the server's family, the connect is refused.
    ASSERT_TRUE(cli.ev.wait([&] { return !cli.ev.opened.empty() || !cli.ev.errors.empty(); }));
    cli.ev.read([&] {
      if (!cli.ev.errors.empty()) {
        EXPECT_TRUE(cli.ev.errors[0].error.code() == std::errc::connection_refused) << cli.ev.errors[0].error.message();
        EXPECT_STREQ(host, "::1") << "localhost must reach 127.0.0.1";
      } else {
        EXPECT_EQ(cli.ev.sent_requests[0].host().value_or(""), "localhost:" + std::to_string(srv.port()));
      }
    });
  }
}

}  // namespace
}  // namespace parley
