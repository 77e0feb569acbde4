// parley/client.hpp — a WebSocket client (ws://) on parley's event loops.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/close_code.hpp"
#include "parley/net/tls.hpp"
#include "parley/connection.hpp"
#include "parley/error.hpp"
#include "parley/export.hpp"
#include "parley/protocol/headers.hpp"
#include "parley/protocol/deflate.hpp"
#include "parley/protocol/http.hpp"

namespace parley {

/// Automatic reconnection of a client connection that ended without the
/// application asking (lost, refused, or closed by the server with any
/// code but 1000), with exponential backoff and jitter.
struct ReconnectOptions {
  /// Reconnect at all. Default false.
  bool enabled = false;
  /// Attempts in a row before giving up (`on_error`, then the connection is
  /// gone); 0 = forever. Default 10.
  unsigned max_attempts = 10;
  /// Delay before the first attempt. Default 500 ms.
  std::chrono::milliseconds initial_delay{500};
  /// The delay never grows past this. Default 30000 ms.
  std::chrono::milliseconds max_delay{30000};
  /// Each attempt waits this many times longer than the previous one. Default 2.
  double multiplier = 2.0;
  /// Each delay is moved at random by up to this fraction of itself (so that
  /// many clients do not reconnect in step). 0-1. Default 0.3.
  double jitter = 0.3;
};

/// Settings of a Client and of every connection it opens; checked by
/// `start()` (or the first `connect()`).
struct ClientOptions {
  /// Subprotocols to offer, in order of preference (Sec-WebSocket-Protocol;
  /// the seed's `subprotocol`). Default none.
  std::vector<std::string> subprotocols;
  /// The Origin header; "" sends none. Default "".
  std::string origin;
  /// The raw Cookie header, e.g. "session=abc; theme=dark". Default "".
  std::string cookie;
  /// More request headers (not Upgrade, Connection or Sec-WebSocket-*).
  protocol::Headers headers;
  /// Sec-WebSocket-Version to send (the seed's `version`): 13, or 8 or 7
  /// for servers of the late hybi drafts (same framing). Default 13.
  int version = 13;

  /// Event-loop threads; connections are spread over them. Default 1.
  unsigned threads = 1;
  /// TCP_NODELAY. Default true.
  bool nodelay = true;
  /// Name resolution plus TCP connect must finish within this. Default 10000 ms.
  std::chrono::milliseconds connect_timeout{10000};
  /// The server's 101 must arrive within this after the TCP connect.
  /// Default 10000 ms.
  std::chrono::milliseconds handshake_timeout{10000};
  /// How long to wait for the server's close frame (and then its FIN)
  /// after ours. Default 3000 ms.
  std::chrono::milliseconds close_timeout{3000};
  /// A connection silent for this long is pinged; 0 = never. Default 0.
  std::chrono::milliseconds ping_interval{0};
  /// A ping unanswered (nothing received) for this long drops the
  /// connection (on_close 1006). Default 20000 ms.
  std::chrono::milliseconds pong_timeout{20000};

  /// Largest message in bytes after reassembly (1009 past it); 0 = none.
  /// Default 64 MiB.
  std::uint64_t max_message_size = 64ull << 20;
  /// Largest frame payload in bytes (1009 past it); 0 = only the message
  /// limit (the seed's `max_payload_size`). Default 0.
  std::uint64_t max_frame_size = 0;
  /// Most frames per message (the seed's `max_fragments_amount`); 0 = none.
  /// Default 0.
  std::uint32_t max_fragments = 0;
  /// Follow HTTP 3xx redirects (Location) up to this many times per
  /// connection attempt; 0 = treat a redirect as a refusal. Never from
  /// wss:// to ws://. Default 5.
  unsigned max_redirects = 5;
  /// Automatic reconnection (off by default).
  ReconnectOptions reconnect;
  /// Limits on the server's response head. Defaults as `HttpLimits`.
  protocol::HttpLimits http_limits;
  /// Backpressure limit in bytes of unsent output per connection. Default 16 MiB.
  std::size_t max_buffered_amount = 16u << 20;
  /// What a send does past the limit. Default drop (refuse).
  BackpressurePolicy backpressure_policy = BackpressurePolicy::drop;
  /// Memory budget in bytes for everything held on peers' behalf over all
  /// of the client's connections and threads: unsent output (pongs, close frames and
  /// broadcasts included) and messages being received or inflated. Past
  /// it, the connections holding the most are closed first (1009 for a
  /// message being received, 1008 with the TCP connection dropped for
  /// unsent output), sends and broadcasts are refused until it holds
  /// again, and `on_error` gets `ProtocolError::memory_budget`. It can be
  /// passed by at most one read's inflation (`max_message_size`). Split
  /// evenly between threads until one needs more. 0 = no budget.
  /// Default 256 MiB.
  std::size_t max_total_buffered = 256u << 20;
  /// A message whose sender adds nothing to it for this long (its next
  /// fragment, or the rest of a frame) fails with 1008, pings or not: an
  /// unfinished message holds memory. 0 = never. Default 30000 ms.
  std::chrono::milliseconds message_timeout{30000};
  /// permessage-deflate (RFC 7692): off unless `deflate.enabled`; its
  /// window, context-takeover, level, memLevel and `compression_threshold`
  /// (bytes) settings are documented in `protocol::DeflateOptions`.
  protocol::DeflateOptions deflate;
  /// More permessage-deflate offers, sent after `deflate`'s in this order of
  /// preference (e.g. a small-window, no-context-takeover fallback); the
  /// server accepts at most one, and the client uses the settings of the
  /// first offer its answer is valid for. Used only when `deflate.enabled`.
  /// Default none.
  std::vector<protocol::DeflateOptions> deflate_fallbacks;
  /// TLS for `wss://` URIs: the server's certificate is verified against
  /// the system trust store (or `tls.ca_file` / `tls.ca_dir`) and the URI's
  /// host name or IP by default; `tls.insecure` turns that off (dangerous),
  /// `tls.cert_file` sends a client certificate. See
  /// `net::TlsClientOptions`. A failed verification is a TlsError saying
  /// why (expired, wrong host, unknown CA). Default: verify.
  net::TlsClientOptions tls;
  /// Throw `parley::Exception` instead of returning Errors (the seed's
  /// `fatal`) on the caller's thread: from start(), connect() and
  /// BlockingClient's calls. Never on a loop thread: a `Connection`'s
  /// calls inside callbacks return their Errors whatever this says; an
  /// exception escaping a callback closes that connection with 1011 and
  /// goes to `on_error` (`UsageError::callback_exception`). Default false.
  bool fatal = false;
};

namespace detail {
struct ClientState;
}  // namespace detail

/// A WebSocket client: opens any number of connections on its own loop
/// threads and reports their events to the callbacks set with `on_*`
/// (before the first connect). Connections are the same `Connection` type
/// as a server's. Callbacks run on the loop threads; `connect()`, `stop()`
/// and ConnectionHandles are thread-safe.
class PARLEY_EXPORT Client {
 public:
  explicit Client(ClientOptions options = {});
  /// Stops (as `stop()`).
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// The handshake completed: the connection is open.
  void on_open(std::function<void(Connection&)> fn);
  /// A text message (valid UTF-8), valid during the call only.
  void on_text(std::function<void(Connection&, std::string_view)> fn);
  /// A binary message, valid during the call only.
  void on_binary(std::function<void(Connection&, std::string_view)> fn);
  /// A ping; return false to suppress the automatic pong.
  void on_ping(std::function<bool(Connection&, std::string_view)> fn);
  /// A pong.
  void on_pong(std::function<void(Connection&, std::string_view)> fn);
  /// An opened connection ended (code and reason as `Server::on_close`).
  void on_close(std::function<void(Connection&, CloseCode, std::string_view reason)> fn);
  /// A connection failed before opening (DNS, refused, timeout, a non-101
  /// answer, a bad accept key, ...: the Error says which), or the server
  /// broke the protocol (then on_close follows).
  void on_error(std::function<void(Connection&, const Error&)> fn);
  /// A connection's unsent output fell back under `max_buffered_amount`.
  void on_drain(std::function<void(Connection&)> fn);
  /// Every frame of every open connection, received or sent (as
  /// `Server::on_frame`). For logging and debugging; costs one call per
  /// frame. Set before start() (or the first connect(), which starts the
  /// client). Default: none.
  void on_frame(std::function<void(Connection&, protocol::FrameDirection, const protocol::FrameHeader&)> fn);
  /// A reconnect attempt (`attempt` = 1, 2, ...) is scheduled in `delay`
  /// (with `ReconnectOptions::enabled`). Giving up is reported to on_error.
  void on_reconnect(std::function<void(Connection&, unsigned attempt, std::chrono::milliseconds delay)> fn);

  /// Validates the options and starts the loop threads (done by the first
  /// connect() otherwise).
  Error start();
  /// Opens a connection to `uri` (`ws://` or `wss://host[:port]/path?query`;
  /// host names, IPv4, `[IPv6]`). Returns its handle at once; `on_open` or
  /// `on_error` follows on a loop thread. Errors returned here: a bad URI,
  /// bad options (TLS files included). Thread-safe.
  Result<ConnectionHandle> connect(std::string_view uri);
  /// Closes every connection (1001) and waits for their close frames (at
  /// most `close_timeout`), then ends the threads. Thread-safe; from a
  /// callback it returns at once and the destructor waits.
  void stop();

  /// The options the client was made with.
  const ClientOptions& options() const noexcept;
  /// What the limits did so far, over all threads. Thread-safe.
  Counters counters() const noexcept;

 private:
  std::shared_ptr<detail::ClientState> state_;
};

/// A message as a BlockingClient returns it.
struct Message {
  MessageType type = MessageType::text;  ///< text (valid UTF-8) or binary
  std::string data;                      ///< the payload
};

namespace detail {
struct BlockingState;
}  // namespace detail

/// A blocking client for scripts and tests: `connect` → `send_*` /
/// `receive(timeout)` → `close`, with no loop for the caller to run (it
/// runs a Client with one loop thread inside). Every method is
/// thread-safe and every wait is bounded by a timeout. Messages that
/// arrive are queued until received.
class PARLEY_EXPORT BlockingClient {
 public:
  /// `options` as for Client (`threads` is ignored: one thread).
  explicit BlockingClient(ClientOptions options = {});
  /// Closes the connection (1000) if it is open, and stops the thread.
  ~BlockingClient();
  BlockingClient(const BlockingClient&) = delete;
  BlockingClient& operator=(const BlockingClient&) = delete;

  /// Connects and completes the opening handshake; waits at most
  /// `connect_timeout + handshake_timeout`. The Error says what failed
  /// (DNS, refused, timeout, non-101 answer: see `handshake_response()`).
  /// One connection per BlockingClient: connecting again is an error.
  Error connect(std::string_view uri);
  /// Sends a text message; the Error says why it was dropped.
  Error send_text(std::string_view text);
  /// Sends a binary message.
  Error send_binary(std::string_view bytes);
  /// Sends a ping (at most 125 bytes); its pong is not returned by receive().
  Error ping(std::string_view payload = {});
  /// The next message, waiting at most `timeout` (negative: no limit).
  /// Errors: `std::errc::timed_out` (nothing arrived; still open), or
  /// `UsageError::not_open` once the connection has closed and every
  /// queued message was returned (`close_code()` says how it closed).
  Result<Message> receive(std::chrono::milliseconds timeout);
  /// Starts the close handshake and waits until it ends (at most
  /// `close_timeout` + 1 s).
  Error close(CloseCode code = CloseCode::normal, std::string_view reason = {});

  /// True while the connection is open.
  bool is_open() const;
  /// How the connection closed (the peer's code, 1005, or 1006), once closed.
  std::optional<CloseCode> close_code() const;
  /// The close reason, once closed.
  std::string close_reason() const;
  /// The server's answer to the handshake (after connect(), also when it
  /// was a refusal), or nullopt if none arrived.
  std::optional<Response> handshake_response() const;
  /// The negotiated subprotocol ("" when none).
  std::string subprotocol() const;
  /// The negotiated extensions (permessage-deflate with its parameters),
  /// empty when none, once connected.
  std::vector<Extension> extensions() const;

 private:
  std::shared_ptr<detail::BlockingState> state_;
};

}  // namespace parley
