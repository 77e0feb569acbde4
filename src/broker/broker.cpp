// parley/broker.hpp: the broker's errors and RedisOptions::from_url; built
// with or without hiredis.
#include "parley/broker.hpp"

#include "broker/redis.hpp"
#include "protocol/proxy.hpp"

namespace parley {
namespace {

class BrokerCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "parley.broker"; }
  std::string message(int c) const override {
    switch (static_cast<BrokerError>(c)) {
      case BrokerError::down: return "not connected to Redis";
      case BrokerError::backlog_full: return "too many commands wait for Redis";
      case BrokerError::payload_too_large: return "payload over max_payload";
      case BrokerError::topic_too_long: return "topic over max_topic_size";
      case BrokerError::bad_offset: return "not a stream id";
      case BrokerError::history_off: return "history is off (history_length 0)";
      case BrokerError::redis_error: return "Redis answered an error";
      case BrokerError::bad_option: return "bad broker option";
      case BrokerError::shut_down: return "the broker was destroyed";
      case BrokerError::not_built: return "parley was built without Redis support (hiredis)";
    }
    return "broker error";
  }
};

}  // namespace

const std::error_category& broker_category() noexcept {
  static const BrokerCategory c;
  return c;
}

std::error_code make_error_code(BrokerError e) noexcept { return {static_cast<int>(e), broker_category()}; }

Result<RedisOptions> RedisOptions::from_url(std::string_view url) {
  auto u = protocol::parse_service_url(url, "redis", false, "Redis URL", "only redis:// (rediss:// and unix sockets are not)");
  if (!u) return Error(make_error_code(BrokerError::bad_option), u.error().message());
  RedisOptions o;
  o.host = std::move(u->host);
  o.port = u->port.value_or(o.port);
  o.username = std::move(u->username);
  o.password = std::move(u->password);
  return o;
}

}  // namespace parley

namespace parley::broker {

Error validate(const RedisOptions& o) {
  auto bad = [](const char* what) { return Error(make_error_code(BrokerError::bad_option), what); };
  if (o.port == 0) return bad("port 0");
  if (o.max_payload == 0 || o.max_payload > 512u * 1024 * 1024) return bad("max_payload must be 1 B to 512 MiB");
  if (o.max_topic_size == 0) return bad("max_topic_size 0");
  if (o.max_pending_commands == 0) return bad("max_pending_commands 0");
  if (o.max_pending_bytes < o.max_payload) return bad("max_pending_bytes under max_payload");
  if (o.connect_timeout.count() <= 0 || o.ping_interval.count() <= 0 || o.ping_timeout.count() <= 0) {
    return bad("timeouts must be positive");
  }
  if (o.reconnect_min_delay.count() <= 0 || o.reconnect_max_delay < o.reconnect_min_delay) {
    return bad("reconnect delays: 0 < min <= max");
  }
  if (o.history_max_replay == 0 || o.history_max_replay > 1000000) return bad("history_max_replay must be 1 to 1e6");
  return {};
}

}  // namespace parley::broker
