// Topics (pub/sub) in one server over real loopback sockets, two loops:
// who receives a publish, in what order, subscriptions ending with
// unsubscribe and close, subscriber counts and on_subscription, handles
// from another thread, subscribing or leaving while a publish walks the
// topic, compression once per setting, and slow subscribers skipped or
// closed without holding up the others.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "parley/parley.hpp"
#include "raw_ws_client.hpp"
#include "server_support.hpp"

namespace parley {
namespace {

using namespace std::chrono_literals;

ServerOptions two_loops() {
  ServerOptions o = loopback();
  o.threads = 2;
  return o;
}

// Subscribes each connection to the comma-separated topics of its
// `?topics=` query at on_open, and records the open.
void subscribe_from_query(TestServer& srv) {
  srv.server.on_open([&srv](Connection& c) {
    const std::string list(c.request()->query_param("topics").value_or(""));
    std::size_t start = 0;
    while (start < list.size()) {
      const std::size_t end = std::min(list.find(',', start), list.size());
      EXPECT_TRUE(c.subscribe(list.substr(start, end - start)));
      start = end + 1;
    }
    srv.ev.update([&] { srv.ev.opened.push_back(c.handle()); });
  });
}

// Reads `n` text messages (or fewer: what came before the timeout).
std::vector<std::string> read_texts(RawWsClient& c, std::size_t n, test::Ms timeout = test::Ms(5000)) {
  std::vector<std::string> out;
  while (out.size() < n) {
    ReadResult r = c.read_frame(timeout);
    if (!r.is_frame() || r.frame.opcode != kText) break;
    out.push_back(r.frame.payload);
  }
  return out;
}

// True when nothing arrives within `quiet`.
bool nothing_arrives(RawWsClient& c, test::Ms quiet = test::Ms(150)) { return !c.read_frame(quiet).is_frame(); }

TEST(ServerTopics, PublishReachesEverySubscriberInOrderAndNobodyElse) {
  TestServer srv(two_loops(), Attach::record);
  subscribe_from_query(srv);
  ASSERT_TRUE(srv.start());
  RawWsClient a1, a2, ab, b, none;
  ASSERT_TRUE(open_ws(a1, srv.port(), "/?topics=a"));
  ASSERT_TRUE(open_ws(a2, srv.port(), "/?topics=a"));
  ASSERT_TRUE(open_ws(ab, srv.port(), "/?topics=a,b"));
  ASSERT_TRUE(open_ws(b, srv.port(), "/?topics=b"));
  ASSERT_TRUE(open_ws(none, srv.port(), "/"));
  ASSERT_TRUE(srv.ev.wait_opened(5));
  EXPECT_EQ(srv.server.subscriber_count("a"), 3u);
  EXPECT_EQ(srv.server.subscriber_count("b"), 2u);
  EXPECT_EQ(srv.server.subscriber_count("c"), 0u);

  std::vector<std::string> expected_a, expected_ab;
  for (int i = 0; i < 100; ++i) {
    const std::string m = "a" + std::to_string(i);
    srv.server.publish("a", MessageType::text, m);
    expected_a.push_back(m);
    expected_ab.push_back(m);
    if (i % 10 == 0) {
      srv.server.publish("b", MessageType::text, "b" + std::to_string(i));
      expected_ab.push_back("b" + std::to_string(i));
    }
  }
  EXPECT_EQ(read_texts(a1, expected_a.size()), expected_a);
  EXPECT_EQ(read_texts(a2, expected_a.size()), expected_a);
  EXPECT_EQ(read_texts(ab, expected_ab.size()), expected_ab);
  EXPECT_EQ(read_texts(b, 10).size(), 10u);
  EXPECT_TRUE(nothing_arrives(a1));
  EXPECT_TRUE(nothing_arrives(none));
  EXPECT_EQ(srv.server.counters().skipped_deliveries, 0u);
}

TEST(ServerTopics, BinaryAndEmptyMessagesAndTopicNamesAreBytes) {
  TestServer srv(two_loops(), Attach::record);
  const std::string odd_topic("room\0/\xff", 7);
  srv.server.on_open([&](Connection& c) {
    EXPECT_TRUE(c.subscribe(odd_topic));
    EXPECT_TRUE(c.subscribe(""));
    EXPECT_TRUE(c.subscribed(odd_topic));
    EXPECT_FALSE(c.subscribed("room"));
    srv.ev.update([&] { srv.ev.opened.push_back(c.handle()); });
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(1));
  srv.server.publish(odd_topic, MessageType::binary, std::string("\x00\x01\x02", 3));
  srv.server.publish("", MessageType::text, "");
  srv.server.publish("room", MessageType::text, "not for us");
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kBinary);
  EXPECT_EQ(r.frame.payload, std::string("\x00\x01\x02", 3));
  r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kText);
  EXPECT_EQ(r.frame.payload, "");
  EXPECT_TRUE(nothing_arrives(c));
}

// Every change of a topic's count, as on_subscription saw it.
struct CountLog : Recorder {
  std::vector<std::tuple<std::string, std::size_t, std::size_t>> changes;
  void attach(Server& s) {
    s.on_subscription([this](std::string_view topic, std::size_t now, std::size_t before) {
      update([&] { changes.emplace_back(std::string(topic), now, before); });
    });
  }
  std::size_t size() {
    return read([&] { return changes.size(); });
  }
};

TEST(ServerTopics, UnsubscribeAndCloseEndSubscriptionsAndCountsFollow) {
  CountLog counts;
  TestServer srv(two_loops(), Attach::record);
  counts.attach(srv.server);
  std::atomic<int> unsubscribed_true{0}, unsubscribed_false{0};
  subscribe_from_query(srv);
  srv.server.on_text([&](Connection& c, std::string_view t) {
    // "-x": leave x (twice: the second says it was not subscribed); "?": list.
    if (t.substr(0, 1) == "-") {
      (c.unsubscribe(t.substr(1)) ? unsubscribed_true : unsubscribed_false)++;
      (c.unsubscribe(t.substr(1)) ? unsubscribed_true : unsubscribed_false)++;
      c.send_text("left");
    } else if (t == "?") {
      std::string list;
      for (const std::string& topic : c.topics()) list += topic + ";";
      c.send_text(list);
    }
  });
  ASSERT_TRUE(srv.start());
  RawWsClient x, y;
  ASSERT_TRUE(open_ws(x, srv.port(), "/?topics=t,u,t"));  // t twice: one subscription
  ASSERT_TRUE(open_ws(y, srv.port(), "/?topics=t"));
  ASSERT_TRUE(srv.ev.wait_opened(2));
  ASSERT_TRUE(x.send_text("?"));
  EXPECT_EQ(read_texts(x, 1), std::vector<std::string>{"t;u;"});
  EXPECT_EQ(srv.server.subscriber_count("t"), 2u);
  EXPECT_EQ(srv.server.subscriber_count("u"), 1u);
  ASSERT_EQ(counts.size(), 3u);

  ASSERT_TRUE(x.send_text("-t"));
  EXPECT_EQ(read_texts(x, 1), std::vector<std::string>{"left"});
  EXPECT_EQ(unsubscribed_true, 1);
  EXPECT_EQ(unsubscribed_false, 1);
  EXPECT_EQ(srv.server.subscriber_count("t"), 1u);
  srv.server.publish("t", MessageType::text, "t1");
  EXPECT_EQ(read_texts(y, 1), std::vector<std::string>{"t1"});
  EXPECT_TRUE(nothing_arrives(x));

  // A close ends every subscription, before on_close.
  ASSERT_TRUE(x.send_close(1000));
  ASSERT_TRUE(srv.ev.wait_closed(1));
  EXPECT_EQ(srv.server.subscriber_count("u"), 0u);
  y.close();  // dropped without a close frame: the same
  ASSERT_TRUE(srv.ev.wait_closed(2));
  EXPECT_EQ(srv.server.subscriber_count("t"), 0u);

  auto changes = counts.read([&] { return counts.changes; });
  // x: +t, +u (in either order with y's +t, another loop); x -t; x's close
  // -u; y's end -t. Per topic, the counts step by one and end at zero.
  std::map<std::string, std::vector<std::pair<std::size_t, std::size_t>>> by_topic;
  for (auto& [topic, now, before] : changes) by_topic[topic].emplace_back(before, now);
  ASSERT_EQ(by_topic["u"].size(), 2u);
  EXPECT_EQ(by_topic["u"][0], (std::pair<std::size_t, std::size_t>{0, 1}));
  EXPECT_EQ(by_topic["u"][1], (std::pair<std::size_t, std::size_t>{1, 0}));
  ASSERT_EQ(by_topic["t"].size(), 4u);
  std::multiset<std::pair<std::size_t, std::size_t>> t_steps(by_topic["t"].begin(), by_topic["t"].end());
  EXPECT_EQ(t_steps, (std::multiset<std::pair<std::size_t, std::size_t>>{{0, 1}, {1, 2}, {2, 1}, {1, 0}}));
  EXPECT_EQ(by_topic["t"].back(), (std::pair<std::size_t, std::size_t>{1, 0}));
}

TEST(ServerTopics, HandlesSubscribeFromAnyThreadAndAPublishIsNotOvertaken) {
  TestServer srv(two_loops(), Attach::record);
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(1));
  ConnectionHandle h = srv.ev.handle_at(0);
  // From this thread: subscribe, publish, send directly: in that order.
  ASSERT_TRUE(h.subscribe("news"));
  srv.server.publish("news", MessageType::text, "published");
  ASSERT_TRUE(h.send_text("direct"));
  EXPECT_EQ(read_texts(c, 2), (std::vector<std::string>{"published", "direct"}));
  ASSERT_TRUE(h.unsubscribe("news"));
  srv.server.publish("news", MessageType::text, "too late");
  ASSERT_TRUE(h.send_text("after"));
  EXPECT_EQ(read_texts(c, 1), std::vector<std::string>{"after"});
  EXPECT_TRUE(eventually([&] { return srv.server.subscriber_count("news") == 0; }));
}

TEST(ServerTopics, AHandleSubscribesAtOnceOnItsOwnLoop) {
  // One loop: in A's callback, B (same loop) is subscribed through its
  // handle and a message published at once: B gets it.
  TestServer srv(loopback(), Attach::record);
  srv.server.on_text([&](Connection&, std::string_view t) {
    ConnectionHandle b = srv.ev.handle_at(1);
    ASSERT_TRUE(b.subscribe("late"));
    srv.server.publish("late", MessageType::text, "right away: " + std::string(t));
    ASSERT_TRUE(b.unsubscribe("late"));
    srv.server.publish("late", MessageType::text, "not for b");
  });
  ASSERT_TRUE(srv.start());
  RawWsClient a, b;
  ASSERT_TRUE(open_ws(a, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(1));
  ASSERT_TRUE(open_ws(b, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(2));
  ASSERT_TRUE(a.send_text("go"));
  EXPECT_EQ(read_texts(b, 1), std::vector<std::string>{"right away: go"});
  EXPECT_TRUE(nothing_arrives(b));
}

TEST(ServerTopics, LeavingAndJoiningDuringAPublishIsSafe) {
  // on_frame runs inside the publish's walk of the topic (a frame queued
  // for a subscriber): there every subscriber leaves, and subscribes to
  // another topic. Each got the message exactly once; the next publish
  // reaches nobody; the topic is gone.
  TestServer srv(loopback(), Attach::record);  // one loop: every subscriber in one walk
  subscribe_from_query(srv);
  srv.server.on_frame([](Connection& c, protocol::FrameDirection d, const protocol::FrameHeader&) {
    if (d == protocol::FrameDirection::sent && c.subscribed("walk")) {
      EXPECT_TRUE(c.unsubscribe("walk"));
      EXPECT_TRUE(c.subscribe("after"));
    }
  });
  ASSERT_TRUE(srv.start());
  std::vector<RawWsClient> clients(12);
  for (auto& c : clients) ASSERT_TRUE(open_ws(c, srv.port(), "/?topics=walk"));
  ASSERT_TRUE(srv.ev.wait_opened(clients.size()));
  srv.server.publish("walk", MessageType::text, "once");
  for (auto& c : clients) EXPECT_EQ(read_texts(c, 1), std::vector<std::string>{"once"});
  srv.server.publish("walk", MessageType::text, "twice");
  srv.server.publish("after", MessageType::text, "moved");
  for (auto& c : clients) EXPECT_EQ(read_texts(c, 1), std::vector<std::string>{"moved"});
  EXPECT_EQ(srv.server.subscriber_count("walk"), 0u);
  EXPECT_EQ(srv.server.subscriber_count("after"), clients.size());
}

TEST(ServerTopics, ManySubscribersChurnDeliversToExactlyTheMembers) {
  // Random memberships over 60 connections and 5 topics, then random
  // leaves (through handles): every publish reaches exactly the members
  // left, which checks the subscriber arrays after many swap-removes.
  TestServer srv(two_loops(), Attach::record);
  ASSERT_TRUE(srv.start());
  constexpr int kClients = 60;
  constexpr int kTopics = 5;
  std::vector<RawWsClient> clients(kClients);
  for (auto& c : clients) ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(kClients));
  std::mt19937 rng(7);
  std::vector<std::set<int>> member(kTopics);
  for (int i = 0; i < kClients; ++i) {
    ConnectionHandle h = srv.ev.handle_at(static_cast<std::size_t>(i));
    for (int t = 0; t < kTopics; ++t) {
      if (rng() % 2 != 0) {
        ASSERT_TRUE(h.subscribe("t" + std::to_string(t)));
        member[static_cast<std::size_t>(t)].insert(static_cast<int>(h.id()));
      }
    }
  }
  for (int i = 0; i < kClients; ++i) {
    ConnectionHandle h = srv.ev.handle_at(static_cast<std::size_t>(i));
    for (int t = 0; t < kTopics; ++t) {
      if (rng() % 3 == 0) {
        ASSERT_TRUE(h.unsubscribe("t" + std::to_string(t)));
        member[static_cast<std::size_t>(t)].erase(static_cast<int>(h.id()));
      }
    }
  }
  for (int t = 0; t < kTopics; ++t) {
    ASSERT_TRUE(eventually([&] {
      return srv.server.subscriber_count("t" + std::to_string(t)) == member[static_cast<std::size_t>(t)].size();
    }));
    srv.server.publish("t" + std::to_string(t), MessageType::text, std::to_string(t));
  }
  for (int i = 0; i < kClients; ++i) {
    const int id = static_cast<int>(srv.ev.handle_at(static_cast<std::size_t>(i)).id());
    std::vector<std::string> expected;
    for (int t = 0; t < kTopics; ++t) {
      if (member[static_cast<std::size_t>(t)].count(id) != 0) expected.push_back(std::to_string(t));
    }
    SCOPED_TRACE(i);
    EXPECT_EQ(read_texts(clients[static_cast<std::size_t>(i)], expected.size()), expected);
    EXPECT_TRUE(nothing_arrives(clients[static_cast<std::size_t>(i)], test::Ms(20)));
  }
}

TEST(ServerTopics, CompressedSubscribersAndPlainOnesGetTheSameMessage) {
  ServerOptions so = two_loops();
  so.deflate.enabled = true;
  so.deflate.server_no_context_takeover = true;  // one compressed frame per loop for all
  TestServer srv(so, Attach::record);
  srv.server.on_open([&](Connection& c) {
    EXPECT_TRUE(c.subscribe("feed"));
    srv.ev.update([&] { srv.ev.opened.push_back(c.handle()); });
  });
  ASSERT_TRUE(srv.start());
  const std::string url = "ws://127.0.0.1:" + std::to_string(srv.port()) + "/";
  ClientOptions with;
  with.deflate.enabled = true;
  ClientOptions narrow = with;
  narrow.deflate.server_max_window_bits = 9;
  std::vector<std::unique_ptr<BlockingClient>> clients;
  for (const ClientOptions& o : {with, with, narrow, ClientOptions{}}) {
    clients.push_back(std::make_unique<BlockingClient>(o));
    ASSERT_FALSE(clients.back()->connect(url));
  }
  ASSERT_TRUE(srv.ev.wait_opened(clients.size()));
  std::string json;
  for (int i = 0; i < 300; ++i) json += R"({"n":)" + std::to_string(i % 9) + R"(,"text":"hello"},)";
  for (int round = 0; round < 3; ++round) {
    srv.server.publish("feed", MessageType::text, json);
    srv.server.publish("feed", MessageType::binary, "small");
  }
  for (auto& c : clients) {
    for (int round = 0; round < 3; ++round) {
      auto big = c->receive(5s);
      ASSERT_TRUE(big) << big.error().message();
      EXPECT_EQ(big->data, json);
      auto small = c->receive(5s);
      ASSERT_TRUE(small) << small.error().message();
      EXPECT_EQ(small->data, "small");
    }
  }
}

// A subscriber with a small receive window that never reads, and a fast
// one; 300 messages of 16 KiB over a 64 KiB max_buffered_amount.
struct SlowAndFast {
  explicit SlowAndFast(BackpressurePolicy policy) : srv(options(policy), Attach::record) {
    srv.server.on_open([this](Connection& c) {
      EXPECT_TRUE(c.subscribe("firehose"));
      srv.ev.update([&] { srv.ev.opened.push_back(c.handle()); });
    });
  }
  static ServerOptions options(BackpressurePolicy policy) {
    ServerOptions o = loopback();
    o.max_buffered_amount = 64 * 1024;
    o.backpressure_policy = policy;
    o.close_timeout = std::chrono::milliseconds(300);  // the slow one never answers a close
    return o;
  }
  // Starts the server and opens both subscribers.
  ::testing::AssertionResult start() {
    if (!srv.start()) return ::testing::AssertionFailure() << "server did not start";
    if (!slow.connect("127.0.0.1", srv.port(), 4096) || slow.handshake("/").status != 101) {
      return ::testing::AssertionFailure() << "slow subscriber did not open";
    }
    if (auto ok = open_ws(fast, srv.port()); !ok) return ok;
    if (!srv.ev.wait_opened(2)) return ::testing::AssertionFailure() << "not both opened";
    return ::testing::AssertionSuccess();
  }
  TestServer srv;
  RawWsClient slow, fast;
};

TEST(ServerTopics, ASlowSubscriberIsSkippedAndTheOthersGetEverything) {
  SlowAndFast t(BackpressurePolicy::drop);
  ASSERT_TRUE(t.start());
  const std::string payload(16 * 1024, 'p');
  constexpr int kMessages = 300;
  int received = 0;
  for (int i = 0; i < kMessages; ++i) {
    t.srv.server.publish("firehose", MessageType::text, payload + std::to_string(i));
    // The fast one keeps up, message by message.
    ReadResult r = t.fast.read_frame();
    ASSERT_TRUE(r.is_frame()) << i;
    EXPECT_EQ(r.frame.payload, payload + std::to_string(i));
    ++received;
  }
  EXPECT_EQ(received, kMessages);
  const std::uint64_t skipped = t.srv.server.counters().skipped_deliveries;
  EXPECT_GT(skipped, 0u);
  EXPECT_LT(skipped, static_cast<std::uint64_t>(kMessages));
  // The slow one is still open (drop policy) and gets what was queued, in
  // order, with gaps.
  EXPECT_EQ(t.srv.ev.close_count(), 0u);
}

TEST(ServerTopics, ASlowSubscriberIsClosedUnderTheClosePolicy) {
  SlowAndFast t(BackpressurePolicy::close);
  ASSERT_TRUE(t.start());
  const std::string payload(16 * 1024, 'p');
  for (int i = 0; i < 300; ++i) {
    t.srv.server.publish("firehose", MessageType::text, payload);
    ReadResult r = t.fast.read_frame();
    ASSERT_TRUE(r.is_frame()) << i;
  }
  // The slow one was sent a close (1008) that it never answers: the close
  // timeout ends it (1006), and it is unsubscribed.
  ASSERT_TRUE(t.srv.ev.wait_closed(1));
  EXPECT_EQ(t.srv.ev.close_at(0).code, 1006);
  EXPECT_EQ(t.srv.server.counters().skipped_deliveries, 1u);
  EXPECT_EQ(t.srv.server.subscriber_count("firehose"), 1u);
}

TEST(ServerTopics, PublishingWhileTheServerStartsIsSafe) {
  // publish() and broadcast() from another thread while start() runs:
  // nothing until the loops exist, then delivered (TSan checks the rest).
  TestServer srv(two_loops(), Attach::record);
  std::atomic<bool> done{false};
  std::thread publisher([&] {
    while (!done) {
      srv.server.publish("t", MessageType::text, "x");
      srv.server.broadcast(MessageType::text, "y");
    }
  });
  const bool started = static_cast<bool>(srv.start());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  done = true;
  publisher.join();
  EXPECT_TRUE(started);
}

TEST(ServerTopics, ARecoveryWithoutHistoryIsToldUnavailableAndGoesLive) {
  // No Redis: subscribe(topic, since) subscribes (counted at once), tells
  // on_recovery "unavailable" on the connection's loop, and only from then
  // is the connection sent the topic's messages, the notice first.
  TestServer srv(two_loops(), Attach::record);
  struct Told : Recorder {
    std::vector<std::string> list;  // "topic since outcome replayed"
  } told;
  srv.server.on_open([&](Connection& c) {
    EXPECT_TRUE(c.subscribe("news", "1700000000000-0"));
    EXPECT_TRUE(c.subscribed("news"));
    EXPECT_EQ(c.topics(), std::vector<std::string>{"news"});
    EXPECT_TRUE(c.subscribe("news", "0"));  // already subscribed: nothing more
    srv.ev.update([&] { srv.ev.opened.push_back(c.handle()); });
  });
  srv.server.on_recovery([&](Connection& c, const Recovery& r) {
    EXPECT_FALSE(r.reason.empty());
    const std::string line = std::string(r.topic) + " " + std::string(r.since) + " " +
                             (r.outcome == RecoveryOutcome::unavailable ? "unavailable" : "other") + " " +
                             std::to_string(r.replayed);
    EXPECT_TRUE(c.send_text("told " + line));
    told.update([&] { told.list.push_back(line); });
  });
  ASSERT_TRUE(srv.start());
  RawWsClient a;
  ASSERT_TRUE(open_ws(a, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(1));
  EXPECT_EQ(srv.server.subscriber_count("news"), 1u);
  ASSERT_TRUE(told.wait([&] { return told.list.size() == 1; }));
  srv.server.publish("news", MessageType::text, "live");
  EXPECT_EQ(read_texts(a, 2), (std::vector<std::string>{"told news 1700000000000-0 unavailable 0", "live"}));
  // From another thread, through a handle.
  ConnectionHandle h = srv.ev.handle_at(0);
  ASSERT_TRUE(h.subscribe("other", "5-5"));
  EXPECT_EQ(read_texts(a, 1), std::vector<std::string>{"told other 5-5 unavailable 0"});
  // Leaving while pending cancels the recovery: nothing told, not counted.
  EXPECT_TRUE(h.post([](Connection& c) {
    EXPECT_TRUE(c.subscribe("third", "1-1"));
    EXPECT_TRUE(c.unsubscribe("third"));
  }));
  EXPECT_TRUE(nothing_arrives(a));
  EXPECT_EQ(srv.server.subscriber_count("third"), 0u);
  EXPECT_EQ(told.read([&] { return told.list.size(); }), 2u);
}

TEST(ServerTopics, AClientConnectionCannotSubscribe) {
  TestServer srv(Attach::echo);
  ASSERT_TRUE(srv.start());
  Client client;
  std::atomic<int> answer{-1};
  client.on_open([&](Connection& c) {
    answer = c.subscribe("x") ? 1 : 0;
    (void)c.close();
  });
  ASSERT_TRUE(client.connect("ws://127.0.0.1:" + std::to_string(srv.port()) + "/"));
  EXPECT_TRUE(eventually([&] { return answer != -1; }));
  EXPECT_EQ(answer, 0);
  client.stop();
}

}  // namespace
}  // namespace parley
