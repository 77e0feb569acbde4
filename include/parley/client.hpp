// parley/client.hpp — a WebSocket client (ws://) on parley's event loops.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "parley/close_code.hpp"
#include "parley/connection.hpp"
#include "parley/error.hpp"
#include "parley/export.hpp"
#include "parley/protocol/headers.hpp"
#include "parley/protocol/http.hpp"

namespace parley {

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
  /// Limits on the server's response head. Defaults as `HttpLimits`.
  protocol::HttpLimits http_limits;
  /// Backpressure limit in bytes of unsent output per connection. Default 16 MiB.
  std::size_t max_buffered_amount = 16u << 20;
  /// What a send does past the limit. Default drop (refuse).
  BackpressurePolicy backpressure_policy = BackpressurePolicy::drop;
  /// Throw `parley::Exception` instead of returning Errors (the seed's
  /// `fatal`), from start(), connect() and dropped sends. Default false.
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

  /// Validates the options and starts the loop threads (done by the first
  /// connect() otherwise).
  Error start();
  /// Opens a connection to `uri` (`ws://host[:port]/path?query`; host names,
  /// IPv4, `[IPv6]`). Returns its handle at once; `on_open` or `on_error`
  /// follows on a loop thread. Errors returned here: a bad URI, `wss://`
  /// (TLS comes in a later release), bad options. Thread-safe.
  Result<ConnectionHandle> connect(std::string_view uri);
  /// Closes every connection (1001) and waits for their close frames (at
  /// most `close_timeout`), then ends the threads. Thread-safe; from a
  /// callback it returns at once and the destructor waits.
  void stop();

  /// The options the client was made with.
  const ClientOptions& options() const noexcept;

 private:
  std::shared_ptr<detail::ClientState> state_;
};

}  // namespace parley
