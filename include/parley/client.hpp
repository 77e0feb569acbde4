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
#include "parley/events.hpp"
#include "parley/export.hpp"
#include "parley/options.hpp"
#include "parley/services.hpp"
#include "parley/protocol/headers.hpp"
#include "parley/protocol/deflate.hpp"
#include "parley/protocol/http.hpp"

namespace parley {

/// Settings of a Client: those of every connection it opens
/// (`ConnectionOptions`: limits, timeouts, backpressure, compression,
/// `fatal`; `deflate` is its first permessage-deflate offer) and its own;
/// checked by `start()` (or the first `connect()`).
struct ClientOptions : ConnectionOptions {
  /// Subprotocols to offer, in order of preference (Sec-WebSocket-Protocol).
  /// Default none.
  std::vector<std::string> subprotocols;
  /// The Origin header; "" sends none. Default "".
  std::string origin;
  /// The raw Cookie header, e.g. "session=abc; theme=dark". Default "".
  std::string cookie;
  /// More request headers (not Upgrade, Connection or Sec-WebSocket-*).
  protocol::Headers headers;
  /// Sec-WebSocket-Version to send: 13, or 8 or 7
  /// for servers of the late hybi drafts (same framing). Default 13.
  int version = 13;

  /// Name resolution plus TCP connect must finish within this. Default 10000 ms.
  std::chrono::milliseconds connect_timeout{10000};
  /// Follow HTTP 3xx redirects (Location) up to this many times per
  /// connection attempt; 0 = treat a redirect as a refusal. Never from
  /// wss:// to ws://. Default 5.
  unsigned max_redirects = 5;
  /// Automatic reconnection (off by default).
  ReconnectOptions reconnect;
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

  /// An HTTP proxy to reach servers through, with CONNECT tunnels (RFC 9110
  /// §9.3.6) for ws:// and wss:// alike (TLS runs inside the tunnel,
  /// verified against the target's name, as without a proxy):
  /// `http://[user:password@]host[:port]` (user and password
  /// percent-encoded, sent as Basic authentication; port 1080 when none).
  /// The connect timeout covers reaching the proxy and its answer; a
  /// refusal (407, 403, 502, ...), a malformed answer or a proxy that is
  /// down is an Error naming the proxy and its answer, through on_error.
  /// `remote_endpoint()` is then the proxy's. A bad URL (or another scheme:
  /// https://, socks5:// are not supported) is an Error from start().
  /// Default "": none.
  std::string proxy;
  /// When `proxy` is "": take the proxy from the environment at each
  /// connection attempt, as curl and Python's websockets do —
  /// `wss_proxy`/`https_proxy` for wss://, `ws_proxy`/`http_proxy` for ws://,
  /// then `all_proxy` (lower case before upper case; never `HTTP_PROXY`),
  /// none when `no_proxy` matches the host (names, `.domains`, IPs, CIDRs,
  /// `*`). Default false (the `parley` command turns it on).
  bool proxy_from_environment = false;
};

namespace detail {
struct ClientState;
}  // namespace detail

/// A WebSocket client: opens any number of connections on its own loop
/// threads and reports their events to the callbacks set with `on_*`
/// (before the first connect). Connections are the same `Connection` type
/// as a server's. Callbacks run on the loop threads; `connect()`, `stop()`
/// and ConnectionHandles are thread-safe.
class PARLEY_EXPORT Client : public ConnectionEvents, public LoopServices {
 public:
  /// A client with these options (checked by `start()` or the first `connect()`).
  explicit Client(ClientOptions options = {});
  /// Stops (as `stop()`).
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

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
  explicit Client(std::shared_ptr<detail::ClientState> state);
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
