// parley::Client's reconnection with backoff over real loopback sockets: a
// server restarted on the same port, drops, giving up after max_attempts,
// stop() while waiting, and closes that must not reconnect. Fixtures and
// recorders: client_support.hpp.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>

#include "client_support.hpp"
#include "parley/parley.hpp"

namespace parley {
namespace {

ClientOptions reconnecting(unsigned max_attempts) {
  ClientOptions co;
  co.reconnect.enabled = true;
  co.reconnect.initial_delay = 20ms;
  co.reconnect.max_delay = 160ms;
  co.reconnect.multiplier = 2.0;
  co.reconnect.jitter = 0.0;
  co.reconnect.max_attempts = max_attempts;
  return co;
}

/// True when the connection behind `h` still exists on its loop (open, or
/// waiting to reconnect). `marker` is another live connection of the same
/// single-threaded client: posts run in order, so once the marker's has
/// run, `h`'s has run or been dropped.
bool still_exists(const ConnectionHandle& h, const ConnectionHandle& marker) {
  auto ran = std::make_shared<std::atomic<bool>>(false);
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  h.post([ran](Connection&) { *ran = true; });
  marker.post([done](Connection&) { done->set_value(); });
  EXPECT_EQ(f.wait_for(kWait), std::future_status::ready) << "the marker connection is gone";
  return ran->load();
}

/// True once the connection behind `h` no longer exists (within kWait). A
/// connection lingers briefly after on_close (until the peer's FIN); one
/// waiting to reconnect never goes away.
bool gone(const ConnectionHandle& h, const ConnectionHandle& marker) {
  const auto end = Clock::now() + kWait;
  while (still_exists(h, marker)) {
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(1ms);  // polling, each round trip checked on the loop
  }
  return true;
}

TEST(ClientReconnect, ServerRestartedOnTheSamePort) {
  auto first = std::make_unique<CommandServer>();
  ASSERT_TRUE(first->start());
  const std::uint16_t port = first->server.port();
  TestClient cli(reconnecting(0));
  auto h = cli.client.connect(first->url());
  ASSERT_TRUE(h);
  ASSERT_TRUE(cli.ev.wait_open(1));

  first.reset();  // stop: 1001 to the client
  ASSERT_TRUE(cli.ev.wait_closed(1));
  EXPECT_EQ(cli.ev.close_at(0).code, 1001);
  ASSERT_TRUE(cli.ev.wait([&] { return cli.ev.reconnects.size() >= 3; }));

  ServerOptions so = quiet_loopback();
  so.port = port;
  CommandServer second(so);
  ASSERT_TRUE(second.start()) << "port " << port << " was taken meanwhile";
  ASSERT_TRUE(cli.ev.wait_open(2));
  cli.ev.read([&] {
    EXPECT_EQ(cli.ev.open_ids[1], h->id());
    ASSERT_GE(cli.ev.reconnects.size(), 3u);
    EXPECT_EQ(cli.ev.reconnects[0].delay, 20ms);
    EXPECT_EQ(cli.ev.reconnects[1].delay, 40ms);
    EXPECT_EQ(cli.ev.reconnects[2].delay, 80ms);
    for (std::size_t i = 0; i < cli.ev.reconnects.size(); ++i) {
      EXPECT_EQ(cli.ev.reconnects[i].attempt, i + 1);
      EXPECT_EQ(cli.ev.reconnects[i].id, h->id());
      EXPECT_LE(cli.ev.reconnects[i].delay, 160ms);
      if (i > 0) {
        EXPECT_GE(cli.ev.reconnects[i].delay, cli.ev.reconnects[i - 1].delay);
      }
    }
    // Every failed attempt was reported (refused), but no on_close: the
    // connection never opened in between.
    EXPECT_EQ(cli.ev.errors.size() + 1, cli.ev.reconnects.size());
    for (const auto& f : cli.ev.errors) EXPECT_TRUE(f.error.code() == std::errc::connection_refused) << f.error.message();
    EXPECT_EQ(cli.ev.closes.size(), 1u);
  });
  // The old handle reaches the new connection.
  ASSERT_TRUE(h->send_text("back again"));
  ASSERT_TRUE(cli.ev.wait_texts(1));
  cli.ev.read([&] { EXPECT_EQ(cli.ev.texts[0], "back again"); });
}

TEST(ClientReconnect, DroppedConnectionReconnectsAndCountsAgain) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  TestClient cli(reconnecting(3));
  auto h = cli.client.connect(srv.url());
  ASSERT_TRUE(h);
  ASSERT_TRUE(cli.ev.wait_open(1));
  for (std::size_t round = 1; round <= 4; ++round) {  // more drops than max_attempts: the count restarts on open
    ASSERT_TRUE(h->send_text("cmd:drop"));
    ASSERT_TRUE(cli.ev.wait_open(round + 1)) << round;
  }
  cli.ev.read([&] {
    ASSERT_EQ(cli.ev.reconnects.size(), 4u);
    for (const auto& r : cli.ev.reconnects) {
      EXPECT_EQ(r.attempt, 1u);
      EXPECT_EQ(r.delay, 20ms);
    }
    for (const auto& c : cli.ev.closes) EXPECT_EQ(c.code, 1006);
    for (auto id : cli.ev.open_ids) EXPECT_EQ(id, h->id());
  });
}

TEST(ClientReconnect, GivesUpAfterMaxAttempts) {
  ClosedPort closed;
  ASSERT_NE(closed.port, 0);
  ClientOptions co = reconnecting(3);
  co.reconnect.initial_delay = 10ms;
  TestClient cli(co);
  ASSERT_TRUE(cli.client.connect(closed.url()));
  ASSERT_TRUE(cli.ev.wait_errors(5));
  const auto last = cli.ev.error_at(4);
  EXPECT_TRUE(last.error.code() == std::errc::operation_canceled) << last.error.message();
  EXPECT_EQ(last.error.message(), "gave up reconnecting after 3 attempts");
  cli.ev.read([&] {
    for (std::size_t i = 0; i < 4; ++i) {
      EXPECT_TRUE(cli.ev.errors[i].error.code() == std::errc::connection_refused) << cli.ev.errors[i].error.message();
    }
    ASSERT_EQ(cli.ev.reconnects.size(), 3u);
    EXPECT_EQ(cli.ev.reconnects[0].delay, 10ms);
    EXPECT_EQ(cli.ev.reconnects[1].delay, 20ms);
    EXPECT_EQ(cli.ev.reconnects[2].delay, 40ms);
    EXPECT_TRUE(cli.ev.opened.empty());
    EXPECT_TRUE(cli.ev.closes.empty());
  });
}

TEST(ClientReconnect, StopWhileWaitingToReconnect) {
  ClosedPort closed;
  ClientOptions co = reconnecting(0);
  co.reconnect.initial_delay = 10s;
  co.reconnect.max_delay = 10s;
  TestClient cli(co);
  ASSERT_TRUE(cli.client.connect(closed.url()));
  ASSERT_TRUE(cli.ev.wait([&] { return !cli.ev.reconnects.empty(); }));
  const auto start = Clock::now();
  cli.client.stop();
  EXPECT_LT(since(start), 2000ms);
  cli.ev.read([&] { EXPECT_EQ(cli.ev.reconnects.size(), 1u); });
}

TEST(ClientReconnect, NormalOrOwnCloseDoesNotReconnect) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  TestClient cli(reconnecting(0));
  auto keeper = cli.client.connect(srv.url());  // a marker on the same loop
  ASSERT_TRUE(keeper);
  ASSERT_TRUE(cli.ev.wait_open(1));

  // The server closes with 1000.
  auto a = cli.client.connect(srv.url());
  ASSERT_TRUE(a);
  ASSERT_TRUE(cli.ev.wait_open(2));
  ASSERT_TRUE(a->send_text("cmd:close 1000 finished"));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  EXPECT_EQ(cli.ev.close_at(0).code, 1000);
  EXPECT_TRUE(gone(*a, *keeper));

  // The application closes, even with another code.
  auto b = cli.client.connect(srv.url());
  ASSERT_TRUE(b);
  ASSERT_TRUE(cli.ev.wait_open(3));
  ASSERT_TRUE(b->close(CloseCode{4000}, "mine"));
  ASSERT_TRUE(cli.ev.wait_closed(2));
  EXPECT_EQ(cli.ev.close_at(1).code, 4000);
  EXPECT_TRUE(gone(*b, *keeper));

  // The application terminates.
  auto c = cli.client.connect(srv.url());
  ASSERT_TRUE(c);
  ASSERT_TRUE(cli.ev.wait_open(4));
  ASSERT_TRUE(c->post([](Connection& conn) { conn.terminate(); }));
  ASSERT_TRUE(cli.ev.wait_closed(3));
  EXPECT_EQ(cli.ev.close_at(2).code, 1006);
  EXPECT_TRUE(gone(*c, *keeper));

  EXPECT_TRUE(still_exists(*keeper, *keeper));
  cli.ev.read([&] { EXPECT_TRUE(cli.ev.reconnects.empty()); });
  srv.ev.read([&] { EXPECT_EQ(srv.ev.opened.size(), 4u); });
}

}  // namespace
}  // namespace parley
