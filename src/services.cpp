// LoopServices and Timer: the application's functions, timers and watched
// fds on a Server's or Client's loops (through LoopGroup::run_on, which
// queues them until the loops start).
#include "parley/services.hpp"

#include "hub.hpp"

namespace parley {

namespace {

// Installs a watch on loop 0: `watch` is Loop::watch_readable or watch_writable.
Error install(detail::LoopGroup& group, int fd, std::function<void(int)> fn,
              Error (net::Loop::*watch)(int, std::function<void(int)>)) {
  const bool queued = group.run_on(0, [fd, watch, fn = std::move(fn)](detail::Hub& hub) mutable {
    if (Error e = (hub.loop().*watch)(fd, std::move(fn))) hub.callbacks().report(nullptr, e);
  });
  if (queued) return {};
  return Error(std::make_error_code(std::errc::operation_canceled), "the loops have stopped");
}

}  // namespace

bool Timer::cancel() const { return state_ && state_->cancel(); }

bool LoopServices::post(std::function<void()> fn, unsigned loop) {
  return group_->run_on(loop, [fn = std::move(fn)](detail::Hub&) { fn(); });
}

Timer LoopServices::add_timer(Millis delay, std::function<void()> fn, unsigned loop) {
  return arm(delay, false, std::move(fn), loop);
}

Timer LoopServices::every(Millis period, std::function<void()> fn, unsigned loop) {
  return arm(period, true, std::move(fn), loop);
}

Timer LoopServices::arm(Millis delay, bool periodic, std::function<void()> fn, unsigned loop) {
  auto state = std::make_shared<detail::TimerState>();
  const bool queued = group_->run_on(loop, [state, periodic, delay, fn = std::move(fn)](detail::Hub& hub) mutable {
    if (state->done.load()) return;  // cancelled before it was armed
    net::Loop& l = hub.loop();
    auto run = [state, periodic, fn = std::move(fn)] {
      // A one-shot timer is done once it fires; a periodic one when cancelled.
      if (periodic ? state->done.load() : state->done.exchange(true)) return;
      fn();
    };
    const net::TimerId id = periodic ? l.add_periodic(delay, std::move(run)) : l.add_timer(delay, std::move(run));
    std::lock_guard lock(state->m);
    state->loop = &l;
    state->handle = l.handle();
    state->id = id;
  });
  return queued ? Timer(std::move(state)) : Timer();
}

Error LoopServices::watch_readable(int fd, std::function<void(int)> fn) {
  return install(*group_, fd, std::move(fn), &net::Loop::watch_readable);
}

Error LoopServices::watch_writable(int fd, std::function<void(int)> fn) {
  return install(*group_, fd, std::move(fn), &net::Loop::watch_writable);
}

void LoopServices::unwatch_readable(int fd) {
  (void)group_->run_on(0, [fd](detail::Hub& hub) { hub.loop().unwatch_readable(fd); });
}

void LoopServices::unwatch_writable(int fd) {
  (void)group_->run_on(0, [fd](detail::Hub& hub) { hub.loop().unwatch_writable(fd); });
}

void LoopServices::unwatch(int fd) {
  (void)group_->run_on(0, [fd](detail::Hub& hub) {
    hub.loop().unwatch_readable(fd);
    hub.loop().unwatch_writable(fd);
  });
}

}  // namespace parley
