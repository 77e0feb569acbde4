// parley::Client following (or not) HTTP redirects of the opening
// handshake, from a raw test server to parley's Server, to another scheme,
// or in a loop. Fixtures and recorders: client_support.hpp.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "client_support.hpp"
#include "parley/parley.hpp"
#include "raw_ws_server.hpp"

namespace parley {
namespace {

TEST(ClientRedirect, FollowsARedirectToParleysServer) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  const std::string target = srv.url("/landed?from=raw");
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    p.send("HTTP/1.1 302 Found\r\nLocation: " + target + "\r\nContent-Length: 0\r\n\r\n");
    p.wait_eof(2000ms);
  });
  ASSERT_TRUE(raw.ok());
  TestClient cli;
  cli.ev.open_hook = [](Connection& c) { c.send_text("after redirect"); };
  auto h = cli.client.connect(raw.url("/start"));
  ASSERT_TRUE(h);
  ASSERT_TRUE(cli.ev.wait_texts(1));
  cli.ev.read([&] {
    EXPECT_EQ(cli.ev.texts[0], "after redirect");
    EXPECT_EQ(cli.ev.open_ids[0], h->id());
    EXPECT_EQ(cli.ev.sent_requests[0].target, "/landed?from=raw");
    EXPECT_TRUE(cli.ev.errors.empty());
  });
  srv.ev.read([&] {
    ASSERT_EQ(srv.ev.requests.size(), 1u);
    EXPECT_EQ(srv.ev.requests[0].path(), "/landed");
    EXPECT_EQ(srv.ev.requests[0].host().value_or(""), "127.0.0.1:" + std::to_string(srv.port()));
  });
  ASSERT_EQ(raw.requests().size(), 1u);
  EXPECT_EQ(raw.requests()[0].target, "/start");
}

TEST(ClientRedirect, FollowsHttpAndRelativeLocations) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  const std::string http_target = "http://127.0.0.1:" + std::to_string(srv.port()) + "/final";
  std::atomic<int> n{0};
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    if (n++ == 0) {
      p.send("HTTP/1.1 307 Temporary Redirect\r\nLocation: /second\r\n\r\n");  // relative, no body
    } else {
      p.send("HTTP/1.1 301 Moved Permanently\r\nLocation: " + http_target + "\r\nContent-Length: 0\r\n\r\n");
    }
    p.wait_eof(2000ms);
  });
  ASSERT_TRUE(raw.ok());
  TestClient cli;
  ASSERT_TRUE(cli.client.connect(raw.url("/first")));
  ASSERT_TRUE(cli.ev.wait_open(1));
  auto reqs = raw.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].target, "/first");
  EXPECT_EQ(reqs[1].target, "/second");
  srv.ev.read([&] { EXPECT_EQ(srv.ev.requests.at(0).path(), "/final"); });
}

TEST(ClientRedirect, NotFollowedWithMaxRedirectsZero) {
  ClientOptions co;
  co.max_redirects = 0;
  auto f = first_error(
      [](RawPeer& p) {
        if (!p.read_request()) return;
        p.send("HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n");
        p.wait_eof(2000ms);
      },
      co);
  EXPECT_EQ(f.error, HandshakeError::bad_status) << f.error.message();
  EXPECT_NE(f.error.message().find("302"), std::string::npos) << f.error.message();
  ASSERT_TRUE(f.response);
  EXPECT_EQ(f.response->status, 302);
  EXPECT_EQ(f.response->headers.get("Location").value_or(""), "ws://127.0.0.1:1/");
}

TEST(ClientRedirect, RedirectLoopGivesUp) {
  RawWsServer* self = nullptr;
  Recorder ready;
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    ready.wait([&] { return self != nullptr; });
    p.send("HTTP/1.1 302 Found\r\nLocation: " + self->url("/again") + "\r\nContent-Length: 0\r\n\r\n");
    p.wait_eof(2000ms);
  });
  ASSERT_TRUE(raw.ok());
  ready.update([&] { self = &raw; });
  ClientOptions co;
  co.max_redirects = 3;
  TestClient cli(co);
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_errors(1));
  const auto f = cli.ev.error_at(0);
  EXPECT_EQ(f.error, HandshakeError::too_many_redirects) << f.error.message();
  EXPECT_NE(f.error.message().find("3"), std::string::npos) << f.error.message();
  EXPECT_EQ(raw.requests().size(), 4u);  // the first request and 3 redirects followed
}

TEST(ClientRedirect, FollowsARedirectToWss) {
  // ws:// to wss:// is an upgrade and is followed (here to a closed port).
  ClosedPort closed;
  ASSERT_NE(closed.port, 0);
  const std::string target = "wss://127.0.0.1:" + std::to_string(closed.port) + "/";
  auto f = first_error([&](RawPeer& p) {
    if (!p.read_request()) return;
    p.send("HTTP/1.1 302 Found\r\nLocation: " + target + "\r\nContent-Length: 0\r\n\r\n");
    p.wait_eof(2000ms);
  });
  EXPECT_TRUE(f.error.code() == std::errc::connection_refused) << f.error.message();
}

}  // namespace
}  // namespace parley
