// parley/server.hpp — a WebSocket server (ws://) on parley's event loops.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "parley/broker.hpp"
#include "parley/close_code.hpp"
#include "parley/connection.hpp"
#include "parley/error.hpp"
#include "parley/events.hpp"
#include "parley/export.hpp"
#include "parley/net/endpoint.hpp"
#include "parley/net/tls.hpp"
#include "parley/options.hpp"
#include "parley/services.hpp"
#include "parley/protocol/deflate.hpp"
#include "parley/protocol/http.hpp"

namespace parley {

/// Settings of a Server: those of every connection (`ConnectionOptions`:
/// limits, timeouts, backpressure, compression, `fatal`) and the server's
/// own, plain values with documented defaults, checked once by
/// `Server::start()`.
struct ServerOptions : ConnectionOptions {
  ServerOptions() { ping_interval = Millis{20000}; }

  /// IP literal to listen on: "" = every interface, IPv6 and IPv4;
  /// "127.0.0.1" or "::1" for loopback only. Default "". (The `parley serve` command defaults to 127.0.0.1.)
  std::string host;
  /// TCP port; 0 = an ephemeral port, read back with `Server::port()`.
  /// Default 8080.
  std::uint16_t port = 8080;
  /// The listen(2) backlog. Default 1024.
  int backlog = 1024;

  /// A connection that receives no message (and no ping) for this long is
  /// closed with 1001 (going away); pongs answering the server's own
  /// keep-alive pings do not count. 0 = never. Default 0.
  Millis idle_timeout{0};
  /// Period of the `on_tick` event; 0 = off.
  /// Default 0.
  Millis tick_period{0};

  /// Most open connections (handshakes included) over all threads; past it
  /// new connections are answered 503 and closed. 0 = no limit. Default 0.
  std::size_t max_connections = 0;

  /// Keep each connection's upgrade request (`Connection::request()`:
  /// headers, cookies, query) for its whole life. Default false: the
  /// request is available in `on_handshake` and `on_open` and then freed —
  /// it is most of an idle connection's memory; copy what you need into
  /// `metadata` (as uWebSockets users do with their user data).
  bool keep_request = false;

  /// Origins allowed to connect (exact, case-insensitive match on the
  /// `Origin` header, e.g. "https://example.com"); others get 403. Empty =
  /// any origin, and requests without Origin (non-browser clients). Default empty.
  std::vector<std::string> allowed_origins;
  /// Subprotocols the server speaks, in its order of preference. The first
  /// of the client's offers (in the client's order) that is in this list is
  /// chosen, unless `on_select_subprotocol` decides. Default empty (none).
  std::vector<std::string> subprotocols;
  /// Reverse proxies whose forwarding headers are believed: IP addresses
  /// ("10.0.0.5", "::1") and CIDR networks ("10.0.0.0/8", "fd00::/8"),
  /// IPv4 and IPv6. Only a connection whose TCP peer is in the list has
  /// its `Forwarded` (RFC 7239), else `X-Forwarded-For` /
  /// `X-Forwarded-Proto`, headers read: walked from the right, trusted hops
  /// skipped, the right-most untrusted address is the client
  /// (`Connection::client_address()`, `client_https()`); entries further
  /// left may be forged by the client and are never read. A malformed
  /// header is ignored (the peer stays the client) and logged (`on_log`,
  /// warning). A bad entry is an Error
  /// from start() naming it. Default empty: nobody is trusted, the TCP peer
  /// is always the client. See docs/deployment.md.
  std::vector<std::string> trusted_proxies;

  /// TLS (`wss://`): on when `tls.cert_file` is set, for every connection
  /// of the server; certificate, key, SNI certificates, client
  /// certificates (mTLS), versions and ciphers are documented in
  /// `net::TlsServerOptions`. A bad file is an Error from start(). The TLS
  /// handshake has its own `tls.handshake_timeout` and also counts towards
  /// `handshake_timeout`; its failures (bad client
  /// certificate, plain HTTP sent to the TLS port, ...) reach `on_error`.
  /// Default off.
  net::TlsServerOptions tls;

  /// Topics across servers: with `redis.host` set, this server shares its
  /// topics with every server using the same Redis and
  /// `redis.channel_prefix`. A publish reaches the local subscribers at
  /// once and every other node once, through Redis (at most once: see
  /// docs/scaling.md); a topic is subscribed on Redis only while it has
  /// local subscribers. Redis down: local topics keep working, publishes
  /// to other nodes are lost (counted in
  /// `Counters::broker_lost_publishes`, never queued), reconnection with
  /// backoff, resubscription, all told to `on_broker` and the log. A bad
  /// option, or a host name that does not resolve, is an Error from
  /// start(); Redis not answering is not (the server serves, and
  /// retries). Default off.
  RedisOptions redis;
};

/// A message of a topic with history, as `Server::on_topic_message` sees it.
struct TopicMessage {
  std::string_view topic;   ///< the topic
  std::string_view offset;  ///< its offset (Redis Stream id, "<ms>-<seq>"); empty when it has none
  MessageType type;         ///< text or binary, as published
  std::string_view data;    ///< the message as published
};

namespace detail {
struct ServerState;
}  // namespace detail

/// A WebSocket server: listens, runs the opening handshake, and reports each
/// connection's events to the callbacks set with `on_*`.
///
/// Threading: `threads` event loops, each on its own thread; every callback
/// of a connection runs on that connection's loop thread. Set callbacks
/// before `start()`. `stop()`, `broadcast()`, `connections()`,
/// `connection_count()` and `port()` are thread-safe; use a
/// ConnectionHandle to act on a connection from another thread.
///
/// Errors: nothing throws unless `ServerOptions::fatal` is set; then the
/// Errors that `start()`/`run()`/`reload_tls()` return throw
/// `parley::Exception`. An exception escaping a callback is caught where
/// parley called it: during a handshake (on_origin, on_handshake,
/// on_select_subprotocol, on_http) the client is answered 500, after it
/// the connection is closed with 1011, and `on_error` gets
/// `UsageError::callback_exception` with its what(); every other
/// connection goes on. (What on_error itself throws is dropped.)
class PARLEY_EXPORT Server : public ConnectionEvents, public LoopServices {
 public:
  /// A server with these options (checked by `start()`); nothing is bound yet.
  explicit Server(ServerOptions options = {});
  /// Stops the server (as `stop()`) if it is running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// A TCP connection arrived (before any handshake byte is read). Return
  /// false to drop it at once. Default: accept.
  void on_accept(std::function<bool(const net::Endpoint& remote)> fn);
  /// Decides whether a request's Origin ("" when it sent none) may connect,
  /// with the whole request at hand. Return
  /// `HandshakeReply::accept()` (its headers and subprotocol, if any, go
  /// into the 101 response), `reject(status, message, headers)` (e.g. 403)
  /// or `defer()` and answer later from any thread
  /// with `ConnectionHandle::finish_origin` — after an accepted origin,
  /// subprotocol selection and `on_handshake` still run. `origin` and
  /// `request` are valid during the call only: a deferred check copies
  /// what it needs (the connection may time out meanwhile). Replaces the
  /// `allowed_origins` list when set. Default: the `allowed_origins` list.
  void on_origin(std::function<HandshakeReply(Connection&, std::string_view origin, const Request&)> fn);
  /// The upgrade request arrived and passed RFC 6455 validation, the
  /// origin allow-list and subprotocol selection. `request` has the method,
  /// target, path, query parameters, headers, cookies and origin; the
  /// connection has the remote address and the chosen subprotocol. Return
  /// `HandshakeReply::accept()`, `reject(status, message)` or `defer()`.
  /// Default: accept.
  void on_handshake(std::function<HandshakeReply(Connection&, const Request&)> fn);
  /// Chooses the subprotocol from the client's offers (in its order);
  /// return "" for none. Default: the first offer found in
  /// `ServerOptions::subprotocols`.
  void on_select_subprotocol(std::function<std::string(const std::vector<std::string>& offered)> fn);
  /// Gives the connections whose request path matches `pattern` their own
  /// callbacks, `route`. Patterns: exact ("/chat"), or a prefix when ending
  /// with '*' ("/chat/*" matches "/chat/" and "/chat/a/b", not "/chat"; "*"
  /// matches every path); matched on the path as sent (percent-encoded,
  /// without the query), in the order added, the first match winning. The
  /// route is chosen once, before `on_origin`, so a message costs no
  /// lookup. A connection no route matches gets the server-wide callbacks
  /// (`on_open`, `on_text`, ..., `on_handshake`); a matched route's
  /// callbacks replace those (an unset one does the default), while
  /// `on_accept`, `on_origin`, `on_select_subprotocol`, `on_http`,
  /// `on_error`, `on_frame` and `on_log` stay server-wide. To refuse paths
  /// no route serves: a server-wide `on_handshake` returning
  /// `HandshakeReply::reject(404)`. Before `start()`; at most 65,535 routes
  /// (more: `start()` fails with std::errc::invalid_argument).
  /// `Connection::route()` tells which matched.
  void route(std::string pattern, Route route);
  /// A request without `Upgrade: websocket` (e.g. a health check, a page,
  /// a form post), with its body in `Request::body` (at most
  /// `HttpLimits::max_body_size` bytes: 413 past it, 411 for a
  /// Transfer-Encoding). The response is sent and the connection closed.
  /// Default: a GET is answered 426 Upgrade Required, another method 405.
  void on_http(std::function<Response(const Request&)> fn);
  /// `stop()` began, before connections are closed.
  void on_shutdown(std::function<void()> fn);
  /// Every `tick_period`, on the first loop's thread.
  void on_tick(std::function<void()> fn);

  /// Validates the options, binds the listeners (one per thread) and starts
  /// the loop threads; returns once the server accepts connections.
  Error start();
  /// `start()`, then waits until the server is stopped.
  Error run();
  /// Graceful stop: `on_shutdown`, stop accepting, close every open
  /// connection with 1001 and wait for their close frames (at most
  /// `close_timeout`), then end the threads. Thread-safe and idempotent.
  /// Blocks until done, except when called from one of the server's own
  /// threads (inside a callback): then it returns at once and `run()` or
  /// the destructor waits.
  void stop();
  /// Waits until the server has stopped (after `stop()` from a callback).
  void wait();

  /// The listening port (the kernel's choice when the option was 0); 0
  /// before start().
  std::uint16_t port() const noexcept;
  /// Connections in the handshake or open, over all threads.
  std::size_t connection_count() const noexcept;
  /// Handles to the open connections, over all threads (a snapshot).
  std::vector<ConnectionHandle> connections() const;
  /// Sends one message to every open connection, from any thread. The
  /// frame is encoded once and the same bytes queued on each connection
  /// (connections in the middle of a fragmented send, or over their buffer
  /// limit, are skipped). Queued on the caller's own loop at once (when
  /// called on one), posted to the others.
  void broadcast(MessageType type, std::string_view data);

  /// Sends one message to every subscriber of `topic`
  /// (`Connection::subscribe`), from any thread, and with
  /// `ServerOptions::redis` to the other nodes; nothing when the server is
  /// not running. As broadcast(): framed once, compressed at most once
  /// per loop and distinct stateless compression setting, the same bytes
  /// queued on each subscriber, no per-subscriber allocation. Order: the
  /// messages published from one thread reach each subscriber in the
  /// order published, and a `ConnectionHandle::send_*` (or, on a loop
  /// thread, a `Connection::send_*`) made after a publish does not
  /// overtake it. A subscriber over its `max_buffered_amount` (or the
  /// memory budget) gets the backpressure policy: skipped (counted in
  /// `Counters::skipped_deliveries`) or closed with 1008; the others are
  /// not held up. Connections in the middle of a fragmented send are
  /// skipped too (not counted). Queued on the caller's own loop at once
  /// (when called on one), posted to the others. With a history
  /// (`RedisOptions::history_length` > 0) a message reaches this node's
  /// subscribers too through Redis, with its offset, one round trip later
  /// (at once, without an offset, while Redis is down): every node then
  /// delivers in the same order, and a send made after a publish may
  /// arrive first, as may a publish made right after a
  /// `ConnectionHandle::subscribe` of a topic new to this server miss it.
  void publish(std::string_view topic, MessageType type, std::string_view data);
  /// Subscribers of `topic` now, over all threads. Thread-safe.
  std::size_t subscriber_count(std::string_view topic) const;
  /// A topic's subscriber count over all threads changed (a subscribe, an
  /// unsubscribe, a subscriber's end): `now` and `before` are the counts
  /// just after and just before that one change (so `before == 0` is the
  /// topic's first subscriber, `now == 0` its last leaving). Runs on the
  /// loop thread of the connection that changed it, inside the
  /// subscribe/unsubscribe call (or just before that connection's
  /// `on_close`). Calls for one topic from different loops may run at the
  /// same time, and finish in any order: read `subscriber_count()` for
  /// the count at a later moment. Set before `start()`.
  void on_subscription(std::function<void(std::string_view topic, std::size_t now, std::size_t before)> fn);
  /// (With `ServerOptions::redis`) The broker's connection to Redis came
  /// up (`up`, every wanted topic subscribed; `reason` empty) or went down
  /// (`reason` says why); changes only, the first report being the first
  /// up or the first failure. Also logged (warning when down, info when
  /// up). Runs on the first loop's thread. Set before `start()`.
  void on_broker(std::function<void(bool up, std::string_view reason)> fn);
  /// (With `RedisOptions::history_length` > 0) Makes the payload that
  /// subscribers receive for each message of a topic with history, from
  /// the message and its offset, so that clients learn the offsets to
  /// recover from (`Connection::subscribe(topic, since)`). E.g. JSON
  /// `{"offset":..., "data":...}`. Unset: subscribers receive the message
  /// as published. Called once per message on each server, and again each
  /// time a recovery replays it, on the first loop's thread; `offset` is empty for a message
  /// that did not go through Redis (it was down: the message reached only
  /// this server's subscribers, and cannot be recovered). The message
  /// keeps its type: return valid UTF-8 for a text one. An exception
  /// escaping it drops that message on this server (reported to on_error,
  /// counted in callback_exceptions). Set before `start()`.
  void on_topic_message(std::function<std::string(const TopicMessage&)> fn);
  /// A recovery asked with `Connection::subscribe(topic, since)` ended:
  /// the replayed messages are queued, and live ones follow from now on.
  /// Runs on the connection's loop thread; an exception escaping it closes
  /// the connection with 1011. Set before `start()`.
  void on_recovery(std::function<void(Connection&, const Recovery&)> fn);

  /// Reads the TLS certificate, key and CA files again (after a renewal)
  /// and uses them for every connection accepted from now on; open
  /// connections are not disturbed. Thread-safe. Errors: the server has
  /// no TLS or is not started (std::errc::invalid_argument), or a file
  /// cannot be loaded (TlsError::bad_configuration; the certificates in
  /// use stay).
  Error reload_tls();
  /// True when the server speaks TLS (`tls.cert_file` set).
  bool is_tls() const noexcept { return !options().tls.cert_file.empty(); }

  /// The options the server was made with.
  const ServerOptions& options() const noexcept;
  /// What the limits did so far, over all threads. Thread-safe.
  Counters counters() const noexcept;

 private:
  explicit Server(std::shared_ptr<detail::ServerState> state);
  std::shared_ptr<detail::ServerState> state_;
};

}  // namespace parley
