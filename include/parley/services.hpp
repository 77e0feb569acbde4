// parley/services.hpp — what a Server's or a Client's event loops do for
// the application besides connections: run its functions, its timers, and
// watch its file descriptors.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "parley/error.hpp"
#include "parley/export.hpp"

namespace parley {

namespace detail {
class LoopGroup;
struct TimerState;
}  // namespace detail

/// A timer made by `add_timer`, `every` or `Connection::after`: a
/// thread-safe, copyable handle to cancel it. Dropping the handle does not
/// cancel the timer. A default-constructed Timer refers to none.
class PARLEY_EXPORT Timer {
 public:
  /// Refers to no timer.
  Timer() = default;
  /// Stops the timer, from any thread: its function does not run again
  /// (a call already running on the loop finishes). Idempotent. Returns
  /// true when this call stopped it; false when it was already cancelled,
  /// a one-shot timer had already fired, or there is no timer.
  bool cancel() const;
  /// True when this handle refers to a timer (which may have fired since).
  explicit operator bool() const noexcept { return static_cast<bool>(state_); }

 private:
  friend class LoopServices;
  friend class Connection;
  explicit Timer(std::shared_ptr<detail::TimerState> state) : state_(std::move(state)) {}
  std::shared_ptr<detail::TimerState> state_;
};

/// The event loops of a Server or a Client, for the application's own
/// work: functions, timers and file descriptors run on a loop thread, next
/// to that loop's connections (so they need no locks to touch what only
/// that loop's callbacks touch). Loops are numbered 0 to `threads` - 1;
/// loop 0 is the default.
///
/// Every method is thread-safe and may be called before `start()`: what is
/// asked then is queued and done at start (watches installed, timers
/// armed, functions run, in the order asked). After `stop()` nothing runs
/// and the methods return false or an Error. An exception escaping one of
/// these functions is caught and reported to `on_error` with no connection
/// (`UsageError::callback_exception`); the loop goes on.
class PARLEY_EXPORT LoopServices {
 public:
  /// Milliseconds.
  using Millis = std::chrono::milliseconds;

  /// Runs `fn` once on loop `loop`'s thread, as soon as it is free.
  /// Functions posted from one thread run in the order posted. False when
  /// `loop` does not exist or the owner has stopped (then `fn` never runs).
  bool post(std::function<void()> fn, unsigned loop = 0);
  /// Runs `fn` once on loop `loop`'s thread after `delay` (from now, or
  /// from start() when called before it; millisecond resolution). A
  /// default Timer when `loop` does not exist or the owner has stopped.
  Timer add_timer(Millis delay, std::function<void()> fn, unsigned loop = 0);
  /// Runs `fn` every `period` (at least 1 ms) on loop `loop`'s thread
  /// until cancelled or stopped; the first call is one period from now. A
  /// late loop skips missed calls rather than bursting.
  Timer every(Millis period, std::function<void()> fn, unsigned loop = 0);

  /// Calls `fn(fd)` on loop 0's thread whenever `fd` is readable (level
  /// triggered: again each iteration while data remains; also on hang-up
  /// and error). The fd stays yours: unwatch it before closing it.
  /// Watching it again replaces the function. Errors: the owner has
  /// stopped (std::errc::operation_canceled). The watch is installed on the
  /// loop after this returns; epoll refusing the fd there (e.g. a regular
  /// file: EPERM) is reported to `on_error`.
  Error watch_readable(int fd, std::function<void(int fd)> fn);
  /// As `watch_readable`, for writability.
  Error watch_writable(int fd, std::function<void(int fd)> fn);
  /// Stops calling the readable function of `fd`; a no-op if there is none.
  /// Done on loop 0 after this returns (unless called there): close the fd
  /// only after that, e.g. from a function `post()`ed after the unwatch.
  void unwatch_readable(int fd);
  /// Stops calling the writable function of `fd`; a no-op if there is none.
  void unwatch_writable(int fd);
  /// Stops watching `fd` in both directions.
  void unwatch(int fd);

 protected:
  /// \private (made by Server and Client)
  explicit LoopServices(detail::LoopGroup& group) noexcept : group_(&group) {}
  ~LoopServices() = default;
  LoopServices(const LoopServices&) = delete;
  LoopServices& operator=(const LoopServices&) = delete;

 private:
  Timer arm(Millis delay, bool periodic, std::function<void()> fn, unsigned loop);
  detail::LoopGroup* group_;
};

}  // namespace parley
