// parley/net/handle.hpp — what the public API needs of the event-loop
// runtime, and nothing more: the clock, a thread-safe handle to a loop, and
// the interface through which a socket reports its events. The runtime
// itself (the loop, sockets, timers, their buffers) is internal (src/net/).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "parley/error.hpp"
#include "parley/export.hpp"

/// The public face of parley's event-loop runtime: addresses (Endpoint),
/// TLS settings (TlsServerOptions, TlsClientOptions, TlsContext) and a
/// thread-safe handle to a loop (LoopHandle). The runtime itself is
/// internal.
namespace parley::net {

class Loop;
class TcpSocket;

/// The clock of every timer and timeout.
using Clock = std::chrono::steady_clock;
/// Timer delays and periods are whole milliseconds.
using Millis = std::chrono::milliseconds;

namespace detail {
struct LoopLink;
}  // namespace detail

/// A thread-safe, copyable reference to an event loop that may outlive it:
/// `post()` hands a callback to the loop if it still exists. Used to answer
/// from worker threads (name resolution, deferred handshakes, cross-thread
/// sends).
class PARLEY_EXPORT LoopHandle {
 public:
  /// Refers to no loop; post() returns false.
  LoopHandle() = default;
  /// Queues `fn` to run on the loop's thread. Returns false (and drops `fn`)
  /// when the loop has been destroyed. Thread-safe.
  bool post(std::function<void()> fn) const;
  /// True while the loop exists. Thread-safe (the answer may be stale).
  bool alive() const;

 private:
  friend class Loop;
  explicit LoopHandle(std::shared_ptr<detail::LoopLink> link) : link_(std::move(link)) {}
  std::shared_ptr<detail::LoopLink> link_;
};

/// Receives a socket's events, on the loop thread. Each callback may call
/// any method of the socket, including close(), and may destroy it.
class PARLEY_EXPORT SocketHandler {
 public:
  /// Bytes read from the peer. `data` points into the loop's shared
  /// receive buffer: it may be modified in place (e.g. unmasked) and is
  /// valid only until the callback returns; copy what must be kept.
  virtual void on_data(TcpSocket& socket, std::span<std::uint8_t> data) = 0;
  /// The peer closed its side (read returned 0). Reading stops; writing
  /// is still possible. Default: close the socket.
  virtual void on_eof(TcpSocket& socket);
  /// A read or write failed (e.g. ECONNRESET, EPIPE). The socket is
  /// already closed when this is called. Default: nothing.
  virtual void on_error(TcpSocket& socket, const Error& error);
  /// All queued output has been written after the kernel had refused some
  /// of it (the end of a backpressure episode). Not called when every
  /// flush succeeds at once. Default: nothing.
  virtual void on_drain(TcpSocket& socket);

 protected:
  ~SocketHandler() = default;
};

}  // namespace parley::net
