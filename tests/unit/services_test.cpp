// LoopServices (post, add_timer, every, watch_*/unwatch_*) on a Server and
// a Client, asked before and after start(), on chosen loops, cancelled,
// throwing; and Connection::after, cancelled when its connection closes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "client_support.hpp"
#include "parley/parley.hpp"
#include "raw_ws_client.hpp"
#include "server_support.hpp"

namespace parley {
namespace {

using namespace std::chrono_literals;

struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() { EXPECT_EQ(::pipe(fd), 0); }
  ~Pipe() {
    ::close(fd[0]);
    ::close(fd[1]);
  }
};

// What ran where: thread ids and counts, read from the test thread.
struct Seen {
  std::mutex m;
  std::set<std::thread::id> threads;
  std::vector<std::string> order;
  void note(std::string what) {
    std::lock_guard l(m);
    threads.insert(std::this_thread::get_id());
    order.push_back(std::move(what));
  }
  std::size_t count(const std::string& what) {
    std::lock_guard l(m);
    return static_cast<std::size_t>(std::count(order.begin(), order.end(), what));
  }
};

// Everything asked before start() is done at start, on a loop thread, in
// the order asked; timers and watches work; cancel stops a periodic timer.
template <class Owner>
void services_before_start(Owner& owner, const std::function<Error()>& start) {
  Seen seen;
  Pipe p;
  ASSERT_TRUE(owner.post([&] { seen.note("post 1"); }));
  ASSERT_TRUE(owner.post([&] { seen.note("post 2"); }));
  Timer once = owner.add_timer(30ms, [&] { seen.note("once"); });
  Timer tick = owner.every(10ms, [&] { seen.note("tick"); });
  Timer never = owner.add_timer(100ms, [&] { seen.note("never"); });
  ASSERT_TRUE(once && tick && never);
  EXPECT_TRUE(never.cancel());
  EXPECT_FALSE(never.cancel()) << "cancel is idempotent";
  ASSERT_FALSE(owner.watch_readable(p.fd[0], [&](int fd) {
    char buf[16];
    const auto n = ::read(fd, buf, sizeof buf);
    seen.note("readable " + std::string(buf, static_cast<std::size_t>(std::max<ssize_t>(n, 0))));
  }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(seen.count("post 1"), 0u) << "ran before start()";
  ASSERT_FALSE(start());
  ASSERT_TRUE(eventually([&] { return seen.count("once") == 1 && seen.count("tick") >= 3; }));
  ASSERT_EQ(::write(p.fd[1], "abc", 3), 3);
  ASSERT_TRUE(eventually([&] { return seen.count("readable abc") == 1; }));
  EXPECT_TRUE(tick.cancel());
  EXPECT_FALSE(once.cancel()) << "a one-shot that fired cannot be cancelled";
  const std::size_t ticks = seen.count("tick");
  std::this_thread::sleep_for(60ms);
  EXPECT_LE(seen.count("tick"), ticks + 1) << "ticked on after cancel";  // (one may have been running)
  owner.unwatch_readable(p.fd[0]);
  // The unwatch is done on the loop: a function posted after it tells when
  // (and orders it before the fd is closed, as services.hpp says).
  std::atomic<bool> unwatched{false};
  ASSERT_TRUE(owner.post([&] { unwatched = true; }));
  ASSERT_TRUE(eventually([&] { return unwatched.load(); }));
  ASSERT_EQ(::write(p.fd[1], "x", 1), 1);
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(seen.count("readable x"), 0u) << "unwatched fd still reported";
  EXPECT_EQ(seen.count("never"), 0u);
  std::lock_guard l(seen.m);
  ASSERT_GE(seen.order.size(), 2u);
  EXPECT_EQ(seen.order[0], "post 1");
  EXPECT_EQ(seen.order[1], "post 2");
  EXPECT_EQ(seen.threads.count(std::this_thread::get_id()), 0u) << "ran on the caller's thread";
}

TEST(ServerServices, AskedBeforeStartAreDoneAtStart) {
  Server server(loopback());
  services_before_start(server, [&] { return server.start(); });
  server.stop();
}

TEST(ClientServices, AskedBeforeStartAreDoneAtStart) {
  Client client;
  services_before_start(client, [&] { return client.start(); });
  client.stop();
}

TEST(ServerServices, ChosenLoopAndBounds) {
  ServerOptions o = loopback();
  o.threads = 2;
  Server server(o);
  ASSERT_FALSE(server.start());
  std::mutex m;
  std::thread::id on0, on1, timer1;
  std::atomic<int> done{0};
  ASSERT_TRUE(server.post([&] { std::lock_guard l(m); on0 = std::this_thread::get_id(); ++done; }, 0));
  ASSERT_TRUE(server.post([&] { std::lock_guard l(m); on1 = std::this_thread::get_id(); ++done; }, 1));
  ASSERT_TRUE(server.add_timer(5ms, [&] { std::lock_guard l(m); timer1 = std::this_thread::get_id(); ++done; }, 1));
  EXPECT_FALSE(server.post([] {}, 2)) << "there is no loop 2";
  EXPECT_FALSE(server.every(5ms, [] {}, 7));
  ASSERT_TRUE(eventually([&] { return done == 3; }));
  {
    std::lock_guard l(m);
    EXPECT_NE(on0, on1);
    EXPECT_EQ(on1, timer1);
  }
  server.stop();
  EXPECT_FALSE(server.post([] { ADD_FAILURE() << "ran after stop"; }));
  EXPECT_FALSE(server.add_timer(1ms, [] { ADD_FAILURE() << "fired after stop"; }));
  Pipe p;
  EXPECT_EQ(server.watch_readable(p.fd[0], [](int) {}).code(), std::errc::operation_canceled);
}

TEST(ServerServices, ThrowingTimerIsReportedAndTheLoopGoesOn) {
  Server server(loopback());
  std::mutex m;
  std::vector<std::string> errors;
  server.on_error([&](Connection* c, const Error& e) {
    std::lock_guard l(m);
    errors.push_back((c ? "conn " : "none ") + e.message());
  });
  std::atomic<bool> later{false};
  (void)server.add_timer(1ms, [] { throw std::runtime_error("timer bug"); });
  (void)server.add_timer(30ms, [&] { later = true; });
  ASSERT_FALSE(server.start());
  ASSERT_TRUE(eventually([&] { return later.load(); }));
  std::lock_guard l(m);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("none ", 0), 0u) << errors[0];
  EXPECT_NE(errors[0].find("timer bug"), std::string::npos) << errors[0];
}

TEST(ServerServices, ConnectionAfterFiresWhileOpenAndIsCancelledByClose) {
  TestServer srv(Attach::record);
  std::atomic<int> stale{0};
  srv.server.on_open([&](Connection& c) {
    srv.ev.update([&] { srv.ev.opened.push_back(c.handle()); });
    (void)c.after(20ms, [](Connection& conn) { conn.send_text("late hello"); });
    // Long enough to outlive a connection the client closes at once.
    (void)c.after(300ms, [&](Connection&) { ++stale; });
  });
  srv.server.on_text([](Connection& c, std::string_view t) {
    if (t == "bomb") (void)c.after(1ms, [](Connection&) { throw std::runtime_error("after bug"); });
    if (t == "cancel") {
      Timer t2 = c.after(50ms, [](Connection& conn) { conn.send_text("should not"); });
      EXPECT_TRUE(t2.cancel());
      c.send_text("cancelled");
    }
  });
  ASSERT_TRUE(srv.start());
  {
    RawWsClient c;
    ASSERT_TRUE(open_ws(c, srv.port()));
    ReadResult r = c.read_frame();
    ASSERT_TRUE(r.is_frame());
    EXPECT_EQ(r.frame.payload, "late hello");
    ASSERT_TRUE(c.send_text("cancel"));
    r = c.read_frame();
    ASSERT_TRUE(r.is_frame());
    EXPECT_EQ(r.frame.payload, "cancelled");
    ASSERT_TRUE(c.send_close(1000));
    r = c.read_frame();
    ASSERT_TRUE(r.is_frame());
    EXPECT_EQ(r.frame.opcode, kClose);
  }
  {
    RawWsClient c;
    ASSERT_TRUE(open_ws(c, srv.port()));
    ASSERT_TRUE(c.send_text("bomb"));
    ReadResult r = c.read_frame();  // "late hello" may come first
    if (r.is_frame() && r.frame.opcode == kText) r = c.read_frame();
    ASSERT_TRUE(r.is_frame());
    EXPECT_EQ(r.frame.opcode, kClose);
    EXPECT_EQ(r.frame.close_code(), 1011);
  }
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(stale.load(), 0) << "a Connection::after function ran after its connection closed";
  ASSERT_TRUE(srv.ev.wait([&] { return srv.ev.errors.size() >= 1; }));
  std::lock_guard l(srv.ev.m);
  EXPECT_NE(srv.ev.errors.back().find("after bug"), std::string::npos) << srv.ev.errors.back();
}

}  // namespace
}  // namespace parley
