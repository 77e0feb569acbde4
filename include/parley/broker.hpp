// parley/broker.hpp — topics across servers: the Redis settings of a
// Server (`ServerOptions::redis`) and the errors of the broker.
//
// With `redis.host` set, a Server shares its topics with every other
// server using the same Redis (and `channel_prefix`): a message published
// on one node reaches the subscribers of every node, once each. See
// docs/scaling.md for the model (at most once across nodes), the failure
// behaviour and the figures.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "parley/error.hpp"
#include "parley/export.hpp"
#include "parley/options.hpp"

namespace parley {

/// Failures of the broker. Category: `broker_category()` ("parley.broker").
enum class BrokerError {
  down = 1,           ///< not connected to Redis (a publish is counted lost to the other nodes)
  backlog_full,       ///< too many commands or bytes wait for Redis (a publish is counted lost)
  payload_too_large,  ///< a message over `RedisOptions::max_payload`
  topic_too_long,     ///< a topic over `RedisOptions::max_topic_size`
  bad_offset,         ///< a history offset that is not a stream id
  history_off,        ///< history asked while it is off
  redis_error,        ///< Redis answered an error (its text is in the Error's message)
  bad_option,         ///< an option out of range, or a bad Redis URL
  shut_down,          ///< the broker was destroyed before the answer came
  not_built,          ///< parley was built without hiredis (PARLEY_WITH_REDIS=OFF)
};
/// The category of BrokerError codes.
PARLEY_EXPORT const std::error_category& broker_category() noexcept;
/// Makes a std::error_code of broker_category().
PARLEY_EXPORT std::error_code make_error_code(BrokerError e) noexcept;

}  // namespace parley

template <>
struct std::is_error_code_enum<parley::BrokerError> : std::true_type {};

namespace parley {

/// How a Server reaches Redis (`ServerOptions::redis`), checked by
/// `Server::start()`. Off while `host` is empty.
struct RedisOptions {
  /// Redis's address: an IPv4 or IPv6 literal, or a name (resolved once,
  /// by start(); the first address is used). Empty = no Redis (default).
  std::string host;
  /// Redis's TCP port. Default 6379.
  std::uint16_t port = 6379;
  /// Sent with AUTH when not empty (with `username` too, for Redis 6 ACLs,
  /// when that is not empty). Default empty.
  std::string password;
  /// ACL user name (Redis 6+), used only with a password. Default empty.
  std::string username;
  /// Prepended to every Redis channel (and history key), so that parley's
  /// do not collide with other users of the same Redis; servers share
  /// topics only under the same prefix. May be empty. Default "parley:".
  std::string channel_prefix = "parley:";
  /// Largest message sent to or accepted from other nodes (bytes); a
  /// larger publish still reaches this node's subscribers and is counted
  /// lost to the others. Default 1 MiB; at most 512 MiB.
  std::size_t max_payload = 1024 * 1024;
  /// Longest topic shared with other nodes (bytes). Default 1024.
  std::size_t max_topic_size = 1024;
  /// Most publishes waiting for Redis's answer; past it a publish is lost
  /// to the other nodes (counted). Default 10,000.
  std::size_t max_pending_commands = 10000;
  /// Most payload bytes waiting for Redis's answer (as above). Default 16 MiB.
  std::size_t max_pending_bytes = 16 * 1024 * 1024;
  /// A connection attempt (both connections, AUTH, every resubscription)
  /// not complete within this is abandoned and retried. Default 3,000 ms.
  Millis connect_timeout{3000};
  /// A PING is sent this often while connected. Default 1,000 ms.
  Millis ping_interval{1000};
  /// A PING unanswered this long means Redis is down. Default 3,000 ms.
  Millis ping_timeout{3000};
  /// Smallest delay before a reconnection attempt. Default 100 ms.
  Millis reconnect_min_delay{100};
  /// Largest delay before a reconnection attempt (each delay is drawn at
  /// random up to min(this, min_delay × 2^attempt): "full jitter").
  /// Default 5,000 ms.
  Millis reconnect_max_delay{5000};

  /// Per-topic history, for recovery (`Connection::subscribe(topic,
  /// since)`): 0 (the default) keeps none. Otherwise every publish is also
  /// appended to the topic's Redis Stream (`<channel_prefix>h:<topic>`),
  /// trimmed to about this many entries (`XADD MAXLEN ~`: Redis trims
  /// whole stream nodes, so it may keep up to about 100 more), and every
  /// message gets an offset (its stream id, see
  /// `Server::on_topic_message`). Redis holds about (entry size + 100 B) ×
  /// this per topic. With history on, a publish reaches even this node's
  /// subscribers through Redis (so that every node delivers in the
  /// stream's order), one round trip later; see docs/scaling.md.
  std::size_t history_length = 0;
  /// Most messages one recovery replays (messages). A subscriber that
  /// missed more is told it has a gap (RecoveryOutcome::gap) rather than
  /// replayed a partial history; so is one that missed more bytes than
  /// its `max_buffered_amount`. 1 to 1,000,000; default 1,000. A recovery
  /// holds at most that many bytes (Redis cuts the read), about three
  /// times while it is being turned into frames; at most 16 recoveries
  /// read at once per server (the others wait their turn), and one whose
  /// read Redis does not answer within `connect_timeout` is `unavailable`.
  std::size_t history_max_replay = 1000;

  /// Options from a URL: `redis://[[username]:password@]host[:port][/]`
  /// (host: a name, an IPv4 literal or a bracketed IPv6 one; user and
  /// password percent-decoded); the other fields keep their defaults.
  /// BrokerError::bad_option names what is wrong.
  PARLEY_EXPORT static Result<RedisOptions> from_url(std::string_view url);
};

}  // namespace parley
