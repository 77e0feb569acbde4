// Topics across servers (ServerOptions::redis) against a real redis-server
// started by the test (tests/unit/redis_support.hpp): two and three nodes
// in this process, each with two loops and raw WebSocket clients. Every
// message reaches every subscriber on every node exactly once; a topic is
// subscribed on Redis only while wanted; a thousand topics; Redis killed
// and restarted mid-run (local service goes on, the outage is reported and
// the loss counted, everything resubscribed); bad options.
#ifdef PARLEY_WITH_REDIS

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <thread>
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

// A node whose topics keep a history: messages reach clients as
// "<offset>|<message>"; `?topics=a,b&since=OFFSET` recovers; the end of a
// recovery is told to the client, in order, as "recovery:<outcome>:<n>".
struct HistoryNode {
  BrokerLog broker;
  TestServer srv;
  std::atomic<int> recoveries{0};

  HistoryNode(const RedisServer& redis, std::size_t length, std::size_t max_replay = 1000,
              std::size_t max_buffered = 16u << 20)
      : srv(options(redis, length, max_replay, max_buffered), Attach::record) {
    srv.server.on_open([this](Connection& c) {
      const std::string list(c.request()->query_param("topics").value_or(""));
      const std::optional<std::string> since = c.request()->query_param("since");
      for (std::size_t start = 0; start < list.size();) {
        const std::size_t end = std::min(list.find(',', start), list.size());
        const std::string topic = list.substr(start, end - start);
        EXPECT_TRUE(since ? c.subscribe(topic, *since) : c.subscribe(topic));
        start = end + 1;
      }
      srv.ev.update([&] { srv.ev.opened.push_back(c.handle()); });
    });
    srv.server.on_topic_message([](const TopicMessage& m) { return std::string(m.offset) + "|" + std::string(m.data); });
    srv.server.on_recovery([this](Connection& c, const Recovery& r) {
      static constexpr const char* kNames[] = {"recovered", "gap", "unavailable"};
      (void)c.send_text("recovery:" + std::string(kNames[static_cast<int>(r.outcome)]) + ":" +
                        std::to_string(r.replayed));
      ++recoveries;
    });
    srv.server.on_broker([this](bool up, std::string_view why) {
      broker.update([&] { broker.states.emplace_back(up, std::string(why)); });
    });
  }
  static ServerOptions options(const RedisServer& redis, std::size_t length, std::size_t max_replay,
                               std::size_t max_buffered) {
    ServerOptions o = Node::options(redis);
    o.max_buffered_amount = max_buffered;
    o.redis.history_length = length;
    o.redis.history_max_replay = max_replay;
    return o;
  }
  ::testing::AssertionResult start() {
    if (auto ok = srv.start(); !ok) return ok;
    if (!broker.wait_up()) return ::testing::AssertionFailure() << "the broker did not come up";
    return ::testing::AssertionSuccess();
  }
};

// "<offset>|<message>" split, with the offset parsed for comparisons.
struct Offered {
  std::string offset;
  std::pair<std::uint64_t, std::uint64_t> id;
  std::string message;
};
std::optional<Offered> split_offered(const std::string& s) {
  const std::size_t bar = s.find('|');
  const std::size_t dash = s.find('-');
  if (bar == std::string::npos || dash == std::string::npos || dash > bar) return std::nullopt;
  return Offered{s.substr(0, bar), {std::stoull(s.substr(0, dash)), std::stoull(s.substr(dash + 1, bar - dash - 1))},
                 s.substr(bar + 1)};
}

// Reads until `until(text)` is true for a message, or nothing more comes.
std::vector<std::string> read_until(RawWsClient& c, const std::function<bool(const std::string&)>& until) {
  std::vector<std::string> out;
  for (int i = 0; i < 100000; ++i) {
    ReadResult r = c.read_frame(test::Ms(5000));
    if (!r.is_frame() || r.frame.opcode != kText) break;
    out.push_back(r.frame.payload);
    if (until(out.back())) break;
  }
  return out;
}

TEST_F(ServerRedis, HistoryRecoveryMissesNothingAndRepeatsNothing) {
  HistoryNode a(redis, 1000), b(redis, 1000);
  ASSERT_TRUE(a.start());
  ASSERT_TRUE(b.start());
  // Every message, with its offset, as a live subscriber of node A sees it.
  RawWsClient watcher, x;
  ASSERT_TRUE(open_ws(watcher, a.srv.port(), "/?topics=room"));
  ASSERT_TRUE(open_ws(x, b.srv.port(), "/?topics=room"));
  ASSERT_TRUE(wait_redis_subscribers(redis, "room", 2));
  auto publish = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      a.srv.server.publish("room", MessageType::text, "a" + std::to_string(i));
      b.srv.server.publish("room", MessageType::text, "b" + std::to_string(i));
    }
  };
  publish(0, 10);
  const std::vector<std::string> first = read_texts(x, 20);
  ASSERT_EQ(first.size(), 20u);
  const std::string last = split_offered(first.back())->offset;
  x.close();
  publish(10, 20);  // missed by x
  // (Once the watcher has them, they are in the stream.)
  std::vector<std::string> all = read_texts(watcher, 40);
  ASSERT_EQ(all.size(), 40u);
  // x comes back on the other node while both keep publishing.
  std::thread publisher([&] {
    for (int i = 20; i < 80; ++i) {
      publish(i, i + 1);
      std::this_thread::sleep_for(1ms);
    }
  });
  RawWsClient back;
  ASSERT_TRUE(open_ws(back, a.srv.port(), "/?topics=room&since=" + last));
  publisher.join();
  std::vector<std::string> got = read_texts(back, 141);  // 140 and the notice
  // Every message after `last` once, in the stream's order (what the
  // watcher saw), the notice somewhere in between.
  for (std::string& m : read_texts(watcher, 120)) all.push_back(std::move(m));
  ASSERT_EQ(all.size(), 160u);
  std::vector<std::string> expected;
  bool after = false;
  for (const std::string& m : all) {
    if (after) expected.push_back(m);
    if (split_offered(m)->offset == last) after = true;
  }
  ASSERT_EQ(expected.size(), 140u);
  std::vector<std::string> messages;
  std::size_t notices = 0, replayed_before_notice = 0;
  std::string notice;
  for (const std::string& m : got) {
    if (m.starts_with("recovery:")) {
      ++notices;
      notice = m;
      replayed_before_notice = messages.size();
    } else {
      messages.push_back(m);
    }
  }
  EXPECT_EQ(notices, 1u);
  EXPECT_EQ(notice, "recovery:recovered:" + std::to_string(replayed_before_notice));
  EXPECT_GE(replayed_before_notice, 20u);  // at least what was published while away
  EXPECT_EQ(messages, expected);
  EXPECT_FALSE(back.read_frame(test::Ms(100)).is_frame()) << "more than expected";
  // Offsets strictly increase for the watcher (own and other nodes' messages alike).
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_LT(split_offered(all[i - 1])->id, split_offered(all[i])->id);
}

TEST_F(ServerRedis, HistoryRecoveryToldPlainlyWhenItCannotBeDone) {
  // About 5 entries kept (MAXLEN ~ trims whole stream nodes of 100), at
  // most 30 replayed.
  HistoryNode a(redis, 5, 30);
  ASSERT_TRUE(a.start());
  RawWsClient watcher;
  ASSERT_TRUE(open_ws(watcher, a.srv.port(), "/?topics=t"));
  ASSERT_TRUE(wait_redis_subscribers(redis, "t", 1));
  for (int i = 0; i < 300; ++i) a.srv.server.publish("t", MessageType::text, std::to_string(i));
  const std::vector<std::string> all = read_texts(watcher, 300);
  ASSERT_EQ(all.size(), 300u);
  auto offset_of = [&](std::size_t i) { return split_offered(all[i])->offset; };
  auto recover = [&](const std::string& since) {
    RawWsClient c;
    EXPECT_TRUE(open_ws(c, a.srv.port(), "/?topics=t&since=" + since));
    return read_until(c, [](const std::string& m) { return m.starts_with("recovery:"); });
  };
  // Trimmed long ago.
  EXPECT_EQ(recover(offset_of(0)), std::vector<std::string>{"recovery:gap:0"});
  // Never an offset of this topic, or not an offset at all.
  EXPECT_EQ(recover("1-1"), std::vector<std::string>{"recovery:gap:0"});
  EXPECT_EQ(recover("soon"), std::vector<std::string>{"recovery:gap:0"});
  // Still there, but more missed than history_max_replay.
  EXPECT_EQ(recover(offset_of(299 - 40)), std::vector<std::string>{"recovery:gap:0"});
  // Within both: replayed.
  std::vector<std::string> tail(all.end() - 10, all.end());
  tail.push_back("recovery:recovered:10");
  EXPECT_EQ(recover(offset_of(289)), tail);
  // Nothing missed.
  EXPECT_EQ(recover(offset_of(299)), std::vector<std::string>{"recovery:recovered:0"});
}

TEST_F(ServerRedis, HistoryRecoveryLargerThanTheConnectionsBufferIsAGap) {
  // 20 messages of 1 KiB to recover, connections that may hold 8 KiB:
  // Redis cuts the read, and the client is told a gap; 5 missed fit.
  HistoryNode a(redis, 100, 1000, 8192);
  ASSERT_TRUE(a.start());
  RawWsClient watcher;
  ASSERT_TRUE(open_ws(watcher, a.srv.port(), "/?topics=t"));
  ASSERT_TRUE(wait_redis_subscribers(redis, "t", 1));
  std::vector<std::string> all;
  for (int i = 0; i < 21; ++i) {  // (one at a time: the watcher may hold 8 KiB too)
    a.srv.server.publish("t", MessageType::text, std::string(1024, static_cast<char>('a' + i % 26)));
    for (std::string& m : read_texts(watcher, 1)) all.push_back(std::move(m));
  }
  ASSERT_EQ(all.size(), 21u);
  auto recover = [&](const std::string& since) {
    RawWsClient c;
    EXPECT_TRUE(open_ws(c, a.srv.port(), "/?topics=t&since=" + since));
    return read_until(c, [](const std::string& m) { return m.starts_with("recovery:"); });
  };
  EXPECT_EQ(recover(split_offered(all[0])->offset), std::vector<std::string>{"recovery:gap:0"});
  std::vector<std::string> tail(all.end() - 5, all.end());
  tail.push_back("recovery:recovered:5");
  EXPECT_EQ(recover(split_offered(all[15])->offset), tail);
}

TEST_F(ServerRedis, HistoryWithRedisDownLocalMessagesHaveNoOffsetAndRecoveryIsUnavailable) {
  HistoryNode a(redis, 100);
  ASSERT_TRUE(a.start());
  RawWsClient watcher;
  ASSERT_TRUE(open_ws(watcher, a.srv.port(), "/?topics=t"));
  ASSERT_TRUE(wait_redis_subscribers(redis, "t", 1));
  a.srv.server.publish("t", MessageType::text, "up");
  const std::vector<std::string> before = read_texts(watcher, 1);
  ASSERT_EQ(before.size(), 1u);
  ASSERT_TRUE(split_offered(before[0]));
  redis.stop(SIGKILL);
  ASSERT_TRUE(a.broker.wait_down());
  a.srv.server.publish("t", MessageType::text, "down");
  EXPECT_EQ(read_texts(watcher, 1), std::vector<std::string>{"|down"});
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, a.srv.port(), "/?topics=t&since=" + split_offered(before[0])->offset));
  EXPECT_EQ(read_until(c, [](const std::string& m) { return m.starts_with("recovery:"); }),
            std::vector<std::string>{"recovery:unavailable:0"});
  EXPECT_GE(a.srv.server.counters().broker_lost_publishes, 1u);
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
