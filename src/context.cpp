// ConnectionContext: what every connection of one event loop shares.
#include "context.hpp"

#include "net/tcp.hpp"

#include <algorithm>
#include <new>

namespace parley::detail {

std::uint16_t Callbacks::match(std::string_view path) const noexcept {
  for (std::size_t i = 1; i < routes.size(); ++i) {
    std::string_view p = routes[i].pattern;
    if (!p.empty() && p.back() == '*') {
      p.remove_suffix(1);
      if (path.starts_with(p)) return static_cast<std::uint16_t>(i);
    } else if (path == p) {
      return static_cast<std::uint16_t>(i);
    }
  }
  return 0;
}

void Callbacks::write_log(LogLevel level, const Connection* c, std::string_view what) const noexcept {
  try {
    if (!c) return log(level, what);
    std::string line = "#" + std::to_string(c->id());
    if (c->remote_endpoint().port != 0) line += " " + c->remote_endpoint().to_string();
    line += ": ";
    line += what;
    log(level, line);
  } catch (...) {  // NOLINT(bugprone-empty-catch): on_log's own failure has nowhere to go
  }
}

void Callbacks::report(Connection* c, const Error& e) const noexcept {
  const LogLevel level = (!c || e == UsageError::callback_exception) ? LogLevel::error : LogLevel::warning;
  if (logs(level)) {
    try {
      write_log(level, c, e.message());
    } catch (...) {  // NOLINT(bugprone-empty-catch): e.message() could not allocate
    }
  }
  if (!error) return;
  try {
    error(c, e);
  } catch (...) {  // NOLINT(bugprone-empty-catch): on_error's own failure has nowhere to go
  }
}

Error callback_exception(std::string_view callback, std::exception_ptr e) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(std::move(e));
  } catch (const std::exception& x) {
    what = x.what();
  } catch (...) {  // NOLINT(bugprone-empty-catch): not a std::exception: no text to give
  }
  return Error(UsageError::callback_exception, std::string(callback) + " threw: " + what);
}

Settings connection_settings(const ConnectionOptions& o, Role role) {
  Settings s;
  s.engine.role = role;
  s.engine.max_message_size = o.max_message_size;
  s.engine.max_frame_size = o.max_frame_size;
  s.engine.max_fragments = o.max_fragments;
  s.engine.close_timeout = o.close_timeout;
  s.http_limits = o.http_limits;
  s.handshake_timeout = o.handshake_timeout;
  s.ping_interval = o.ping_interval;
  s.pong_timeout = o.pong_timeout;
  s.close_timeout = o.close_timeout;
  s.max_buffered_amount = o.max_buffered_amount;
  s.max_total_buffered = o.max_total_buffered;
  s.message_timeout = o.message_timeout;
  s.backpressure_policy = o.backpressure_policy;
  s.fatal = o.fatal;
  s.nodelay = o.nodelay;
  s.deflate = o.deflate;
  return s;
}

Error validate(const ConnectionOptions& o) {
  auto invalid = [](const char* m) { return Error(std::make_error_code(std::errc::invalid_argument), m); };
  if (o.threads == 0 || o.threads > 1024) return invalid("threads must be 1-1024");
  for (auto t : {o.handshake_timeout, o.ping_interval, o.pong_timeout, o.close_timeout, o.message_timeout}) {
    if (t.count() < 0) return invalid("timeouts must not be negative");
  }
  if (o.ping_interval.count() > 0 && o.pong_timeout.count() == 0) return invalid("ping_interval needs a pong_timeout");
  if (o.http_limits.max_head_size == 0 || o.http_limits.max_line_size == 0 || o.http_limits.max_headers == 0) {
    return invalid("http_limits must be positive");
  }
  if (o.max_buffered_amount == 0) return invalid("max_buffered_amount must be positive");
  if (o.deflate.enabled) return o.deflate.validate();
  return {};
}

ConnectionContext::ConnectionContext(Shared& shared, unsigned loops) : shared_(shared) {
  const std::size_t budget = shared.settings.max_total_buffered;
  if (budget != 0) budget_share_ = budget / std::max(loops, 1u);
  // Whatever escapes a callback the loop runs (a post, a timer, a watched
  // fd, or a bug of ours under a socket event) is reported, and the loop
  // goes on: one failure must not end every connection of the process.
  loop_.set_exception_handler([this](std::exception_ptr e) {
    shared_.callback_exceptions.fetch_add(1, std::memory_order_relaxed);
    callbacks().report(nullptr, callback_exception("a callback on the event loop", std::move(e)));
  });
}

Connection& ConnectionContext::add_connection(std::uint64_t id, std::unique_ptr<net::TcpSocket> socket) {
  void* slot = slab_.take();
  Connection* c = nullptr;
  try {
    c = new (slot) Connection(*this, id, std::move(socket));
  } catch (...) {
    slab_.give(slot);
    throw;
  }
  connections_.insert(std::unique_ptr<Connection, ConnectionDeleter>(c));
  return *c;
}

ConnectionContext::~ConnectionContext() {
  // Connections before the loop (they hold sockets registered with it).
  connections_.clear();
}

ConnectionHandle ConnectionContext::handle_for(std::uint64_t id) {
  return ConnectionHandle(loop_.handle(), weak_from_this(), id);
}

bool TimerState::cancel() {
  if (done.exchange(true)) return false;
  std::lock_guard l(m);
  // On the loop's thread (a posted function runs only while the loop
  // exists): the slot is freed now rather than when it would have fired.
  if (loop) (void)handle.post([loop = loop, id = id] { (void)loop->cancel_timer(id); });
  return true;
}

void ConnectionContext::add_connection_timer(std::uint64_t id, std::shared_ptr<TimerState> timer) {
  auto& list = connection_timers_[id];
  if (list.size() >= 8) std::erase_if(list, [](const auto& t) { return t->done.load(); });
  list.push_back(std::move(timer));
}

void ConnectionContext::cancel_connection_timers(std::uint64_t id) {
  if (connection_timers_.empty()) return;
  auto it = connection_timers_.find(id);
  if (it == connection_timers_.end()) return;
  for (auto& t : it->second) {
    if (!t->done.exchange(true)) (void)loop_.cancel_timer(t->id);
  }
  connection_timers_.erase(it);
}

void ConnectionContext::retire(Connection& c) {
  cancel_connection_timers(c.id());
  unsubscribe_all(c.id());
  loop_.defer([this, id = c.id()] {
    connections_.erase(id);
    if (shutting_down_) stop_when_empty();
  });
}

void ConnectionContext::stop_when_empty() {
  if (connections_.empty()) loop_.stop();
}

bool ConnectionContext::whole_over_budget() noexcept {
  const std::size_t mine = held();
  published_held_.store(mine, std::memory_order_relaxed);
  std::size_t total = 0;
  for (const ConnectionContext* c : shared_.contexts) {
    total += c == this ? mine : c->published_held_.load(std::memory_order_relaxed);
  }
  return total > shared_.settings.max_total_buffered;
}

void ConnectionContext::enforce_budget() {
  if (enforcing_ || !over_budget()) return;
  enforcing_ = true;
  // The rare path: rank this loop's connections by what they hold.
  std::vector<std::pair<std::size_t, std::uint64_t>> holders;
  connections_.for_each([&](Connection& c) {
    if (const std::size_t n = c.held_bytes()) holders.emplace_back(n, c.id());
  });
  std::sort(holders.begin(), holders.end(), std::greater<>());
  for (const auto& [bytes, id] : holders) {
    if (!over_budget()) break;
    if (Connection* c = find(id)) c->shed_for_budget();
  }
  enforcing_ = false;
}


bool ConnectionContext::subscribe(Connection& c, std::string_view topic, std::uint64_t pending) {
  if (!topics_.add(c, c.id(), topic, pending)) return false;
  count_subscriber(topic, +1);
  return true;
}

void ConnectionContext::finish_recovery(std::uint64_t id, std::uint64_t token, std::string topic, std::string since,
                                        std::vector<std::shared_ptr<const Broadcast>> replay, RecoveryOutcome outcome,
                                        std::string reason) {
  Connection* c = find(id);
  if (c == nullptr || !topics_.is_pending(id, topic, token)) return;  // gone, left, or subscribed again
  std::size_t queued = 0;
  for (const auto& message : replay) {
    CompressedFrames compressed;
    if (!c->send_broadcast(*message, compressed)) {
      // Over its buffer limit (or closed by the policy): what follows
      // cannot be had in order any more.
      outcome = RecoveryOutcome::gap;
      reason = "the replay did not fit in max_buffered_amount";
      break;
    }
    ++queued;
  }
  // (A replayed message may have closed it: backpressure policy close.)
  if (find(id) != c || !topics_.make_live(*c, id, topic, token)) return;
  const Callbacks& cb = callbacks();
  if (!cb.recovery) return;
  try {
    cb.recovery(*c, Recovery{topic, since, outcome, queued, reason});
  } catch (...) {
    c->callback_threw("on_recovery");
  }
}

bool ConnectionContext::unsubscribe(std::uint64_t id, std::string_view topic) {
  if (!topics_.remove(id, topic)) return false;
  count_subscriber(topic, -1);
  return true;
}

void ConnectionContext::unsubscribe_all(std::uint64_t id) {
  topics_.remove_all(id, [this](std::string_view topic) { count_subscriber(topic, -1); });
}

void ConnectionContext::forget_subscriptions(std::uint64_t id) {
  topics_.remove_all(id, [this](std::string_view topic) { count_subscriber(topic, -1, false); });
}

void ConnectionContext::count_subscriber(std::string_view topic, int delta, bool tell) {
  std::size_t before = 0;
  std::size_t now = 0;
  {
    std::lock_guard lock(shared_.topics_mutex);
    auto& counts = shared_.topic_counts;
    auto it = counts.find(topic);
    if (it == counts.end()) it = counts.emplace(std::string(topic), 0).first;
    before = it->second;
    now = before + static_cast<std::size_t>(delta);  // (delta -1 only for a counted subscriber)
    if (now == 0) {
      counts.erase(it);
    } else {
      it->second = now;
    }
  }
  if (!tell) return;
  if ((before == 0 || now == 0) && shared_.topic_presence) shared_.topic_presence(topic);
  const Callbacks& cb = callbacks();
  if (!cb.subscription) return;
  try {
    cb.subscription(topic, now, before);
  } catch (...) {
    shared_.callback_exceptions.fetch_add(1, std::memory_order_relaxed);
    cb.report(nullptr, callback_exception("on_subscription", std::current_exception()));
  }
}

}  // namespace parley::detail
