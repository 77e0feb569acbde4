// Server: listeners and loop threads around Hubs.
#include "parley/server.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>

#include <arpa/inet.h>
#include <netdb.h>

#include "broker/bridge.hpp"
#include "broker/redis.hpp"
#include "history.hpp"
#include "hub.hpp"
#include "parley/protocol/utf8.hpp"

namespace parley {
namespace detail {

struct ServerState {
  explicit ServerState(ServerOptions o) : options(std::move(o)) {}
  ServerOptions options;
  Shared shared;
  LoopGroup group{shared, options.threads};
  std::atomic<std::uint16_t> port{0};
  // Set (release) once start() has made the loops, just before it launches
  // them: from then on the hubs and the broker hook do not change, and
  // publish()/broadcast() from any thread may read them (acquire).
  std::atomic<bool> running{false};
  std::mutex mutex;  // start/stop transitions
  bool started = false;
  bool stopping = false;
  std::function<void(bool, std::string_view)> on_broker;
  std::function<std::string(const TopicMessage&)> on_topic_message;
  // With ServerOptions::redis: made, used and destroyed on loop 0 (after
  // the group's declaration: destroyed before the loops). The history (with
  // history_length > 0) is told by the bridge, so it outlives it.
  std::unique_ptr<TopicHistory> history;
  std::unique_ptr<Bridge> bridge;
};

namespace {

Settings settings_from(const ServerOptions& o) {
  Settings s = connection_settings(o, Role::server);
  s.idle_timeout = o.idle_timeout;
  s.max_connections = o.max_connections;
  s.policy.limits = o.http_limits;
  s.policy.allowed_origins = o.allowed_origins;
  s.policy.subprotocols = o.subprotocols;
  s.policy.deflate = o.deflate;
  s.keep_request = o.keep_request;
  if (auto trusted = protocol::TrustedProxies::parse(o.trusted_proxies)) s.trusted_proxies = std::move(*trusted);
  return s;
}

Error validate_server(const ServerOptions& o) {
  if (Error e = validate(static_cast<const ConnectionOptions&>(o))) return e;
  auto invalid = [](const char* m) { return Error(std::make_error_code(std::errc::invalid_argument), m); };
  if (o.backlog <= 0) return invalid("backlog must be positive");
  if (o.idle_timeout.count() < 0 || o.tick_period.count() < 0 || o.tls.handshake_timeout.count() < 0) {
    return invalid("timeouts must not be negative");
  }
  if (auto trusted = protocol::TrustedProxies::parse(o.trusted_proxies); !trusted) {
    return Error(trusted.error().code(), "trusted_proxies: " + trusted.error().message());
  }
  return {};
}

/// `host` as an IP literal: itself, or the first address of the name
/// (getaddrinfo, blocking: start() is).
Result<std::string> resolve_literal(const std::string& host) {
  in6_addr a6;
  in_addr a4;
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1) return host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0 || found == nullptr) {
    return Error(make_error_code(BrokerError::bad_option),
                 "Redis host " + host + " does not resolve: " + (rc != 0 ? ::gai_strerror(rc) : "no address"));
  }
  char text[INET6_ADDRSTRLEN] = {};
  const void* addr = found->ai_family == AF_INET6
                         ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(found->ai_addr)->sin6_addr)
                         : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(found->ai_addr)->sin_addr);
  ::inet_ntop(found->ai_family, addr, text, sizeof text);
  ::freeaddrinfo(found);
  return std::string(text);
}

// Frames `data` once, for every connection without compression (each loop
// adds one compressed encoding per distinct stateless compression
// setting), and hands it to every loop: at once on the caller's own loop,
// posted to the others (so that, from any one thread, messages keep their
// order, and a send after them does not overtake them). `to_broker`: also
// to the other nodes, from loop 0 (in the order published).
void deliver(ServerState& st, std::string_view topic, MessageType type, std::string_view data,
             void (Hub::*method)(const Broadcast&), bool to_broker) {
  if (!st.running.load(std::memory_order_acquire)) return;  // not started (or start() still running)
  if (to_broker && st.options.redis.history_length > 0 && !st.options.redis.host.empty()) {
    // Through Redis, for the stream's order (history.hpp).
    (void)st.group.run_on(0, [stp = &st, t = std::string(topic), type, d = std::string(data)](Hub&) {
      if (stp->history) stp->history->publish(t, type, d);
    });
    return;
  }
  auto message = std::make_shared<Broadcast>();
  message->topic.assign(topic);
  message->type = type;
  message->data.assign(data);
  protocol::append_frame(message->plain, type == MessageType::text ? protocol::Opcode::text : protocol::Opcode::binary,
                         data);
  const bool first_too = to_broker && st.shared.topic_presence;  // (set only with a broker)
  for (auto& hub : st.group.hubs) {
    const bool broker = first_too && hub == st.group.hubs.front();
    auto run = [h = hub.get(), message, method, broker, stp = &st] {  // (raw: see LoopGroup::run_on)
      ((*h).*method)(*message);
      if (broker && stp->bridge) stp->bridge->publish(message->topic, message->type, message->data, {});
    };
    if (hub->loop().in_loop_thread()) {
      run();
    } else {
      hub->loop().post(run);
    }
  }
}

std::size_t subscriber_count(Shared& sh, std::string_view topic) {
  std::lock_guard lock(sh.topics_mutex);
  auto it = sh.topic_counts.find(topic);
  return it == sh.topic_counts.end() ? 0 : it->second;
}

// A message of a topic with history as its subscribers get it: formatted
// by on_topic_message (with its offset), framed. Null when the hook threw
// or made invalid UTF-8 of a text message (reported; the message dropped).
std::shared_ptr<const Broadcast> frame_topic_message(ServerState& st, std::string_view topic, std::string_view offset,
                                                     MessageType type, std::string_view data) {
  auto message = std::make_shared<Broadcast>();
  message->topic.assign(topic);
  message->type = type;
  if (st.on_topic_message) {
    const Callbacks& cb = st.shared.callbacks;
    try {
      message->data = st.on_topic_message(TopicMessage{topic, offset, type, data});
    } catch (...) {
      st.shared.callback_exceptions.fetch_add(1, std::memory_order_relaxed);
      cb.report(nullptr, callback_exception("on_topic_message", std::current_exception()));
      return nullptr;
    }
    if (type == MessageType::text && !protocol::is_valid_utf8(message->data)) {
      cb.report(nullptr, Error(make_error_code(UsageError::invalid_utf8),
                               "on_topic_message made invalid UTF-8 for a text message: dropped"));
      return nullptr;
    }
  } else {
    message->data.assign(data);
  }
  protocol::append_frame(message->plain, type == MessageType::text ? protocol::Opcode::text : protocol::Opcode::binary,
                         message->data);
  return message;
}

// ServerOptions::redis: the broker made on loop 0 when the loops start,
// told of every topic that gains its first or loses its last subscriber,
// and handing other nodes' messages to the local subscribers.
Error start_broker(ServerState& st) {
  if (!kBridgeBuilt) {
    return Error(make_error_code(BrokerError::not_built), "ServerOptions::redis is set, but parley was built without hiredis");
  }
  if (Error e = broker::validate(st.options.redis)) return Error(e.code(), "redis: " + e.message());
  auto ip = resolve_literal(st.options.redis.host);
  if (!ip) return ip.error();
  RedisOptions options = st.options.redis;
  options.host = std::move(*ip);
  ServerState* stp = &st;
  st.shared.topic_presence = [stp](std::string_view topic) {
    (void)stp->group.run_on(0, [stp, t = std::string(topic)](Hub&) {
      const bool wanted = subscriber_count(stp->shared, t) > 0;
      if (stp->history) stp->history->want(t, wanted);
      if (stp->bridge) stp->bridge->want(t, wanted);
    });
  };
  Bridge::Events events;
  if (options.history_length > 0) {
    st.shared.recover = [stp](ConnectionContext& ctx, std::uint64_t id, std::uint64_t token, std::string_view topic,
                              std::string_view since) {
      (void)stp->group.run_on(0, [stp, ctx = ctx.weak_from_this(), id, token, t = std::string(topic),
                                  s = std::string(since)](Hub&) mutable {
        if (stp->history) {
          // (Another loop's first subscriber may not have told loop 0 yet.)
          if (subscriber_count(stp->shared, t) > 0) {
            stp->history->want(t, true);
            stp->bridge->want(t, true);
          }
          return stp->history->recover(std::move(ctx), id, token, std::move(t), std::move(s));
        }
        if (auto c = ctx.lock()) {
          c->finish_recovery(id, token, std::move(t), std::move(s), {}, RecoveryOutcome::unavailable,
                             "the Redis broker did not start");
        }
      });
    };
    events.message = [stp](std::string_view topic, MessageType type, std::string_view data, std::string_view offset) {
      if (stp->history) stp->history->on_message(topic, type, data, offset);
    };
    events.subscribed = [stp](std::string_view topic) {
      if (stp->history) stp->history->on_subscribed(topic);
    };
    events.marker = [stp](std::string_view topic, std::uint64_t marker) {
      if (stp->history) stp->history->on_marker(topic, marker);
    };
  } else {
    events.message = [stp](std::string_view topic, MessageType type, std::string_view data, std::string_view) {
      deliver(*stp, topic, type, data, &Hub::publish, false);
    };
  }
  events.state = [stp](bool up, std::string_view reason) {
    if (stp->history) stp->history->on_state(up);
    const Callbacks& cb = stp->shared.callbacks;
    const LogLevel level = up ? LogLevel::info : LogLevel::warning;
    if (cb.logs(level)) {
      cb.write_log(level, nullptr, up ? std::string("Redis broker up") : "Redis broker down: " + std::string(reason));
    }
    if (!stp->on_broker) return;
    try {
      stp->on_broker(up, reason);
    } catch (...) {
      stp->shared.callback_exceptions.fetch_add(1, std::memory_order_relaxed);
      cb.report(nullptr, callback_exception("on_broker", std::current_exception()));
    }
  };
  events.lost = [stp](std::uint64_t lost) { stp->shared.broker_lost.store(lost, std::memory_order_relaxed); };
  (void)st.group.run_on(0, [stp, options = std::move(options), events = std::move(events)](Hub& hub) {
    auto bridge = make_bridge(hub.loop(), options, events);
    if (!bridge) return stp->shared.callbacks.report(nullptr, bridge.error());
    stp->bridge = std::move(*bridge);
    if (options.history_length > 0) {
      TopicHistory::Hooks hooks;
      hooks.make = [stp](std::string_view topic, std::string_view offset, MessageType type, std::string_view data) {
        return frame_topic_message(*stp, topic, offset, type, data);
      };
      hooks.deliver = [stp](const std::shared_ptr<const Broadcast>& message) {
        for (auto& h : stp->group.hubs) {
          if (h->loop().in_loop_thread()) {
            h->publish(*message);
          } else {
            h->loop().post([hub = h.get(), message] { hub->publish(*message); });  // (raw: see LoopGroup::run_on)
          }
        }
      };
      stp->history = std::make_unique<TopicHistory>(hub.loop(), *stp->bridge, stp->options.redis,
                                                    stp->shared.settings.max_buffered_amount, std::move(hooks));
    }
  });
  return {};
}

}  // namespace
}  // namespace detail

Server::Server(ServerOptions options) : Server(std::make_shared<detail::ServerState>(std::move(options))) {}

Server::Server(std::shared_ptr<detail::ServerState> state)
    : ConnectionEvents(state->shared.callbacks), LoopServices(state->group), state_(std::move(state)) {}

Server::~Server() { stop(); }

void Server::on_accept(std::function<bool(const net::Endpoint&)> fn) { state_->shared.callbacks.accept = std::move(fn); }
void Server::on_origin(std::function<HandshakeReply(Connection&, std::string_view origin, const Request&)> fn) {
  state_->shared.callbacks.origin = std::move(fn);
}
void Server::on_handshake(std::function<HandshakeReply(Connection&, const Request&)> fn) {
  state_->shared.callbacks.fallback().on_handshake = std::move(fn);
}
void Server::on_select_subprotocol(std::function<std::string(const std::vector<std::string>&)> fn) {
  state_->shared.callbacks.select_subprotocol = std::move(fn);
}
void Server::route(std::string pattern, Route route) {
  state_->shared.callbacks.routes.push_back({std::move(pattern), std::move(route)});
}

void Server::on_http(std::function<Response(const Request&)> fn) { state_->shared.callbacks.http = std::move(fn); }
void Server::on_shutdown(std::function<void()> fn) { state_->shared.callbacks.shutdown = std::move(fn); }
void Server::on_tick(std::function<void()> fn) { state_->shared.callbacks.tick = std::move(fn); }

const ServerOptions& Server::options() const noexcept { return state_->options; }

Counters Server::counters() const noexcept { return state_->shared.counters(); }

Error Server::start() {
  detail::ServerState& st = *state_;
  std::lock_guard lock(st.mutex);
  auto fail = [&](Error e) {
    st.group.clear();
    if (st.options.fatal) throw Exception(e);
    return e;
  };
  if (st.started) return fail(Error(std::make_error_code(std::errc::operation_in_progress), "server already started"));
  if (Error e = detail::validate_server(st.options)) return fail(e);
  if (st.shared.callbacks.routes.size() > 0x10000) {
    return fail(Error(std::make_error_code(std::errc::invalid_argument), "more than 65,535 routes"));
  }
  st.shared.settings = detail::settings_from(st.options);
  st.shared.callbacks.log_level = st.options.log_level;
  st.shared.settings.engine.report_frames = static_cast<bool>(st.shared.callbacks.frame);
  if (!st.options.tls.cert_file.empty()) {
    auto tls = net::TlsContext::server(st.options.tls);
    if (!tls) return fail(tls.error());
    st.shared.settings.tls = std::move(*tls);
    st.shared.settings.tls_handshake_timeout = st.options.tls.handshake_timeout;
  }
  if (Error e = st.group.create(st.options.threads)) return fail(e);

  net::ListenOptions lo;
  lo.host = st.options.host;
  lo.port = st.options.port;
  lo.backlog = st.options.backlog;
  lo.nodelay = st.options.nodelay;
  lo.reuse_port = st.options.threads > 1;
  for (auto& hub : st.group.hubs) {
    detail::Hub* h = hub.get();
    auto listener = net::TcpListener::listen(hub->loop(), lo, [h](std::unique_ptr<net::TcpSocket> s) {
      const auto& cb = h->callbacks();
      if (cb.accept) {
        auto remote = s->remote_endpoint();
        if (!cb.accept(remote ? *remote : net::Endpoint{})) return;
      }
      h->adopt(std::move(s));
    });
    if (!listener) return fail(listener.error());
    (*listener)->set_error_callback([h](const Error& e) { h->callbacks().report(nullptr, e); });
    lo.port = (*listener)->local_port();  // every thread binds the port the first one got
    hub->listener = std::move(*listener);
  }
  st.port = lo.port;
  if (!st.options.redis.host.empty()) {
    if (Error e = detail::start_broker(st)) return fail(e);  // (last: nothing after it fails)
  }
  if (st.options.tick_period.count() > 0 && st.shared.callbacks.tick) {
    detail::Hub* h0 = st.group.hubs.front().get();
    h0->loop().add_periodic(st.options.tick_period, [h0] { h0->callbacks().tick(); });
  }
  st.started = true;
  if (st.shared.callbacks.logs(LogLevel::info)) {
    st.shared.callbacks.write_log(
        LogLevel::info, nullptr,
        "listening on " + (st.options.host.empty() ? std::string("*") : st.options.host) + ":" +
            std::to_string(lo.port) + (st.shared.settings.tls ? " (TLS)" : "") + " with " +
            std::to_string(st.options.threads) + (st.options.threads == 1 ? " loop" : " loops") +
            (st.shared.callbacks.routes.size() > 1
                 ? ", " + std::to_string(st.shared.callbacks.routes.size() - 1) + " route(s)"
                 : std::string()));
  }
  st.running.store(true, std::memory_order_release);  // (posts made before the loops run wait for them)
  st.group.launch();
  return {};
}

Error Server::reload_tls() {
  detail::ServerState& st = *state_;
  std::shared_ptr<net::TlsContext> tls;
  {
    std::lock_guard lock(st.mutex);
    tls = st.shared.settings.tls;
  }
  Error e = tls ? tls->reload()
                : Error(std::make_error_code(std::errc::invalid_argument), "reload_tls: the server is not running with TLS");
  if (e && st.options.fatal) throw Exception(e);
  return e;
}

Error Server::run() {
  if (Error e = start()) return e;
  wait();
  return {};
}

void Server::stop() {
  detail::ServerState& st = *state_;
  bool already_stopping = false;
  {
    std::lock_guard lock(st.mutex);
    if (!st.started) return;
    already_stopping = st.stopping;
    st.stopping = true;
  }
  // Another call is stopping it: block until done as documented (wait()
  // returns at once on a loop thread).
  if (already_stopping) return st.group.wait();
  if (st.shared.callbacks.logs(LogLevel::info)) {
    st.shared.callbacks.write_log(LogLevel::info, nullptr,
                                  "stopping: closing " + std::to_string(connection_count()) + " connection(s) with 1001");
  }
  if (const auto& shutdown = st.shared.callbacks.shutdown) {
    auto first = st.group.hubs.front();
    first->loop().post([shutdown] { shutdown(); });
  }
  // The broker goes first (on its loop, before the shutdown queued next):
  // nothing from other nodes arrives while the connections close.
  (void)st.group.run_on(0, [stp = state_.get()](detail::Hub&) {
    stp->bridge.reset();
    stp->history.reset();
  });
  st.group.stop();
}

void Server::wait() { state_->group.wait(); }

std::uint16_t Server::port() const noexcept { return state_->port.load(); }

std::size_t Server::connection_count() const noexcept {
  return state_->shared.connections.load(std::memory_order_relaxed);
}

std::vector<ConnectionHandle> Server::connections() const {
  {
    // Once stop() began no connection is (or stays) open, and loops that
    // have stopped would never answer.
    std::lock_guard lock(state_->mutex);
    if (!state_->started || state_->stopping) return {};
  }
  // Shared with the posted gatherers: one that runs after the bounded wait
  // below gave up must not write into this frame.
  struct Gather {
    std::mutex m;
    std::condition_variable cv;
    std::vector<ConnectionHandle> out;
    std::size_t pending = 0;
  };
  auto g = std::make_shared<Gather>();
  for (auto& hub : state_->group.hubs) {
    if (hub->loop().in_loop_thread()) {
      std::vector<ConnectionHandle> mine;
      hub->for_each_open([&](Connection& c) { mine.push_back(c.handle()); });
      std::lock_guard l(g->m);  // other loops may be adding theirs meanwhile
      g->out.insert(g->out.end(), mine.begin(), mine.end());
      continue;
    }
    {
      std::lock_guard l(g->m);
      ++g->pending;
    }
    const bool posted = hub->loop().handle().post([g, h = hub.get()] {  // (raw: see LoopGroup::run_on)
      std::vector<ConnectionHandle> mine;
      h->for_each_open([&](Connection& c) { mine.push_back(c.handle()); });
      std::lock_guard l(g->m);
      g->out.insert(g->out.end(), mine.begin(), mine.end());
      --g->pending;
      g->cv.notify_all();
    });
    if (!posted) {
      std::lock_guard l(g->m);
      --g->pending;
    }
  }
  std::unique_lock l(g->m);
  // Bounded: a loop busy in a long callback (or listing us at the same time) never answers.
  g->cv.wait_for(l, std::chrono::seconds(5), [&] { return g->pending == 0; });
  return g->out;
}

void Server::broadcast(MessageType type, std::string_view data) {
  detail::deliver(*state_, {}, type, data, &detail::Hub::broadcast, false);
}

void Server::publish(std::string_view topic, MessageType type, std::string_view data) {
  detail::deliver(*state_, topic, type, data, &detail::Hub::publish, true);
}

std::size_t Server::subscriber_count(std::string_view topic) const {
  return detail::subscriber_count(state_->shared, topic);
}

void Server::on_broker(std::function<void(bool up, std::string_view reason)> fn) { state_->on_broker = std::move(fn); }

void Server::on_topic_message(std::function<std::string(const TopicMessage&)> fn) {
  state_->on_topic_message = std::move(fn);
}

void Server::on_recovery(std::function<void(Connection&, const Recovery&)> fn) {
  state_->shared.callbacks.recovery = std::move(fn);
}

void Server::on_subscription(std::function<void(std::string_view topic, std::size_t now, std::size_t before)> fn) {
  state_->shared.callbacks.subscription = std::move(fn);
}

}  // namespace parley
