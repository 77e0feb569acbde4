// parley::Client's keep-alive, limits and backpressure over real loopback
// sockets. Fixtures and recorders: client_support.hpp. (The limits under
// hostile servers: limits_client_test.cpp.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "client_support.hpp"
#include "parley/parley.hpp"
#include "raw_ws_server.hpp"

namespace parley {
namespace {

TEST(ClientKeepAlive, AnsweredPingsKeepTheConnectionOpen) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  ClientOptions co;
  co.ping_interval = 50ms;
  co.pong_timeout = 200ms;
  TestClient cli(co);
  ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(cli.ev.wait([&] { return cli.ev.pongs.size() >= 3; }));
  cli.ev.read([&] { EXPECT_TRUE(cli.ev.closes.empty()); });
}

TEST(ClientKeepAlive, UnansweredPingDropsTheConnection) {
  Recorder seen;
  RawPeer::ClientFrame ping;
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response());
    RawPeer::ClientFrame f = p.read_frame();  // the keep-alive ping, never answered
    seen.update([&] { ping = f; });
    p.wait_eof(5000ms);
  });
  ASSERT_TRUE(raw.ok());
  ClientOptions co;
  co.ping_interval = 100ms;
  co.pong_timeout = 200ms;
  TestClient cli(co);
  const auto start = Clock::now();
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  EXPECT_GE(since(start), 290ms);
  const Closed c = cli.ev.close_at(0);
  EXPECT_EQ(c.code, 1006);
  EXPECT_EQ(c.reason, "keep-alive ping unanswered");
  ASSERT_TRUE(seen.wait([&] { return ping.ok; }));
  seen.read([&] {
    EXPECT_EQ(ping.opcode, Opcode::ping);
    EXPECT_TRUE(ping.masked);
  });
}

// ---- limits and backpressure ------------------------------------------------

TEST(ClientLimits, MessageTooBigClosesWith1009) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  ClientOptions co;
  co.max_message_size = 1000;
  TestClient cli(co);
  cli.ev.open_hook = [](Connection& c) { c.send_text(std::string(2000, 'x')); };  // echoed back: too big
  ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  EXPECT_EQ(cli.ev.close_at(0).code, 1009);
  ASSERT_TRUE(cli.ev.wait_errors(1));
  EXPECT_EQ(cli.ev.error_at(0).error, ProtocolError::message_too_big) << cli.ev.error_at(0).error.message();
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.closes.empty(); }));
  srv.ev.read([&] { EXPECT_EQ(srv.ev.closes[0].code, 1009); });
  cli.ev.read([&] { EXPECT_TRUE(cli.ev.texts.empty()); });
}

TEST(ClientBackpressure, RefusesPastTheLimitThenDrains) {
  // A server that does not read until told: a 16 MiB message cannot all go
  // into the kernel, the rest stays buffered in the client.
  Recorder go;
  bool reading = false;
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response());
    go.wait([&] { return reading; }, 10s);
    p.answer_close(kLong);  // reads (and drops) everything until the client's close
  });
  ASSERT_TRUE(raw.ok());
  ClientOptions co;
  co.max_buffered_amount = 1024;
  Recorder drained;  // before the client: its callbacks use these
  int drains = 0;
  std::vector<SendResult> results;
  TestClient cli(co);
  cli.client.on_drain([&](Connection&) { drained.update([&] { ++drains; }); });
  cli.ev.open_hook = [&](Connection& c) {
    results.push_back(c.send_binary(std::string(16u << 20, 'b')));
    results.push_back(c.send_binary("more"));
    results.push_back(c.ping("pings still go"));  // control frames are not refused
  };
  auto h = cli.client.connect(raw.url());
  ASSERT_TRUE(h);
  ASSERT_TRUE(cli.ev.wait_open(1));
  cli.ev.read([&] {
    ASSERT_EQ(results.size(), 3u);
    EXPECT_EQ(results[0].status, SendStatus::backpressure);
    EXPECT_EQ(results[1].status, SendStatus::dropped);
    EXPECT_EQ(results[1].error, UsageError::buffer_full);
    EXPECT_NE(results[2].status, SendStatus::dropped);
  });
  drained.read([&] { EXPECT_EQ(drains, 0); });
  go.update([&] { reading = true; });
  ASSERT_TRUE(drained.wait([&] { return drains >= 1; }, kLong));
  ASSERT_TRUE(h->close());
}

}  // namespace
}  // namespace parley
