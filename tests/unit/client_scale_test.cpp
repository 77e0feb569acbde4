// parley::Client with many connections and threads over real loopback sockets:
// two hundred connections on one client, two loop threads, and a handle's sends
// from other threads. Fixtures and recorders: client_support.hpp.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client_support.hpp"
#include "parley/parley.hpp"

namespace parley {
namespace {

TEST(ClientScale, TwoHundredConnectionsOnOneClient) {
  constexpr std::size_t n = 200;
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  std::atomic<int> matched{0};
  TestClient cli;
  cli.ev.open_hook = [](Connection& c) { c.send_text("id:" + std::to_string(c.id())); };
  cli.ev.text_hook = [&](Connection& c, std::string_view t) {
    if (t == "id:" + std::to_string(c.id())) ++matched;
  };
  for (std::size_t i = 0; i < n; ++i) ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(cli.ev.wait_texts(n, 20s)) << cli.ev.read([&] { return cli.ev.texts.size(); });
  EXPECT_EQ(matched.load(), static_cast<int>(n));
  cli.ev.read([&] {
    EXPECT_EQ(std::set<std::uint64_t>(cli.ev.open_ids.begin(), cli.ev.open_ids.end()).size(), n);
    EXPECT_TRUE(cli.ev.errors.empty());
  });
  EXPECT_EQ(srv.server.connection_count(), n);
  cli.client.stop();
  ASSERT_TRUE(srv.ev.wait([&] { return srv.ev.closes.size() >= n; }, 20s));
}

TEST(ClientScale, TwoLoopThreads) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  ClientOptions co;
  co.threads = 2;
  TestClient cli(co);
  cli.ev.open_hook = [](Connection& c) { c.send_text("hello " + std::to_string(c.id())); };
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(cli.ev.wait_texts(6));
  cli.ev.read([&] {
    EXPECT_EQ(std::set<std::thread::id>(cli.ev.open_threads.begin(), cli.ev.open_threads.end()).size(), 2u);
  });
}

TEST(ClientScale, HandleSendsFromOtherThreads) {
  constexpr int threads = 4;
  constexpr int per_thread = 200;
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  std::atomic<int> queued{0};
  TestClient cli;
  auto h = cli.client.connect(srv.url());
  ASSERT_TRUE(h);
  ASSERT_TRUE(cli.ev.wait_open(1));
  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        h->send_text("t" + std::to_string(t) + ":" + std::to_string(i), [&](const SendResult& r) {
          if (r.status == SendStatus::queued) ++queued;
        });
      }
    });
  }
  for (auto& s : senders) s.join();
  ASSERT_TRUE(srv.ev.wait([&] { return srv.ev.texts.size() >= threads * per_thread; }, 20s));
  EXPECT_EQ(queued.load(), threads * per_thread);
  srv.ev.read([&] {
    std::vector<int> next(threads, 0);
    for (const std::string& s : srv.ev.texts) {
      const int t = s[1] - '0';
      const int i = std::stoi(s.substr(3));
      EXPECT_EQ(i, next[static_cast<std::size_t>(t)]) << "out of order from thread " << t;
      next[static_cast<std::size_t>(t)] = i + 1;
    }
  });
  ASSERT_TRUE(cli.ev.wait_texts(threads * per_thread, 20s));

  // Once the connection is gone, a handle's send reports not_open.
  ASSERT_TRUE(h->close(CloseCode::normal, "done"));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  auto result = std::make_shared<std::promise<SendResult>>();
  auto f = result->get_future();
  // on_close has fired, and the connection is destroyed at the end of that
  // loop iteration, before this post runs.
  ASSERT_TRUE(h->send_text("late", [result](const SendResult& r) { result->set_value(r); }));
  ASSERT_EQ(f.wait_for(kWait), std::future_status::ready);
  const SendResult r = f.get();
  EXPECT_EQ(r.status, SendStatus::dropped);
  EXPECT_EQ(r.error, UsageError::not_open);
}

}  // namespace
}  // namespace parley
