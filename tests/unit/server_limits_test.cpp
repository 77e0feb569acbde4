// parley::Server's limits, timeouts and keep-alive over real loopback
// sockets: message, frame, fragment and connection limits, the handshake
// and idle timeouts, keep-alive pings. Fixture and recorder:
// server_support.hpp (the limits under hostile peers: limits_test.cpp).
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>

#include "parley/parley.hpp"
#include "raw_ws_client.hpp"
#include "server_support.hpp"

namespace parley {
namespace {

TEST(ServerLimits, MessageTooBigCloses1009AndSparesOthers) {
  ServerOptions o = loopback();
  o.max_message_size = 1000;
  TestServer srv(o);
  ASSERT_TRUE(srv.start());
  RawWsClient big, other;
  ASSERT_TRUE(open_ws(big, srv.port()));
  ASSERT_TRUE(open_ws(other, srv.port()));
  // Exactly the limit is fine.
  ASSERT_TRUE(big.send_binary(std::string(1000, 'x')));
  ReadResult r = big.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload.size(), 1000u);
  // One byte more, in one frame.
  ASSERT_TRUE(big.send_binary(std::string(1001, 'x')));
  expect_close_then_eof(big, 1009);
  ASSERT_TRUE(srv.ev.wait_closed(1));
  EXPECT_EQ(srv.ev.close_at(0).code, 1009);
  // The other connection is unaffected.
  ASSERT_TRUE(other.send_text("still here"));
  r = other.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, "still here");
  // Over the limit across fragments (each frame under it) fails as well.
  RawWsClient frag;
  ASSERT_TRUE(open_ws(frag, srv.port()));
  ASSERT_TRUE(frag.send_frame(kText, std::string(600, 'a'), false));
  ASSERT_TRUE(frag.send_frame(kCont, std::string(600, 'a'), true));
  expect_close_then_eof(frag, 1009);
  EXPECT_EQ(srv.ev.close_count(), 2u);
}

TEST(ServerLimits, FrameTooBigCloses1009) {
  ServerOptions o = loopback();
  o.max_frame_size = 100;
  TestServer srv(o);
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  // Frames up to the limit form a larger message.
  ASSERT_TRUE(c.send_frame(kText, std::string(100, 'a'), false));
  ASSERT_TRUE(c.send_frame(kCont, std::string(100, 'b'), true));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, std::string(100, 'a') + std::string(100, 'b'));
  ASSERT_TRUE(c.send_frame(kBinary, std::string(101, 'c')));
  expect_close_then_eof(c, 1009);
  ASSERT_TRUE(srv.ev.wait_closed(1));
  EXPECT_EQ(srv.ev.close_at(0).code, 1009);
}

TEST(ServerLimits, TooManyFragmentsCloses1009) {
  ServerOptions o = loopback();
  o.max_fragments = 3;
  TestServer srv(o);
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(c.send_frame(kText, "a", false));
  ASSERT_TRUE(c.send_frame(kCont, "b", false));
  ASSERT_TRUE(c.send_frame(kCont, "c", false));
  ASSERT_TRUE(c.send_frame(kCont, "d", true));
  expect_close_then_eof(c, 1009);
}

TEST(ServerLimits, MaxConnectionsAnswers503) {
  ServerOptions o = loopback();
  o.max_connections = 2;
  TestServer srv(o);
  ASSERT_TRUE(srv.start());
  RawWsClient a, b;
  ASSERT_TRUE(open_ws(a, srv.port()));
  ASSERT_TRUE(open_ws(b, srv.port()));
  {
    RawWsClient third;
    ASSERT_TRUE(third.connect("127.0.0.1", srv.port()));
    HttpReply r = third.handshake();
    EXPECT_EQ(r.status, 503);
    EXPECT_TRUE(third.read_until_eof());
  }
  // Once one leaves, there is room again.
  a.close();
  ASSERT_TRUE(srv.ev.wait_closed(1));
  EXPECT_TRUE(eventually([&] { return srv.server.connection_count() == 1; }));
  RawWsClient d;
  EXPECT_TRUE(open_ws(d, srv.port()));
}

// ---- timeouts and keep-alive ------------------------------------------------

TEST(ServerTimeouts, SlowlorisHandshakeIsDropped) {
  ServerOptions o = loopback();
  o.handshake_timeout = 200ms;
  TestServer srv(o, Attach::record);
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.send_raw("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: webs"));  // and never the rest
  EXPECT_TRUE(c.read_until_eof(3s));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 150ms);
  EXPECT_TRUE(eventually([&] { return srv.server.connection_count() == 0; }));
  // A client that says nothing at all is dropped too.
  RawWsClient mute;
  ASSERT_TRUE(mute.connect("127.0.0.1", srv.port()));
  EXPECT_TRUE(mute.read_until_eof(3s));
  std::lock_guard l(srv.ev.m);
  EXPECT_TRUE(srv.ev.opened.empty());
  EXPECT_TRUE(srv.ev.closes.empty());
}

TEST(ServerTimeouts, IdleConnectionIsClosedWith1001) {
  ServerOptions o = loopback();
  o.idle_timeout = 300ms;
  o.ping_interval = 0ms;
  TestServer srv(o);
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  const auto t0 = std::chrono::steady_clock::now();
  ReadResult r = c.read_frame(3s);
  ASSERT_TRUE(r.is_frame());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms);
  EXPECT_EQ(r.frame.opcode, kClose);
  EXPECT_EQ(r.frame.close_code(), 1001);
  ASSERT_TRUE(c.send_close(1001));
  EXPECT_TRUE(c.read_until_eof());
  ASSERT_TRUE(srv.ev.wait_closed(1));
  EXPECT_EQ(srv.ev.close_at(0).code, 1001);
}

TEST(ServerKeepAlive, UnansweredPingDropsTheConnection) {
  ServerOptions o = loopback();
  o.ping_interval = 100ms;
  o.pong_timeout = 300ms;
  TestServer srv(o);
  srv.server.on_ping([](Connection&, std::string_view) { return true; });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ReadResult r = c.read_frame(3s);
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kPing);
  // Not answered: the server gives up on this peer.
  EXPECT_TRUE(c.read_until_eof(3s));
  ASSERT_TRUE(srv.ev.wait_closed(1));
  EXPECT_EQ(srv.ev.close_at(0).code, 1006);
  EXPECT_TRUE(eventually([&] { return srv.server.connection_count() == 0; }));
}

TEST(ServerKeepAlive, AnsweredPingsKeepTheConnectionOpen) {
  ServerOptions o = loopback();
  o.ping_interval = 100ms;
  o.pong_timeout = 300ms;
  TestServer srv(o);
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  int pings = 0;
  const auto end = std::chrono::steady_clock::now() + 1200ms;
  while (std::chrono::steady_clock::now() < end) {
    ReadResult r = c.read_frame(100ms);
    if (r.kind == ReadResult::Kind::timeout) continue;
    ASSERT_TRUE(r.is_frame()) << "the connection was dropped";
    ASSERT_EQ(r.frame.opcode, kPing);
    ++pings;
    ASSERT_TRUE(c.send_frame(kPong, r.frame.payload));
  }
  EXPECT_GE(pings, 3);
  EXPECT_EQ(srv.ev.close_count(), 0u);
  ASSERT_TRUE(c.send_text("alive"));
  ReadResult r = c.read_data_or_close();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, "alive");
  std::lock_guard l(srv.ev.m);
  EXPECT_EQ(srv.ev.pongs.size(), static_cast<std::size_t>(pings));
}

}  // namespace
}  // namespace parley
