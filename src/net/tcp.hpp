// net/tcp.hpp (internal) — non-blocking TCP: TcpSocket, TcpListener, connect().
//
// Ownership model
// ---------------
// * A TcpSocket is owned by its user through `std::unique_ptr<TcpSocket>`
//   (the listener's accept callback and connect()'s callback hand it over).
//   The Loop never owns sockets; it only knows them through a
//   generation-checked slot table, so destroying a socket at any moment on
//   the loop thread is safe — including inside one of its own callbacks
//   (the socket notices and touches nothing of itself afterwards) and
//   inside another socket's callback during the same iteration (the stale
//   event is ignored). A socket must be destroyed before its Loop.
// * Events go to a `TcpSocket::Handler` (an interface, one pointer per
//   socket: no std::function per socket) that the owner sets with
//   set_handler(); no data is read before a handler is set.
// * After on_error() the socket is already closed; after on_eof() the
//   socket stays open for writing (half-close) until close() or destruction.
//
// Threading: every method must be called on the loop's thread. To act on a
// socket from another thread, Loop::post() a callback.
//
// Writes are corked: write() copies into the socket's output queue and the
// loop sends the queue once at the end of the iteration (one send(2) per
// socket per iteration, MSG_NOSIGNAL, so no SIGPIPE). What the kernel does
// not take stays queued, in order, and goes out when the socket becomes
// writable; buffered_amount() says how much is queued and on_drain() says
// when a backlog has been written. (A write of 16 KiB or more made while
// nothing is queued is sent at once instead: no copy, same order.) The
// queue is a contiguous buffer taken from a per-loop pool of 16 KiB blocks
// and given back when it empties: an idle socket holds no heap memory and
// steady traffic allocates nothing. Reads use the loop's one receive buffer.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "parley/error.hpp"
#include "parley/export.hpp"
#include "parley/net/endpoint.hpp"
#include "net/loop.hpp"
#include "parley/net/tls.hpp"

namespace parley::net {

namespace detail {
/// A byte queue [head, tail) in one contiguous buffer: a block of the
/// loop's pool while it fits (Loop::kBlockSize), a heap buffer past that.
/// Holds no memory after release(). Internal to TcpSocket.
struct ByteQueue {
  std::uint8_t* buf = nullptr;
  std::uint32_t cap = 0;
  std::uint32_t head = 0;
  std::uint32_t tail = 0;
  std::size_t size() const noexcept { return tail - head; }
  bool empty() const noexcept { return tail == head; }
  std::uint8_t* data() const noexcept { return buf + head; }
  /// Makes room for `n` more bytes after `tail` (compacting or growing);
  /// false if the queue would exceed 4 GiB - 1 bytes.
  bool reserve(Loop& loop, std::size_t n);
  /// Appends after reserve().
  void append(std::span<const std::uint8_t> bytes) noexcept;
  /// Gives the buffer back (to the loop's pool when it is a block).
  void release(Loop& loop) noexcept;
};
}  // namespace detail

/// A connected, non-blocking TCP socket (IPv4 or IPv6) bound to one Loop.
/// Not copyable or movable (the loop refers to it by address).
class PARLEY_EXPORT TcpSocket final : private detail::IoHandler {
 public:
  /// Receives the socket's events (parley/net/handle.hpp).
  using Handler = SocketHandler;

  /// Takes ownership of a connected stream socket `fd` (made non-blocking
  /// and close-on-exec here; TCP_NODELAY set when `nodelay` and the socket
  /// is TCP). The fd is closed on failure.
  static Result<std::unique_ptr<TcpSocket>> adopt(Loop& loop, int fd, bool nodelay = true);

  /// Closes the socket (see close()).
  ~TcpSocket();
  /// Sockets live in their loop's slab (Loop::sockets_): no malloc header,
  /// and no holes between them left by short-lived allocations. Made with
  /// `new (loop) TcpSocket(loop, fd)`; `delete` gives the slot back.
  static void* operator new(std::size_t size, Loop& loop);
  static void operator delete(TcpSocket* socket, std::destroying_delete_t) noexcept;
  TcpSocket(const TcpSocket&) = delete;
  TcpSocket& operator=(const TcpSocket&) = delete;

  /// Sets the handler and starts reading (unless reading is paused).
  /// `nullptr` stops delivering events. The handler must outlive its use.
  void set_handler(Handler* handler);
  /// The current handler (nullptr if none).
  Handler* handler() const noexcept { return handler_; }

  /// Queues `data` for sending at the end of the iteration (corked).
  /// Exception: a write of at least kDirectWriteSize bytes made while
  /// nothing is queued is sent at once from `data` (no copy; batching buys
  /// nothing at that size) and only what the kernel does not take is
  /// queued. Order is kept either way. Returns false (and queues nothing)
  /// if the socket is closed, shutdown_write() was called, or the queue
  /// would exceed 4 GiB - 1 bytes. A send error is reported through
  /// on_error() from the loop, never from inside write().
  bool write(std::span<const std::uint8_t> data);
  /// As write(span), for text.
  bool write(std::string_view data);
  /// Writes `head` then `body` as one unit (e.g. a frame header and its
  /// payload): corked like write(); when nothing is queued and the total is
  /// at least kDirectWriteSize, both go out at once with one writev(2)
  /// and no copy of `body`.
  bool write(std::span<const std::uint8_t> head, std::span<const std::uint8_t> body);
  /// Size in bytes from which a write made with an empty queue is sent
  /// directly instead of being copied and corked (16 KiB).
  static constexpr std::size_t kDirectWriteSize = 16 * 1024;
  /// Zero-copy variant of write(): returns room for at least `n` bytes at
  /// the end of the output queue (an empty span under the same conditions
  /// in which write() returns false). Fill some of it and call commit().
  /// Inline while the queue has the room: a frame is formatted straight
  /// into it, and many small ones in an iteration cost no call each.
  std::span<std::uint8_t> prepare(std::size_t n) {
    if (fd_ < 0 || (flags_ & kShutdownWanted)) return {};
    detail::ByteQueue& q = queue();
    if ((q.buf == nullptr || q.cap - q.tail < n) && !q.reserve(*loop_, n)) return {};
    return {q.buf + q.tail, q.cap - q.tail};
  }
  /// Queues the first `n` bytes written into the last prepare() span
  /// (0 is allowed: nothing is queued and the room is given back).
  void commit(std::size_t n) {
    if (tls_) return tls_commit(n);
    if (!out_.buf) return;
    if (n > out_.cap - out_.tail) n = out_.cap - out_.tail;
    out_.tail += static_cast<std::uint32_t>(n);
    // (Even for 0 bytes: the flush gives an unused block back.)
    if (!(flags_ & (kInFlushList | kBackpressure))) schedule_flush();
  }
  /// Bytes queued and not yet taken by the kernel (with TLS: plaintext
  /// not yet encrypted plus encrypted bytes not yet sent).
  std::size_t buffered_amount() const noexcept { return out_.size() + (tls_ ? tls_buffered() : 0); }

  /// Makes this a TLS connection (`wss://`): from now on on_data() gets
  /// the decrypted bytes and write() takes plaintext, which is encrypted
  /// at the end of the loop iteration (corked: what one iteration writes
  /// goes out in as few TLS records as fit, 16 KiB each at most). Call it
  /// before anything is read or written (right after accept or connect);
  /// the TLS handshake runs on the loop, never blocking it, and what is
  /// written before it completes is sent once it has. The role (server or
  /// client) is the context's. `peer_name` (client): the host name sent
  /// with SNI and checked against the server's certificate (an IP literal,
  /// with or without brackets, is checked against its IP addresses and
  /// sent no SNI); ignored by servers. A failed handshake closes the socket
  /// and calls on_error() with a TlsError (see parley/error.hpp) whose
  /// message says why ("certificate has expired", "does not match
  /// localhost", "the peer does not speak TLS", ...). A server that gets
  /// plain HTTP instead of TLS answers "400 Bad Request" before closing.
  /// Errors returned here: the socket is closed or TLS already started
  /// (UsageError-like EINVAL), or OpenSSL cannot make a session (ENOMEM).
  Error start_tls(const TlsContext& context, std::string_view peer_name = {});
  /// True once start_tls() was called.
  bool is_tls() const noexcept { return tls_ != nullptr; }
  /// True once the TLS handshake has completed.
  bool tls_established() const noexcept;
  /// What the TLS session agreed on and the peer's certificate; nullopt
  /// without TLS or before the handshake completed.
  std::optional<TlsInfo> tls_info() const;

  /// Sends FIN once the queue has been flushed (shutdown(SHUT_WR)); further
  /// writes are refused. Reading continues. Idempotent.
  void shutdown_write();
  /// Closes the file descriptor now; queued output is discarded and no
  /// callback fires afterwards. Idempotent. The object stays valid (and
  /// reports is_open() == false) until its owner destroys it.
  void close() noexcept;
  /// True until close(), an error, or destruction.
  bool is_open() const noexcept { return fd_ >= 0; }
  /// True after the peer's EOF was seen.
  bool eof_seen() const noexcept { return (flags_ & kEof) != 0; }

  /// Stops reading from the socket (backpressure towards the peer: the
  /// kernel's buffers fill and the peer's sends stall). Idempotent.
  void pause_reading();
  /// Resumes reading after pause_reading(). Idempotent.
  void resume_reading();
  /// True while reading is paused.
  bool reading_paused() const noexcept { return (flags_ & kPaused) != 0; }

  /// Enables or disables TCP_NODELAY (on by default: small writes are not
  /// delayed by Nagle's algorithm; corking already batches them).
  Error set_nodelay(bool on) noexcept;

  /// The peer's address (getpeername); an Error once closed.
  Result<Endpoint> remote_endpoint() const;
  /// The local address (getsockname); an Error once closed.
  Result<Endpoint> local_endpoint() const;
  /// The file descriptor (-1 once closed). Do not close it yourself.
  int fd() const noexcept { return fd_; }
  /// The loop this socket belongs to.
  Loop& loop() const noexcept { return *loop_; }

 private:
  friend class TcpListener;
  friend struct detail::ConnectOp;
  friend struct detail::SocketGuard;
  using Guard = detail::SocketGuard;
  struct Tls;
  friend struct TlsBio;
  enum : std::uint16_t {
    kPaused = 1,         // reading paused by the user
    kEof = 2,            // read returned 0
    kShutdownWanted = 4, // shutdown_write() requested
    kShutdownDone = 8,   // shutdown(SHUT_WR) made
    kInFlushList = 16,   // queued in the loop's flush list
    kBackpressure = 32,  // a flush left data queued (on_drain is owed)
    kInEpoll = 64,       // registered with epoll
  };
  TcpSocket(Loop& loop, int fd) noexcept;
  void on_io(std::uint32_t events) override;
  void handle_readable();
  void flush();                         // called by the loop (corking) and on EPOLLOUT
  void fail(int err, const char* what);  // closes and calls on_error
  void update_interest();
  void schedule_flush();
  // Where writes go: out_, or with TLS the plaintext queue.
  detail::ByteQueue& queue() noexcept { return tls_ ? tls_plaintext() : out_; }
  ssize_t receive(std::uint8_t* into, std::size_t size) noexcept;  // recv(2), EINTR retried, counted
  void peer_eof();                      // the peer sends no more: kEof, then on_eof
  std::size_t send_direct(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b, int flags = 0);
  void release_buffer() noexcept;
  // TLS (src/net/tls_socket.cpp)
  std::size_t tls_buffered() const noexcept;
  detail::ByteQueue& tls_plaintext() noexcept;
  void tls_readable();
  bool tls_write(std::span<const std::uint8_t> head, std::span<const std::uint8_t> body);  // write() with TLS
  bool tls_seal(std::span<const std::uint8_t> plain);  // one SSL_write; false (reported at the flush) if it failed
  bool tls_sealing() const noexcept;    // records may be sealed before the flush
  void tls_commit(std::size_t n);       // commit() with TLS: full records sealed at once, as write() does
  bool tls_encrypt();                   // before a flush: plaintext -> records; false if the socket failed
  bool tls_has_work() const noexcept;   // plaintext that can be encrypted now
  void tls_fail(const Error& error);    // sends what is queued (an alert) if it can, closes, on_error
  void tls_free() noexcept;
  friend class Loop;

  Loop* loop_;
  Handler* handler_ = nullptr;
  std::uint64_t token_ = 0;           // slot in the loop's table
  // (no_unique_address: fd_ goes into the queue's tail padding.)
  [[no_unique_address]] detail::ByteQueue out_;  // output queue (the bytes on the wire: TLS records with TLS)
  int fd_;
  Tls* tls_ = nullptr;                // TLS state, owned; null for plain TCP
  std::uint32_t events_ = 0;          // the epoll interest set last registered
  std::uint16_t flags_ = 0;
};

/// Settings of a listening socket.
struct ListenOptions {
  /// IP literal to bind: "" or "::" = every interface, IPv6 and IPv4
  /// (dual-stack, IPV6_V6ONLY off; falls back to IPv4 when the host has no
  /// IPv6); "0.0.0.0" = every IPv4 interface; or a specific address such as
  /// "127.0.0.1" / "::1". Host names are not resolved. Default "".
  std::string host;
  /// Port; 0 = an ephemeral port chosen by the kernel (read it back with
  /// TcpListener::local_port()). Default 0.
  std::uint16_t port = 0;
  /// Sets SO_REUSEPORT so that several listeners (one per loop/thread) can
  /// bind the same address and port; the kernel spreads connections among
  /// them. Default false. (SO_REUSEADDR is always set.)
  bool reuse_port = false;
  /// The listen(2) backlog (capped by net.core.somaxconn). Default 1024.
  int backlog = 1024;
  /// TCP_NODELAY on accepted sockets. Default true.
  bool nodelay = true;
  /// When accept fails for lack of file descriptors or memory (EMFILE,
  /// ENFILE, ENOBUFS, ENOMEM), the listener stops accepting for this long
  /// and then retries, instead of spinning on a readiness it cannot clear.
  /// Pending connections wait in the backlog meanwhile. Default 100 ms.
  Millis accept_pause{100};
  /// At most this many connections are accepted per readiness event (the
  /// rest on the next iteration), so that a connection storm does not
  /// starve established sockets. Default 64.
  int max_accepts_per_event = 64;
};

/// A listening TCP socket bound to one Loop, owned by its creator through
/// the unique_ptr that listen() returns; destroy it (on the loop thread)
/// before the Loop. Loop thread only. Not copyable or movable.
class PARLEY_EXPORT TcpListener final : private detail::IoHandler {
 public:
  /// Receives each accepted connection (non-blocking, close-on-exec,
  /// TCP_NODELAY per options). The callee owns it and must set a handler to
  /// receive its data; dropping the pointer closes the connection.
  using AcceptCallback = std::function<void(std::unique_ptr<TcpSocket> socket)>;
  /// Told about accept failures (the listener keeps going; for EMFILE and
  /// the like it pauses first, see ListenOptions::accept_pause).
  using ErrorCallback = std::function<void(const Error& error)>;

  /// Creates, binds and listens; accepting starts at once on `loop`.
  /// Errors: an invalid host literal (EINVAL), socket/bind/listen failures
  /// (e.g. EADDRINUSE), with a message naming the address.
  static Result<std::unique_ptr<TcpListener>> listen(Loop& loop, const ListenOptions& options,
                                                     AcceptCallback on_accept);
  /// Closes the listening socket.
  ~TcpListener();
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  /// Sets the accept-error callback (default: none).
  void set_error_callback(ErrorCallback fn) { on_error_ = std::move(fn); }
  /// The bound port (the kernel's choice when ListenOptions::port was 0).
  std::uint16_t local_port() const noexcept { return local_.port; }
  /// The bound address and port.
  const Endpoint& local_endpoint() const noexcept { return local_; }
  /// Stops listening and closes the socket; idempotent. Safe inside the
  /// accept callback.
  void close() noexcept;
  /// True until close().
  bool is_open() const noexcept { return fd_ >= 0; }
  /// True while accepting is paused after EMFILE/ENFILE/ENOBUFS/ENOMEM.
  bool accept_paused() const noexcept { return static_cast<bool>(pause_timer_); }

 private:
  TcpListener(Loop& loop, int fd, const ListenOptions& options, AcceptCallback on_accept) noexcept;
  void on_io(std::uint32_t events) override;
  void resume_accepting();

  Loop* loop_;
  int fd_;
  std::uint64_t token_ = 0;
  bool nodelay_;
  int max_accepts_;
  Millis accept_pause_;
  TimerId pause_timer_;
  Endpoint local_;
  AcceptCallback on_accept_;
  ErrorCallback on_error_;
  bool* destroyed_ = nullptr;  // set while the accept callback runs
};

/// Called once, on the loop thread, with the connected socket (owned by the
/// callee, who sets a handler on it to start reading) or the reason it
/// could not be connected.
using ConnectCallback = std::function<void(Result<std::unique_ptr<TcpSocket>> result)>;

/// The category of name-resolution failures ("parley.resolver"): the value
/// is getaddrinfo's EAI_* code and the message is gai_strerror's.
PARLEY_EXPORT const std::error_category& resolver_category() noexcept;

/// A pending connect(). Destroying the handle or calling cancel() abandons
/// the attempt: the callback will not be called and its socket is closed.
/// Loop thread only. Movable, not copyable.
class PARLEY_EXPORT ConnectHandle {
 public:
  /// Refers to no attempt.
  ConnectHandle() = default;
  ConnectHandle(ConnectHandle&&) noexcept = default;
  ConnectHandle& operator=(ConnectHandle&& other) noexcept;
  /// Cancels the attempt if it is still pending.
  ~ConnectHandle();
  /// Cancels the attempt if it is still pending (idempotent).
  void cancel() noexcept;
  /// True until the callback has been called or the attempt cancelled.
  bool pending() const noexcept;

 private:
  friend ConnectHandle connect(Loop&, const std::string&, std::uint16_t, Millis, ConnectCallback, bool);
  friend ConnectHandle connect(Loop&, std::vector<Endpoint>, Millis, ConnectCallback, bool);
  explicit ConnectHandle(std::shared_ptr<detail::ConnectOp> op) : op_(std::move(op)) {}
  std::shared_ptr<detail::ConnectOp> op_;
};

/// Connects to `host` (a name or an IP literal) and `port`.
///
/// A name is resolved with getaddrinfo on a short-lived worker thread (one
/// per lookup, detached; the result is posted back to the loop, and dropped
/// if the loop or the attempt has gone away), so the loop never blocks; an
/// IP literal skips the thread. Each resolved address (in getaddrinfo's
/// order, IPv6 and IPv4) is tried in turn with a non-blocking connect. The
/// whole attempt — resolution included — is bounded by `timeout` (> 0;
/// e.g. 10 s); 0 or negative means no timeout.
///
/// `callback` runs on the loop thread (never inside connect() itself) with
/// the socket (TCP_NODELAY per `nodelay`), or an Error:
/// * a system-category code (ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, ...)
///   with a message like "connect to 127.0.0.1:1 failed: Connection refused"
///   (the error of the last address tried),
/// * a resolver_category() code (getaddrinfo's EAI_* value) for a DNS
///   failure, with a message like "cannot resolve nonexistent.invalid:
///   Name or service not known" (gai_strerror),
/// * std::errc::timed_out: "connect to host:port timed out after N ms".
[[nodiscard]] PARLEY_EXPORT ConnectHandle connect(Loop& loop, const std::string& host, std::uint16_t port, Millis timeout,
                                    ConnectCallback callback, bool nodelay = true);

/// Connects to the first of `endpoints` that accepts, trying them in order
/// (no name resolution), with the same timeout, callback and errors as
/// connect() above; an empty list fails with EINVAL. For callers that
/// resolve names themselves or know several addresses of a peer.
[[nodiscard]] PARLEY_EXPORT ConnectHandle connect(Loop& loop, std::vector<Endpoint> endpoints, Millis timeout,
                                                  ConnectCallback callback, bool nodelay = true);

}  // namespace parley::net
