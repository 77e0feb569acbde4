// What a hostile peer can make parley hold, and what a throwing callback can
// break (issue 11): each test drives a real Server over loopback with the
// raw test client and checks the library's own figures (buffered bytes,
// counters, close codes), never wall time. Every wait is bounded.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "parley/parley.hpp"
#include "raw_ws_client.hpp"
#include "server_support.hpp"

namespace parley {
namespace {

// ---- the engine (sans-I/O) ----------------------------------------------------

struct QuietHandler : protocol::EngineHandler {
  void on_message(protocol::Opcode, std::string_view) override {}
};

std::string masked_ping(std::string_view payload) { return RawWsClient::encode(kPing, payload); }

TEST(LimitsEngine, OutputShrinksAfterALargeSend) {
  QuietHandler h;
  const protocol::EngineOptions o;
  protocol::Engine e(o, h);
  ASSERT_FALSE(e.send(protocol::Opcode::binary, std::string(1 << 20, 'x')));
  EXPECT_GT(e.output().capacity(), 1u << 20);
  e.clear_output();
  EXPECT_TRUE(e.output().empty());
  EXPECT_LE(e.output().capacity(), 4096u);
  ASSERT_FALSE(e.send(protocol::Opcode::text, "small"));
  const std::size_t small = e.output().capacity();
  e.clear_output();
  EXPECT_EQ(e.output().capacity(), small);  // small buffers are kept: no allocation per message
}

TEST(LimitsEngine, HeldPongsAnswerOnlyTheLatestPing) {
  QuietHandler h;
  const protocol::EngineOptions o;
  protocol::Engine e(o, h);
  e.hold_pongs(true);
  std::string wire;
  for (int i = 0; i < 1000; ++i) wire += masked_ping("ping " + std::to_string(i));
  e.receive(reinterpret_cast<std::uint8_t*>(wire.data()), wire.size());
  EXPECT_TRUE(e.output().empty());  // nothing queued while held
  e.hold_pongs(false);
  const auto h0 = protocol::read_frame_header(e.output());
  ASSERT_TRUE(h0);
  EXPECT_EQ(h0->opcode, protocol::Opcode::pong);
  EXPECT_EQ(e.output().size(), 2 + std::string_view("ping 999").size());  // one pong, the latest payload
  EXPECT_EQ(e.output().substr(2), "ping 999");
  e.clear_output();
  e.hold_pongs(false);  // nothing owed any more
  EXPECT_TRUE(e.output().empty());
}

TEST(LimitsEngine, FailFreesThePartialMessage) {
  QuietHandler h;
  const protocol::EngineOptions o;
  protocol::Engine e(o, h);
  std::string wire = RawWsClient::encode(kBinary, std::string(100000, 'a'), /*fin=*/false);
  e.receive(reinterpret_cast<std::uint8_t*>(wire.data()), wire.size());
  EXPECT_TRUE(e.receiving_message());
  EXPECT_GE(e.input_held(), 100000u);
  e.fail(Error(ProtocolError::memory_budget, "test"));
  EXPECT_EQ(e.input_held(), 0u);
  EXPECT_EQ(e.state(), protocol::EngineState::closed);
  const auto close = protocol::read_frame_header(e.output());
  ASSERT_TRUE(close);
  EXPECT_EQ(close->opcode, protocol::Opcode::close);
}

// ---- over sockets ------------------------------------------------------------

TEST(Limits, PingFloodFromAPeerThatDoesNotReadIsBounded) {
  ServerOptions o = loopback();
  o.max_buffered_amount = 64 * 1024;
  o.ping_interval = 0ms;
  std::atomic<std::size_t> peak{0};
  TestServer srv(o, Attach::record);
  srv.server.on_ping([&](Connection& c, std::string_view) {
    peak = std::max(peak.load(), c.buffered_amount());
    return true;
  });
  srv.server.on_text([&](Connection&, std::string_view t) { srv.ev.update([&] { srv.ev.texts.emplace_back(t); }); });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port(), /*rcvbuf=*/4096));
  ASSERT_EQ(c.handshake("/").status, 101);
  // 24 MiB of pings, far past what the kernel's buffers absorb, unread.
  constexpr int kPings = 200000;
  std::string batch;
  for (int i = 0; i < kPings; ++i) {
    std::string payload = "ping " + std::to_string(i);
    payload.resize(120, '.');
    batch += masked_ping(payload);
    if (batch.size() > (1 << 20) || i == kPings - 1) {
      ASSERT_TRUE(c.send_raw(batch, 20s));
      batch.clear();
    }
  }
  ASSERT_TRUE(c.send_text("done"));
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.texts.empty(); }, 20s));
  // The limit plus what one read (256 KiB of input) can answer at once.
  EXPECT_LE(peak.load(), o.max_buffered_amount + 256 * 1024 + 256);
  EXPECT_LE(buffered_amount_of(srv.ev.handle_at(0)), o.max_buffered_amount + 256 * 1024 + 256);
  // Reading now, the peer still gets the answer to its latest ping.
  std::string last = "ping " + std::to_string(kPings - 1);
  last.resize(120, '.');
  bool got_last = false;
  for (int frames = 0; frames < 2 * kPings && !got_last; ++frames) {
    ReadResult r = c.read_frame(5s);
    ASSERT_TRUE(r.is_frame());
    got_last = r.frame.opcode == kPong && r.frame.payload == last;
  }
  EXPECT_TRUE(got_last);
  EXPECT_EQ(srv.ev.close_count(), 0u);
}

TEST(Limits, BroadcastNeverTakesARecipientPastItsLimit) {
  ServerOptions o = loopback();
  o.max_buffered_amount = 256 * 1024;
  TestServer srv(o, Attach::record);
  ASSERT_TRUE(srv.start());
  RawWsClient slow;
  ASSERT_TRUE(slow.connect("127.0.0.1", srv.port(), /*rcvbuf=*/4096));
  ASSERT_EQ(slow.handshake("/").status, 101);
  ASSERT_TRUE(srv.ev.wait_opened(1));
  // Larger than the limit: nobody can take it, even with an empty buffer.
  srv.server.broadcast(MessageType::binary, std::string(1 << 20, 'b'));
  ASSERT_TRUE(eventually([&] { return srv.server.counters().skipped_deliveries == 1; }));
  // 32 MiB in 100 KB messages to a peer that reads nothing.
  const std::string message(100 * 1000, 'm');
  for (int i = 0; i < 320; ++i) srv.server.broadcast(MessageType::binary, message);
  ASSERT_TRUE(eventually([&] { return srv.server.counters().skipped_deliveries > 1; }, 10s));
  EXPECT_LE(buffered_amount_of(srv.ev.handle_at(0)), o.max_buffered_amount);
  EXPECT_EQ(srv.ev.close_count(), 0u);  // policy drop: skipped, not closed
}

TEST(Limits, BroadcastPastTheLimitClosesWithThePolicyClose) {
  ServerOptions o = loopback();
  o.max_buffered_amount = 64 * 1024;
  o.backpressure_policy = BackpressurePolicy::close;
  TestServer srv(o, Attach::record);
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(1));
  srv.server.broadcast(MessageType::binary, std::string(100 * 1000, 'b'));
  expect_close_then_eof(c, 1008);
}

TEST(Limits, MemoryBudgetClosesTheLargestPartialMessage) {
  ServerOptions o = loopback();
  o.max_total_buffered = 4 << 20;
  TestServer srv(o, Attach::record);
  srv.server.on_binary([](Connection& c, std::string_view m) { c.send_text(std::to_string(m.size())); });
  ASSERT_TRUE(srv.start());
  RawWsClient a, b;
  ASSERT_TRUE(open_ws(a, srv.port()));
  ASSERT_TRUE(open_ws(b, srv.port()));
  // Each stays under max_message_size; together they pass the budget.
  ASSERT_TRUE(a.send_frame(kBinary, std::string(3 << 20, 'a'), /*fin=*/false));
  ASSERT_TRUE(b.send_frame(kBinary, std::string(3 << 20, 'b'), /*fin=*/false));
  ASSERT_TRUE(srv.ev.wait_closed(1));
  EXPECT_EQ(srv.ev.close_at(0).code, 1009);
  EXPECT_EQ(srv.server.counters().budget_closes, 1u);
  {
    std::lock_guard l(srv.ev.m);
    ASSERT_FALSE(srv.ev.errors.empty());
    EXPECT_NE(srv.ev.errors.back().find("memory budget"), std::string::npos) << srv.ev.errors.back();
  }
  // The survivor finishes its message and is answered.
  RawWsClient& survivor = srv.ev.close_at(0).id == srv.ev.handle_at(0).id() ? b : a;
  ASSERT_TRUE(survivor.send_frame(kCont, "end"));
  ReadResult r = survivor.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, std::to_string((3 << 20) + 3));
}

TEST(Limits, MemoryBudgetDropsTheLargestUnsentOutput) {
  ServerOptions o = loopback();
  o.max_total_buffered = 2 << 20;
  std::atomic<int> refused{0};
  TestServer srv(o, Attach::record);
  srv.server.on_text([&](Connection& c, std::string_view) {
    for (int i = 0; i < 64; ++i) {
      if (c.send_binary(std::string(512 * 1024, 'o')).status == SendStatus::dropped) ++refused;
    }
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port(), /*rcvbuf=*/4096));
  ASSERT_EQ(c.handshake("/").status, 101);
  ASSERT_TRUE(c.send_text("fill"));
  ASSERT_TRUE(srv.ev.wait_closed(1));
  EXPECT_EQ(srv.ev.close_at(0).code, 1008);
  EXPECT_GT(refused.load(), 0);  // refused once past the budget, before anything else was queued
  EXPECT_EQ(srv.server.counters().budget_closes, 1u);
}

TEST(Limits, IncompleteMessageTimesOutEvenIfThePeerPings) {
  ServerOptions o = loopback();
  o.message_timeout = 300ms;
  TestServer srv(o, Attach::record);
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(c.send_frame(kText, "the start of a message", /*fin=*/false));
  int code = 0;
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (code == 0 && std::chrono::steady_clock::now() < end) {
    ASSERT_TRUE(c.send_frame(kPing, "still here"));
    std::this_thread::sleep_for(50ms);
    for (ReadResult r = c.read_frame(1ms); r.is_frame(); r = c.read_frame(1ms)) {
      if (r.frame.opcode == kClose) code = r.frame.close_code();
    }
  }
  EXPECT_EQ(code, 1008);
  ASSERT_TRUE(srv.ev.wait_closed(1));
  EXPECT_EQ(srv.ev.close_at(0).code, 1008);
}

// ---- callbacks that throw ----------------------------------------------------------

TEST(LimitsCallbacks, ThrowingMessageCallbackClosesOnlyItsConnection) {
  TestServer srv(Attach::record);
  srv.server.on_text([](Connection& c, std::string_view t) {
    if (t == "boom") throw std::runtime_error("kaboom");
    c.send_text(t);
  });
  ASSERT_TRUE(srv.start());
  RawWsClient bad, good;
  ASSERT_TRUE(open_ws(bad, srv.port()));
  ASSERT_TRUE(open_ws(good, srv.port()));
  ASSERT_TRUE(bad.send_text("boom"));
  expect_close_then_eof(bad, 1011);
  ASSERT_TRUE(good.send_text("still alive"));
  ReadResult r = good.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, "still alive");
  EXPECT_EQ(srv.server.counters().callback_exceptions, 1u);
  std::lock_guard l(srv.ev.m);
  ASSERT_FALSE(srv.ev.errors.empty());
  EXPECT_NE(srv.ev.errors.front().find("on_text threw: kaboom"), std::string::npos) << srv.ev.errors.front();
}

TEST(LimitsCallbacks, ThrowingHandshakeHooksAnswer500) {
  TestServer srv(Attach::record);
  srv.server.on_handshake([](Connection&, const Request& req) -> HandshakeReply {
    if (req.path() == "/throw") throw std::logic_error("hook bug");
    return HandshakeReply::accept();
  });
  srv.server.on_http([](const Request&) -> Response { throw 42; });  // not even a std::exception
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
  HttpReply r = c.handshake("/throw");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.find("hook bug"), std::string::npos);  // the peer is not told the internals
  RawWsClient h;
  ASSERT_TRUE(h.connect("127.0.0.1", srv.port()));
  EXPECT_EQ(h.request("GET /page HTTP/1.1\r\nHost: x\r\n\r\n").status, 500);
  RawWsClient ok;
  EXPECT_TRUE(open_ws(ok, srv.port()));
  EXPECT_EQ(srv.server.counters().callback_exceptions, 2u);
  std::lock_guard l(srv.ev.m);
  ASSERT_EQ(srv.ev.errors.size(), 2u);
  EXPECT_NE(srv.ev.errors[0].find("on_handshake threw: hook bug"), std::string::npos) << srv.ev.errors[0];
  EXPECT_NE(srv.ev.errors[1].find("on_http threw: unknown exception"), std::string::npos) << srv.ev.errors[1];
}

TEST(LimitsCallbacks, ThrowingPostsTimersAndCloseCallbacksAreReported) {
  TestServer srv(Attach::record);
  srv.server.on_close([](Connection&, CloseCode, std::string_view) { throw std::runtime_error("close bug"); });
  ASSERT_TRUE(srv.start());
  ASSERT_TRUE(srv.server.post([] { throw std::runtime_error("post bug"); }));
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(1));
  srv.ev.handle_at(0).post([](Connection&) { throw std::runtime_error("handle bug"); });
  expect_close_then_eof(c, 1011);
  ASSERT_TRUE(eventually([&] { return srv.server.counters().callback_exceptions == 3; }));
  RawWsClient d;
  EXPECT_TRUE(open_ws(d, srv.port()));
  std::lock_guard l(srv.ev.m);
  std::string all;
  for (const auto& e : srv.ev.errors) all += e + "\n";
  EXPECT_NE(all.find("post bug"), std::string::npos) << all;
  EXPECT_NE(all.find("handle bug"), std::string::npos) << all;
  EXPECT_NE(all.find("on_close threw: close bug"), std::string::npos) << all;
}

TEST(LimitsCallbacks, ThrowingAcceptDropsThatConnectionOnly) {
  std::atomic<int> calls{0};
  TestServer srv(Attach::record);
  srv.server.on_accept([&](const net::Endpoint&) {
    if (calls++ == 0) throw std::runtime_error("accept bug");
    return true;
  });
  ASSERT_TRUE(srv.start());
  RawWsClient first;
  ASSERT_TRUE(first.connect("127.0.0.1", srv.port()));
  EXPECT_TRUE(first.read_until_eof());  // dropped before any byte
  RawWsClient second;
  EXPECT_TRUE(open_ws(second, srv.port()));
  EXPECT_EQ(srv.server.counters().callback_exceptions, 1u);
  std::lock_guard l(srv.ev.m);
  ASSERT_EQ(srv.ev.errors.size(), 1u);
  EXPECT_NE(srv.ev.errors[0].find("accept bug"), std::string::npos) << srv.ev.errors[0];
}

// ---- HTTP bodies streamed from the application ------------------------------------

/// Reads an HTTP response from `fd` until `want` body bytes came (or EOF),
/// pausing `pause` after every `step` bytes; returns the body.
std::string read_body_slowly(int fd, std::size_t want, std::size_t step, std::chrono::milliseconds pause) {
  std::string got;
  std::size_t body_at = std::string::npos;
  std::size_t since_pause = 0;
  char buf[16384];
  const auto end = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < end) {
    if (body_at != std::string::npos && got.size() - body_at >= want) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
    if (body_at == std::string::npos) {
      const std::size_t e = got.find("\r\n\r\n");
      if (e != std::string::npos) body_at = e + 4;
    }
    since_pause += static_cast<std::size_t>(n);
    if (since_pause >= step) {
      since_pause = 0;
      std::this_thread::sleep_for(pause);
    }
  }
  return body_at == std::string::npos ? std::string() : got.substr(body_at);
}

/// A 200 answer of `length` bytes produced by `stream`.
Response streamed(std::uint64_t length, std::function<std::ptrdiff_t(char*, std::size_t)> stream) {
  Response r;
  r.status = 200;
  r.reason = "OK";
  r.headers.set("Content-Length", std::to_string(length));
  r.body_stream = std::move(stream);
  return r;
}

TEST(LimitsHttp, StreamedBodyIsReadAsTheClientTakesItAndNeverCutShort) {
  ServerOptions o = loopback();
  o.close_timeout = 1000ms;  // shorter than the whole download
  constexpr std::size_t kSize = 24 << 20;
  std::atomic<std::size_t> produced{0};
  TestServer srv(o, Attach::none);
  srv.server.on_http([&](const Request&) {
    return streamed(kSize, [&](char* data, std::size_t room) -> std::ptrdiff_t {
      const std::size_t n = std::min(room, kSize - produced.load());
      for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<char>((produced + i) % 251);
      produced += n;
      return static_cast<std::ptrdiff_t>(n);
    });
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port(), /*rcvbuf=*/65536));
  ASSERT_TRUE(c.send_raw("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::this_thread::sleep_for(300ms);
  // Not read whole: at most the read-ahead beyond what the kernel holds.
  EXPECT_LT(produced.load(), kSize / 2);
  // 24 MiB with a 150 ms pause after every 2 MiB: about two seconds, past
  // close_timeout, but never stalled for it.
  const std::string body = read_body_slowly(c.fd(), kSize, 2 << 20, 150ms);
  ASSERT_EQ(body.size(), kSize);
  bool same = true;
  for (std::size_t i = 0; i < kSize && same; i += 4093) same = body[i] == static_cast<char>(i % 251);
  EXPECT_TRUE(same);
}

TEST(LimitsHttp, StreamedBodySlowerThanItsClientIsNotCutShort) {
  // The producer, not the client, is the slow side: nothing stays queued
  // between refills, which must still count as progress.
  ServerOptions o = loopback();
  o.close_timeout = 200ms;
  constexpr std::size_t kSize = 8 << 20;  // 128 pieces of 64 KiB, 2 ms each: past close_timeout
  std::size_t produced = 0;             // (the loop thread's only)
  TestServer srv(o, Attach::none);
  srv.server.on_http([&](const Request&) {
    return streamed(kSize, [&](char* data, std::size_t room) -> std::ptrdiff_t {
      std::this_thread::sleep_for(2ms);
      const std::size_t n = std::min(room, kSize - produced);
      std::fill(data, data + n, 's');
      produced += n;
      return static_cast<std::ptrdiff_t>(n);
    });
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
  ASSERT_TRUE(c.send_raw("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(read_body_slowly(c.fd(), kSize, kSize, 0ms).size(), kSize);
}

TEST(LimitsHttp, StreamedBodyOfAPeerThatStopsReadingIsDropped) {
  ServerOptions o = loopback();
  o.close_timeout = 200ms;
  std::atomic<bool> ended{false};
  TestServer srv(o, Attach::record);
  srv.server.on_http([&](const Request&) {
    auto alive = std::shared_ptr<int>(new int(0), [&](int* p) {
      delete p;
      ended = true;
    });
    return streamed(1ull << 40, [alive](char* data, std::size_t room) -> std::ptrdiff_t {
      std::fill(data, data + room, 'z');
      return static_cast<std::ptrdiff_t>(room);
    });
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port(), /*rcvbuf=*/4096));
  ASSERT_TRUE(c.send_raw("GET /endless HTTP/1.1\r\nHost: x\r\n\r\n"));
  // The stream (and the connection) go once nothing is taken for 200 ms.
  EXPECT_TRUE(eventually([&] { return ended.load() && srv.server.connection_count() == 0; }));
}

}  // namespace
}  // namespace parley
