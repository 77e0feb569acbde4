// What every test over real sockets shares (the server's support in
// server_support.hpp, the client's in client_support.hpp, the TLS tests):
// the bound on a wait, a recorder that loop threads update and the test
// thread waits on (never by sleeping), polling for what has no event, test
// content, and a parley Server on loopback that is stopped before its
// recorder goes away.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "parley/parley.hpp"

namespace parley {
namespace {

using namespace std::chrono_literals;

inline constexpr auto kWait = 5s;  // the longest any single expected event may take

/// A close as on_close reported it.
struct Closed {
  std::uint64_t id = 0;
  int code = 0;
  std::string reason;
};

/// A mutex and a condition variable to hand events from loop threads to the
/// test thread: derive from it and add the fields, written in update() and
/// read in wait(), read() or under `m`.
struct Recorder {
  std::mutex m;
  std::condition_variable cv;

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
  /// Runs `f` under the lock and returns what it returns.
  template <class F>
  auto read(F&& f) {
    std::lock_guard l(m);
    return f();
  }
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

/// Deterministic content of `n` bytes: lowercase letters for text, any byte
/// for binary; another `seed`, other content.
inline std::string pattern(std::size_t n, bool text, unsigned seed = 0) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1u;
  for (char& ch : s) {
    x = x * 1664525u + 1013904223u;
    ch = text ? static_cast<char>('a' + (x >> 24) % 26) : static_cast<char>(x >> 24);
  }
  return s;
}

/// A server on 127.0.0.1, on a port the system chooses.
inline ServerOptions loopback() {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  return o;
}

/// A connection's buffered amount, read on its loop thread (SIZE_MAX when
/// the connection or its loop is gone, or no answer came within kWait).
inline std::size_t buffered_amount_of(const ConnectionHandle& h) {
  auto answer = std::make_shared<std::promise<std::size_t>>();
  std::future<std::size_t> f = answer->get_future();
  if (!h.post([answer](Connection& c) { answer->set_value(c.buffered_amount()); })) return SIZE_MAX;
  return f.wait_for(kWait) == std::future_status::ready ? f.get() : SIZE_MAX;
}

/// A parley Server and the recorder `Ev` its callbacks write to. The
/// recorder is declared first, and the destructor stops the server, so no
/// callback runs once the recorder is gone; a test's own locals that its
/// callbacks use are declared before the fixture, for the same reason.
/// Callbacks are set before start().
template <class Ev>
struct BasicTestServer {
  Ev ev;
  Server server;

  explicit BasicTestServer(ServerOptions o) : server(std::move(o)) {}
  ~BasicTestServer() { server.stop(); }
  BasicTestServer(const BasicTestServer&) = delete;
  BasicTestServer& operator=(const BasicTestServer&) = delete;

  /// Starts the server: `ASSERT_TRUE(t.start())` (the failure says why).
  ::testing::AssertionResult start() {
    if (Error e = server.start()) return ::testing::AssertionFailure() << "server.start(): " << e.message();
    return ::testing::AssertionSuccess();
  }
  std::uint16_t port() const { return server.port(); }
  std::string url(std::string_view path = "/") const {
    return "ws://127.0.0.1:" + std::to_string(server.port()) + std::string(path);
  }
};

}  // namespace
}  // namespace parley
