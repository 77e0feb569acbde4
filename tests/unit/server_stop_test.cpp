// Stopping parley::Server over real loopback sockets: graceful (no message
// lost), bounded with a peer that never answers, concurrent, from a
// callback, and run() until stop(). Fixture and recorder: server_support.hpp.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <string>

#include "parley/parley.hpp"
#include "raw_ws_client.hpp"
#include "server_support.hpp"

namespace parley {
namespace {

TEST(ServerStop, GracefulStopLosesNoMessage) {
  ServerOptions o = loopback();
  o.close_timeout = 2000ms;
  TestServer srv(o);
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(1));
  ConnectionHandle h = srv.ev.handle_at(0);
  // Big enough that much of it is still queued in the server when stop() runs
  // (the client reads nothing until then).
  constexpr int kMessages = 200;
  const std::string filler(32 * 1024, 'f');
  for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(h.send_text(std::to_string(i) + ":" + filler));
  // A message sent from a loop thread, inside a callback, counts as well.
  ASSERT_TRUE(h.post([](Connection& conn) { conn.send_text("last"); }));
  auto stopped = std::async(std::launch::async, [&] { srv.server.stop(); });
  for (int i = 0; i < kMessages; ++i) {
    ReadResult r = c.read_frame();
    ASSERT_TRUE(r.is_frame()) << "message " << i << " lost";
    ASSERT_EQ(r.frame.opcode, kText) << i;
    ASSERT_EQ(r.frame.payload, std::to_string(i) + ":" + filler) << i;
  }
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, "last");
  r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kClose);
  EXPECT_EQ(r.frame.close_code(), 1001);
  ASSERT_TRUE(c.send_close(1001));
  EXPECT_TRUE(c.read_until_eof());
  c.close();
  ASSERT_EQ(stopped.wait_for(kWait), std::future_status::ready) << "stop() did not return";
  std::lock_guard l(srv.ev.m);
  EXPECT_EQ(srv.ev.shutdowns, 1);
  ASSERT_EQ(srv.ev.closes.size(), 1u);
  EXPECT_EQ(srv.ev.closes[0].code, 1001);
}

TEST(ServerStop, StopWithAnUnresponsivePeerIsBounded) {
  ServerOptions o = loopback();
  o.close_timeout = 200ms;
  TestServer srv(o);
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(1));
  const auto t0 = std::chrono::steady_clock::now();
  srv.server.stop();  // the client never answers the close frame
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.close_code(), 1001);
  std::lock_guard l(srv.ev.m);
  ASSERT_EQ(srv.ev.closes.size(), 1u);
  EXPECT_EQ(srv.ev.closes[0].code, 1006);
  srv.server.stop();  // idempotent
}

TEST(ServerStop, ConcurrentStopsBothWaitUntilStopped) {
  ServerOptions o = loopback();
  o.close_timeout = 300ms;
  TestServer srv(o);
  ASSERT_TRUE(srv.start());
  RawWsClient c;  // never answers the close frame: stopping takes close_timeout
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(1));
  auto first = std::async(std::launch::async, [&] { srv.server.stop(); });
  ASSERT_TRUE(srv.ev.wait([&] { return srv.ev.shutdowns == 1; }));
  srv.server.stop();  // documented to block until the server has stopped
  EXPECT_EQ(srv.ev.close_count(), 1u) << "a second stop() returned before the server had stopped";
  EXPECT_EQ(first.wait_for(kWait), std::future_status::ready);
}

TEST(ServerStop, StopFromACallbackThenWait) {
  TestServer srv;
  srv.server.on_text([&](Connection&, std::string_view t) {
    if (t == "stop") srv.server.stop();  // returns at once on a loop thread
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(c.send_text("stop"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.close_code(), 1001);
  ASSERT_TRUE(c.send_close(1001));
  EXPECT_TRUE(c.read_until_eof());
  c.close();
  auto waited = std::async(std::launch::async, [&] { srv.server.wait(); });
  EXPECT_EQ(waited.wait_for(kWait), std::future_status::ready);
  std::lock_guard l(srv.ev.m);
  EXPECT_EQ(srv.ev.shutdowns, 1);
}

TEST(ServerStop, RunBlocksUntilStop) {
  TestServer srv;
  auto running = std::async(std::launch::async, [&] { return srv.server.run(); });
  ASSERT_TRUE(eventually([&] { return srv.port() != 0; }));
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  EXPECT_EQ(running.wait_for(50ms), std::future_status::timeout);
  c.close();
  srv.server.stop();
  ASSERT_EQ(running.wait_for(kWait), std::future_status::ready);
  EXPECT_FALSE(running.get());
}

}  // namespace
}  // namespace parley
