// Test support for parley::Server tests over real loopback sockets: the
// options, the event recorder the test thread waits on (every wait
// bounded), a stop guard, and the raw client's handshake and close checks.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "parley/parley.hpp"
#include "raw_ws_client.hpp"

namespace parley {
namespace {

using namespace std::chrono_literals;
using test::HttpReply;
using test::kBinary;
using test::kClose;
using test::kCont;
using test::kPing;
using test::kPong;
using test::kText;
using test::RawWsClient;
using test::ReadResult;

constexpr auto kWait = 5s;  // the longest any single expected event may take

inline ServerOptions loopback() {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  return o;
}

/// What the server reported, for the test thread to wait on.
struct Events {
  struct Closed {
    std::uint64_t id = 0;
    int code = 0;
    std::string reason;
  };
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::string> texts;
  std::vector<std::string> binaries;
  std::vector<std::string> pings;
  std::vector<std::string> pongs;
  std::vector<Closed> closes;
  std::vector<std::string> errors;
  std::vector<ConnectionHandle> opened;
  int drains = 0;
  int shutdowns = 0;

  /// Runs `f` under the lock and wakes waiters.
  template <class F>
  void update(F&& f) {
    {
      std::lock_guard l(m);
      f();
    }
    cv.notify_all();
  }
  /// Waits (bounded) until `pred()` holds under the lock.
  template <class P>
  bool wait(P pred, std::chrono::milliseconds t = kWait) {
    std::unique_lock l(m);
    return cv.wait_for(l, t, pred);
  }
  bool wait_opened(std::size_t n) {
    return wait([&] { return opened.size() >= n; });
  }
  bool wait_closed(std::size_t n) {
    return wait([&] { return closes.size() >= n; });
  }
  Closed close_at(std::size_t i) {
    std::lock_guard l(m);
    return i < closes.size() ? closes[i] : Closed{};
  }
  ConnectionHandle handle_at(std::size_t i) {
    std::lock_guard l(m);
    return i < opened.size() ? opened[i] : ConnectionHandle{};
  }
  std::size_t close_count() {
    std::lock_guard l(m);
    return closes.size();
  }

  /// Records open, close, error, drain, ping, pong and shutdown events.
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

/// Stops the server when the test ends, before the locals that its
/// callbacks use are destroyed (declare it after them).
class StopOnExit {
 public:
  explicit StopOnExit(Server& s) : server_(s) {}
  ~StopOnExit() { server_.stop(); }
  StopOnExit(const StopOnExit&) = delete;
  StopOnExit& operator=(const StopOnExit&) = delete;

 private:
  Server& server_;
};

/// Polls `pred` (thread-safe by itself) until it holds or `t` passes.
template <class P>
bool eventually(P pred, std::chrono::milliseconds t = kWait) {
  const auto end = std::chrono::steady_clock::now() + t;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

/// Connects and completes the opening handshake (101, right accept key).
inline ::testing::AssertionResult open_ws(RawWsClient& c, std::uint16_t port, const std::string& target = "/",
                                   const std::vector<std::string>& extra = {}, const char* ip = "127.0.0.1") {
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

inline std::string pattern(std::size_t n, bool text) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = text ? static_cast<char>('a' + i % 26) : static_cast<char>((i * 31 + 7) & 0xff);
  }
  return s;
}

}  // namespace
}  // namespace parley
