// The seam between a Server and the broker that shares its topics with
// other servers: what the Server asks of it and hears from it. One real
// implementation, on Redis (bridge_redis.cpp: broker/redis.hpp); a build
// without hiredis has bridge_none.cpp, which refuses. Internal.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "broker/redis.hpp"
#include "net/loop.hpp"
#include "parley/broker.hpp"
#include "parley/connection.hpp"
#include "parley/error.hpp"

namespace parley::detail {

/// A Server's broker, made and used on one loop's thread (loop 0).
class Bridge {
 public:
  /// What the broker tells the Server, on that loop's thread.
  struct Events {
    /// A message another node published to a topic wanted here (with
    /// history: any node, this one included, in the stream's order), and
    /// its offset ("" without history).
    std::function<void(std::string_view topic, MessageType type, std::string_view data, std::string_view offset)>
        message;
    /// Messages of `topic` flow from now on (after want(), and again after
    /// each reconnection).
    std::function<void(std::string_view topic)> subscribed;
    /// The marker of history(topic, since, marker, ...) came: see
    /// RedisBroker::Callbacks::on_marker.
    std::function<void(std::string_view topic, std::uint64_t marker)> marker;
    /// The broker went down (`reason` says why) or came back up (every
    /// wanted topic subscribed again; `reason` empty). Changes only.
    std::function<void(bool up, std::string_view reason)> state;
    /// The count of publishes lost to the other nodes changed (total).
    std::function<void(std::uint64_t lost)> lost;
  };

  virtual ~Bridge() = default;
  /// The node does (or no longer does) have subscribers of `topic`:
  /// subscribe to the other nodes' messages for it, or stop. Idempotent.
  virtual void want(std::string_view topic, bool wanted) = 0;
  /// Sends a message published here to the other nodes (at most once; a
  /// failure is counted through Events::lost, never retried). `lost`, when
  /// given, is called (at once, or later) if it did not reach Redis.
  virtual void publish(std::string_view topic, MessageType type, std::string_view data,
                       std::function<void()> lost) = 0;
  /// Counts a publish that was not even offered to Redis as lost.
  virtual void count_lost() = 0;
  /// Reads `topic`'s history after `since`, marked in the live order with
  /// `marker`, at most `max_bytes` of it (RedisBroker::history). `answer`
  /// is always called later.
  virtual void history(std::string_view topic, std::string_view since, std::uint64_t marker, std::size_t max_bytes,
                       std::function<void(broker::HistoryAnswer)> answer) = 0;
  /// True while connected with every wanted topic subscribed.
  virtual bool up() const = 0;
};

/// False when parley was built without hiredis (make_bridge then refuses).
extern const bool kBridgeBuilt;

/// Starts a broker on `loop` (call on its thread). `options.host` must be
/// an IP literal (Server::start resolves names first). Errors: bad
/// options, or BrokerError::not_built.
Result<std::unique_ptr<Bridge>> make_bridge(net::Loop& loop, const RedisOptions& options, Bridge::Events events);

}  // namespace parley::detail
