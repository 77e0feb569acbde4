// Topics across servers (ServerOptions::redis) against a real redis-server
// started by the test (tests/unit/redis_support.hpp): two and three nodes
// in this process, each with two loops and raw WebSocket clients. Every
// message reaches every subscriber on every node exactly once; a topic is
// subscribed on Redis only while wanted; a thousand topics; Redis killed
// and restarted mid-run (local service goes on, the outage is reported and
// the loss counted, everything resubscribed); bad options.
#ifdef PARLEY_WITH_REDIS

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "parley/parley.hpp"
#include "raw_ws_client.hpp"
#include "redis_support.hpp"
#include "server_support.hpp"

namespace parley {
namespace {

using namespace std::chrono_literals;
using test::raw_command;
using test::RedisServer;

// What on_broker said, in order.
struct BrokerLog : Recorder {
  std::vector<std::pair<bool, std::string>> states;
  bool last_is(bool up) {
    return read([&] { return !states.empty() && states.back().first == up; });
  }
  bool wait_up() {
    return wait([&] { return !states.empty() && states.back().first; }, 10s);
  }
  bool wait_down() {
    return wait([&] { return !states.empty() && !states.back().first; }, 10s);
  }
};

// A node: a server on two loops sharing topics through `redis`, whose
// connections subscribe to the topics of their `?topics=a,b` query.
struct Node {
  BrokerLog broker;  // (declared first: outlives the server's threads)
  TestServer srv;

  explicit Node(const RedisServer& redis) : srv(options(redis), Attach::record) {
    srv.server.on_open([this](Connection& c) {
      const std::string list(c.request()->query_param("topics").value_or(""));
      for (std::size_t start = 0; start < list.size();) {
        const std::size_t end = std::min(list.find(',', start), list.size());
        EXPECT_TRUE(c.subscribe(list.substr(start, end - start)));
        start = end + 1;
      }
      srv.ev.update([&] { srv.ev.opened.push_back(c.handle()); });
    });
    srv.server.on_broker([this](bool up, std::string_view why) {
      broker.update([&] { broker.states.emplace_back(up, std::string(why)); });
    });
  }
  static ServerOptions options(const RedisServer& redis) {
    ServerOptions o = loopback();
    o.threads = 2;
    o.redis.host = "127.0.0.1";
    o.redis.port = static_cast<std::uint16_t>(redis.port());
    o.redis.reconnect_min_delay = 20ms;
    o.redis.reconnect_max_delay = 200ms;
    o.redis.ping_interval = 100ms;
    o.redis.ping_timeout = 500ms;
    return o;
  }
  ::testing::AssertionResult start() {
    if (auto ok = srv.start(); !ok) return ok;
    if (!broker.wait_up()) return ::testing::AssertionFailure() << "the broker did not come up";
    return ::testing::AssertionSuccess();
  }
};

// Subscribers of the Redis channel of `topic` (one per node that wants it).
int redis_subscribers(const RedisServer& redis, const std::string& topic) {
  const std::string n = raw_command(redis, {"PUBSUB", "NUMSUB", "parley:" + topic});
  return n.empty() ? -1 : std::stoi(n);
}

bool wait_redis_subscribers(const RedisServer& redis, const std::string& topic, int n) {
  return eventually([&] { return redis_subscribers(redis, topic) == n; }, 10s);
}

// Reads text messages until `n` came or nothing more does.
std::vector<std::string> read_texts(RawWsClient& c, std::size_t n) {
  std::vector<std::string> out;
  while (out.size() < n) {
    ReadResult r = c.read_frame(test::Ms(5000));
    if (!r.is_frame() || r.frame.opcode != kText) break;
    out.push_back(r.frame.payload);
  }
  return out;
}

class ServerRedis : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(redis.start()) << "redis-server did not start; log: " << redis.log(); }
  RedisServer redis;
};

TEST_F(ServerRedis, EveryMessageReachesEverySubscriberOnEveryNodeOnce) {
  std::vector<std::unique_ptr<Node>> nodes;
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(std::make_unique<Node>(redis));
    ASSERT_TRUE(nodes.back()->start());
  }
  // Two subscribers of "room" per node (one also of "other"), and one
  // connection subscribed to nothing.
  std::vector<std::unique_ptr<RawWsClient>> members;
  RawWsClient outsider;
  for (auto& n : nodes) {
    for (const char* target : {"/?topics=room", "/?topics=room,other"}) {
      members.push_back(std::make_unique<RawWsClient>());
      ASSERT_TRUE(open_ws(*members.back(), n->srv.port(), target));
    }
    ASSERT_TRUE(n->srv.ev.wait_opened(2));
  }
  ASSERT_TRUE(open_ws(outsider, nodes[0]->srv.port(), "/"));
  ASSERT_TRUE(wait_redis_subscribers(redis, "room", 3));

  // Each node publishes 30 messages, interleaved.
  constexpr int kEach = 30;
  for (int i = 0; i < kEach; ++i) {
    for (std::size_t n = 0; n < nodes.size(); ++n) {
      nodes[n]->srv.server.publish("room", MessageType::text, std::to_string(n) + ":" + std::to_string(i));
    }
  }
  for (std::size_t m = 0; m < members.size(); ++m) {
    SCOPED_TRACE(m);
    const std::vector<std::string> got = read_texts(*members[m], kEach * nodes.size());
    ASSERT_EQ(got.size(), kEach * nodes.size());
    // Once each, and each node's messages in the order published.
    std::set<std::string> unique(got.begin(), got.end());
    EXPECT_EQ(unique.size(), got.size());
    std::map<char, int> next;
    for (const std::string& s : got) {
      EXPECT_EQ(std::stoi(s.substr(2)), next[s[0]]++) << s;
    }
    EXPECT_FALSE(members[m]->read_frame(test::Ms(100)).is_frame()) << "a message came twice";
  }
  EXPECT_FALSE(outsider.read_frame(test::Ms(50)).is_frame());
  for (auto& n : nodes) EXPECT_EQ(n->srv.server.counters().broker_lost_publishes, 0u);
}

TEST_F(ServerRedis, ATopicIsSubscribedOnRedisOnlyWhileWanted) {
  Node a(redis);
  ASSERT_TRUE(a.start());
  EXPECT_EQ(redis_subscribers(redis, "t"), 0);
  RawWsClient x, y;
  ASSERT_TRUE(open_ws(x, a.srv.port(), "/?topics=t"));
  ASSERT_TRUE(open_ws(y, a.srv.port(), "/?topics=t"));
  ASSERT_TRUE(wait_redis_subscribers(redis, "t", 1));  // one per node, however many local subscribers
  x.close();
  ASSERT_TRUE(eventually([&] { return a.srv.server.subscriber_count("t") == 1; }));
  EXPECT_EQ(redis_subscribers(redis, "t"), 1);
  y.close();
  EXPECT_TRUE(wait_redis_subscribers(redis, "t", 0));
}

TEST_F(ServerRedis, AThousandTopics) {
  Node a(redis), b(redis);
  ASSERT_TRUE(a.start());
  ASSERT_TRUE(b.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, a.srv.port()));
  ASSERT_TRUE(a.srv.ev.wait_opened(1));
  ConnectionHandle h = a.srv.ev.handle_at(0);
  constexpr int kTopics = 1000;
  for (int i = 0; i < kTopics; ++i) ASSERT_TRUE(h.subscribe("topic-" + std::to_string(i)));
  ASSERT_TRUE(wait_redis_subscribers(redis, "topic-" + std::to_string(kTopics - 1), 1));
  ASSERT_TRUE(wait_redis_subscribers(redis, "topic-0", 1));
  ASSERT_TRUE(eventually([&] { return raw_command(redis, {"PUBSUB", "NUMPAT"}) == "0"; }));
  for (int i = 0; i < kTopics; ++i) {
    b.srv.server.publish("topic-" + std::to_string(i), MessageType::text, std::to_string(i));
  }
  const std::vector<std::string> got = read_texts(c, kTopics);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kTopics));
  for (int i = 0; i < kTopics; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], std::to_string(i));
}

TEST_F(ServerRedis, RedisRestartLocalServiceGoesOnLossIsCountedEverythingResubscribed) {
  Node a(redis), b(redis);
  ASSERT_TRUE(a.start());
  ASSERT_TRUE(b.start());
  RawWsClient on_a, on_b;
  ASSERT_TRUE(open_ws(on_a, a.srv.port(), "/?topics=news"));
  ASSERT_TRUE(open_ws(on_b, b.srv.port(), "/?topics=news"));
  ASSERT_TRUE(wait_redis_subscribers(redis, "news", 2));
  a.srv.server.publish("news", MessageType::text, "before");
  EXPECT_EQ(read_texts(on_a, 1), std::vector<std::string>{"before"});
  EXPECT_EQ(read_texts(on_b, 1), std::vector<std::string>{"before"});

  redis.stop(SIGKILL);
  ASSERT_TRUE(a.broker.wait_down());
  ASSERT_TRUE(b.broker.wait_down());
  // Local service goes on; the other node does not get it, and the loss
  // is counted.
  a.srv.server.publish("news", MessageType::text, "during");
  EXPECT_EQ(read_texts(on_a, 1), std::vector<std::string>{"during"});
  EXPECT_TRUE(eventually([&] { return a.srv.server.counters().broker_lost_publishes >= 1; }));
  EXPECT_FALSE(on_b.read_frame(test::Ms(100)).is_frame());
  // New local subscriptions while down are taken up after the restart.
  RawWsClient late;
  ASSERT_TRUE(open_ws(late, b.srv.port(), "/?topics=late"));

  ASSERT_TRUE(redis.start(/*same_port=*/true));
  ASSERT_TRUE(a.broker.wait_up());
  ASSERT_TRUE(b.broker.wait_up());
  ASSERT_TRUE(wait_redis_subscribers(redis, "news", 2));
  ASSERT_TRUE(wait_redis_subscribers(redis, "late", 1));
  a.srv.server.publish("news", MessageType::text, "after");
  a.srv.server.publish("late", MessageType::text, "late too");
  EXPECT_EQ(read_texts(on_a, 1), std::vector<std::string>{"after"});
  EXPECT_EQ(read_texts(on_b, 1), std::vector<std::string>{"after"});
  EXPECT_EQ(read_texts(late, 1), std::vector<std::string>{"late too"});
  const auto states = a.broker.read([&] { return a.broker.states; });
  ASSERT_GE(states.size(), 3u);
  EXPECT_TRUE(states[0].first);
  EXPECT_FALSE(states[1].first);
  EXPECT_FALSE(states[1].second.empty()) << "the outage says why";
}

TEST_F(ServerRedis, RedisDownAtStartTheServerServesAndConnectsLater) {
  const int port = redis.port();
  redis.stop();
  ServerOptions o = Node::options(redis);
  o.redis.port = static_cast<std::uint16_t>(port);
  BrokerLog log;
  TestServer srv(o, Attach::record);
  srv.server.on_open([&](Connection& c) {
    EXPECT_TRUE(c.subscribe("t"));
    srv.ev.update([&] { srv.ev.opened.push_back(c.handle()); });
  });
  srv.server.on_broker([&](bool up, std::string_view why) {
    log.update([&] { log.states.emplace_back(up, std::string(why)); });
  });
  ASSERT_TRUE(srv.start());
  ASSERT_TRUE(log.wait_down());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(1));
  srv.server.publish("t", MessageType::text, "local");
  EXPECT_EQ(read_texts(c, 1), std::vector<std::string>{"local"});
  ASSERT_TRUE(redis.start(/*same_port=*/true));
  EXPECT_TRUE(log.wait_up());
  EXPECT_TRUE(wait_redis_subscribers(redis, "t", 1));
}

TEST(ServerRedisOptions, BadOptionsAndUrls) {
  ServerOptions o = loopback();
  o.redis.host = "no-such-host.invalid";
  Server a(o);
  Error e = a.start();
  EXPECT_EQ(e.code(), make_error_code(BrokerError::bad_option)) << e.message();
  EXPECT_NE(e.message().find("no-such-host.invalid"), std::string::npos) << e.message();
  o.redis.host = "127.0.0.1";
  o.redis.reconnect_max_delay = 1ms;
  Server b(o);
  e = b.start();
  EXPECT_EQ(e.code(), make_error_code(BrokerError::bad_option)) << e.message();
  EXPECT_NE(e.message().find("reconnect"), std::string::npos) << e.message();

  auto u = RedisOptions::from_url("redis://:s%40cret@[::1]:6380/");
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->password, "s@cret");
  EXPECT_EQ(u->username, "");
  u = RedisOptions::from_url("REDIS://cache.example");
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->host, "cache.example");
  EXPECT_EQ(u->port, 6379);
  for (const char* bad : {"cache.example:6379", "rediss://x", "redis://", "redis://x:0", "redis://x/2", "redis://[::1"}) {
    auto r = RedisOptions::from_url(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), make_error_code(BrokerError::bad_option)) << bad;
  }
  for (const char* secret : {"redis://user:hunter2@x:notaport", "user:hunter2@x", "ftp://:hunter2@x"}) {
    auto r = RedisOptions::from_url(secret);
    ASSERT_FALSE(r) << secret;
    EXPECT_EQ(r.error().message().find("hunter2"), std::string::npos) << "a password in an error message";
  }
}

}  // namespace
}  // namespace parley

#endif  // PARLEY_WITH_REDIS
