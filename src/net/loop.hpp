// net/loop.hpp (internal) — the event loop: one epoll instance per thread.
//
// A Loop multiplexes sockets, user file descriptors, timers and callbacks
// posted from other threads. It is single-threaded: every method except
// `post()`, `stop()`, `in_loop_thread()` and `handle()` must be called on the
// loop's thread (the thread that calls `run()`/`run_once()`; before the first
// run, the thread that constructed the Loop).
//
// One iteration (`run_once`) does, in order:
//   1. wait in epoll_wait (bounded by the nearest timer and the caller's timeout),
//   2. refresh the cached clock (`now()`),
//   3. dispatch the ready events (socket reads, accepts, watched fds, posted callbacks),
//   4. fire the timers that are due,
//   5. run the callbacks given to `defer()` during 3-5,
//   6. flush every socket that queued output during 3-5 ("corking": one `send`
//      per socket per iteration, whatever the number of `write` calls),
//   7. release the objects whose destruction was deferred during the iteration.
// Work queued between iterations (a write, a defer) makes the next wait
// return at once, so it is never delayed by the wait.
//
// Timers are a binary min-heap over `std::chrono::steady_clock`, with
// millisecond resolution; the wait uses the epoll_wait timeout (no timerfd,
// so arming or cancelling a timer costs no system call). A periodic "tick"
// is simply `add_periodic(period, callback)`.
//
// Nothing here throws (except std::bad_alloc); failures are parley::Error
// values of the system category carrying errno and a message.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "parley/error.hpp"
#include "parley/export.hpp"
#include "parley/net/handle.hpp"
#include "net/slab.hpp"

struct epoll_event;

namespace parley::net {

class Loop;
class TcpSocket;
class TcpListener;

/// Identifies a timer for `Loop::cancel_timer()`. A default-constructed
/// TimerId refers to no timer. Ids are not reused while the timer lives;
/// cancelling an expired or already cancelled timer is a harmless no-op.
struct TimerId {
  std::uint64_t value = 0;  ///< 0 = no timer; otherwise (generation << 32) | (slot + 1)
  /// True when this id was returned by add_timer/add_periodic.
  explicit operator bool() const noexcept { return value != 0; }
  friend bool operator==(TimerId, TimerId) = default;
};

/// Settings of a Loop, validated when the Loop is constructed.
struct LoopOptions {
  /// Size in bytes of the one receive buffer shared by every socket of the
  /// loop: a read delivers at most this many bytes. Clamped to
  /// [4 KiB, 16 MiB]. Default 256 KiB.
  std::size_t receive_buffer_size = 256 * 1024;
  /// Maximum number of events taken from one epoll_wait. Default 256.
  int max_events = 256;
};

/// Counters for tests and benchmarks (loop thread only; never reset).
struct LoopStats {
  std::uint64_t iterations = 0;   ///< completed run_once iterations
  std::uint64_t send_calls = 0;   ///< send(2) system calls made by sockets of this loop
  std::uint64_t recv_calls = 0;   ///< recv(2) system calls made by sockets of this loop
  std::uint64_t bytes_sent = 0;   ///< bytes accepted by the kernel from send(2)
  std::uint64_t bytes_received = 0;  ///< bytes read by recv(2)
};

namespace detail {

struct ConnectOp;
struct ByteQueue;
struct SocketGuard;

/// Something registered with epoll (sockets, listeners, watched fds, the
/// wake-up eventfd, a pending connect). Internal.
class IoHandler {
 public:
  /// Called on the loop thread with the epoll event mask.
  virtual void on_io(std::uint32_t events) = 0;

 protected:
  ~IoHandler() = default;
};

/// Shared between a Loop and the LoopHandles that refer to it; the Loop
/// clears `loop` in its destructor. Internal.
struct LoopLink {
  std::mutex mutex;
  Loop* loop = nullptr;
};

}  // namespace detail

/// One epoll event loop. Not copyable or movable (sockets keep a pointer to
/// it). Destroy it on its own thread, after the sockets, listeners and
/// pending connects that use it; callbacks still queued by post() are then
/// destroyed without running.
class PARLEY_EXPORT Loop {
 public:
  /// Creates the epoll instance, the wake-up eventfd and the receive buffer.
  /// If a system call fails, `init_error()` says why and run()/run_once()
  /// return that error.
  explicit Loop(const LoopOptions& options = {});
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  /// The error from construction, if any (empty when the loop is usable).
  const Error& init_error() const noexcept { return init_error_; }

  /// Runs iterations until `stop()` is called; returns an empty Error then,
  /// or the error of a failing epoll_wait. The stop request is consumed, so
  /// run() may be called again. A stop() made before run() makes run()
  /// return after one iteration.
  Error run();
  /// Runs one iteration, waiting at most `timeout` for events (0 = poll,
  /// negative = wait until an event or a timer). Returns the error of a
  /// failing epoll_wait, else an empty Error. For tests and for embedding
  /// the loop in another one. Neither run() nor run_once() may be called
  /// from inside a callback of the same loop (not reentrant).
  Error run_once(Millis timeout);
  /// Asks run() to return after the current iteration. Thread-safe.
  void stop();
  /// True on the loop's thread. Thread-safe.
  bool in_loop_thread() const noexcept { return owner_.load(std::memory_order_relaxed) == std::this_thread::get_id(); }

  /// Queues `fn` to run on the loop's thread during the next iteration.
  /// Callbacks run in the order they were posted (from any one thread, in
  /// that thread's order). Thread-safe; wakes the loop through an eventfd
  /// (one write per batch, not per callback).
  void post(std::function<void()> fn);
  /// A handle that can post to this loop from any thread, even after the
  /// loop is destroyed (then post() returns false). Thread-safe.
  LoopHandle handle() const { return LoopHandle(link_); }

  /// Calls `fn` at the end of the current iteration, after the events and
  /// timers and before the corked output is flushed (so what it writes goes
  /// out in the same iteration); in the next iteration, without waiting,
  /// when called between iterations. Callbacks run in the order deferred;
  /// one deferred from a deferred callback runs in the same pass. Use it to
  /// finish work after a callback has returned, e.g. to destroy an object
  /// whose own callback is running. Loop thread only.
  void defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }

  /// The time cached at the start of the current iteration (after the wait).
  Clock::time_point now() const noexcept { return now_; }

  /// Calls `fn` once, `delay` milliseconds from now (0 = during the next
  /// iteration; negative counts as 0). Loop thread only.
  TimerId add_timer(Millis delay, std::function<void()> fn);
  /// Calls `fn` every `period` milliseconds (at least 1) until cancelled;
  /// the first call is one period from now. A late loop skips missed calls
  /// rather than bursting. Loop thread only.
  TimerId add_periodic(Millis period, std::function<void()> fn);
  /// Cancels a timer; returns false if it already fired (one-shot), was
  /// cancelled, or never existed. Safe inside the timer's own callback
  /// (a periodic timer then stops). Loop thread only.
  bool cancel_timer(TimerId id);
  /// Number of armed timers.
  std::size_t timer_count() const noexcept { return heap_.size(); }

  /// Calls `fn(fd)` on the loop thread whenever `fd` is readable (level
  /// triggered: again each iteration while data remains; also on hang-up and
  /// error). The fd stays owned by the caller, who must unwatch it before
  /// closing it. Watching an fd that is already watched for reading replaces
  /// the callback. Returns the epoll_ctl error if the fd cannot be watched.
  /// Loop thread only.
  Error watch_readable(int fd, std::function<void(int fd)> fn);
  /// As watch_readable, for writability.
  Error watch_writable(int fd, std::function<void(int fd)> fn);
  /// Stops watching `fd` for reading; a no-op if it is not watched. Safe
  /// from inside the fd's own callback. Loop thread only.
  void unwatch_readable(int fd);
  /// Stops watching `fd` for writing; a no-op if it is not watched.
  void unwatch_writable(int fd);

  /// Where an exception escaping a callback run by the loop goes (posted
  /// and deferred callbacks, timers, watched fds, socket and listener
  /// events): `fn` is called with it on the loop thread, and the loop goes
  /// on with the next callback. Without a handler (the default) the
  /// exception propagates out of run()/run_once(). Loop thread only.
  void set_exception_handler(std::function<void(std::exception_ptr)> fn) { on_exception_ = std::move(fn); }

  /// Counters (loop thread only).
  const LoopStats& stats() const noexcept { return stats_; }
  /// Bytes of memory held by the output queues of this loop's sockets
  /// (their buffers' capacity, TLS queues included; free pooled blocks
  /// excluded). Loop thread only.
  std::size_t output_buffer_bytes() const noexcept { return output_held_; }
  /// Output-buffer blocks kept for reuse now (see kBlockSize). Loop thread only.
  std::size_t free_block_count() const noexcept { return free_blocks_.size(); }
  /// The receive buffer size in bytes (after clamping).
  std::size_t receive_buffer_size() const noexcept { return rbuf_size_; }

 private:
  friend class TcpSocket;
  friend class TcpListener;
  friend struct detail::ConnectOp;
  friend struct detail::ByteQueue;
  friend struct detail::SocketGuard;
  struct Watcher;
  struct WakeHandler : detail::IoHandler {
    Loop* loop = nullptr;
    void on_io(std::uint32_t events) override;
  };
  struct TimerSlot {
    Clock::time_point due{};
    std::uint64_t seq = 0;
    std::function<void()> fn;
    Millis period{0};          // 0 = one-shot
    std::uint32_t generation = 1;
    std::uint32_t heap_pos = 0;
    bool armed = false;        // in the heap
    bool firing = false;       // its callback is running
    bool cancelled = false;    // cancelled while firing
  };
  struct IoSlot {
    detail::IoHandler* handler = nullptr;
    std::uint32_t generation = 1;
  };

  // --- I/O registration (for sockets, listeners, watchers) ---
  // Allocates a slot; its token goes into epoll_event.data.u64 so that an
  // event for a handler that went away during the same iteration is ignored.
  std::uint64_t add_slot(detail::IoHandler* h);
  void free_slot(std::uint64_t token) noexcept;
  detail::IoHandler* slot_handler(std::uint64_t token) const noexcept;
  Error epoll_add(int fd, std::uint32_t events, std::uint64_t token) noexcept;
  Error epoll_mod(int fd, std::uint32_t events, std::uint64_t token) noexcept;
  void epoll_del(int fd) noexcept;
  // Corking: sockets with output to flush at the end of this iteration.
  void schedule_flush(std::uint64_t token) { flush_list_.push_back(token); }
  std::uint8_t* rbuf() noexcept { return rbuf_.get(); }
  // Output buffers of at least `cap` bytes (`cap` is set to the size
  // given): pooled blocks when cap is kBlockSize (no malloc per write),
  // the spare large buffer when it is big enough; counted in output_held_.
  std::uint8_t* take_buffer(std::uint32_t& cap);
  void give_buffer(std::uint8_t* buffer, std::uint32_t cap) noexcept;
  // In a catch block: hands the exception to on_exception_, or rethrows.
  void caught();
  void trim_blocks() noexcept;
  void defer_delete(std::unique_ptr<Watcher> w);

  TimerId add_timer_impl(Millis delay, Millis period, std::function<void()> fn);
  bool heap_less(std::uint32_t a, std::uint32_t b) const noexcept;
  void heap_swap(std::uint32_t i, std::uint32_t j) noexcept;
  void heap_up(std::uint32_t i) noexcept;
  void heap_down(std::uint32_t i) noexcept;
  void heap_remove(std::uint32_t pos) noexcept;
  void release_timer_slot(std::uint32_t slot) noexcept;
  void run_timers();
  int wait_timeout(Millis timeout) const;
  void run_posted();
  void run_deferred();
  void flush_pending();
  Error watch(int fd, bool readable, std::function<void(int)> fn);
  void unwatch(int fd, bool readable);

  Error init_error_;
  detail::Slab sockets_;  // where this loop's TcpSockets live (TcpSocket::operator new)
  int epfd_ = -1;
  int wakefd_ = -1;
  std::atomic<std::thread::id> owner_;
  std::atomic<bool> stop_{false};
  Clock::time_point now_;
  LoopStats stats_;
  std::size_t output_held_ = 0;
  std::function<void(std::exception_ptr)> on_exception_;

  std::unique_ptr<std::uint8_t[]> rbuf_;
  std::size_t rbuf_size_ = 0;
  int max_events_ = 256;
  std::unique_ptr<epoll_event[]> events_;  // epoll_wait's output, max_events_ long
  std::vector<std::function<void()>> deferred_;

  std::vector<IoSlot> io_slots_;
  std::vector<std::uint32_t> free_io_slots_;
  std::vector<std::uint64_t> flush_list_;

  // The guards of the socket callbacks running now, innermost first (see
  // src/net/socket_guard.hpp): one stack per loop, no pointer per socket.
  detail::SocketGuard* socket_guards_ = nullptr;

  std::vector<std::uint8_t*> free_blocks_;  // a stack: the bottom ones are the least needed
  std::size_t min_free_blocks_ = 0;         // fewest free since the last trim: that many were not needed
  Clock::time_point blocks_trimmed_{};
  std::uint8_t* spare_ = nullptr;  // the spare large output buffer (kMaxSpareSize), or none
  std::uint32_t spare_cap_ = 0;
  bool spare_taken_ = false;       // taken since the last trim

  std::vector<TimerSlot> timers_;
  std::vector<std::uint32_t> free_timers_;
  std::vector<std::uint32_t> heap_;  // timer slot indices, min-heap by (due, seq)
  std::uint64_t timer_seq_ = 0;

  WakeHandler wake_;
  std::uint64_t wake_token_ = 0;
  std::mutex post_mutex_;
  std::vector<std::function<void()>> posted_;   // guarded by post_mutex_
  bool wake_pending_ = false;                    // guarded by post_mutex_
  std::vector<std::function<void()>> running_;  // loop thread only
  std::shared_ptr<detail::LoopLink> link_;

  std::unordered_map<int, std::unique_ptr<Watcher>> watchers_;
  std::vector<std::unique_ptr<Watcher>> dead_watchers_;
  std::vector<std::function<void(int)>> dead_watch_fns_;

 public:
  /// Size in bytes of a pooled output-buffer block: a socket that queues
  /// output takes one block from the loop (growing past it when it must)
  /// and gives it back once everything is sent, so idle sockets hold no
  /// output buffer and steady traffic does not allocate.
  static constexpr std::uint32_t kBlockSize = 16 * 1024;
  /// Free blocks are kept as long as they are needed: every block given
  /// back joins the pool, and those that no socket took during a whole
  /// kBlockTrimPeriod are freed. So steady traffic with N sockets writing
  /// per iteration reuses N blocks without malloc (past 64 of them,
  /// freeing and taking them again made glibc shrink and grow its heap
  /// every iteration: madvise, mprotect and page faults, a quarter of the
  /// server's CPU at 100 connections x 32 in flight), and a burst leaves
  /// nothing behind for long. While more than this many blocks are free
  /// (1 MiB) the loop wakes at least once per kBlockTrimPeriod to trim
  /// them, so a loop that sleeps keeps at most this many.
  static constexpr std::size_t kMaxIdleFreeBlocks = 64;
  /// At most this many free blocks are kept at any time (16 MiB per loop);
  /// more are freed at once. Blocks in use count against the connections'
  /// output limits; this bounds what the pool keeps after a burst, e.g. a
  /// broadcast to 50,000 subscribers of one loop.
  static constexpr std::size_t kMaxFreeBlocks = 1024;
  /// The largest output buffer given back that is over kBlockSize and at
  /// most this size is kept as the loop's spare, for the next socket that
  /// needs a buffer that large, and at least half of it (a stream of large messages then does not
  /// allocate and fault in fresh pages for each); it is freed with the
  /// free blocks when no socket took it for kBlockTrimPeriod. 16 MiB.
  static constexpr std::uint32_t kMaxSpareSize = 16 * 1024 * 1024;
  /// Free blocks that no socket took during a whole period of this length
  /// are freed (so after one to two periods, checked at the end of an
  /// iteration; a loop that sleeps keeps at most kMaxIdleFreeBlocks), so
  /// that a burst of writers (e.g. thousands of handshakes at once) does
  /// not leave its blocks behind; a trim that freed a burst's worth (at
  /// least kMaxIdleFreeBlocks, or the spare) then has glibc's malloc give
  /// its free pages back to the kernel (`malloc_trim`), since what a burst
  /// freed below memory still in use stays resident otherwise. 1000 ms.
  static constexpr Millis kBlockTrimPeriod{1000};
};

}  // namespace parley::net
