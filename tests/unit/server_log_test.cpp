// on_log on a Server and a Client: the levels, what each situation logs
// (refused handshakes, callback exceptions, opens and closes, start,
// reconnects), the log_level filter, and a logger that throws.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "parley/parley.hpp"
#include "client_support.hpp"  // ClosedPort
#include "raw_ws_client.hpp"
#include "server_support.hpp"

namespace parley {
namespace {

struct Log {
  std::mutex m;
  std::vector<std::pair<LogLevel, std::string>> lines;
  std::function<void(LogLevel, std::string_view)> sink() {
    return [this](LogLevel l, std::string_view s) {
      std::lock_guard g(m);
      lines.emplace_back(l, std::string(s));
    };
  }
  // The first line containing every one of `parts`, or nullptr.
  const std::pair<LogLevel, std::string>* find(std::initializer_list<std::string_view> parts) {
    std::lock_guard g(m);
    for (const auto& line : lines) {
      bool all = true;
      for (auto p : parts) all = all && line.second.find(p) != std::string::npos;
      if (all) return &line;
    }
    return nullptr;
  }
  std::string dump() {
    std::lock_guard g(m);
    std::string out;
    for (const auto& [l, s] : lines) out += std::string(to_string(l)) + ": " + s + "\n";
    return out;
  }
};

TEST(ServerLog, DebugLevelTellsEverythingWithConnectionPrefixes) {
  Log log;  // (outlives the server: stop() logs too)
  ServerOptions o = loopback();
  o.log_level = LogLevel::debug;
  TestServer srv(o, Attach::echo);
  srv.server.on_log(log.sink());
  Route room;
  room.on_text = [](Connection&, std::string_view t) {
    if (t == "boom") throw std::runtime_error("room bug");
  };
  srv.server.route("/room/*", std::move(room));
  srv.server.on_handshake([](Connection&, const Request& r) {
    return r.path() == "/private" ? HandshakeReply::reject(403, "members only") : HandshakeReply::accept();
  });
  ASSERT_TRUE(srv.start());
  EXPECT_TRUE(log.find({"listening on", std::to_string(srv.port()), "1 route"})) << log.dump();
  {
    RawWsClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
    EXPECT_EQ(c.handshake("/private").status, 403);
  }
  ASSERT_TRUE(eventually([&] { return log.find({"members only"}) != nullptr; })) << log.dump();
  const auto* refused = log.find({"members only"});
  EXPECT_EQ(refused->first, LogLevel::warning);
  EXPECT_EQ(refused->second.rfind("#", 0), 0u) << refused->second;
  EXPECT_NE(refused->second.find("127.0.0.1:"), std::string::npos) << refused->second;
  {
    RawWsClient c;
    ASSERT_TRUE(open_ws(c, srv.port(), "/room/7?x=%1b"));
    ASSERT_TRUE(c.send_text("boom"));
    ReadResult r = c.read_frame();
    ASSERT_TRUE(r.is_frame());
    EXPECT_EQ(r.frame.close_code(), 1011);
    ASSERT_TRUE(c.send_close(1011));
  }
  ASSERT_TRUE(eventually([&] { return log.find({"closed 1011"}) != nullptr; })) << log.dump();
  const auto* open = log.find({"open /room/7", "(route /room/*)"});
  ASSERT_TRUE(open) << log.dump();
  EXPECT_EQ(open->first, LogLevel::debug);
  const auto* threw = log.find({"room bug"});
  ASSERT_TRUE(threw) << log.dump();
  EXPECT_EQ(threw->first, LogLevel::error);
  EXPECT_EQ(log.find({"closed 1011"})->first, LogLevel::info);
  {
    RawWsClient c;
    ASSERT_TRUE(open_ws(c, srv.port(), "/fine"));
    ASSERT_TRUE(c.send_close(1000, "bye"));
    (void)c.read_frame();
  }
  ASSERT_TRUE(eventually([&] { return log.find({"closed 1000 bye"}) != nullptr; })) << log.dump();
  EXPECT_EQ(log.find({"closed 1000 bye"})->first, LogLevel::debug);
}

TEST(ServerLog, InfoLevelLeavesOutDebugAndAThrowingLoggerIsHarmless) {
  Log log;  // (outlives the server: stop() logs too)
  std::atomic<int> calls{0};
  TestServer srv(Attach::echo);  // log_level: info by default
  srv.server.on_log([&](LogLevel l, std::string_view s) {
    ++calls;
    log.sink()(l, s);
    throw std::runtime_error("logger bug");
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port(), "/x"));
  ASSERT_TRUE(c.send_text("still works"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, "still works");
  ASSERT_TRUE(c.send_close(1000));
  (void)c.read_frame();
  ASSERT_TRUE(eventually([&] { return srv.ev.close_count() == 1; }));
  EXPECT_TRUE(log.find({"listening on"})) << log.dump();
  EXPECT_FALSE(log.find({"open /x"})) << log.dump();
  EXPECT_FALSE(log.find({"closed 1000"})) << log.dump();
  EXPECT_GE(calls.load(), 1);
}

TEST(ClientLog, FailedConnectsAndReconnectsAreLogged) {
  // A port that refuses connections and stays ours (a closed port could be
  // taken by another test meanwhile).
  const ClosedPort dead;
  ASSERT_NE(dead.port, 0);
  ClientOptions o;
  o.reconnect.enabled = true;
  o.reconnect.max_attempts = 2;
  o.reconnect.initial_delay = Millis{10};
  o.reconnect.max_delay = Millis{20};
  Log log;  // (outlives the client)
  Client client(o);
  client.on_log(log.sink());
  auto h = client.connect(dead.url());
  ASSERT_TRUE(h) << h.error().message();
  ASSERT_TRUE(eventually([&] { return log.find({"gave up reconnecting"}) != nullptr; })) << log.dump();
  const auto* again = log.find({"reconnecting in", "(attempt 1)"});
  ASSERT_TRUE(again) << log.dump();
  EXPECT_EQ(again->first, LogLevel::info);
  client.stop();
}

}  // namespace
}  // namespace parley
