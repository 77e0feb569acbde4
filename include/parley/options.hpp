// parley/options.hpp — the settings a Server and a Client share: limits,
// timeouts, backpressure, compression, and the error policy of every
// connection they make. `ServerOptions` and `ClientOptions` derive from
// `ConnectionOptions` and add their own.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "parley/export.hpp"
#include "parley/protocol/deflate.hpp"
#include "parley/protocol/http.hpp"

namespace parley {

/// Milliseconds: the unit of every timeout and period.
using Millis = std::chrono::milliseconds;

/// How much a Server or Client tells its `on_log` hook, most severe first;
/// each level includes those above it.
enum class LogLevel : std::uint8_t {
  /// Something failed that the application must hear of: a listener, a
  /// callback that threw, a function posted to a loop.
  error,
  /// A peer or the network misbehaved: refused or failed handshakes,
  /// protocol errors, limits hit, TLS failures, failed connects.
  warning,
  /// Connections dropped or closed with other codes than 1000/1001/1005,
  /// timeouts, reconnects, start and stop.
  info,
  /// Every connection opened (path, subprotocol, extensions) and closed.
  debug,
};

/// "error", "warning", "info" or "debug".
PARLEY_EXPORT std::string_view to_string(LogLevel level) noexcept;

/// What a connection does when a send finds its buffer over
/// `max_buffered_amount` (and what a broadcast does to a recipient it
/// would take past it).
enum class BackpressurePolicy : std::uint8_t {
  /// Refuse the send (`SendStatus::dropped`, `UsageError::buffer_full`); the
  /// connection stays open. The sender waits for `on_drain`.
  drop,
  /// Close the connection with 1008 (policy violation): a consumer that
  /// cannot keep up is cut off (suits broadcast fan-out).
  close,
};

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

/// The settings of every connection of a Server or a Client, plain values
/// with documented defaults, checked once by `start()` (a bad value is an
/// Error, not a crash later). See docs/security.md for what a peer gets
/// past each limit.
struct ConnectionOptions {
  /// Event-loop threads. Each runs its own loop (a server's with its own
  /// SO_REUSEPORT listener); a connection lives on one loop for its whole
  /// life. 1-1024. Default 1.
  unsigned threads = 1;
  /// TCP_NODELAY on every connection. Default true.
  bool nodelay = true;

  /// Largest message in bytes after reassembly, and after inflation with
  /// permessage-deflate (1009 past it, as soon as a frame header shows
  /// it). 0 = no limit. Default 64 MiB.
  std::uint64_t max_message_size = 64ull << 20;
  /// Largest frame payload in bytes (1009 past it). 0 = only
  /// `max_message_size`. Default 0.
  std::uint64_t max_frame_size = 0;
  /// Most frames per message (1009 past it). 0 = no limit. Default 0.
  std::uint32_t max_fragments = 0;
  /// Limits on the handshake's HTTP head (the request a server reads, the
  /// response a client reads): size, line, header count. Defaults:
  /// 20480 bytes, 8192-byte lines, 100 headers.
  protocol::HttpLimits http_limits;

  /// The opening handshake must complete within this (a server: the
  /// client's whole upgrade request, against slowloris; a client: the
  /// server's 101 after the TCP connect). Default 10000 ms.
  Millis handshake_timeout{10000};
  /// Keep-alive: a connection silent for this
  /// long is pinged; 0 = no pings. Default 20000 ms on a Server (as Python
  /// websockets), 0 on a Client.
  Millis ping_interval{0};
  /// A pinged connection that sends nothing back within this time is
  /// dropped (on_close with 1006). Default 20000 ms.
  Millis pong_timeout{20000};
  /// How long to wait for the peer's close frame after sending ours, and
  /// for the peer to take any of our last output before it is dropped.
  /// Default 3000 ms.
  Millis close_timeout{3000};
  /// A message whose sender adds nothing to it for this long (its next
  /// fragment, or the rest of a frame) fails with 1008, pings or not: an
  /// unfinished message holds memory. 0 = never. Default 30000 ms.
  Millis message_timeout{30000};

  /// Backpressure limit in bytes of a connection's unsent output (pongs,
  /// close frames and broadcasts included); past it `backpressure_policy`
  /// applies, and broadcasts skip the connection. Default 16 MiB.
  std::size_t max_buffered_amount = 16u << 20;
  /// What a send does once the limit is passed. Default drop (refuse).
  BackpressurePolicy backpressure_policy = BackpressurePolicy::drop;
  /// Memory budget in bytes for everything held on peers' behalf over all
  /// connections and threads: unsent output and messages being received
  /// or inflated. Past it, the connections holding the most are closed
  /// first (1009 for a message being received, 1008 with the TCP
  /// connection dropped for unsent output), sends and broadcasts are
  /// refused until it holds again, and `on_error` gets
  /// `ProtocolError::memory_budget`. It can be passed by at most one
  /// read's inflation (`max_message_size`). Split evenly between threads
  /// until one needs more. 0 = no budget. Default 256 MiB.
  std::size_t max_total_buffered = 256u << 20;

  /// permessage-deflate (RFC 7692): off unless `deflate.enabled`; its
  /// window, context-takeover, level, memLevel and `compression_threshold`
  /// (bytes) settings are documented in `protocol::DeflateOptions`.
  protocol::DeflateOptions deflate;

  /// Throw `parley::Exception` instead of returning Errors, on the
  /// caller's own thread only: from a Server's start(),
  /// run() and reload_tls(), a Client's start() and connect(), and
  /// BlockingClient's calls. Never on a loop thread: a `Connection`'s calls
  /// inside callbacks return their Errors whatever this says. (An
  /// exception escaping one of your callbacks is caught there: see
  /// docs/security.md.) Default false.
  bool fatal = false;

  /// The least severe messages `on_log` receives; those below are not even
  /// formatted. Default LogLevel::info.
  LogLevel log_level = LogLevel::info;
};

}  // namespace parley
