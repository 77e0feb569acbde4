// broker/redis.hpp (internal) — topics across servers through Redis:
// pub/sub for live messages, optional bounded Redis Streams for history.
//
// One RedisBroker per loop (or per process: it is cheap), used on that
// loop's thread only. It owns two hiredis connections driven by the loop
// (broker/hiredis_loop.hpp): one in subscriber mode, one for commands
// (PUBLISH, the history script, XRANGE, PING). No thread, no blocking call:
// the host must be an IP literal (IPv4 or IPv6) — hiredis would resolve a
// name with a blocking getaddrinfo on the loop, so names are refused by
// start(); resolve them first (net's resolver runs off the loop).
//
// Topics. The caller keeps the local reference counts and calls
// subscribe(topic) when a topic's local count goes 0 -> 1 and
// unsubscribe(topic) when it goes 1 -> 0; both are idempotent. The Redis
// channel is `channel_prefix + topic` and the history stream
// `channel_prefix + "h:" + topic`. Messages for a topic that is no longer
// wanted (in flight while the UNSUBSCRIBE travels) are dropped here.
//
// Exactly once per node. publish() sends an envelope (broker/envelope.hpp)
// carrying this node's random 64-bit id; a node drops messages whose origin
// is itself, so the publisher's local subscribers are served by the caller
// directly and every other node gets the message once from Redis.
// Ordering: messages published by one node reach each other node in the
// order published (one command connection, Redis processes it in order);
// messages from different nodes are seen by every *other* node in Redis's
// order, while a node's own messages are interleaved locally at the moment
// they were published. With history on, the order of the stream is the
// order of the live messages (XADD and PUBLISH run in one Lua script).
//
// Redis down. Both connections are torn down together when either fails
// (connection refused or reset, Redis closing the connection, a PING not
// answered within ping_timeout, the connect not completing within
// connect_timeout), on_state(false, reason) is reported once, and a new
// attempt is made after a delay drawn uniformly from
// [reconnect_min_delay, min(reconnect_max_delay, reconnect_min_delay *
// 2^attempt)] ("full jitter", bounded). After reconnecting every wanted
// topic is subscribed again, and on_state(true, "") is reported once all
// those subscriptions are acknowledged. Meanwhile publish() fails with
// BrokerError::down and counts the message in stats().lost_publishes:
// nothing is buffered. A publish in flight when the connection drops is
// counted lost too (at most once).
//
// History (history_length > 0). A publish runs, atomically in Redis,
//   XADD <prefix>h:<topic> MAXLEN ~ N * type <t|b> origin <hex> data <payload>
//   PUBLISH <prefix><topic> <envelope with the new entry's id>
// so every live message carries its stream id: the offset a client keeps.
// history(topic, since, cb) answers the entries after `since` (exclusive),
// in order, at most history_max_replay of them (`truncated` when there are
// more: ask again from the last id). `gap` is true when what follows
// `since` cannot be told completely: `since` is not in the stream any more
// (trimmed by MAXLEN, or the stream was lost, e.g. Redis restarted without
// persistence, or it never was an id of this stream). The test is exact
// because trimming only removes the oldest entries: if the entry `since`
// itself is still there, nothing after it was removed. `since` "0" or
// "0-0" (or "") means from the oldest retained entry, never a gap.
//
// Bounded memory: payloads over max_payload are refused (and received ones
// dropped); at most max_pending_commands commands and max_pending_bytes of
// payload wait for Redis on the command connection (past them a publish is
// lost, a history request refused); nothing is queued while down. hiredis
// 0.14 cannot bound the size of one reply it reads; Redis's own
// client-output-buffer-limit for pub/sub (32 MB hard by default) bounds what
// a subscriber connection can be sent.
//
// Callbacks run on the loop thread. They may call any method of the broker,
// but must not destroy it (destroy it from a Loop::defer instead; if it is
// destroyed from inside one of its own callbacks anyway, the teardown is
// postponed to the end of the loop iteration and no callback runs after
// the destructor).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "net/loop.hpp"
#include "parley/broker.hpp"
#include "parley/connection.hpp"
#include "parley/error.hpp"

namespace parley::broker {

using parley::BrokerError;
using parley::broker_category;
using parley::make_error_code;

/// The checks of every RedisOptions (ports, sizes, timeouts; not the host):
/// BrokerError::bad_option naming the first bad value.
Error validate(const RedisOptions& o);

/// Settings of a RedisBroker, checked by start(): how to reach Redis
/// (`host` must be an IP literal here), the history (history_length,
/// history_max_replay: the most entries one history() answer holds), and
/// what a Server does not expose.
struct RedisBrokerOptions : RedisOptions {
  /// Redis on 127.0.0.1:6379.
  RedisBrokerOptions() { host = "127.0.0.1"; }
  explicit RedisBrokerOptions(RedisOptions o) : RedisOptions(std::move(o)) {}
  /// Hand this node's own messages coming back from Redis to on_message
  /// too (a Server with history delivers everything in the stream's
  /// order). Default false: they are dropped (counted in own_dropped).
  bool echo_own = false;
  /// This node's id; 0 (the default) draws a random one.
  std::uint64_t node_id = 0;
};

/// A message from another node.
struct BrokerMessage {
  std::string_view topic;    ///< without the channel prefix
  MessageType type;          ///< text (valid UTF-8) or binary
  std::string_view payload;  ///< valid during the callback only
  std::string_view id;       ///< stream id (offset) with history, else empty
  std::uint64_t origin;      ///< the publishing node
};

/// One entry of a topic's history.
struct HistoryEntry {
  std::string id;          ///< stream id: the offset
  MessageType type;        ///< text or binary
  std::uint64_t origin;    ///< the publishing node
  std::string payload;     ///< the message
};

/// The answer to history().
struct HistoryAnswer {
  /// Set when no answer could be had (down, bad offset, Redis error, ...);
  /// then the other fields are empty.
  Error error;
  /// `since` is no longer in the stream: messages after it may be missing.
  /// `entries` then holds what the stream retains after `since`.
  bool gap = false;
  /// More entries follow the last one given: ask again from its id.
  bool truncated = false;
  /// The entries after `since`, oldest first.
  std::vector<HistoryEntry> entries;
};

/// Counters (loop thread only; never reset).
struct RedisBrokerStats {
  std::uint64_t published = 0;          ///< publishes Redis confirmed
  std::uint64_t lost_publishes = 0;     ///< refused while down or over the backlog, failed, or unconfirmed at a disconnect
  std::uint64_t received = 0;           ///< messages handed to on_message
  std::uint64_t own_dropped = 0;        ///< this node's own messages coming back, dropped
  std::uint64_t malformed = 0;          ///< messages that were not a valid envelope (or too large), dropped
  std::uint64_t unwanted = 0;           ///< messages for a topic not wanted any more, dropped
  std::uint64_t malformed_history = 0;  ///< stream entries without valid type/origin/data fields, skipped
  std::uint64_t ups = 0;                ///< times the broker came up
  std::uint64_t failures = 0;           ///< failed attempts and lost connections
  std::size_t pending_commands = 0;     ///< commands now waiting for Redis
  std::size_t pending_bytes = 0;        ///< payload bytes now waiting for Redis
};

/// Called with the stream id given to a published message ("" without
/// history), or the error that lost it.
using PublishDone = std::function<void(const Error& error, std::string_view id)>;

/// See the top of this file. Loop thread only.
class RedisBroker {
 public:
  /// What the broker reports.
  struct Callbacks {
    /// A message of a wanted topic from another node.
    std::function<void(const BrokerMessage&)> on_message;
    /// Up (reason empty) or down (why). Reported on changes only; the first
    /// report is the first up, or the first failure.
    std::function<void(bool up, std::string_view reason)> on_state;
    /// Redis acknowledged the subscription of a wanted topic (after
    /// subscribe(), and again after each reconnection): from now on its
    /// messages arrive, so a history read started now misses nothing.
    std::function<void(std::string_view topic)> on_subscribed;
    /// The marker of history(topic, since, answer, token) came back on
    /// the subscriber connection: every message of `topic` on_message gave
    /// before it is in the stream up to that read, every later one was
    /// added after the read. Only this node's markers are reported.
    std::function<void(std::string_view topic, std::uint64_t token)> on_marker;
  };

  /// Nothing is connected before start().
  RedisBroker(net::Loop& loop, RedisBrokerOptions options, Callbacks callbacks);
  /// Closes both connections; no callback runs after it (pending history
  /// and publish callbacks are dropped).
  ~RedisBroker();
  RedisBroker(const RedisBroker&) = delete;
  RedisBroker& operator=(const RedisBroker&) = delete;

  /// Checks the options and starts connecting. BrokerError::bad_option
  /// when an option is out of range; calling it twice is a no-op.
  Error start();

  /// Wants `topic` (idempotent).
  Error subscribe(std::string_view topic);
  /// No longer wants `topic` (idempotent); its messages stop at once.
  void unsubscribe(std::string_view topic);
  /// True while `topic` is wanted.
  bool wants(std::string_view topic) const;
  /// Number of wanted topics.
  std::size_t topic_count() const noexcept;

  /// Sends `payload` to the other nodes (and to the topic's history when
  /// it is on). An error (down, backlog_full, payload_too_large,
  /// topic_too_long) means it was not sent; down and backlog_full count it
  /// in lost_publishes. `done`, when given, is called later with the
  /// outcome (never from inside publish()).
  Error publish(std::string_view topic, MessageType type, std::string_view payload, PublishDone done = {});

  /// Reads the topic's history after `since` (see the top of the file).
  /// `answer` is always called, later (never from inside history()), unless
  /// the broker is destroyed first.
  /// With `marker` non-zero, the read also publishes a marker on the
  /// topic's channel in the same step (a Lua script), reported through
  /// on_marker(topic, marker) when the topic is wanted: the read's place in
  /// the live order, so that a caller can join history and live messages
  /// without missing or repeating one; then entries past `max_bytes` of
  /// fields are left in Redis, and the answer is `truncated`.
  void history(std::string_view topic, std::string_view since, std::function<void(HistoryAnswer)> answer,
               std::uint64_t marker = 0, std::size_t max_bytes = SIZE_MAX);

  /// True while connected with every wanted topic subscribed.
  bool up() const noexcept;
  /// This node's id.
  std::uint64_t node_id() const noexcept;
  /// The counters.
  const RedisBrokerStats& stats() const noexcept;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace parley::broker
