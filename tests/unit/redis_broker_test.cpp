// The Redis broker (src/broker/redis.hpp) against a real redis-server
// (Debian's, installed by scripts/install-deps.sh), started by the test on
// 127.0.0.1 with an ephemeral port and its own directory, no persistence,
// stopped by PID. Two brokers on two loops stand for two parley nodes; the
// loops are pumped by the test thread (one thread, so every wait is a
// bounded loop on a predicate), except in the throughput test, where each
// node runs on its own thread.
//
// Suite name NetRedisBroker: run under TSan with the net tests.
#ifdef PARLEY_WITH_REDIS

#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "broker/envelope.hpp"
#include "redis_support.hpp"
#include "broker/redis.hpp"
#include "net/loop.hpp"

namespace parley::broker {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::RedisServer;
using test::raw_command;

// ---- a node: a loop and a broker, and what it saw -------------------------------

struct Got {
  std::string topic;
  MessageType type;
  std::string payload;
  std::string id;
  std::uint64_t origin;
};

struct Node {
  net::Loop loop;
  std::unique_ptr<RedisBroker> broker;
  std::vector<Got> got;
  std::vector<std::pair<bool, std::string>> states;
  std::multiset<std::string> acks;

  explicit Node(int port, RedisBrokerOptions o = {}) {
    o.port = static_cast<std::uint16_t>(port);
    o.reconnect_min_delay = 20ms;
    o.reconnect_max_delay = 200ms;
    RedisBroker::Callbacks cb;
    cb.on_message = [this](const BrokerMessage& m) {
      got.push_back(Got{std::string(m.topic), m.type, std::string(m.payload), std::string(m.id), m.origin});
    };
    cb.on_state = [this](bool up, std::string_view why) { states.emplace_back(up, std::string(why)); };
    cb.on_subscribed = [this](std::string_view t) { acks.emplace(t); };
    broker = std::make_unique<RedisBroker>(loop, std::move(o), std::move(cb));
  }
  bool is_up() const { return !states.empty() && states.back().first; }
  bool is_down() const { return !states.empty() && !states.back().first; }
};

// Pumps the loops (2 ms each turn) until `pred` holds; false after `limit`.
template <class P>
bool pump(std::initializer_list<Node*> nodes, P pred, std::chrono::milliseconds limit = 10s) {
  const auto deadline = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    for (Node* n : nodes) (void)n->loop.run_once(net::Millis(2));
  }
  return true;
}
// Pumps for `d` whatever happens (to see that nothing more arrives).
void pump_for(std::initializer_list<Node*> nodes, std::chrono::milliseconds d) {
  const auto deadline = Clock::now() + d;
  while (Clock::now() < deadline)
    for (Node* n : nodes) (void)n->loop.run_once(net::Millis(2));
}

class NetRedisBroker : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(srv.start()) << "redis-server did not start; log: " << srv.log(); }
  RedisServer srv;
};

// ---- cases -----------------------------------------------------------------------------

TEST_F(NetRedisBroker, StartRefusesNamesAndBadOptions) {
  net::Loop loop;
  RedisBrokerOptions o;
  o.host = "localhost";  // would need a blocking resolve on the loop
  RedisBroker b(loop, o, {});
  Error e = b.start();
  EXPECT_EQ(e.code(), make_error_code(BrokerError::bad_option)) << e.message();
  RedisBrokerOptions o2;
  o2.reconnect_max_delay = 1ms;
  RedisBroker b2(loop, o2, {});
  EXPECT_TRUE(b2.start());
  RedisBrokerOptions o3;
  o3.host = "::1";
  RedisBroker b3(loop, o3, {});
  EXPECT_FALSE(b3.start());
}

TEST_F(NetRedisBroker, PublishReachesTheOtherNodeOnceAndNeverEchoes) {
  Node a(srv.port()), b(srv.port());
  ASSERT_FALSE(a.broker->start());
  ASSERT_FALSE(b.broker->start());
  ASSERT_NE(a.broker->node_id(), b.broker->node_id());
  ASSERT_FALSE(a.broker->subscribe("room"));
  ASSERT_FALSE(b.broker->subscribe("room"));
  ASSERT_FALSE(b.broker->subscribe("room"));  // idempotent
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.acks.count("room") && b.acks.count("room"); }));
  ASSERT_TRUE(a.is_up() && b.is_up());
  EXPECT_EQ(a.states.size(), 1u);

  for (int i = 0; i < 100; ++i) EXPECT_FALSE(a.broker->publish("room", MessageType::text, "m" + std::to_string(i)));
  EXPECT_FALSE(a.broker->publish("room", MessageType::binary, std::string("\0\xff", 2)));
  ASSERT_TRUE(pump({&a, &b}, [&] { return b.got.size() >= 101 && a.broker->stats().own_dropped >= 101; }));
  pump_for({&a, &b}, 100ms);
  ASSERT_EQ(b.got.size(), 101u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(b.got[i].payload, "m" + std::to_string(i));
    EXPECT_EQ(b.got[i].type, MessageType::text);
    EXPECT_EQ(b.got[i].topic, "room");
    EXPECT_EQ(b.got[i].origin, a.broker->node_id());
    EXPECT_EQ(b.got[i].id, "");
  }
  EXPECT_EQ(b.got[100].type, MessageType::binary);
  EXPECT_EQ(b.got[100].payload, std::string("\0\xff", 2));
  EXPECT_TRUE(a.got.empty());  // its own messages came back from Redis and were dropped
  EXPECT_EQ(a.broker->stats().own_dropped, 101u);
  EXPECT_EQ(a.broker->stats().published, 101u);
  EXPECT_EQ(b.broker->stats().received, 101u);

  EXPECT_FALSE(b.broker->publish("room", MessageType::text, "back"));
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.got.size() == 1; }));
  EXPECT_EQ(a.got[0].payload, "back");
  pump_for({&a, &b}, 50ms);
  EXPECT_EQ(b.got.size(), 101u);
  EXPECT_EQ(a.broker->stats().lost_publishes, 0u);
}

TEST_F(NetRedisBroker, AThousandTopics) {
  Node a(srv.port()), b(srv.port());
  ASSERT_FALSE(a.broker->start());
  ASSERT_FALSE(b.broker->start());
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.is_up() && b.is_up(); }));
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(a.broker->subscribe("t" + std::to_string(i)));
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.acks.size() == 1000; }));
  EXPECT_EQ(a.broker->topic_count(), 1000u);
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(b.broker->publish("t" + std::to_string(i), MessageType::text, "x"));
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.got.size() >= 1000; }));
  pump_for({&a, &b}, 100ms);
  ASSERT_EQ(a.got.size(), 1000u);
  std::set<std::string> topics;
  for (const auto& g : a.got) topics.insert(g.topic);
  EXPECT_EQ(topics.size(), 1000u);

  for (int i = 0; i < 1000; ++i) a.broker->unsubscribe("t" + std::to_string(i));
  EXPECT_EQ(a.broker->topic_count(), 0u);
  ASSERT_TRUE(pump({&a, &b}, [&] { return raw_command(srv, {"PUBSUB", "NUMSUB", "parley:t999"}) == "0"; }, 5s));
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(b.broker->publish("t" + std::to_string(i), MessageType::text, "y"));
  ASSERT_TRUE(pump({&a, &b}, [&] { return b.broker->stats().published == 2000; }));
  pump_for({&a, &b}, 100ms);
  EXPECT_EQ(a.got.size(), 1000u);
  EXPECT_EQ(raw_command(srv, {"PUBSUB", "NUMPAT"}), "0");
}

TEST_F(NetRedisBroker, UnsubscribeStopsDeliveryAtOnce) {
  Node a(srv.port()), b(srv.port());
  ASSERT_FALSE(a.broker->start());
  ASSERT_FALSE(b.broker->start());
  ASSERT_FALSE(a.broker->subscribe("t"));
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.acks.count("t") && b.is_up(); }));
  ASSERT_FALSE(b.broker->publish("t", MessageType::text, "one"));
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.got.size() == 1; }));
  // Published and sent to A by Redis, not yet read by A when it
  // unsubscribes: in flight, still dropped.
  ASSERT_FALSE(b.broker->publish("t", MessageType::text, "two"));
  ASSERT_TRUE(pump({&b}, [&] { return b.broker->stats().published == 2; }));
  a.broker->unsubscribe("t");
  a.broker->unsubscribe("t");  // idempotent
  ASSERT_FALSE(b.broker->publish("t", MessageType::text, "three"));
  ASSERT_TRUE(pump({&a, &b}, [&] { return raw_command(srv, {"PUBSUB", "NUMSUB", "parley:t"}) == "0"; }, 5s));
  pump_for({&a, &b}, 100ms);
  EXPECT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.broker->stats().unwanted, 1u);
  // Subscribing again works (hiredis's subscription table handled both ways).
  ASSERT_FALSE(a.broker->subscribe("t"));
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.acks.count("t") == 2; }));
  ASSERT_FALSE(b.broker->publish("t", MessageType::text, "four"));
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.got.size() == 2; }));
  EXPECT_EQ(a.got[1].payload, "four");
}

TEST_F(NetRedisBroker, RedisRestartIsReportedCountedAndRecovered) {
  Node a(srv.port()), b(srv.port());
  ASSERT_FALSE(a.broker->start());
  ASSERT_FALSE(b.broker->start());
  ASSERT_FALSE(a.broker->subscribe("live"));
  ASSERT_FALSE(b.broker->subscribe("live"));
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.acks.count("live") && b.acks.count("live"); }));
  ASSERT_FALSE(a.broker->publish("live", MessageType::text, "before"));
  ASSERT_TRUE(pump({&a, &b}, [&] { return b.got.size() == 1; }));

  srv.stop(SIGKILL);
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.is_down() && b.is_down(); }));
  EXPECT_FALSE(a.broker->up());
  EXPECT_NE(a.states.back().second, "");
  const auto lost_before = a.broker->stats().lost_publishes;
  for (int i = 0; i < 5; ++i) {
    Error e = a.broker->publish("live", MessageType::text, "while down");
    EXPECT_EQ(e.code(), make_error_code(BrokerError::down));
  }
  EXPECT_EQ(a.broker->stats().lost_publishes, lost_before + 5);
  // Reconnection attempts fail for a while without crashing or reporting again.
  pump_for({&a, &b}, 300ms);
  EXPECT_EQ(a.states.size(), 2u);
  EXPECT_GE(a.broker->stats().failures, 2u);
  // A topic wanted while down is subscribed on reconnection too.
  ASSERT_FALSE(b.broker->subscribe("later"));

  ASSERT_TRUE(srv.start(/*same_port=*/true)) << srv.log();
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.is_up() && b.is_up(); }));
  EXPECT_EQ(a.states.size(), 3u);
  EXPECT_EQ(b.acks.count("live"), 2u);  // resubscribed
  EXPECT_EQ(b.acks.count("later"), 1u);
  ASSERT_FALSE(a.broker->publish("live", MessageType::text, "after"));
  ASSERT_FALSE(a.broker->publish("later", MessageType::text, "later too"));
  ASSERT_TRUE(pump({&a, &b}, [&] { return b.got.size() == 3; }));
  EXPECT_EQ(b.got[1].payload, "after");
  EXPECT_EQ(b.got[2].payload, "later too");
  EXPECT_EQ(b.broker->stats().ups, 2u);
}

TEST_F(NetRedisBroker, SubscriberConnectionKilledByRedis) {
  // What Redis does to a subscriber over its client-output-buffer-limit.
  Node a(srv.port()), b(srv.port());
  ASSERT_FALSE(a.broker->start());
  ASSERT_FALSE(b.broker->start());
  ASSERT_FALSE(b.broker->subscribe("t"));
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.is_up() && b.acks.count("t") == 1; }));
  EXPECT_EQ(raw_command(srv, {"CLIENT", "KILL", "TYPE", "pubsub"}), "1");  // b's (a's subscribes to nothing)
  ASSERT_TRUE(pump({&a, &b}, [&] { return b.acks.count("t") == 2 && b.is_up(); }));
  EXPECT_EQ(b.states.size(), 3u);  // up, down, up
  ASSERT_FALSE(a.broker->publish("t", MessageType::text, "again"));
  ASSERT_TRUE(pump({&a, &b}, [&] { return b.got.size() == 1; }));
}

TEST_F(NetRedisBroker, DownFromTheStartThenUp) {
  const int port = srv.port();
  srv.stop();
  Node a(port);
  ASSERT_FALSE(a.broker->start());
  ASSERT_FALSE(a.broker->subscribe("t"));
  ASSERT_TRUE(pump({&a}, [&] { return a.is_down(); }));
  EXPECT_NE(a.states[0].second.find("onnect"), std::string::npos) << a.states[0].second;
  EXPECT_TRUE(a.broker->publish("t", MessageType::text, "x"));
  ASSERT_TRUE(srv.start(true));
  ASSERT_TRUE(pump({&a}, [&] { return a.is_up() && a.acks.count("t"); }));
}

TEST_F(NetRedisBroker, HistoryReadsAfterAnOffsetAndTellsGaps) {
  RedisBrokerOptions o;
  o.history_length = 10;
  Node a(srv.port(), o), b(srv.port(), o);
  ASSERT_FALSE(a.broker->start());
  ASSERT_FALSE(b.broker->start());
  ASSERT_FALSE(b.broker->subscribe("h"));
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.is_up() && b.acks.count("h"); }));
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    ASSERT_FALSE(a.broker->publish("h", MessageType::text, "p" + std::to_string(i),
                                   [&ids](const Error& e, std::string_view id) {
                                     EXPECT_FALSE(e) << e.message();
                                     ids.emplace_back(id);
                                   }));
  }
  ASSERT_TRUE(pump({&a, &b}, [&] { return ids.size() == 10 && b.got.size() == 10; }));
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(is_stream_id(ids[i])) << ids[i];
    EXPECT_EQ(b.got[i].id, ids[i]);  // live messages carry their offset
    if (i > 0) {
      EXPECT_LT(*parse_stream_id(ids[i - 1]), *parse_stream_id(ids[i]));
    }
  }
  EXPECT_EQ(raw_command(srv, {"XLEN", "parley:h:h"}), "10");

  std::vector<HistoryAnswer> answers;
  auto keep = [&answers](HistoryAnswer h) { answers.push_back(std::move(h)); };
  b.broker->history("h", ids[3], keep);
  EXPECT_TRUE(answers.empty());  // never from inside history()
  ASSERT_TRUE(pump({&a, &b}, [&] { return answers.size() == 1; }));
  {
    const HistoryAnswer& h = answers[0];
    ASSERT_FALSE(h.error) << h.error.message();
    EXPECT_FALSE(h.gap);
    EXPECT_FALSE(h.truncated);
    ASSERT_EQ(h.entries.size(), 6u);
    for (int i = 0; i < 6; ++i) {
      EXPECT_EQ(h.entries[i].id, ids[4 + i]);
      EXPECT_EQ(h.entries[i].payload, "p" + std::to_string(4 + i));
      EXPECT_EQ(h.entries[i].type, MessageType::text);
      EXPECT_EQ(h.entries[i].origin, a.broker->node_id());
    }
  }
  // After the last one: nothing, no gap. From the start: all 10. Not an id: refused.
  HistoryAnswer after_last, from_start, bad;
  int n = 0;
  b.broker->history("h", ids[9], [&](HistoryAnswer h) { after_last = std::move(h), ++n; });
  b.broker->history("h", "0", [&](HistoryAnswer h) { from_start = std::move(h), ++n; });
  b.broker->history("h", "not-an-id", [&](HistoryAnswer h) { bad = std::move(h), ++n; });
  ASSERT_TRUE(pump({&a, &b}, [&] { return n == 3; }));
  EXPECT_FALSE(after_last.error);
  EXPECT_FALSE(after_last.gap);
  EXPECT_TRUE(after_last.entries.empty());
  EXPECT_EQ(from_start.entries.size(), 10u);
  EXPECT_FALSE(from_start.gap);
  EXPECT_EQ(bad.error.code(), make_error_code(BrokerError::bad_offset));
  answers.resize(4);

  // Trimmed: 300 more with MAXLEN ~ 10; the first ids are gone.
  for (int i = 0; i < 300; ++i) ASSERT_FALSE(a.broker->publish("h", MessageType::binary, "q"));
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.broker->stats().published == 310; }));
  EXPECT_LE(std::stoul(raw_command(srv, {"XLEN", "parley:h:h"})), 110u);
  b.broker->history("h", ids[3], keep);
  ASSERT_TRUE(pump({&a, &b}, [&] { return answers.size() == 5; }));
  EXPECT_FALSE(answers[4].error);
  EXPECT_TRUE(answers[4].gap);
  EXPECT_FALSE(answers[4].entries.empty());  // what is retained, flagged
  EXPECT_EQ(answers[4].entries.back().type, MessageType::binary);

  // Lost: Redis restarted without persistence.
  srv.stop();
  ASSERT_TRUE(srv.start(true));
  ASSERT_TRUE(pump({&a, &b}, [&] { return b.broker->stats().ups == 2 && b.is_up(); }));
  b.broker->history("h", answers[4].entries.back().id, keep);
  ASSERT_TRUE(pump({&a, &b}, [&] { return answers.size() == 6; }));
  EXPECT_FALSE(answers[5].error);
  EXPECT_TRUE(answers[5].gap);
  EXPECT_TRUE(answers[5].entries.empty());
}

TEST_F(NetRedisBroker, HistoryAnswersAreBoundedAndTruncated) {
  RedisBrokerOptions o;
  o.history_length = 1000;
  o.history_max_replay = 7;
  Node a(srv.port(), o);
  ASSERT_FALSE(a.broker->start());
  ASSERT_TRUE(pump({&a}, [&] { return a.is_up(); }));
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i)
    ASSERT_FALSE(a.broker->publish("h", MessageType::text, "p",
                                   [&ids](const Error&, std::string_view id) { ids.emplace_back(id); }));
  ASSERT_TRUE(pump({&a}, [&] { return ids.size() == 20; }));
  std::vector<HistoryAnswer> answers;
  a.broker->history("h", ids[0], [&](HistoryAnswer h) { answers.push_back(std::move(h)); });
  a.broker->history("h", ids[12], [&](HistoryAnswer h) { answers.push_back(std::move(h)); });
  ASSERT_TRUE(pump({&a}, [&] { return answers.size() == 2; }));
  ASSERT_EQ(answers[0].entries.size(), 7u);
  EXPECT_TRUE(answers[0].truncated);
  EXPECT_EQ(answers[0].entries[0].id, ids[1]);
  ASSERT_EQ(answers[1].entries.size(), 7u);
  EXPECT_FALSE(answers[1].truncated);
  EXPECT_EQ(answers[1].entries.back().id, ids[19]);
}

TEST_F(NetRedisBroker, MalformedEnvelopesAreCountedAndDropped) {
  Node a(srv.port());
  ASSERT_FALSE(a.broker->start());
  ASSERT_FALSE(a.broker->subscribe("t"));
  ASSERT_TRUE(pump({&a}, [&] { return a.acks.count("t") == 1; }));
  // A third client, hiredis's blocking API: raw PUBLISHes.
  EXPECT_EQ(raw_command(srv, {"PUBLISH", "parley:t", "garbage"}), "1");
  EXPECT_EQ(raw_command(srv, {"PUBLISH", "parley:t", ""}), "1");
  EXPECT_EQ(raw_command(srv, {"PUBLISH", "parley:t", "P1T0000000000000001|\xc3\x28"}), "1");  // text, not UTF-8
  EXPECT_EQ(raw_command(srv, {"PUBLISH", "parley:t", "P1Q0000000000000001|x"}), "1");
  ASSERT_TRUE(pump({&a}, [&] { return a.broker->stats().malformed == 4; }));
  EXPECT_TRUE(a.got.empty());
  // A valid envelope from an unknown node goes through.
  std::string env;
  encode_envelope(env, MessageType::text, 0x42, "", "fine");
  EXPECT_EQ(raw_command(srv, {"PUBLISH", "parley:t", env}), "1");
  ASSERT_TRUE(pump({&a}, [&] { return a.got.size() == 1; }));
  EXPECT_EQ(a.got[0].payload, "fine");
  EXPECT_EQ(a.got[0].origin, 0x42u);
  EXPECT_EQ(a.broker->stats().malformed, 4u);
}

TEST_F(NetRedisBroker, BacklogAndPayloadBounds) {
  RedisBrokerOptions o;
  o.max_pending_commands = 5;
  o.max_payload = 100;
  o.max_pending_bytes = 250;
  Node a(srv.port(), o);
  ASSERT_FALSE(a.broker->start());
  ASSERT_TRUE(pump({&a}, [&] { return a.is_up(); }));
  EXPECT_EQ(a.broker->publish("t", MessageType::binary, std::string(101, 'x')).code(),
            make_error_code(BrokerError::payload_too_large));
  int refused = 0;
  for (int i = 0; i < 100; ++i) {
    Error e = a.broker->publish("t", MessageType::binary, "x");  // no loop turn: nothing answered yet
    if (e) {
      EXPECT_EQ(e.code(), make_error_code(BrokerError::backlog_full));
      ++refused;
    }
  }
  EXPECT_EQ(refused, 95);
  EXPECT_EQ(a.broker->stats().lost_publishes, 95u);
  ASSERT_TRUE(pump({&a}, [&] { return a.broker->stats().published == 5; }));
  EXPECT_EQ(a.broker->stats().pending_commands, 0u);
  // The byte bound: 2 x 100 B fit in 250, a third does not.
  EXPECT_FALSE(a.broker->publish("t", MessageType::binary, std::string(100, 'x')));
  EXPECT_FALSE(a.broker->publish("t", MessageType::binary, std::string(100, 'x')));
  EXPECT_EQ(a.broker->publish("t", MessageType::binary, std::string(100, 'x')).code(),
            make_error_code(BrokerError::backlog_full));
  ASSERT_TRUE(pump({&a}, [&] { return a.broker->stats().pending_bytes == 0; }));
}

TEST_F(NetRedisBroker, HungRedisIsFoundByPing) {
  RedisBrokerOptions o;
  o.ping_interval = 50ms;
  o.ping_timeout = 300ms;
  o.connect_timeout = 300ms;
  Node a(srv.port(), o);
  ASSERT_FALSE(a.broker->start());
  ASSERT_TRUE(pump({&a}, [&] { return a.is_up(); }));
  // The server stops answering but keeps its sockets open.
  srv.pause(true);
  ASSERT_TRUE(pump({&a}, [&] { return a.is_down(); }, 5s));
  EXPECT_NE(a.states.back().second.find("PING"), std::string::npos) << a.states.back().second;
  srv.pause(false);
  ASSERT_TRUE(pump({&a}, [&] { return a.is_up(); }));
}

TEST_F(NetRedisBroker, DestroyedFromItsOwnMessageCallback) {
  Node b(srv.port());
  net::Loop loop;
  std::unique_ptr<RedisBroker> a;
  int seen = 0;
  RedisBrokerOptions o;
  o.port = static_cast<std::uint16_t>(srv.port());
  RedisBroker::Callbacks cb;
  cb.on_message = [&](const BrokerMessage&) {
    ++seen;
    a.reset();  // not allowed by the contract, but must not crash
  };
  bool subscribed = false;
  cb.on_subscribed = [&](std::string_view) { subscribed = true; };
  a = std::make_unique<RedisBroker>(loop, o, std::move(cb));
  ASSERT_FALSE(a->start());
  ASSERT_FALSE(a->subscribe("t"));
  ASSERT_FALSE(b.broker->start());
  const auto deadline = Clock::now() + 10s;
  while ((!subscribed || !b.is_up()) && Clock::now() < deadline) {
    (void)loop.run_once(net::Millis(2));
    (void)b.loop.run_once(net::Millis(2));
  }
  ASSERT_TRUE(subscribed && b.is_up());
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(b.broker->publish("t", MessageType::text, "x"));
  while (a && Clock::now() < deadline) {
    (void)loop.run_once(net::Millis(2));
    (void)b.loop.run_once(net::Millis(2));
  }
  for (int i = 0; i < 10; ++i) (void)loop.run_once(net::Millis(2));
  EXPECT_EQ(seen, 1);
}

// Messages per second from one node to another through Redis, each node on
// its own thread and loop; prints the figure (never asserts a time).
void throughput(const RedisServer& srv, std::size_t history) {
  const int total = std::getenv("PARLEY_REDIS_BENCH_MESSAGES") ? std::atoi(std::getenv("PARLEY_REDIS_BENCH_MESSAGES")) : 20000;
  const std::size_t size = 64;
  std::atomic<int> received{0};
  std::atomic<bool> receiver_ready{false}, done{false};
  std::atomic<long long> first_ns{0}, last_ns{0};
  std::thread receiver([&] {
    net::Loop loop;
    RedisBrokerOptions o;
    o.port = static_cast<std::uint16_t>(srv.port());
    RedisBroker::Callbacks cb;
    cb.on_message = [&](const BrokerMessage&) {
      const int n = received.fetch_add(1) + 1;
      if (n == total) last_ns = Clock::now().time_since_epoch().count();
    };
    cb.on_subscribed = [&](std::string_view) { receiver_ready = true; };
    RedisBroker b(loop, o, std::move(cb));
    if (b.start()) return;
    if (b.subscribe("bench")) return;
    const auto deadline = Clock::now() + 60s;
    while (!done && Clock::now() < deadline) (void)loop.run_once(net::Millis(5));
  });
  std::thread sender([&] {
    net::Loop loop;
    RedisBrokerOptions o;
    o.port = static_cast<std::uint16_t>(srv.port());
    o.max_pending_commands = 1000;
    o.history_length = history;
    bool up = false;
    RedisBroker::Callbacks cb;
    cb.on_state = [&](bool u, std::string_view) { up = u; };
    RedisBroker b(loop, o, std::move(cb));
    if (b.start()) return;
    const std::string payload(size, 'x');
    const auto deadline = Clock::now() + 60s;
    while ((!up || !receiver_ready) && Clock::now() < deadline) (void)loop.run_once(net::Millis(5));
    first_ns = Clock::now().time_since_epoch().count();
    int sent = 0;
    while (sent < total && Clock::now() < deadline) {
      // Publish up to the backlog bound, then let the loop send and drain.
      while (sent < total && b.stats().pending_commands < o.max_pending_commands) {
        if (b.publish("bench", MessageType::binary, payload)) break;
        ++sent;
      }
      (void)loop.run_once(net::Millis(1));
    }
    while ((!done || b.stats().pending_commands > 0) && Clock::now() < deadline) (void)loop.run_once(net::Millis(5));
    EXPECT_EQ(b.stats().published, static_cast<std::uint64_t>(total));
    EXPECT_EQ(b.stats().lost_publishes, 0u);
  });
  const auto deadline = Clock::now() + 60s;
  while (received < total && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  done = true;
  receiver.join();
  sender.join();
  ASSERT_EQ(received.load(), total);
  const double secs = static_cast<double>(last_ns - first_ns) / 1e9;
  std::printf("[ redis    ] %d messages of %zu B node to node through Redis%s in %.3f s: %.0f msg/s\n", total, size,
              history ? " (with history: XADD + PUBLISH script)" : "", secs, total / secs);
}

TEST_F(NetRedisBroker, ThroughputBetweenTwoNodes) { throughput(srv, 0); }
TEST_F(NetRedisBroker, ThroughputBetweenTwoNodesWithHistory) { throughput(srv, 1000); }

}  // namespace
}  // namespace parley::broker

#endif  // PARLEY_WITH_REDIS
