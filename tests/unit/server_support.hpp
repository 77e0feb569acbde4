// Test support for parley::Server tests over real loopback sockets: the
// event recorder the test thread waits on (every wait bounded), the
// TestServer fixture that owns a Server with that recorder attached, and
// the raw client's handshake and close checks. The generic pieces (kWait,
// Recorder, eventually, pattern, loopback) are in test_support.hpp.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "parley/parley.hpp"
#include "raw_ws_client.hpp"
#include "test_support.hpp"

namespace parley {
namespace {

using test::HttpReply;
using test::kBinary;
using test::kClose;
using test::kCont;
using test::kPing;
using test::kPong;
using test::kText;
using test::RawWsClient;
using test::ReadResult;

/// What the server reported, for the test thread to wait on.
struct Events : Recorder {
  std::vector<std::string> texts;
  std::vector<std::string> binaries;
  std::vector<std::string> pings;
  std::vector<std::string> pongs;
  std::vector<Closed> closes;
  std::vector<std::string> errors;
  std::vector<ConnectionHandle> opened;
  int drains = 0;
  int shutdowns = 0;

  bool wait_opened(std::size_t n) {
    return wait([&] { return opened.size() >= n; });
  }
  bool wait_closed(std::size_t n) {
    return wait([&] { return closes.size() >= n; });
  }
  Closed close_at(std::size_t i) {
    return read([&] { return i < closes.size() ? closes[i] : Closed{}; });
  }
  ConnectionHandle handle_at(std::size_t i) {
    return read([&] { return i < opened.size() ? opened[i] : ConnectionHandle{}; });
  }
  std::size_t close_count() {
    return read([&] { return closes.size(); });
  }

  /// Records open, close, error, drain, pong and shutdown events.
  void attach(Server& s) {
    s.on_open([this](Connection& c) { update([&] { opened.push_back(c.handle()); }); });
    s.on_close([this](Connection& c, CloseCode code, std::string_view reason) {
      update([&] { closes.push_back({c.id(), static_cast<int>(code), std::string(reason)}); });
    });
    s.on_error([this](Connection*, const Error& e) { update([&] { errors.push_back(e.message()); }); });
    s.on_drain([this](Connection&) { update([&] { ++drains; }); });
    s.on_pong([this](Connection&, std::string_view p) { update([&] { pongs.emplace_back(p); }); });
    s.on_shutdown([this] { update([&] { ++shutdowns; }); });
  }
  /// As attach(), and echoes every message (recording it too).
  void attach_echo(Server& s) {
    attach(s);
    s.on_text([this](Connection& c, std::string_view t) {
      if (t.size() < 4096) update([&] { texts.emplace_back(t); });
      c.send_text(t);
    });
    s.on_binary([this](Connection& c, std::string_view b) {
      if (b.size() < 4096) update([&] { binaries.emplace_back(b); });
      c.send_binary(b);
    });
  }
};

/// Which of the recorder's callbacks a TestServer sets before the test's own.
enum class Attach {
  none,    // none: the test sets every callback
  record,  // Events::attach: open, close, error, drain, pong, shutdown
  echo,    // Events::attach_echo: those, and an echo of every message
};

/// A Server on `options` (loopback() by default) with an Events recorder
/// attached, stopped when the test ends:
///
///   TestServer t(options);
///   t.server.on_text(...);  // the test's own callbacks, before start()
///   ASSERT_TRUE(t.start());
///   RawWsClient c;
///   ASSERT_TRUE(open_ws(c, t.port()));
struct TestServer : BasicTestServer<Events> {
  explicit TestServer(ServerOptions options = loopback(), Attach a = Attach::echo)
      : BasicTestServer<Events>(std::move(options)) {
    if (a == Attach::record) ev.attach(server);
    if (a == Attach::echo) ev.attach_echo(server);
  }
  explicit TestServer(Attach a) : TestServer(loopback(), a) {}
};

/// Connects and completes the opening handshake (101, right accept key).
inline ::testing::AssertionResult open_ws(RawWsClient& c, std::uint16_t port, const std::string& target = "/",
                                          const std::vector<std::string>& extra = {},
                                          const char* ip = "127.0.0.1") {
  if (!c.connect(ip, port)) return ::testing::AssertionFailure() << "connect failed";
  HttpReply r = c.handshake(target, extra);
  if (!r.ok) return ::testing::AssertionFailure() << "no handshake response";
  if (r.status != 101) return ::testing::AssertionFailure() << "status " << r.status << ": " << r.raw_head << r.body;
  if (!r.accept_matches) return ::testing::AssertionFailure() << "bad Sec-WebSocket-Accept";
  return ::testing::AssertionSuccess();
}

/// Expects a close frame with `code` next (after any pings), then EOF.
inline void expect_close_then_eof(RawWsClient& c, int code) {
  ReadResult r = c.read_data_or_close();
  ASSERT_TRUE(r.is_frame()) << "no close frame";
  EXPECT_EQ(r.frame.opcode, kClose);
  EXPECT_EQ(r.frame.close_code(), code) << r.frame.close_reason();
  EXPECT_TRUE(c.read_until_eof()) << "the server did not close the TCP connection";
}

}  // namespace
}  // namespace parley
