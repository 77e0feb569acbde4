// TopicHistory: see history.hpp.
#include "history.hpp"

#include <algorithm>

namespace parley::detail {

namespace {
// Recoveries reading at once, per server (see queued_).
constexpr std::size_t kMaxReadings = 16;
}  // namespace

TopicHistory::TopicHistory(net::Loop& loop, Bridge& bridge, const RedisOptions& options, std::size_t max_replay_bytes,
                           Hooks hooks)
    : loop_(loop), bridge_(bridge), options_(options), max_replay_bytes_(max_replay_bytes), hooks_(std::move(hooks)) {}

TopicHistory::~TopicHistory() {
  for (auto& [name, feed] : feeds_) {
    for (auto& r : feed.reading) loop_.cancel_timer(r->deadline);
  }
}

TopicHistory::Feed* TopicHistory::find(std::string_view topic) {
  auto it = feeds_.find(topic);
  return it == feeds_.end() ? nullptr : &it->second;
}

// To this node's subscribers only, without an offset.
void TopicHistory::local(std::string_view topic, MessageType type, std::string_view data) {
  if (auto message = hooks_.make(topic, {}, type, data)) hooks_.deliver(message);
}

// To Redis, to come back to this node's subscribers with its offset; here
// at once without one if Redis does not take it.
void TopicHistory::offer(std::string_view topic, MessageType type, std::string_view data) {
  auto lost = [this, t = std::string(topic), type, d = std::string(data)] {
    if (find(t) != nullptr) local(t, type, d);
  };
  bridge_.publish(topic, type, data, std::move(lost));
}

void TopicHistory::publish(std::string_view topic, MessageType type, std::string_view data) {
  Feed* feed = find(topic);
  if (feed == nullptr) return bridge_.publish(topic, type, data, {});  // no subscriber here
  if (feed->flowing || !bridge_.up() || topic.size() > options_.max_topic_size ||
      data.size() > options_.max_payload) {
    return offer(topic, type, data);  // (refused at once when down or over a limit: then delivered here)
  }
  // Subscribed on Redis, not confirmed yet: what is published now might
  // not come back. Wait for the confirmation, within the broker's bounds.
  if (deferred_count_ >= options_.max_pending_commands ||
      deferred_bytes_ + data.size() > options_.max_pending_bytes) {
    bridge_.count_lost();
    return local(topic, type, data);
  }
  ++deferred_count_;
  deferred_bytes_ += data.size();
  feed->deferred.push_back({type, std::string(data)});
}

void TopicHistory::want(std::string_view topic, bool wanted) {
  if (wanted) {
    (void)feeds_.try_emplace(std::string(topic));
    return;
  }
  auto it = feeds_.find(topic);
  if (it == feeds_.end()) return;
  // No subscriber left here: deferred publishes still go to the other
  // nodes; recoveries in flight are for connections that left.
  std::vector<Deferred> deferred = std::move(it->second.deferred);
  for (auto& r : it->second.reading) {
    loop_.cancel_timer(r->deadline);
    --readings_;
  }
  feeds_.erase(it);
  if (!queued_.empty()) defer_start_queued();
  for (Deferred& d : deferred) {
    --deferred_count_;
    deferred_bytes_ -= d.data.size();
    bridge_.publish(topic, d.type, d.data, {});
  }
}

void TopicHistory::recover(std::weak_ptr<ConnectionContext> ctx, std::uint64_t id, std::uint64_t token,
                           std::string topic, std::string since) {
  Request request{std::move(ctx), id, token, std::move(since)};
  Feed* feed = find(topic);
  if (topic.size() > options_.max_topic_size) {
    return finish(topic, request, {}, RecoveryOutcome::unavailable, "the topic is over max_topic_size");
  }
  if (feed == nullptr) {
    // (The connection left before this request arrived.)
    return finish(topic, request, {}, RecoveryOutcome::unavailable, "not subscribed");
  }
  if (!bridge_.up()) return finish(topic, request, {}, RecoveryOutcome::unavailable, "Redis is down");
  if (feed->flowing) return start(topic, *feed, std::move(request));
  feed->waiting.push_back(std::move(request));
}

void TopicHistory::start(const std::string& topic, Feed& feed, Request request) {
  if (readings_ >= kMaxReadings) {
    queued_.emplace_back(topic, std::move(request));
    return;
  }
  ++readings_;
  auto reading = std::make_unique<Reading>();
  reading->request = std::move(request);
  reading->marker = next_marker_++;
  const std::uint64_t marker = reading->marker;
  const std::string since = reading->request.since;
  reading->deadline = loop_.add_timer(options_.connect_timeout, [this, topic, marker] {
    if (auto r = take(topic, marker)) {
      finish(topic, r->request, {}, RecoveryOutcome::unavailable, "Redis did not answer within connect_timeout");
    }
  });
  feed.reading.push_back(std::move(reading));
  bridge_.history(topic, since, marker, max_replay_bytes_, [this, topic, marker](broker::HistoryAnswer answer) {
    Feed* f = find(topic);
    if (f == nullptr) return;
    auto it = std::find_if(f->reading.begin(), f->reading.end(), [&](const auto& r) { return r->marker == marker; });
    if (it == f->reading.end()) return;
    Reading& r = **it;
    r.answered = true;
    r.answer = std::move(answer);
    // A read that failed published no marker.
    if (r.marked || r.answer.error) settle(topic, marker);
  });
}

// Removes a reading (its slot goes to a waiting recovery); null when gone.
std::unique_ptr<TopicHistory::Reading> TopicHistory::take(const std::string& topic, std::uint64_t marker) {
  Feed* f = find(topic);
  if (f == nullptr) return nullptr;
  auto it = std::find_if(f->reading.begin(), f->reading.end(), [&](const auto& r) { return r->marker == marker; });
  if (it == f->reading.end()) return nullptr;
  std::unique_ptr<Reading> r = std::move(*it);
  f->reading.erase(it);
  loop_.cancel_timer(r->deadline);
  --readings_;
  defer_start_queued();
  return r;
}

// At the end of this loop iteration (not from inside a broker callback).
void TopicHistory::defer_start_queued() {
  loop_.defer([this, alive = std::weak_ptr<int>(alive_)] {
    if (alive.lock()) start_queued();
  });
}

void TopicHistory::start_queued() {
  while (readings_ < kMaxReadings && !queued_.empty()) {
    auto [topic, request] = std::move(queued_.front());
    queued_.erase(queued_.begin());
    Feed* f = find(topic);
    if (f == nullptr) continue;  // (its connection left)
    if (!bridge_.up()) {
      finish(topic, request, {}, RecoveryOutcome::unavailable, "Redis is down");
    } else if (f->flowing) {
      start(topic, *f, std::move(request));
    } else {
      f->waiting.push_back(std::move(request));
    }
  }
}

void TopicHistory::on_marker(std::string_view topic, std::uint64_t marker) {
  Feed* f = find(topic);
  if (f == nullptr) return;
  auto it = std::find_if(f->reading.begin(), f->reading.end(), [&](const auto& r) { return r->marker == marker; });
  if (it == f->reading.end()) return;
  (*it)->marked = true;
  if ((*it)->answered) settle(std::string(topic), marker);
}

// Both halves of a recovery are in (or its read failed): replay, or tell why not.
void TopicHistory::settle(const std::string& topic, std::uint64_t marker) {
  std::unique_ptr<Reading> r = take(topic, marker);
  const broker::HistoryAnswer& a = r->answer;
  if (a.error.code() == BrokerError::bad_offset) {
    return finish(topic, r->request, {}, RecoveryOutcome::gap, "not an offset: " + a.error.message());
  }
  if (a.error) return finish(topic, r->request, {}, RecoveryOutcome::unavailable, a.error.message());
  if (a.truncated || r->overflow || a.entries.size() + r->after.size() > options_.history_max_replay) {
    return finish(topic, r->request, {}, RecoveryOutcome::gap,
                  "more than history_max_replay (" + std::to_string(options_.history_max_replay) +
                      ") messages or max_buffered_amount bytes to replay");
  }
  if (a.gap) {
    return finish(topic, r->request, {}, RecoveryOutcome::gap,
                  "the offset is not in the history (trimmed, lost, or not an offset of this topic)");
  }
  std::vector<std::shared_ptr<const Broadcast>> replay;
  replay.reserve(a.entries.size() + r->after.size());
  for (const broker::HistoryEntry& e : a.entries) {
    if (auto message = hooks_.make(topic, e.id, e.type, e.payload)) replay.push_back(std::move(message));
  }
  for (auto& message : r->after) replay.push_back(std::move(message));
  finish(topic, r->request, std::move(replay), RecoveryOutcome::recovered, {});
}

void TopicHistory::finish(const std::string& topic, const Request& request,
                          std::vector<std::shared_ptr<const Broadcast>> replay, RecoveryOutcome outcome,
                          std::string reason) {
  auto ctx = request.ctx.lock();
  if (!ctx) return;
  // After every live message delivered so far: those are queued on this
  // loop at once, and posted to the others.
  if (ctx->loop().in_loop_thread()) {
    return ctx->finish_recovery(request.id, request.token, topic, request.since, std::move(replay), outcome,
                                std::move(reason));
  }
  ctx->loop().post([weak = request.ctx, id = request.id, token = request.token, topic, since = request.since,
                    replay = std::move(replay), outcome, reason = std::move(reason)]() mutable {
    if (auto c = weak.lock()) {
      c->finish_recovery(id, token, std::move(topic), std::move(since), std::move(replay), outcome, std::move(reason));
    }
  });
}

void TopicHistory::on_message(std::string_view topic, MessageType type, std::string_view data,
                              std::string_view offset) {
  Feed* f = find(topic);
  if (f == nullptr) return;
  auto message = hooks_.make(topic, offset, type, data);
  if (!message) return;
  hooks_.deliver(message);
  for (auto& r : f->reading) {
    if (!r->marked || r->answered) continue;  // (before its marker: in its read)
    if (r->after.size() >= options_.history_max_replay) {
      r->overflow = true;
      r->after.clear();
    } else if (!r->overflow) {
      r->after.push_back(message);
    }
  }
}

void TopicHistory::on_subscribed(std::string_view topic) {
  Feed* f = find(topic);
  if (f == nullptr || f->flowing) return;
  f->flowing = true;
  const std::string name(topic);
  std::vector<Deferred> deferred = std::move(f->deferred);
  std::vector<Request> waiting = std::move(f->waiting);
  for (Deferred& d : deferred) {
    --deferred_count_;
    deferred_bytes_ -= d.data.size();
    offer(name, d.type, d.data);
  }
  for (Request& request : waiting) {
    if (Feed* again = find(name)) start(name, *again, std::move(request));
  }
}

void TopicHistory::on_state(bool up) {
  if (up) return;  // (each topic's on_subscribed follows)
  // Down: what waited for Redis is told, or delivered here, at once.
  std::vector<std::string> names;
  names.reserve(feeds_.size());
  for (auto& [name, feed] : feeds_) names.push_back(name);
  for (const std::string& name : names) {
    Feed* f = find(name);
    if (f == nullptr) continue;
    f->flowing = false;
    std::vector<Deferred> deferred = std::move(f->deferred);
    std::vector<Request> waiting = std::move(f->waiting);
    std::vector<std::unique_ptr<Reading>> reading = std::move(f->reading);
    for (auto& r : reading) {
      loop_.cancel_timer(r->deadline);
      --readings_;
    }
    for (Deferred& d : deferred) {
      --deferred_count_;
      deferred_bytes_ -= d.data.size();
      bridge_.count_lost();
      local(name, d.type, d.data);
    }
    for (const Request& request : waiting) finish(name, request, {}, RecoveryOutcome::unavailable, "Redis is down");
    for (const auto& r : reading) finish(name, r->request, {}, RecoveryOutcome::unavailable, "Redis went down");
  }
  std::vector<std::pair<std::string, Request>> queued = std::move(queued_);
  queued_.clear();
  for (auto& [name, request] : queued) finish(name, request, {}, RecoveryOutcome::unavailable, "Redis is down");
}

}  // namespace parley::detail
