// Topics with history (RedisOptions::history_length > 0): delivery in the
// stream's order, and recovery by offset. Internal; one per Server, made,
// used and destroyed on loop 0 with the Bridge (after it: the Bridge's
// callbacks point here).
//
// Delivery. Every message of a topic with local subscribers, this node's
// own included, reaches them from Redis's pub/sub (the Bridge echoes this
// node's messages), in the stream's order on every node, with its offset.
// A local publish is therefore offered to Redis first and delivered when
// it comes back; exceptions:
//  - while the topic's Redis subscription is not confirmed yet, local
//    publishes wait for it (bounded by max_pending_commands and
//    max_pending_bytes; past that, or when Redis is down, a publish is
//    delivered here at once without an offset, and counted lost);
//  - a publish Redis did not take is delivered here without an offset.
//
// Recovery. A connection subscribed with an offset waits (its subscription
// is pending: TopicTable) while loop 0 reads the history after the offset
// in one Redis step with a marker published on the topic's channel. The
// marker's place among the live messages is the read's place in the
// stream: live messages before it are in the read, those after it are
// not. So the connection is sent the read's entries, then the live
// messages that came after the marker while the read's answer was
// awaited, and is then made live (ConnectionContext::finish_recovery,
// posted to its loop after every live message delivered before): nothing
// missed, nothing twice.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/bridge.hpp"
#include "connection_state.hpp"
#include "context.hpp"
#include "string_hash.hpp"

namespace parley::detail {

class TopicHistory {
 public:
  /// What the Server does for it.
  struct Hooks {
    /// Frames a message with its offset ("" when none) as subscribers get
    /// it (Server::on_topic_message); null drops it (the hook failed).
    std::function<std::shared_ptr<const Broadcast>(std::string_view topic, std::string_view offset, MessageType type,
                                                   std::string_view data)>
        make;
    /// Queues `message` on every live subscriber of its topic, every loop.
    std::function<void(const std::shared_ptr<const Broadcast>& message)> deliver;
  };

  /// Runs on `loop` (loop 0). A replay holds at most `max_replay_bytes`
  /// of messages (the connections' max_buffered_amount).
  TopicHistory(net::Loop& loop, Bridge& bridge, const RedisOptions& options, std::size_t max_replay_bytes,
               Hooks hooks);
  ~TopicHistory();
  TopicHistory(const TopicHistory&) = delete;
  TopicHistory& operator=(const TopicHistory&) = delete;

  // From the Server.
  /// A message published on this node.
  void publish(std::string_view topic, MessageType type, std::string_view data);
  /// `topic` has (or no longer has) local subscribers.
  void want(std::string_view topic, bool wanted);
  /// Recovers `topic` after `since` for connection `id` of `ctx`, whose
  /// subscription is pending with `token`.
  void recover(std::weak_ptr<ConnectionContext> ctx, std::uint64_t id, std::uint64_t token, std::string topic,
               std::string since);

  // From the Bridge (Bridge::Events).
  void on_message(std::string_view topic, MessageType type, std::string_view data, std::string_view offset);
  void on_subscribed(std::string_view topic);
  void on_marker(std::string_view topic, std::uint64_t marker);
  void on_state(bool up);

 private:
  struct Request {
    std::weak_ptr<ConnectionContext> ctx;
    std::uint64_t id = 0;
    std::uint64_t token = 0;
    std::string since;
  };
  // A recovery whose read is in flight.
  struct Reading {
    Request request;
    std::uint64_t marker = 0;
    bool marked = false;    // its marker came
    bool answered = false;  // its answer came
    bool overflow = false;  // more live messages came than history_max_replay
    net::TimerId deadline;  // connect_timeout: a marker or answer that never comes
    broker::HistoryAnswer answer;
    std::vector<std::shared_ptr<const Broadcast>> after;  // live messages after the marker
  };
  struct Deferred {
    MessageType type;
    std::string data;
  };
  struct Feed {
    bool flowing = false;                           // the Redis subscription is confirmed
    std::vector<Request> waiting;                   // recoveries waiting for it
    std::vector<std::unique_ptr<Reading>> reading;  // recoveries reading
    std::vector<Deferred> deferred;                 // local publishes waiting for it
  };

  Feed* find(std::string_view topic);
  void local(std::string_view topic, MessageType type, std::string_view data);
  void offer(std::string_view topic, MessageType type, std::string_view data);
  void start(const std::string& topic, Feed& feed, Request request);
  void defer_start_queued();
  void start_queued();
  std::unique_ptr<Reading> take(const std::string& topic, std::uint64_t marker);
  void settle(const std::string& topic, std::uint64_t marker);
  void finish(const std::string& topic, const Request& request, std::vector<std::shared_ptr<const Broadcast>> replay,
              RecoveryOutcome outcome, std::string reason);

  net::Loop& loop_;
  Bridge& bridge_;
  const RedisOptions& options_;
  const std::size_t max_replay_bytes_;
  Hooks hooks_;
  // At most kMaxReadings recoveries read at once (each holds up to
  // max_replay_bytes_); the others wait here, in order.
  std::vector<std::pair<std::string, Request>> queued_;
  std::size_t readings_ = 0;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // for what is deferred on the loop
  std::unordered_map<std::string, Feed, StringHash, std::equal_to<>> feeds_;  // topics wanted here
  std::uint64_t next_marker_ = 1;
  std::size_t deferred_count_ = 0;  // Deferred entries over every feed
  std::size_t deferred_bytes_ = 0;  // and their bytes
};

}  // namespace parley::detail
