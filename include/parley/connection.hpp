// parley/connection.hpp — one WebSocket connection, as a server callback or
// a client user holds it: send, close, backpressure, user data.
#pragma once

#include <any>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "parley/close_code.hpp"
#include "parley/error.hpp"
#include "parley/export.hpp"
#include "parley/net/endpoint.hpp"
#include "parley/net/handle.hpp"
#include "parley/net/tls.hpp"
#include "parley/options.hpp"
#include "parley/protocol/engine.hpp"
#include "parley/protocol/handshake.hpp"
#include "parley/protocol/headers.hpp"
#include "parley/protocol/http.hpp"
#include "parley/services.hpp"

namespace parley {

using protocol::Extension;
using protocol::Request;
using protocol::Response;
using protocol::Role;

/// The kind of a data message.
enum class MessageType : std::uint8_t {
  text = 1,    ///< UTF-8 text (validated on receipt)
  binary = 2,  ///< arbitrary bytes
};

/// What happened to a send.
enum class SendStatus : std::uint8_t {
  /// Queued; it goes out at the end of the current loop iteration, together
  /// with everything else sent to this connection in the iteration.
  queued,
  /// Queued, but the connection's buffered amount now exceeds
  /// `max_buffered_amount`: stop sending until `on_drain`.
  backpressure,
  /// Not sent: `SendResult::error` says why (the connection is not open, or
  /// the buffer limit was already exceeded and the policy is to refuse).
  dropped,
};

/// The outcome of a send: a status and, when dropped, the reason.
struct SendResult {
  SendStatus status = SendStatus::queued;  ///< queued, backpressure or dropped
  Error error;  ///< empty unless `status == SendStatus::dropped`
  /// True unless the data was dropped.
  explicit operator bool() const noexcept { return status != SendStatus::dropped; }
};

/// How a recovery (`Connection::subscribe(topic, since)`) ended.
enum class RecoveryOutcome : std::uint8_t {
  /// Every message of the topic after `since` was replayed (perhaps none),
  /// in order, and live messages follow without a gap or a repeat.
  recovered,
  /// What followed `since` can no longer be told: trimmed from the history
  /// (`RedisOptions::history_length`), more than `history_max_replay`
  /// messages, or more than the connection's `max_buffered_amount` (then
  /// the part that fitted was sent), the history lost (Redis restarted
  /// without persistence), or `since` is not an offset of this topic.
  /// Live messages follow. The client should reload its state.
  gap,
  /// No history could be asked: history is off (no `ServerOptions::redis`,
  /// or `history_length` 0), Redis is down or failed, the topic is over
  /// `max_topic_size`, or too many requests are waiting for Redis. Nothing
  /// was replayed; live messages follow.
  unavailable,
};

/// What `Server::on_recovery` is told.
struct Recovery {
  std::string_view topic;    ///< the topic subscribed
  std::string_view since;    ///< the offset given to subscribe()
  RecoveryOutcome outcome;   ///< recovered, gap or unavailable
  std::size_t replayed = 0;  ///< messages queued by the replay
  std::string_view reason;   ///< why not recovered, for logs (empty when recovered)
};

/// What the limits of a Server or Client did since it was made (see
/// `Server::counters()`, `Client::counters()`).
struct Counters {
  /// Connections closed because `max_total_buffered` was passed.
  std::uint64_t budget_closes = 0;
  /// Broadcast deliveries skipped because the recipient would have passed
  /// `max_buffered_amount` (or the budget).
  std::uint64_t skipped_deliveries = 0;
  /// Exceptions caught escaping the application's callbacks.
  std::uint64_t callback_exceptions = 0;
  /// (Server with `ServerOptions::redis`) Publishes that did not reach the
  /// other nodes: the broker was down, its backlog full, the message or
  /// topic over its limits, or Redis did not confirm it. This node's own
  /// subscribers got them.
  std::uint64_t broker_lost_publishes = 0;
};

/// Where a connection is.
enum class ConnectionState : std::uint8_t {
  handshake,  ///< the opening handshake is in progress
  open,       ///< messages flow
  closing,    ///< a close frame was sent; waiting for the peer's
  closed,     ///< done; no more events except on_close (already fired or firing)
};

/// The answer of a server's `on_handshake` hook.
class PARLEY_EXPORT HandshakeReply {
 public:
  /// Accept the upgrade. `subprotocol` replaces the negotiated one ("" keeps
  /// it; it must be one the client offered); `headers` are added to the 101
  /// response (e.g. Set-Cookie).
  static HandshakeReply accept(std::string subprotocol = {}, protocol::Headers headers = {});
  /// Refuse with an HTTP `status` (400-599, e.g. 403), a short text/plain
  /// body and extra headers, or redirect with a
  /// 3xx status and a `Location` header (parley's client follows
  /// `max_redirects` of them). Another status becomes 403. The socket is
  /// closed once the response is sent.
  static HandshakeReply reject(int status, std::string message = {}, protocol::Headers headers = {});
  /// Refuse as `reject` does, with the JSON body of the Perl `http_error`:
  /// `{"code":code,"message":"...","status":status}` (`code` is the
  /// application's own number, often the status itself), `Content-Type:
  /// application/json` and `X-Content-Type-Options: nosniff`; `headers` are
  /// added too. A browser's `WebSocket` never shows a refused handshake's
  /// body to the page; this is for other clients and for logs.
  static HandshakeReply reject_json(int status, int code, std::string_view message, protocol::Headers headers = {});
  /// Decide later, from any thread (e.g. after a database lookup), with
  /// `ConnectionHandle::finish_origin` when on_origin deferred, or
  /// `ConnectionHandle::finish_handshake` when on_handshake did. The
  /// handshake timeout still applies.
  static HandshakeReply defer();

  /// The kinds of answer.
  enum class Kind : std::uint8_t {
    accept,  ///< `accept()`: the 101
    reject,  ///< `reject()` or `reject_json()`: an HTTP refusal
    defer,   ///< `defer()`: answered later through the ConnectionHandle
  };
  /// Which answer this is.
  Kind kind() const noexcept { return kind_; }
  /// The HTTP status of a rejection.
  int status() const noexcept { return status_; }
  /// The subprotocol of an acceptance, or the message of a rejection.
  const std::string& text() const noexcept { return text_; }
  /// Headers added to the response.
  const protocol::Headers& headers() const noexcept { return headers_; }

 private:
  Kind kind_ = Kind::accept;
  int status_ = 101;
  std::string text_;
  protocol::Headers headers_;
};

class Connection;
namespace detail {
class ConnectionContext;
class Hub;
struct ConnectionDeleter {
  void operator()(Connection* c) const noexcept;
};
struct Broadcast;
using CompressedFrames = std::vector<std::pair<std::uint32_t, std::string>>;
}  // namespace detail

/// A thread-safe, copyable reference to a connection that may outlive it.
/// Every operation is handed to the connection's loop thread and fails
/// cleanly (returns false, or reports `UsageError::not_open` to the
/// completion callback) when the connection has closed meanwhile. This is
/// how other threads send: never call a `Connection&` from another thread.
class PARLEY_EXPORT ConnectionHandle {
 public:
  /// Refers to no connection.
  ConnectionHandle() = default;

  /// Sends a text message from any thread. `done`, if given, runs on the
  /// connection's loop thread with the outcome. Returns false when the
  /// connection's loop no longer exists (then nothing runs).
  bool send_text(std::string text, std::function<void(const SendResult&)> done = {}) const;
  /// Sends a binary message from any thread (as send_text).
  bool send_binary(std::string bytes, std::function<void(const SendResult&)> done = {}) const;
  /// Starts the close handshake from any thread.
  bool close(CloseCode code = CloseCode::normal, std::string reason = {}) const;
  /// Runs `fn` with the connection on its loop thread, if it is still
  /// there (handshake or open or closing); `fn` is dropped otherwise.
  bool post(std::function<void(Connection&)> fn) const;
  /// `Connection::subscribe` from any thread (at once when called on the
  /// connection's own loop thread). A message published after this call,
  /// from this thread, reaches the connection.
  bool subscribe(std::string topic) const;
  /// `Connection::subscribe(topic, since)` (a recovery) from any thread.
  bool subscribe(std::string topic, std::string since) const;
  /// `Connection::unsubscribe` from any thread.
  bool unsubscribe(std::string topic) const;
  /// Answers an origin check that `on_origin` deferred (server side), from
  /// any thread: accepting goes on to `on_handshake`. Ignored if the
  /// connection is gone or not waiting for its origin; answering `defer()`
  /// keeps it waiting.
  bool finish_origin(HandshakeReply reply) const;
  /// Answers a handshake that `on_handshake` deferred (server side), from
  /// any thread. Ignored if the connection is gone or not waiting for
  /// on_handshake's answer (an answer meant for the origin stage never
  /// decides this one); answering `defer()` keeps it waiting.
  bool finish_handshake(HandshakeReply reply) const;
  /// The connection's id (unique within its Server or Client), 0 for none.
  std::uint64_t id() const noexcept { return id_; }
  /// True when this handle refers to a connection (it may have closed since).
  explicit operator bool() const noexcept { return id_ != 0; }

 private:
  friend class Connection;
  friend class detail::ConnectionContext;
  bool answer_deferred(bool origin_stage, HandshakeReply reply) const;
  ConnectionHandle(net::LoopHandle loop, std::weak_ptr<detail::ConnectionContext> context, std::uint64_t id)
      : loop_(std::move(loop)), context_(std::move(context)), id_(id) {}
  net::LoopHandle loop_;
  std::weak_ptr<detail::ConnectionContext> context_;
  std::uint64_t id_ = 0;
};

/// One WebSocket connection, server or client side (the same type for
/// both). Used on its loop's thread only: inside the callbacks of its
/// Server or Client, or through a ConnectionHandle. It is owned by its
/// Server or Client and destroyed after `on_close`; keep a ConnectionHandle,
/// never a reference or pointer, beyond a callback.
class PARLEY_EXPORT Connection final : private protocol::EngineHandler, private net::SocketHandler {
 public:
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Sends a text message (the caller guarantees it is UTF-8). With
  /// permessage-deflate negotiated, `compression` decides whether it is
  /// compressed (default: when at least `compression_threshold` bytes).
  SendResult send_text(std::string_view text, protocol::Compression compression = protocol::Compression::automatic);
  /// Sends a binary message (`compression` as for send_text).
  SendResult send_binary(std::string_view bytes, protocol::Compression compression = protocol::Compression::automatic);
  /// Sends a message of `type` (`compression` as for send_text).
  SendResult send(MessageType type, std::string_view data,
                  protocol::Compression compression = protocol::Compression::automatic);
  /// Streams a large message in parts: the first call starts a message of
  /// `type`, later calls (same `type`) continue it, `fin = true` ends it.
  /// Other messages cannot be sent in between (UsageError::bad_fragment_sequence);
  /// pings and pongs can. With permessage-deflate, the first call's
  /// `compression` decides for the whole message (`automatic` compresses:
  /// the size is not known in advance).
  SendResult send_fragment(MessageType type, std::string_view data, bool fin,
                           protocol::Compression compression = protocol::Compression::automatic);
  /// Sends a ping (payload at most 125 bytes).
  SendResult ping(std::string_view payload = {});
  /// Sends an unsolicited pong (payload at most 125 bytes).
  SendResult pong(std::string_view payload = {});
  /// Starts the close handshake with `code` and `reason` (at most 123 bytes
  /// of UTF-8): nothing more can be sent; the peer's close frame (or the
  /// close timeout) ends the connection, and `on_close` fires then. During
  /// the handshake, closes the socket (no close frame exists yet).
  Error close(CloseCode code = CloseCode::normal, std::string_view reason = {});
  /// Drops the connection at once, without a close handshake; `on_close`
  /// fires with 1006.
  void terminate();
  /// Runs `fn(*this)` on the connection's loop thread after `delay`
  /// (milliseconds), unless the connection has closed by then: its timers
  /// are cancelled when it closes. E.g. a deadline for a login message, or
  /// a per-connection heartbeat. An exception escaping `fn` closes the
  /// connection with 1011, as a callback's does. The Timer cancels it
  /// sooner, from any thread.
  Timer after(std::chrono::milliseconds delay, std::function<void(Connection&)> fn);

  /// Subscribes this (server) connection to `topic`, any byte string:
  /// every message `Server::publish()`es to it from now on is queued here,
  /// until `unsubscribe` or the connection's end (just before `on_close`;
  /// a connection refused during its handshake, when it is refused).
  /// Allowed during the handshake (the hooks) and while open; messages are
  /// delivered only while open. Returns true when
  /// subscribed after the call (already subscribed included); false for a
  /// closing or closed connection, or a client's (topics are a server's).
  /// Each subscription holds the topic's name once per loop and about
  /// 48 bytes per subscriber; the application decides which topics a peer
  /// may join, and how many.
  bool subscribe(std::string_view topic);
  /// Subscribes to `topic` and first replays the messages published to it
  /// after the offset `since` (the last one this client saw, as given to
  /// `Server::on_topic_message`): every missed message once, in order,
  /// then the live ones, none twice; or, when that cannot be done, tells
  /// so (`RecoveryOutcome::gap` or `unavailable`). Needs
  /// `RedisOptions::history_length` > 0. `since` "0" replays the whole
  /// retained history. The subscription counts at once, but messages reach
  /// the connection only from the moment `Server::on_recovery` runs for
  /// it (on its loop thread, after the replayed messages were queued and
  /// before any later one: a notice sent from there arrives in order); a
  /// recovery takes one or two Redis round trips. Only while open (call it
  /// from `on_open`): false otherwise, and for a client's connection; true
  /// when subscribed after the call (already subscribed: nothing is
  /// replayed). A replay that does not fit in the connection's
  /// `max_buffered_amount` is a gap. Live messages get the backpressure
  /// policy: with `drop`, a slow subscriber misses some (counted in
  /// `skipped_deliveries`); with `close`, it comes back with its offset.
  bool subscribe(std::string_view topic, std::string_view since);
  /// Ends the subscription to `topic`; true when there was one.
  bool unsubscribe(std::string_view topic);
  /// True when subscribed to `topic`.
  bool subscribed(std::string_view topic) const;
  /// Every topic this connection subscribes to, in the order subscribed.
  std::vector<std::string> topics() const;

  /// Bytes queued for this connection and not yet taken by the kernel.
  std::size_t buffered_amount() const noexcept;
  /// Where the connection is.
  ConnectionState state() const noexcept;
  /// Server or client side.
  Role role() const noexcept { return engine_.role(); }
  /// Unique within its Server or Client (starts at 1).
  std::uint64_t id() const noexcept { return id_; }
  /// A thread-safe reference for use from other threads or after callbacks.
  ConnectionHandle handle() const;

  /// The peer's address and port.
  const net::Endpoint& remote_endpoint() const noexcept { return remote_; }
  /// (Server) The client's address as the trusted reverse proxies
  /// (`ServerOptions::trusted_proxies`) describe it, fixed at the handshake
  /// before `on_origin` and `on_handshake` see the connection and kept for
  /// the connection's life: the address from `Forwarded` /
  /// `X-Forwarded-For` when the peer is a trusted proxy, with the port the
  /// header gave (0 when it gave none). Otherwise — no trusted proxy, no
  /// usable header, a header naming the peer's own address, on the client
  /// side, or before the handshake's request arrived — it is
  /// `remote_endpoint()` itself. An Endpoint like `remote_endpoint()`, so
  /// code that logs or keys on one takes the other unchanged; compare the
  /// two addresses to tell a proxied connection.
  const net::Endpoint& client_address() const noexcept;
  /// (Server) True when the client's original request was https/wss: the
  /// trusted proxy's `proto=` / `X-Forwarded-Proto` when it sent one, else
  /// whether this connection speaks TLS. Fixed at the handshake, as
  /// client_address(); false on the client side.
  bool client_https() const noexcept { return client_https_; }
  /// This end's address and port, asked of the socket when called (an
  /// idle connection does not carry it); empty once the socket is closed.
  net::Endpoint local_endpoint() const;
  /// For a TLS connection (`wss://`) once its TLS handshake is done: the
  /// version, cipher, SNI name and the peer's certificate (a server sees
  /// the client's certificate with mutual TLS, from `on_handshake` on).
  /// nullopt for plain connections, and once the socket is closed.
  std::optional<net::TlsInfo> tls() const;
  /// The opening handshake's request: the one sent (client, from the
  /// connect on), or received (server: during the handshake and until
  /// `on_open` returns; for the whole connection with
  /// `ServerOptions::keep_request`). nullptr once released (a server's,
  /// after on_open without keep_request: copy what you need into
  /// `metadata`) or before there is one.
  const Request* request() const noexcept;
  /// (Server) The pattern of the route this connection was given at its
  /// handshake (`Server::route`), "" for the server-wide callbacks.
  std::string_view route() const noexcept;
  /// (Client) the server's answer to the opening handshake — status,
  /// headers, and for a refusal the body (at most `max_head_size` bytes) —
  /// once it arrived; nullptr before, and on the server side. Read it in
  /// `on_open`, or in `on_error` to see why a server refused (e.g. 403).
  const Response* handshake_response() const noexcept;
  /// The negotiated subprotocol, "" when none. (A reconnecting client
  /// negotiates again: the reference is valid until then.)
  const std::string& subprotocol() const noexcept;
  /// The negotiated extensions (permessage-deflate and its parameters, when
  /// agreed); empty when none. (Valid until a reconnect, as subprotocol().)
  const std::vector<Extension>& extensions() const noexcept;

  /// Per-connection user data, empty at first.
  std::any& metadata() noexcept { return metadata_; }
  /// The user data as a `T`, default-constructed on first use (replacing
  /// anything of another type). E.g. `conn.metadata_as<Session>().user = id;`
  template <class T>
  T& metadata_as() {
    if (T* p = std::any_cast<T>(&metadata_)) return *p;
    return metadata_.emplace<T>();
  }

 private:
  friend class detail::ConnectionContext;
  friend class detail::Hub;
  friend class ConnectionHandle;
  friend struct detail::ConnectionDeleter;
  struct Pending;
  struct ClientSide;
  Connection(detail::ConnectionContext& context, std::uint64_t id, std::unique_ptr<net::TcpSocket> socket);
  ~Connection();

  // protocol::EngineHandler
  void on_message(protocol::Opcode type, std::string_view payload) override;
  bool on_ping(std::string_view payload) override;
  void on_pong(std::string_view payload) override;
  void on_close(CloseCode code, std::string_view reason) override;
  void on_protocol_error(const Error& error) override;
  void on_frame(protocol::FrameDirection direction, const protocol::FrameHeader& header) override;
  // net::SocketHandler
  void on_data(net::TcpSocket& socket, std::span<std::uint8_t> data) override;
  void on_eof(net::TcpSocket& socket) override;
  void on_error(net::TcpSocket& socket, const Error& error) override;
  void on_drain(net::TcpSocket& socket) override;

  void attach(std::unique_ptr<net::TcpSocket> socket);
  // The handshake, server side.
  void handshake_data(std::span<std::uint8_t> data);
  void advance_handshake();
  void decide_origin(const HandshakeReply& reply);
  void decide_handshake(const HandshakeReply& reply);
  void answer_handshake();
  void derive_client(const Request& request);
  void become_open(std::string early);
  void log_open() const;
  void respond_and_close(Response response);
  // The handshake, client side (connection_client.cpp).
  void start_client(protocol::ClientHandshake handshake);
  void connected(std::unique_ptr<net::TcpSocket> socket);
  Error start_client_tls(net::TcpSocket& socket);
  void tunnel_open();
  void response_data(std::span<std::uint8_t> data);
  void after_response();
  void fail_handshake(const Error& error);
  void begin_attempt();
  void finished();
  void schedule_reconnect();
  // Open connection.
  void receive(std::uint8_t* data, std::size_t size);
  SendResult checked(Error e);
  SendResult queued();
  SendResult send_fragment_or_whole(MessageType type, std::string_view data, bool fin, bool fragment,
                                    protocol::Compression compression);
  void flush_engine();
  void send_whole(protocol::Opcode type, std::string_view data);
  void report_close(CloseCode code, std::string_view reason);
  void teardown();
  void sweep(net::Clock::time_point now);
  // Queues a broadcast or published message; false when it was not (not
  // open, mid-fragmented send, over the buffer limit: the policy applied).
  bool send_broadcast(const detail::Broadcast& message, detail::CompressedFrames& compressed);
  void note_over_limit();
  void check_drain();
  // Limits on what a peer can make us hold.
  void account_input() noexcept;
  std::size_t held_bytes() const noexcept;
  void shed_for_budget();
  // A streamed HTTP body: at most kStreamAhead bytes queued, read in
  // pieces of kPiece bytes.
  static constexpr std::size_t kStreamAhead = 256 * 1024;
  static constexpr std::size_t kPiece = 64 * 1024;
  void pump_body();
  void arm_stream_timer(net::Millis delay);
  bool output_stalled(net::Clock::time_point now);
  // An exception escaped the application's callback `name` (called in a
  // catch block): reported, and the connection fails (1011 when open,
  // HTTP 500 during a server's handshake).
  void callback_threw(std::string_view name);

  detail::ConnectionContext& ctx_;
  protocol::Engine engine_;
  std::unique_ptr<net::TcpSocket> socket_;
  std::unique_ptr<Pending> pending_;  // handshake in progress
  std::uint64_t id_;
  net::Endpoint remote_;
  std::uint32_t output_seen_ = 0;  // (draining, streaming) buffered_amount() at the last sweep (in remote_'s padding)
  // What an idle server connection mostly does not have, allocated only
  // when there is something (one pointer otherwise).
  struct Extra {
    std::unique_ptr<Request> request;  // null once freed (see request())
    // what was negotiated
    std::string subprotocol;
    std::vector<Extension> extensions;
    // (server) the client's address when a trusted proxy named one other
    // than the peer's (family none otherwise): see client_address()
    net::Endpoint client;
    std::unique_ptr<ClientSide> side;  // (client) what to connect to, and the state of attempts
  };
  Extra& extra();
  // (client) the client's own state; null on the server side
  ClientSide* side() const noexcept { return extra_ ? extra_->side.get() : nullptr; }
  std::unique_ptr<Extra> extra_;
  std::any metadata_;
  // When the current stage's deadline started: the handshake, the final
  // flush, or (open) the keep-alive ping now outstanding.
  net::Clock::time_point started_{};
  net::Clock::time_point last_receive_{};  // any bytes: proves the peer alive (keep-alive)
  net::Clock::time_point last_message_{};  // a message or ping from the peer: activity (idle timeout)
  net::Clock::time_point message_progress_{};  // data for the message being received last arrived
  std::size_t input_counted_ = 0;              // engine_.input_held() as last added to the loop's total
  CloseCode last_close_ = CloseCode::abnormal;
  std::uint16_t route_ = 0;  // (server) index of its route in the Callbacks (0: the fallback)
  ConnectionState state_ = ConnectionState::handshake;
  // (Bit-fields: every idle connection carries them.)
  bool ping_outstanding_ : 1 = false;
  bool close_reported_ : 1 = false;
  bool over_limit_ : 1 = false;
  bool draining_ : 1 = false;      // closed: the last bytes are being flushed before the socket closes
  bool user_closed_ : 1 = false;   // close() or terminate() was called: no reconnect
  bool client_https_ : 1 = false;  // see client_https()
};

}  // namespace parley
