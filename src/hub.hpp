// The per-loop machinery shared by servers and clients: one Hub per event
// loop thread owns that loop's connections, sweeps their timeouts, and is
// what a ConnectionHandle reaches from other threads. Internal.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "id_table.hpp"
#include "parley/client.hpp"
#include "parley/connection.hpp"
#include "parley/net/loop.hpp"
#include "parley/net/tcp.hpp"
#include "parley/net/tls.hpp"
#include "parley/protocol/engine.hpp"
#include "parley/protocol/http.hpp"

namespace parley::detail {

/// The user's callbacks (all optional), shared by every loop.
struct Callbacks {
  std::function<bool(const net::Endpoint&)> accept;
  std::function<HandshakeReply(Connection&, std::string_view, const Request&)> origin;
  std::function<HandshakeReply(Connection&, const Request&)> handshake;
  std::function<std::string(const std::vector<std::string>&)> select_subprotocol;
  std::function<Response(const Request&)> http;
  std::function<void(Connection&)> open;
  std::function<void(Connection&, std::string_view)> text;
  std::function<void(Connection&, std::string_view)> binary;
  std::function<bool(Connection&, std::string_view)> ping;
  std::function<void(Connection&, std::string_view)> pong;
  std::function<void(Connection&, CloseCode, std::string_view)> close;
  std::function<void(Connection*, const Error&)> error;
  std::function<void(Connection&)> drain;
  std::function<void()> shutdown;
  std::function<void()> tick;
  std::function<void(Connection&, unsigned, std::chrono::milliseconds)> reconnect;
  std::function<void(Connection&, protocol::FrameDirection, const protocol::FrameHeader&)> frame;

  /// Reports `e` to `error`; what on_error itself throws is dropped (there
  /// is nowhere left to report it).
  void report(Connection* c, const Error& e) const noexcept;
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
  std::vector<std::string> allowed_origins;
  std::vector<std::string> subprotocols;
  bool fatal = false;
  bool nodelay = true;
  protocol::DeflateOptions deflate;  // permessage-deflate (disabled unless enabled)
  bool keep_request = false;         // (server) keep Connection::request() after on_open
  std::shared_ptr<net::TlsContext> tls;  // (server) set: every accepted connection speaks TLS
  net::Millis tls_handshake_timeout{0};  // (server) TlsServerOptions::handshake_timeout
  net::TlsClientOptions client_tls;      // (client) for wss:// URIs: see Shared::client_tls_context()
  // client side
  net::Millis connect_timeout{10000};
  unsigned max_redirects = 5;
  ReconnectOptions reconnect;
  std::vector<protocol::DeflateOptions> deflate_offers;  // (client) every offer, in order (empty: none)
};

}  // namespace parley::detail

namespace parley {

/// The opening handshake in progress: the request being read (server) or
/// the response being awaited (client). Freed once the connection opens.
struct Connection::Pending {
  Pending(protocol::HeadParser::Kind kind, const protocol::HttpLimits& limits) : parser(kind, limits) {}
  protocol::HeadParser parser;
  std::string key;            // Sec-WebSocket-Key: the client's (server) or ours (client)
  std::string early;          // bytes after the head: frames that came with it
  // (server) which hook deferred its answer, if any
  enum class Deferred : std::uint8_t { no, origin, handshake } deferred = Deferred::no;
  protocol::Headers headers;  // (server) added to the 101 by an on_origin acceptance
  std::vector<std::string> offered_subprotocols;  // (client)
  std::vector<Extension> offered_extensions;      // (client)
  net::ConnectHandle connecting;                  // (client) the TCP connect in progress
  std::size_t body_expected = 0;                  // (client) bytes of a refusal's body to read
  std::optional<protocol::DeflateParams> deflate; // (server) permessage-deflate agreed with the client
  std::string chunked;                            // (client) a refusal's chunked body as received, when chunked
  bool is_chunked = false;                        // (client) the refusal's body is chunked
  std::function<std::ptrdiff_t(char*, std::size_t)> body_stream;  // (server) an HTTP answer's body still being read
  net::TimerId stream_timer;                                       // (server) the body stream's next look
};

/// A client connection's own state, kept across redirects and reconnects.
struct Connection::ClientSide {
  explicit ClientSide(protocol::ClientHandshake h) : handshake(std::move(h)) {}
  protocol::ClientHandshake handshake;  // what to connect to (the URI follows redirects)
  std::unique_ptr<Response> response;   // the server's handshake answer
  net::TimerId retry_timer;             // a reconnect waiting for its delay
  unsigned attempts = 0;                // reconnect attempts since the last open
  unsigned redirects = 0;               // redirects followed for this attempt
};

}  // namespace parley

namespace parley::detail {

/// A message sent to many connections, and its uncompressed frame.
struct Broadcast {
  MessageType type = MessageType::text;
  std::string data;
  std::string plain;  // the frame without compression, valid for every connection
};

/// The settings that ServerOptions and ClientOptions spell alike.
template <class Options>
Settings common_settings(const Options& o, Role role) {
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

/// The checks that ServerOptions and ClientOptions share: an Error
/// (`std::errc::invalid_argument`) naming the first bad value.
template <class Options>
Error validate_common(const Options& o) {
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

/// State shared by all hubs of one Server or Client.
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
            callback_exceptions.load(std::memory_order_relaxed)};
  }
  /// The hubs, for the memory budget's total (set once, before they run).
  std::vector<Hub*> hubs;

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

class Hub : public std::enable_shared_from_this<Hub> {
 public:
  /// `loops`: how many hubs share the memory budget.
  Hub(Shared& shared, unsigned loops);
  ~Hub();

  net::Loop& loop() noexcept { return loop_; }
  Shared& shared() noexcept { return shared_; }
  const Settings& settings() const noexcept { return shared_.settings; }
  const Callbacks& callbacks() const noexcept { return shared_.callbacks; }

  /// Takes a freshly accepted socket: a connection in the handshake state.
  void adopt(std::unique_ptr<net::TcpSocket> socket);
  /// Creates a client connection with a preassigned id and starts its
  /// connect and handshake.
  void open_client(std::uint64_t id, protocol::ClientHandshake handshake);
  /// A handle to the connection `id` of this hub (which may not exist yet).
  ConnectionHandle handle_for(std::uint64_t id);
  /// The connection with this id on this loop, or nullptr.
  Connection* find(std::uint64_t id) noexcept;
  /// Destroys the connection at the end of the current iteration.
  void retire(Connection& c);
  /// Open connections of this loop.
  template <class F>
  void for_each_open(F&& f) {
    connections_.for_each([&](Connection& c) {
      if (c.state() == ConnectionState::open) f(c);
    });
  }
  /// Queues a message on every open connection of this loop that can take
  /// it (not mid-fragmented-send, not over its buffer limit), encoding it
  /// once per distinct stateless compression setting.
  void broadcast(const Broadcast& message);
  /// Closes the listener, closes every connection (1001) and stops the
  /// loop once they are gone or `close_timeout` has passed.
  void shutdown();
  /// Starts the periodic timeout sweep (if any timeout is set).
  void start_sweeper();

  // The process-wide memory budget (Settings::max_total_buffered): every
  // byte held for a peer is this loop's output buffers plus its
  // connections' input (messages being reassembled or inflated). Each hub
  // checks its own total against an even share of the budget (no shared
  // counter on the hot path); past its share it adds up every hub's last
  // published total and, over the budget, closes its connections that
  // hold the most.
  /// Bytes held by this loop's connections (output buffers and input).
  std::size_t held() const noexcept { return loop_.output_buffer_bytes() + input_held_; }
  /// Adds a connection's change of input held (bytes, may be negative).
  void add_input_held(std::ptrdiff_t delta) noexcept { input_held_ += static_cast<std::size_t>(delta); }
  /// True when this loop is past its share and the whole is over budget.
  bool over_budget() noexcept { return held() > budget_share_ && whole_over_budget(); }
  /// Closes the connections holding the most until the budget holds again.
  /// Not reentrant: a no-op inside itself.
  void enforce_budget();
  /// The listener of this loop (server), if any.
  std::unique_ptr<net::TcpListener> listener;
  /// True once shutdown() began.
  bool shutting_down() const noexcept { return shutting_down_; }

 private:
  void sweep();
  void stop_when_empty();
  bool whole_over_budget() noexcept;

  Shared& shared_;
  net::Loop loop_;
  IdTable<Connection, ConnectionDeleter> connections_;  // owned
  net::TimerId sweeper_;
  std::size_t input_held_ = 0;
  std::size_t budget_share_ = SIZE_MAX;            // max_total_buffered / hubs (SIZE_MAX: no budget)
  std::atomic<std::size_t> published_held_{0};     // held(), as other hubs see it
  bool shutting_down_ = false;
  bool enforcing_ = false;
};

/// The loop threads of a Server or Client: one Hub per thread, started
/// together, stopped together (gracefully), joined together.
class LoopGroup {
 public:
  explicit LoopGroup(Shared& shared) : shared_(shared) {}
  ~LoopGroup();

  /// Creates `n` hubs (not running yet); the loops' init errors are returned.
  Error create(unsigned n);
  /// Forgets the hubs (a start that failed).
  void clear() {
    hubs.clear();
    shared_.hubs.clear();
  }
  /// Starts one thread per hub.
  void launch();
  /// Shuts every hub down (close 1001, bounded by close_timeout) and waits
  /// for the threads, unless called on one of them. Idempotent.
  void stop();
  /// Waits for the threads to end (no-op on one of them or before launch).
  void wait();
  /// True on one of the group's loop threads.
  bool on_own_thread() const;
  bool launched() const;

  std::vector<std::shared_ptr<Hub>> hubs;

 private:
  Shared& shared_;
  std::vector<std::thread> threads_;
  mutable std::mutex mutex_;
  std::condition_variable stopped_cv_;
  bool launched_ = false;
  bool stopping_ = false;
  unsigned running_ = 0;
};

}  // namespace parley::detail
