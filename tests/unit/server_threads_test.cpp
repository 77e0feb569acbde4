// parley::Server at scale and across threads over real loopback sockets: a
// thousand connections, several loops, handles used from other threads,
// the connection list and count, IPv6, ticks. Fixture and recorder:
// server_support.hpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "parley/parley.hpp"
#include "raw_ws_client.hpp"
#include "server_support.hpp"

namespace parley {
namespace {

TEST(ServerLoad, ThousandConcurrentConnections) {
  constexpr int kN = 1000;
  TestServer srv(Attach::record);
  srv.server.on_text([](Connection& c, std::string_view t) { c.send_text(t); });
  ASSERT_TRUE(srv.start());
  std::vector<RawWsClient> clients(kN);
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE(clients[i].connect("127.0.0.1", srv.port())) << i;
    ASSERT_TRUE(clients[i].send_raw(clients[i].upgrade_request("/c" + std::to_string(i))));
  }
  for (int i = 0; i < kN; ++i) {
    HttpReply r = clients[i].read_response(10s);
    ASSERT_EQ(r.status, 101) << i;
    ASSERT_TRUE(r.accept_matches) << i;
  }
  ASSERT_TRUE(srv.ev.wait_opened(kN));
  EXPECT_EQ(srv.server.connection_count(), static_cast<std::size_t>(kN));
  for (int i = 0; i < kN; ++i) ASSERT_TRUE(clients[i].send_text("message " + std::to_string(i)));
  for (int i = 0; i < kN; ++i) {
    ReadResult r = clients[i].read_frame(10s);
    ASSERT_TRUE(r.is_frame()) << i;
    ASSERT_EQ(r.frame.payload, "message " + std::to_string(i));
  }
  EXPECT_EQ(srv.ev.close_count(), 0u);
  clients.clear();
  EXPECT_TRUE(srv.ev.wait_closed(kN));
  EXPECT_TRUE(eventually([&] { return srv.server.connection_count() == 0; }));
}

TEST(ServerThreads, CrossThreadSendsAndBroadcast) {
  ServerOptions o = loopback();
  o.threads = 4;
  TestServer srv(o);
  ASSERT_TRUE(srv.start());
  constexpr int kClients = 8, kSenders = 4, kPerSender = 50;
  std::vector<RawWsClient> clients(kClients);
  for (auto& c : clients) ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(kClients));
  std::vector<ConnectionHandle> handles;
  {
    std::lock_guard l(srv.ev.m);
    handles = srv.ev.opened;
  }
  std::atomic<int> queued{0}, other{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < kSenders; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < kPerSender; ++i) {
        for (const ConnectionHandle& h : handles) {
          h.send_text("t" + std::to_string(t) + ":" + std::to_string(i), [&](const SendResult& r) {
            (r.status == SendStatus::queued ? queued : other).fetch_add(1);
          });
        }
      }
    });
  }
  for (auto& s : senders) s.join();
  srv.server.broadcast(MessageType::text, "to everyone");
  for (int k = 0; k < kClients; ++k) {
    SCOPED_TRACE("client " + std::to_string(k));
    std::vector<int> next(kSenders, 0);
    for (int n = 0; n < kSenders * kPerSender; ++n) {
      ReadResult r = clients[k].read_frame();
      ASSERT_TRUE(r.is_frame());
      const std::string& p = r.frame.payload;
      ASSERT_EQ(p[0], 't') << p;
      const int t = p[1] - '0';
      ASSERT_TRUE(t >= 0 && t < kSenders) << p;
      EXPECT_EQ(p.substr(3), std::to_string(next[t])) << "out of order";  // each sender's order is kept
      ++next[t];
    }
    ReadResult r = clients[k].read_frame();
    ASSERT_TRUE(r.is_frame());
    EXPECT_EQ(r.frame.payload, "to everyone");
  }
  EXPECT_TRUE(eventually([&] { return queued.load() == kClients * kSenders * kPerSender; }));
  EXPECT_EQ(other.load(), 0);
  // Every connection can also echo on its own loop.
  for (auto& c : clients) {
    ASSERT_TRUE(c.send_binary("ping"));
    ReadResult r = c.read_frame();
    ASSERT_TRUE(r.is_frame());
    EXPECT_EQ(r.frame.payload, "ping");
  }
  clients.clear();  // (stop() would otherwise wait close_timeout for their close frames)
  srv.server.stop();
}

TEST(ServerThreads, HandleCloseFromAnotherThread) {
  TestServer srv;
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(1));
  const ConnectionHandle h = srv.ev.handle_at(0);
  std::thread t([h] { EXPECT_TRUE(h.close(CloseCode{4002}, "from a thread")); });
  t.join();
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kClose);
  EXPECT_EQ(r.frame.close_code(), 4002);
  EXPECT_EQ(r.frame.close_reason(), "from a thread");
  ASSERT_TRUE(c.send_close(4002));
  EXPECT_TRUE(c.read_until_eof());
  ASSERT_TRUE(srv.ev.wait_closed(1));
  EXPECT_EQ(srv.ev.close_at(0).code, 4002);
}

TEST(ServerIPv6, EchoOnLoopback) {
  ServerOptions o = loopback();
  o.host = "::1";
  std::string remote;
  TestServer srv(o);
  srv.server.on_handshake([&](Connection& c, const Request&) {
    srv.ev.update([&] { remote = c.remote_endpoint().address_string(); });
    return HandshakeReply::accept();
  });
  if (Error e = srv.server.start()) GTEST_SKIP() << "cannot listen on ::1: " << e.message();
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port(), "/", {}, "::1"));
  ASSERT_TRUE(c.send_text("over IPv6"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, "over IPv6");
  std::lock_guard l(srv.ev.m);
  EXPECT_EQ(remote, "::1");
}

TEST(ServerTick, TicksOnTheFirstLoop) {
  ServerOptions o = loopback();
  o.tick_period = 20ms;
  std::atomic<int> ticks{0};
  TestServer srv(o, Attach::none);
  srv.server.on_tick([&] { ++ticks; });
  ASSERT_TRUE(srv.start());
  EXPECT_TRUE(eventually([&] { return ticks.load() >= 3; }));
}

// ---- the connection list ----------------------------------------------------

TEST(ServerConnections, ListAndCount) {
  TestServer srv;
  EXPECT_EQ(srv.server.connection_count(), 0u);
  EXPECT_TRUE(srv.server.connections().empty());
  ASSERT_TRUE(srv.start());
  RawWsClient a, b, c;
  ASSERT_TRUE(open_ws(a, srv.port()));
  ASSERT_TRUE(open_ws(b, srv.port()));
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(3));
  // A connection still in its handshake is counted but not listed.
  RawWsClient half;
  ASSERT_TRUE(half.connect("127.0.0.1", srv.port()));
  ASSERT_TRUE(half.send_raw("GET / HTTP/1.1\r\n"));
  EXPECT_TRUE(eventually([&] { return srv.server.connection_count() == 4; }));
  std::vector<ConnectionHandle> list = srv.server.connections();
  ASSERT_EQ(list.size(), 3u);
  std::set<std::uint64_t> ids;
  for (const auto& h : list) ids.insert(h.id());
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids.count(0), 0u);
  // b closes: it leaves the list at once, and the count once its socket is gone.
  ASSERT_TRUE(b.send_close(1000));
  ASSERT_TRUE(srv.ev.wait_closed(1));
  const std::uint64_t gone = srv.ev.close_at(0).id;
  EXPECT_EQ(srv.server.connections().size(), 2u);
  EXPECT_TRUE(b.read_until_eof());
  b.close();
  half.close();
  EXPECT_TRUE(eventually([&] { return srv.server.connection_count() == 2; }));
  // A handle to the closed connection fails cleanly.
  std::promise<SendResult> result;
  for (const auto& h : list) {
    if (h.id() == gone) {
      ASSERT_TRUE(h.send_text("too late", [&](const SendResult& r) { result.set_value(r); }));
    }
  }
  auto f = result.get_future();
  ASSERT_EQ(f.wait_for(kWait), std::future_status::ready);
  SendResult r = f.get();
  EXPECT_EQ(r.status, SendStatus::dropped);
  EXPECT_EQ(r.error, UsageError::not_open);
}

TEST(ServerConnections, ListingAfterStopIsImmediate) {
  ServerOptions o = loopback();
  o.threads = 2;
  TestServer srv(o);
  ASSERT_TRUE(srv.start());
  std::vector<RawWsClient> clients(4);
  for (auto& c : clients) ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(4));
  EXPECT_EQ(srv.server.connections().size(), 4u);
  clients.clear();
  ASSERT_TRUE(srv.ev.wait_closed(4));
  srv.server.stop();
  // The loops no longer run: nobody can answer, so nothing must be waited for.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(srv.server.connections().empty());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(srv.server.connection_count(), 0u);
}

TEST(ServerConnections, ListingFromCallbacksOnSeveralLoops) {
  ServerOptions o = loopback();
  o.threads = 4;
  TestServer srv(o, Attach::record);
  srv.server.on_text([&](Connection& c, std::string_view) {
    c.send_text(std::to_string(srv.server.connections().size()));
  });
  ASSERT_TRUE(srv.start());
  std::vector<RawWsClient> clients(8);
  for (auto& c : clients) ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(8));
  // Only one at a time: two loops that list each other at once would each
  // wait for the other (documented bound: 5 s).
  for (auto& c : clients) {
    ASSERT_TRUE(c.send_text("count"));
    ReadResult r = c.read_frame();
    ASSERT_TRUE(r.is_frame());
    EXPECT_EQ(r.frame.payload, "8");
  }
  clients.clear();
}

TEST(ServerConnections, HandlesFindTheirConnectionAfterManyComeAndGo) {
  // The hub's table of connections by id grows, and loses entries in an
  // arbitrary order: every surviving handle must still reach its own
  // connection, and every handle of a gone one must fail cleanly.
  std::map<std::uint16_t, ConnectionHandle> by_port;  // the client's port -> its handle
  TestServer srv;
  srv.server.on_open([&](Connection& c) {
    srv.ev.update([&] {
      by_port[c.remote_endpoint().port] = c.handle();
      srv.ev.opened.push_back(c.handle());
    });
  });
  ASSERT_TRUE(srv.start());
  constexpr int kClients = 300;
  std::vector<std::unique_ptr<RawWsClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<RawWsClient>());
    ASSERT_TRUE(open_ws(*clients.back(), srv.port()));
  }
  ASSERT_TRUE(srv.ev.wait_opened(kClients));
  std::vector<int> order(kClients);
  for (int i = 0; i < kClients; ++i) order[i] = i;
  std::mt19937 rng(12345);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<ConnectionHandle> gone;
  std::vector<int> kept;
  for (int k = 0; k < kClients; ++k) {
    const int i = order[k];
    if (k < 2 * kClients / 3) {
      {
        std::lock_guard l(srv.ev.m);
        gone.push_back(by_port.at(clients[i]->local_port()));
      }
      clients[i].reset();  // TCP gone: on_close 1006, then the connection is destroyed
    } else {
      kept.push_back(i);
    }
  }
  ASSERT_TRUE(srv.ev.wait_closed(gone.size()));
  std::atomic<int> not_open{0}, ran{0};
  for (const ConnectionHandle& h : gone) {
    h.send_text("nobody", [&](const SendResult& r) {
      if (r.error.code() == UsageError::not_open) not_open.fetch_add(1);
    });
    h.post([&](Connection&) { ran.fetch_add(1); });
  }
  for (int i : kept) {
    ConnectionHandle h;
    {
      std::lock_guard l(srv.ev.m);
      h = by_port.at(clients[i]->local_port());
    }
    ASSERT_TRUE(h.send_text("for " + std::to_string(clients[i]->local_port())));
  }
  for (int i : kept) {
    ReadResult r = clients[i]->read_frame();
    ASSERT_TRUE(r.is_frame());
    EXPECT_EQ(r.frame.payload, "for " + std::to_string(clients[i]->local_port()));
  }
  ASSERT_TRUE(srv.ev.wait([&] { return not_open.load() == static_cast<int>(gone.size()); }));
  EXPECT_EQ(ran.load(), 0);
}

}  // namespace
}  // namespace parley
