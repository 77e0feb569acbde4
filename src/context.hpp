// What a Connection knows of its owner (a Server or a Client): the
// settings and callbacks they share, and one ConnectionContext per event
// loop. Internal; a Connection includes this, never hub.hpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "id_table.hpp"
#include "net/slab.hpp"
#include "parley/connection.hpp"
#include "parley/events.hpp"
#include "net/loop.hpp"
#include "protocol/forwarded.hpp"
#include "protocol/proxy.hpp"
#include "topics.hpp"
#include "parley/net/tls.hpp"
#include "parley/protocol/deflate.hpp"
#include "parley/protocol/engine.hpp"
#include "parley/protocol/http.hpp"
#include "parley/protocol/opening.hpp"

namespace parley::detail {

/// The user's callbacks (all optional), shared by every loop.
struct Callbacks {
  /// A route: its pattern ("" for the fallback) and callbacks.
  struct RouteEntry {
    std::string pattern;
    Route events;
  };
  /// Index 0: the server-wide (or client's) callbacks, set with the on_*
  /// setters, the fallback; then Server::route()'s routes in the order
  /// added. A connection keeps the index chosen at its handshake.
  std::vector<RouteEntry> routes{1};
  const Route& route(std::uint16_t index) const noexcept { return routes[index].events; }
  Route& fallback() noexcept { return routes.front().events; }
  /// The first route whose pattern matches `path` (exact, or a prefix when
  /// the pattern ends with '*'), 0 when none does.
  std::uint16_t match(std::string_view path) const noexcept;

  std::function<bool(const net::Endpoint&)> accept;
  std::function<HandshakeReply(Connection&, std::string_view, const Request&)> origin;
  std::function<std::string(const std::vector<std::string>&)> select_subprotocol;
  std::function<Response(const Request&)> http;
  std::function<void(Connection*, const Error&)> error;
  std::function<void(LogLevel, std::string_view)> log;
  LogLevel log_level = LogLevel::info;  // ConnectionOptions::log_level, set at start
  std::function<void()> shutdown;
  std::function<void()> tick;
  std::function<void(Connection&, unsigned, std::chrono::milliseconds)> reconnect;
  std::function<void(Connection&, protocol::FrameDirection, const protocol::FrameHeader&)> frame;
  /// (Server) Server::on_subscription: a topic's subscriber count changed.
  std::function<void(std::string_view, std::size_t, std::size_t)> subscription;
  /// (Server) Server::on_recovery: a recovery ended.
  std::function<void(Connection&, const Recovery&)> recovery;

  /// Reports `e` to `error` and logs it; what on_error itself throws is
  /// dropped (there is nowhere left to report it).
  void report(Connection* c, const Error& e) const noexcept;
  /// True when a message of `level` would be logged: test before formatting one.
  bool logs(LogLevel level) const noexcept { return log && level <= log_level; }
  /// Logs `what` (about `c` when given: prefixed "#id address: ").
  void write_log(LogLevel level, const Connection* c, std::string_view what) const noexcept;
};

/// The text of an exception that escaped a callback named `callback`, as
/// an Error (UsageError::callback_exception) for on_error.
Error callback_exception(std::string_view callback, std::exception_ptr e);

/// What every connection of a Server or Client needs to know, fixed once
/// the Server or Client starts.
struct Settings {
  protocol::EngineOptions engine;
  protocol::HttpLimits http_limits;
  net::Millis handshake_timeout{10000};
  net::Millis idle_timeout{0};
  net::Millis ping_interval{0};
  net::Millis pong_timeout{0};
  net::Millis close_timeout{3000};
  std::size_t max_connections = 0;
  std::size_t max_buffered_amount = 16u << 20;
  std::size_t max_total_buffered = 256u << 20;  // over all loops; 0 = no budget
  net::Millis message_timeout{30000};
  BackpressurePolicy backpressure_policy = BackpressurePolicy::drop;
  protocol::ServerPolicy policy;  // (server) what its opening handshakes accept
  bool fatal = false;
  bool nodelay = true;
  protocol::DeflateOptions deflate;  // permessage-deflate (disabled unless enabled)
  bool keep_request = false;         // (server) keep Connection::request() after on_open
  protocol::TrustedProxies trusted_proxies;  // (server) ServerOptions::trusted_proxies, parsed
  std::shared_ptr<net::TlsContext> tls;  // (server) set: every accepted connection speaks TLS
  net::Millis tls_handshake_timeout{0};  // (server) TlsServerOptions::handshake_timeout
  net::TlsClientOptions client_tls;      // (client) for wss:// URIs: see Shared::client_tls_context()
  // client side
  net::Millis connect_timeout{10000};
  unsigned max_redirects = 5;
  std::optional<protocol::ProxyUrl> proxy;  // (client) ClientOptions::proxy, parsed
  bool proxy_from_environment = false;       // (client) ClientOptions::proxy_from_environment
  ReconnectOptions reconnect;
  std::vector<protocol::DeflateOptions> deflate_offers;  // (client) every offer, in order (empty: none)
};

/// The settings every connection takes from its owner's options.
Settings connection_settings(const ConnectionOptions& o, Role role);

/// The checks of every ConnectionOptions: an Error
/// (`std::errc::invalid_argument`) naming the first bad value.
Error validate(const ConnectionOptions& o);

/// State shared by all loops of one Server or Client.
struct Shared {
  Settings settings;
  Callbacks callbacks;
  std::atomic<std::uint64_t> next_id{1};
  std::atomic<std::size_t> connections{0};
  // Counters (see parley::Counters).
  std::atomic<std::uint64_t> budget_closes{0};
  std::atomic<std::uint64_t> skipped_deliveries{0};
  std::atomic<std::uint64_t> callback_exceptions{0};
  Counters counters() const noexcept {
    return {budget_closes.load(std::memory_order_relaxed), skipped_deliveries.load(std::memory_order_relaxed),
            callback_exceptions.load(std::memory_order_relaxed), broker_lost.load(std::memory_order_relaxed)};
  }
  /// Every loop's context, for the memory budget's total (set once,
  /// before they run).
  std::vector<ConnectionContext*> contexts;

  /// (Server) Subscribers of each topic over every loop (topics with none
  /// are absent), for Server::subscriber_count() and on_subscription.
  std::mutex topics_mutex;
  std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> topic_counts;
  /// (Server with a broker) Called, outside the lock, when a topic gets its
  /// first subscriber or loses its last one, on the loop thread of that
  /// change; set before the loops run.
  std::function<void(std::string_view topic)> topic_presence;
  /// (Server with history) Asks loop 0 for the recovery of connection
  /// `id` of `ctx`, subscribed to `topic` with the pending token `token`
  /// (Connection::subscribe(topic, since)); the answer comes back as
  /// ctx.finish_recovery(). Set before the loops run; unset without history.
  std::function<void(ConnectionContext& ctx, std::uint64_t id, std::uint64_t token, std::string_view topic,
                     std::string_view since)>
      recover;
  /// Tokens of pending subscriptions (TopicTable::add).
  std::atomic<std::uint64_t> next_token{1};
  /// Publishes the broker lost to the other nodes (Counters).
  std::atomic<std::uint64_t> broker_lost{0};

  /// (Client) the TLS context of wss:// connections, made from
  /// `settings.client_tls` on first use, on any thread (loading the system
  /// trust store takes milliseconds: a client that never uses wss:// never
  /// pays for it), or the Error that making it gave.
  Result<std::shared_ptr<net::TlsContext>> client_tls_context() {
    std::call_once(tls_once_, [this] {
      auto made = net::TlsContext::client(settings.client_tls);
      if (made) {
        tls_context_ = std::move(*made);
      } else {
        tls_error_ = made.error();
      }
    });
    if (tls_error_) return tls_error_;
    return tls_context_;
  }

 private:
  std::once_flag tls_once_;
  std::shared_ptr<net::TlsContext> tls_context_;
  Error tls_error_;
};


/// What a Timer handle shares with the loop that runs it.
struct TimerState {
  std::atomic<bool> done{false};  // cancelled, or a one-shot that fired
  std::mutex m;                   // guards the three below, set on the loop thread when armed
  net::Loop* loop = nullptr;      // used only on its own thread (through `handle`)
  net::LoopHandle handle;
  net::TimerId id;
  /// Marks the timer done; true when it was not already. Frees its slot on
  /// the loop (from any thread; later, on the loop's thread).
  bool cancel();
};

/// All a Connection sees of its owner, one per event loop: the settings and
/// callbacks of its Server or Client (shared by every loop), the loop, the
/// loop's table of connections (handles and timers find a connection by
/// id), and the loop's share of the memory budget. A Server's and a
/// Client's loops both provide it (their Hub, hub.hpp, adds accepting,
/// connecting, broadcasting and shutting down), so that a Connection never
/// depends on which owns it.
class ConnectionContext : public std::enable_shared_from_this<ConnectionContext> {
 public:
  /// `loops`: how many contexts share the memory budget.
  ConnectionContext(Shared& shared, unsigned loops);
  ~ConnectionContext();
  ConnectionContext(const ConnectionContext&) = delete;
  ConnectionContext& operator=(const ConnectionContext&) = delete;

  net::Loop& loop() noexcept { return loop_; }
  Shared& shared() noexcept { return shared_; }
  const Settings& settings() const noexcept { return shared_.settings; }
  const Callbacks& callbacks() const noexcept { return shared_.callbacks; }

  /// The connection with this id on this loop, or nullptr.
  Connection* find(std::uint64_t id) noexcept { return connections_.find(id); }
  /// A handle to the connection `id` of this loop (which may not exist yet).
  ConnectionHandle handle_for(std::uint64_t id);
  /// Destroys the connection at the end of the current iteration (and
  /// cancels its timers).
  void retire(Connection& c);
  /// Remembers a timer of connection `id` (Connection::after), cancelled
  /// when it closes or retires. Loop thread only.
  void add_connection_timer(std::uint64_t id, std::shared_ptr<TimerState> timer);
  /// Cancels the timers of connection `id`.
  void cancel_connection_timers(std::uint64_t id);
  /// This loop's topics and their subscribers (Connection::subscribe).
  TopicTable& topics() noexcept { return topics_; }
  /// Subscribes `c` to `topic` (counted over the loops, on_subscription
  /// told), pending (TopicTable::add) with a non-zero `pending`. False
  /// when it already was.
  bool subscribe(Connection& c, std::string_view topic, std::uint64_t pending = 0);
  /// Ends the recovery of connection `id`'s pending subscription `token`
  /// to `topic`, if it is still there: queues `replay` on it, makes the
  /// subscription live and tells Server::on_recovery (a replay that does
  /// not fit is a gap).
  void finish_recovery(std::uint64_t id, std::uint64_t token, std::string topic, std::string since,
                       std::vector<std::shared_ptr<const Broadcast>> replay, RecoveryOutcome outcome,
                       std::string reason);
  /// Unsubscribes connection `id` from `topic`. False when it was not.
  bool unsubscribe(std::uint64_t id, std::string_view topic);
  /// Unsubscribes connection `id` from every topic (it closed).
  void unsubscribe_all(std::uint64_t id);
  /// The same without telling anyone (on_subscription, the broker): for a
  /// connection destroyed without an end (a stop's deadline).
  void forget_subscriptions(std::uint64_t id);
  /// True once the owner began to stop: no new connection or reconnection.
  bool shutting_down() const noexcept { return shutting_down_; }
  /// Gives back the memory of a destroyed connection (ConnectionDeleter).
  void release(void* connection) noexcept { slab_.give(connection); }

  // The process-wide memory budget (Settings::max_total_buffered): every
  // byte held for a peer is this loop's output buffers plus its
  // connections' input (messages being reassembled or inflated). Each
  // loop checks its own total against an even share of the budget (no
  // shared counter on the hot path); past its share it adds up every
  // loop's last published total and, over the budget, closes its
  // connections that hold the most.
  /// Bytes held by this loop's connections (output buffers and input).
  std::size_t held() const noexcept { return loop_.output_buffer_bytes() + input_held_; }
  /// Adds a connection's change of input held (bytes, may be negative).
  void add_input_held(std::ptrdiff_t delta) noexcept { input_held_ += static_cast<std::size_t>(delta); }
  /// True when this loop is past its share and the whole is over budget.
  bool over_budget() noexcept { return held() > budget_share_ && whole_over_budget(); }
  /// Closes the connections holding the most until the budget holds again.
  /// Not reentrant: a no-op inside itself.
  void enforce_budget();

 protected:
  /// Stops the loop once shutting down and no connection is left.
  void stop_when_empty();
  /// A new connection, in this context's slab, owned by connections_.
  Connection& add_connection(std::uint64_t id, std::unique_ptr<net::TcpSocket> socket);

  Shared& shared_;
  net::Loop loop_;
  // Where the connections live: apart from the heap, so that what their
  // handshakes allocate and free leaves no holes between them
  // (docs/performance.md, "Idle connections"). Destroyed after them.
  net::detail::Slab slab_{sizeof(Connection), alignof(Connection)};
  IdTable<Connection, ConnectionDeleter> connections_;  // owned; destroyed before the loop
  TopicTable topics_;  // this loop's subscriptions (pointers into connections_)
  bool shutting_down_ = false;

 private:
  bool whole_over_budget() noexcept;
  // Adds `delta` (+1 or -1) to `topic`'s count over the loops and, when
  // `tell`, tells on_subscription and the broker.
  void count_subscriber(std::string_view topic, int delta, bool tell = true);

  // Connection::after's timers by connection id; rarely used, so kept here
  // rather than in every Connection. Each list is pruned of finished timers
  // when it grows.
  std::unordered_map<std::uint64_t, std::vector<std::shared_ptr<TimerState>>> connection_timers_;
  std::size_t input_held_ = 0;
  std::size_t budget_share_ = SIZE_MAX;         // max_total_buffered / loops (SIZE_MAX: no budget)
  std::atomic<std::size_t> published_held_{0};  // held(), as other loops see it
  bool enforcing_ = false;
};

}  // namespace parley::detail
