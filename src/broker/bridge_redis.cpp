// make_bridge on Redis: a RedisBroker on the Server's loop 0.
#include <memory>

#include "broker/bridge.hpp"
#include "broker/redis.hpp"

namespace parley::detail {

const bool kBridgeBuilt = true;
namespace {

class RedisBridge final : public Bridge {
 public:
  RedisBridge(net::Loop& loop, const RedisOptions& options, Events events) : events_(std::move(events)) {
    broker::RedisBroker::Callbacks cb;
    cb.on_message = [this](const broker::BrokerMessage& m) {
      if (events_.message) events_.message(m.topic, m.type, m.payload, m.id);
    };
    cb.on_subscribed = [this](std::string_view topic) {
      if (events_.subscribed) events_.subscribed(topic);
    };
    cb.on_marker = [this](std::string_view topic, std::uint64_t marker) {
      if (events_.marker) events_.marker(topic, marker);
    };
    cb.on_state = [this](bool up, std::string_view reason) {
      tell_lost();  // publishes in flight when it went down are lost
      if (events_.state) events_.state(up, reason);
    };
    broker::RedisBrokerOptions bo(options);
    bo.echo_own = options.history_length > 0;  // every node delivers in the stream's order
    broker_ = std::make_unique<broker::RedisBroker>(loop, std::move(bo), std::move(cb));
  }

  Error start() { return broker_->start(); }

  void want(std::string_view topic, bool wanted) override {
    if (!wanted) return broker_->unsubscribe(topic);
    // A topic over max_topic_size stays local (refused, counted nowhere
    // else: it is the application's choice of name).
    (void)broker_->subscribe(topic);
  }

  void history(std::string_view topic, std::string_view since, std::uint64_t marker, std::size_t max_bytes,
               std::function<void(broker::HistoryAnswer)> answer) override {
    broker_->history(topic, since, std::move(answer), marker, max_bytes);
  }

  bool up() const override { return broker_->up(); }

  void publish(std::string_view topic, MessageType type, std::string_view data, std::function<void()> lost) override {
    auto done = [this, lost](const Error& e, std::string_view) {
      if (!e) return;
      tell_lost();
      if (lost) lost();
    };
    if (Error e = broker_->publish(topic, type, data, done)) {
      // (The broker counts what it could not send; a message or topic over
      // its limits is refused before that, and counted here.)
      if (e.code() == BrokerError::payload_too_large || e.code() == BrokerError::topic_too_long) ++refused_;
      tell_lost();
      if (lost) lost();
    }
  }

  void count_lost() override {
    ++refused_;
    tell_lost();
  }

 private:
  void tell_lost() {
    const std::uint64_t lost = broker_->stats().lost_publishes + refused_;
    if (lost != told_lost_ && events_.lost) events_.lost(lost);
    told_lost_ = lost;
  }

  Events events_;
  std::unique_ptr<broker::RedisBroker> broker_;
  std::uint64_t told_lost_ = 0;
  std::uint64_t refused_ = 0;  // publishes over max_payload or max_topic_size, or never offered (count_lost)
};

}  // namespace

Result<std::unique_ptr<Bridge>> make_bridge(net::Loop& loop, const RedisOptions& options, Bridge::Events events) {
  auto bridge = std::make_unique<RedisBridge>(loop, options, std::move(events));
  if (Error e = bridge->start()) return e;
  return std::unique_ptr<Bridge>(std::move(bridge));
}

}  // namespace parley::detail
