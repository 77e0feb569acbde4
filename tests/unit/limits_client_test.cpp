// The client's side of what a hostile peer can make parley hold, and what a
// throwing callback can break (issue 11; limits_test.cpp is the server's):
// a parley::Client against the raw test server (raw_ws_server.hpp), which
// floods pings without reading, or sends what makes a callback throw. The
// checks are the library's own figures (buffered bytes, counters, close
// codes), never wall time; every wait is bounded.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "client_support.hpp"
#include "parley/parley.hpp"

namespace parley {
namespace {

constexpr auto kBound = 20s;  // for the 24 MiB flood under sanitizers

TEST(LimitsClient, PingFloodFromAServerThatDoesNotReadIsBounded) {
  // 24 MiB of pings: far past what the kernel's buffers absorb (the
  // accepted socket's receive buffer is not shrunk: past the window it
  // already offered, a tiny one makes TCP trickle once reading starts).
  constexpr int kPings = 200000;
  const auto payload_of = [](int i) {
    std::string p = "ping " + std::to_string(i);
    p.resize(120, '.');
    return p;
  };
  std::atomic<bool> server_reads{false};  // the test lets the raw server read
  std::atomic<bool> last_pong{false};     // the raw server got the pong to its latest ping
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request() || !p.send(p.accept_response())) return;
    std::string batch;
    for (int i = 0; i < kPings; ++i) {
      batch += RawPeer::frame(Opcode::ping, payload_of(i));
      if (batch.size() > (1 << 20) || i == kPings - 1) {
        if (!p.send(batch, kBound)) return;
        batch.clear();
      }
    }
    if (!p.send(RawPeer::frame(Opcode::text, "done"))) return;
    // Nothing read until the test has looked at the client's buffer.
    if (!eventually([&] { return server_reads.load(); }, kBound)) return;
    const std::string last = payload_of(kPings - 1);
    for (int frames = 0; frames < kPings && !last_pong; ++frames) {
      RawPeer::ClientFrame f = p.read_frame();
      if (!f.ok) return;
      last_pong = f.opcode == Opcode::pong && f.payload == last;
    }
    p.answer_close();
  });
  ASSERT_TRUE(raw.ok());
  ClientOptions o;
  o.max_buffered_amount = 64 * 1024;
  std::atomic<std::size_t> peak{0};
  TestClient cli(o);
  // Instead of the recorder's (which keeps every ping): the most output
  // held when a ping came.
  cli.client.on_ping([&](Connection& c, std::string_view) {
    peak = std::max(peak.load(), c.buffered_amount());
    return true;
  });
  Result<ConnectionHandle> h = cli.client.connect(raw.url());
  ASSERT_TRUE(h) << h.error().message();
  ASSERT_TRUE(cli.ev.wait_texts(1, kBound)) << "the flood did not get through";
  // The limit plus the pongs to what one read (256 KiB of input) brings at
  // once, a client's pong being 4 bytes longer than the ping (its masking
  // key); before, every pong was queued (24 MiB).
  constexpr std::size_t kPingFrame = 2 + 120, kPongFrame = 2 + 4 + 120;
  const std::size_t bound = o.max_buffered_amount + (256 * 1024 / kPingFrame + 2) * kPongFrame;
  EXPECT_LE(peak.load(), bound);
  EXPECT_LE(buffered_amount_of(*h), bound);
  // Reading now, the server still gets the answer to its latest ping.
  server_reads = true;
  EXPECT_TRUE(eventually([&] { return last_pong.load(); }, kBound));
  cli.ev.read([&] {
    EXPECT_TRUE(cli.ev.closes.empty());
    EXPECT_TRUE(cli.ev.errors.empty()) << cli.ev.errors.front().error.message();
  });
}

TEST(LimitsClient, ThrowingCallbackClosesItsConnectionWith1011) {
  std::atomic<int> accepted{0};
  std::atomic<int> close_received{0};  // the code of the client's close frame
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request() || !p.send(p.accept_response())) return;
    if (accepted++ > 0) {  // the next connection: the client goes on
      if (p.send(RawPeer::frame(Opcode::text, "still fine"))) p.answer_close();
      return;
    }
    if (!p.send(RawPeer::frame(Opcode::text, "boom"))) return;
    RawPeer::ClientFrame f = p.read_frame();
    if (f.ok && f.opcode == Opcode::close) {
      close_received = f.close_code();
      p.send(RawPeer::frame(Opcode::close, f.payload.substr(0, 2)));
    }
  });
  ASSERT_TRUE(raw.ok());
  TestClient cli;
  cli.ev.text_hook = [](Connection&, std::string_view t) {
    if (t == "boom") throw std::runtime_error("client bug");
  };
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  EXPECT_TRUE(eventually([&] { return close_received.load() == 1011; })) << close_received.load();
  EXPECT_EQ(cli.ev.close_at(0).code, 1011);
  EXPECT_EQ(cli.client.counters().callback_exceptions, 1u);
  ASSERT_TRUE(cli.ev.wait_errors(1));
  const Error e = cli.ev.error_at(0).error;
  EXPECT_EQ(e, UsageError::callback_exception);
  EXPECT_NE(e.message().find("on_text threw: client bug"), std::string::npos) << e.message();
  // The client goes on: another connection works.
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_texts(1));
  cli.ev.read([&] {
    EXPECT_EQ(cli.ev.texts, std::vector<std::string>{"still fine"});
    EXPECT_EQ(cli.ev.errors.size(), 1u);
  });
  EXPECT_EQ(cli.client.counters().callback_exceptions, 1u);
}

}  // namespace
}  // namespace parley
