// src/net/loop.cpp — the epoll event loop, timers, post(), fd watchers.
#include "net/loop.hpp"

#include <malloc.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

#include "net/tcp.hpp"
#include "sys.hpp"

namespace parley::net {

using detail::sys_error;

// ---- LoopHandle --------------------------------------------------------------

bool LoopHandle::post(std::function<void()> fn) const {
  if (!link_) return false;
  std::lock_guard<std::mutex> lock(link_->mutex);
  if (!link_->loop) return false;
  link_->loop->post(std::move(fn));
  return true;
}

bool LoopHandle::alive() const {
  if (!link_) return false;
  std::lock_guard<std::mutex> lock(link_->mutex);
  return link_->loop != nullptr;
}

// ---- fd watchers -------------------------------------------------------------

struct Loop::Watcher final : detail::IoHandler {
  Loop* loop = nullptr;
  int fd = -1;
  std::uint64_t token = 0;
  std::function<void(int)> on_read;
  std::function<void(int)> on_write;

  std::uint32_t interest() const noexcept {
    return (on_read ? std::uint32_t{EPOLLIN} : 0u) | (on_write ? std::uint32_t{EPOLLOUT} : 0u);
  }
  void on_io(std::uint32_t events) override {
    // The callbacks may unwatch (even this fd): unwatching only moves the
    // std::function to a graveyard emptied at the end of the iteration, and
    // a removed watcher has token 0.
    const std::uint64_t my_token = token;
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && on_read) on_read(fd);
    if (token != my_token) return;
    if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && on_write) on_write(fd);
    // (An exception from either callback is caught by the loop's dispatch.)
  }
};

void Loop::WakeHandler::on_io(std::uint32_t) {
  std::uint64_t value = 0;
  ssize_t n = ::read(loop->wakefd_, &value, sizeof value);
  (void)n;  // EAGAIN: a spurious wake-up; nothing to do
  loop->run_posted();
}

// ---- construction ------------------------------------------------------------

Loop::Loop(const LoopOptions& options)
    : sockets_(sizeof(TcpSocket), alignof(TcpSocket)), owner_(std::this_thread::get_id()), now_(Clock::now()) {
  link_ = std::make_shared<detail::LoopLink>();
  link_->loop = this;
  rbuf_size_ = std::clamp<std::size_t>(options.receive_buffer_size, 4 * 1024, 16 * 1024 * 1024);
  rbuf_ = std::make_unique<std::uint8_t[]>(rbuf_size_);
  max_events_ = std::clamp(options.max_events, 1, 65536);
  events_ = std::make_unique<epoll_event[]>(static_cast<std::size_t>(max_events_));
  wake_.loop = this;

  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) {
    init_error_ = sys_error(errno, "epoll_create1");
    return;
  }
  wakefd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd_ < 0) {
    init_error_ = sys_error(errno, "eventfd");
    return;
  }
  wake_token_ = add_slot(&wake_);
  if (Error e = epoll_add(wakefd_, EPOLLIN, wake_token_)) init_error_ = e;
}

Loop::~Loop() {
  {
    std::lock_guard<std::mutex> lock(link_->mutex);
    link_->loop = nullptr;
  }
  watchers_.clear();
  dead_watchers_.clear();
  for (std::uint8_t* b : free_blocks_) delete[] b;
  delete[] spare_;
  if (wakefd_ >= 0) ::close(wakefd_);
  if (epfd_ >= 0) ::close(epfd_);
}

// ---- the iteration -----------------------------------------------------------

Error Loop::run() {
  if (init_error_) return init_error_;
  for (;;) {
    if (Error e = run_once(Millis(-1))) return e;
    if (stop_.exchange(false, std::memory_order_acq_rel)) return {};
  }
}

void Loop::stop() {
  stop_.store(true, std::memory_order_release);
  std::uint64_t one = 1;
  ssize_t n = ::write(wakefd_, &one, sizeof one);
  (void)n;  // EAGAIN means the counter is already non-zero: the loop wakes anyway
}

int Loop::wait_timeout(Millis timeout) const {
  if (!flush_list_.empty() || !deferred_.empty()) return 0;  // work queued between iterations
  long long ms = timeout.count() < 0 ? -1 : timeout.count();
  if (!heap_.empty()) {
    auto due = timers_[heap_[0]].due;
    auto now = Clock::now();
    long long until = 0;
    if (due > now) {
      // Round up so that we never wake before the timer is due.
      until = std::chrono::ceil<Millis>(due - now).count();
    }
    if (ms < 0 || until < ms) ms = until;
  }
  if (free_blocks_.size() > kMaxIdleFreeBlocks) {
    // Wake to trim them (see kMaxIdleFreeBlocks), a little after they are due.
    const auto due = blocks_trimmed_ + kBlockTrimPeriod - Clock::now();
    const long long until = due.count() <= 0 ? 1 : std::chrono::ceil<Millis>(due).count() + 1;
    if (ms < 0 || until < ms) ms = until;
  }
  if (ms > 0x7fffffff) ms = 0x7fffffff;
  return static_cast<int>(ms);
}

Error Loop::run_once(Millis timeout) {
  if (init_error_) return init_error_;
  owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  epoll_event* events = events_.get();
  int n = ::epoll_wait(epfd_, events, max_events_, wait_timeout(timeout));
  now_ = Clock::now();
  if (n < 0) {
    if (errno != EINTR) return sys_error(errno, "epoll_wait");
    n = 0;
  }
  for (int i = 0; i < n; ++i) {
    try {
      if (detail::IoHandler* h = slot_handler(events[i].data.u64)) h->on_io(events[i].events);
    } catch (...) {
      caught();
    }
  }
  run_timers();
  run_deferred();
  flush_pending();
  if (now_ - blocks_trimmed_ >= kBlockTrimPeriod) trim_blocks();
  dead_watchers_.clear();
  dead_watch_fns_.clear();
  ++stats_.iterations;
  return {};
}

void Loop::run_deferred() {
  // By index: a deferred callback may defer more (appended, run in this pass).
  for (std::size_t i = 0; i < deferred_.size(); ++i) {
    std::function<void()> fn = std::move(deferred_[i]);
    try {
      fn();
    } catch (...) {
      caught();
    }
  }
  deferred_.clear();
}

void Loop::flush_pending() {
  // Flushing may call on_drain/on_error, which may write to other sockets
  // (appending to the list): iterate by index until the list is exhausted.
  for (std::size_t i = 0; i < flush_list_.size(); ++i) {
    if (detail::IoHandler* h = slot_handler(flush_list_[i])) static_cast<TcpSocket*>(h)->flush();
  }
  flush_list_.clear();
}

// ---- post ----------------------------------------------------------------------

void Loop::post(std::function<void()> fn) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(post_mutex_);
    posted_.push_back(std::move(fn));
    if (!wake_pending_) wake = wake_pending_ = true;
  }
  if (wake) {
    std::uint64_t one = 1;
    ssize_t n = ::write(wakefd_, &one, sizeof one);
    (void)n;
  }
}

void Loop::run_posted() {
  {
    std::lock_guard<std::mutex> lock(post_mutex_);
    running_.swap(posted_);
    wake_pending_ = false;
  }
  // Callbacks posted while these run go to posted_ and wake the next
  // iteration. running_ keeps its capacity: no allocation in steady state.
  for (std::size_t i = 0; i < running_.size(); ++i) {
    std::function<void()> fn = std::move(running_[i]);
    try {
      fn();
    } catch (...) {
      caught();
    }
  }
  running_.clear();
}

// ---- I/O slots -----------------------------------------------------------------

std::uint64_t Loop::add_slot(detail::IoHandler* h) {
  std::uint32_t index;
  if (!free_io_slots_.empty()) {
    index = free_io_slots_.back();
    free_io_slots_.pop_back();
  } else {
    index = static_cast<std::uint32_t>(io_slots_.size());
    io_slots_.emplace_back();
  }
  io_slots_[index].handler = h;
  return (std::uint64_t{io_slots_[index].generation} << 32) | index;
}

void Loop::free_slot(std::uint64_t token) noexcept {
  auto index = static_cast<std::uint32_t>(token);
  if (index >= io_slots_.size()) return;
  IoSlot& s = io_slots_[index];
  if (s.generation != static_cast<std::uint32_t>(token >> 32)) return;
  s.handler = nullptr;
  if (++s.generation == 0) s.generation = 1;
  free_io_slots_.push_back(index);
}

detail::IoHandler* Loop::slot_handler(std::uint64_t token) const noexcept {
  auto index = static_cast<std::uint32_t>(token);
  if (index >= io_slots_.size()) return nullptr;
  const IoSlot& s = io_slots_[index];
  return s.generation == static_cast<std::uint32_t>(token >> 32) ? s.handler : nullptr;
}

Error Loop::epoll_add(int fd, std::uint32_t events, std::uint64_t token) noexcept {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = token;
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) return sys_error(errno, "epoll_ctl(ADD)");
  return {};
}

Error Loop::epoll_mod(int fd, std::uint32_t events, std::uint64_t token) noexcept {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = token;
  if (::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) < 0) return sys_error(errno, "epoll_ctl(MOD)");
  return {};
}

void Loop::epoll_del(int fd) noexcept {
  epoll_event ev{};
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev);  // EBADF/ENOENT: already gone
}

// ---- output blocks -------------------------------------------------------------

void Loop::caught() {
  if (!on_exception_) throw;
  on_exception_(std::current_exception());
}

std::uint8_t* Loop::take_buffer(std::uint32_t& cap) {
  if (cap == kBlockSize && !free_blocks_.empty()) {
    output_held_ += cap;
    std::uint8_t* b = free_blocks_.back();
    free_blocks_.pop_back();
    if (free_blocks_.size() < min_free_blocks_) min_free_blocks_ = free_blocks_.size();
    return b;
  }
  // The spare only when it is not much larger than asked: what it holds
  // counts in output_held_ (the memory budget) whole.
  if (cap > kBlockSize && spare_ != nullptr && spare_cap_ >= cap && spare_cap_ / 2 <= cap) {
    cap = spare_cap_;
    output_held_ += cap;
    spare_taken_ = true;
    return std::exchange(spare_, nullptr);
  }
  output_held_ += cap;
  return new std::uint8_t[cap];
}

void Loop::trim_blocks() noexcept {
  // The bottom `min_free_blocks_` blocks of the stack were not taken once
  // since the last trim.
  // (What a burst left: at least kMaxIdleFreeBlocks blocks, or the spare.)
  [[maybe_unused]] const bool burst_over = min_free_blocks_ >= kMaxIdleFreeBlocks || (!spare_taken_ && spare_ != nullptr);
  for (std::size_t i = 0; i < min_free_blocks_; ++i) delete[] free_blocks_[i];
  if (!spare_taken_) {
    delete[] spare_;
    spare_ = nullptr;
    spare_cap_ = 0;
  }
#ifdef __GLIBC__
  // A burst (of handshakes, or of output to many sockets) is over: what it
  // freed stays resident in malloc's heap, below memory still in use, where
  // free() cannot give it back; malloc_trim does (madvise on its free
  // pages). It walks every arena of the process, so only when a burst's
  // worth was freed (1 MiB or more, or the large spare), at most once per
  // kBlockTrimPeriod: never for traffic that merely varies, never on the
  // path of a message.
  if (burst_over) ::malloc_trim(0);
#endif
  spare_taken_ = false;
  free_blocks_.erase(free_blocks_.begin(), free_blocks_.begin() + static_cast<std::ptrdiff_t>(min_free_blocks_));
  min_free_blocks_ = free_blocks_.size();
  blocks_trimmed_ = now_;
}

void Loop::give_buffer(std::uint8_t* block, std::uint32_t cap) noexcept {
  output_held_ -= cap;
  if (cap == kBlockSize && free_blocks_.size() < kMaxFreeBlocks) {
    try {
      free_blocks_.push_back(block);
    } catch (const std::bad_alloc&) {
      delete[] block;
    }
  } else if (cap > kBlockSize && cap <= kMaxSpareSize && (spare_ == nullptr || cap > spare_cap_)) {
    delete[] spare_;  // (the smaller one)
    spare_ = block;
    spare_cap_ = cap;
  } else {
    delete[] block;
  }
}

// ---- timers --------------------------------------------------------------------

TimerId Loop::add_timer(Millis delay, std::function<void()> fn) {
  return add_timer_impl(delay < Millis(0) ? Millis(0) : delay, Millis(0), std::move(fn));
}

TimerId Loop::add_periodic(Millis period, std::function<void()> fn) {
  if (period < Millis(1)) period = Millis(1);
  return add_timer_impl(period, period, std::move(fn));
}

TimerId Loop::add_timer_impl(Millis delay, Millis period, std::function<void()> fn) {
  std::uint32_t slot;
  if (!free_timers_.empty()) {
    slot = free_timers_.back();
    free_timers_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(timers_.size());
    timers_.emplace_back();
  }
  TimerSlot& t = timers_[slot];
  // A fresh clock reading (not the cached now_): a timer armed between
  // iterations must not fire early.
  t.due = Clock::now() + delay;
  t.seq = ++timer_seq_;
  t.fn = std::move(fn);
  t.period = period;
  t.armed = true;
  t.firing = false;
  t.cancelled = false;
  t.heap_pos = static_cast<std::uint32_t>(heap_.size());
  heap_.push_back(slot);
  heap_up(t.heap_pos);
  return TimerId{(std::uint64_t{t.generation} << 32) | (std::uint64_t{slot} + 1)};
}

bool Loop::cancel_timer(TimerId id) {
  if (!id) return false;
  auto slot = static_cast<std::uint32_t>((id.value & 0xffffffffu) - 1);
  if (slot >= timers_.size()) return false;
  TimerSlot& t = timers_[slot];
  if (t.generation != static_cast<std::uint32_t>(id.value >> 32)) return false;
  if (t.firing) {
    // Inside its own callback: run_timers() frees the slot afterwards.
    if (t.cancelled) return false;
    t.cancelled = true;
    return t.period.count() != 0;  // a one-shot that is firing has already fired
  }
  if (!t.armed) return false;
  heap_remove(t.heap_pos);
  release_timer_slot(slot);
  return true;
}

void Loop::release_timer_slot(std::uint32_t slot) noexcept {
  TimerSlot& t = timers_[slot];
  t.armed = false;
  t.firing = false;
  t.cancelled = false;
  t.fn = nullptr;
  if (++t.generation == 0) t.generation = 1;
  free_timers_.push_back(slot);
}

void Loop::run_timers() {
  // Only timers armed before this pass fire in it, so a callback that arms
  // a 0 ms timer cannot keep the loop here forever.
  const std::uint64_t limit = timer_seq_;
  while (!heap_.empty()) {
    std::uint32_t slot = heap_[0];
    if (timers_[slot].due > now_ || timers_[slot].seq > limit) break;
    heap_remove(0);
    std::function<void()> fn = std::move(timers_[slot].fn);
    timers_[slot].firing = true;
    // timers_ may reallocate inside fn (new timers): index, don't hold references.
    try {
      fn();
    } catch (...) {
      caught();
    }
    TimerSlot& t = timers_[slot];
    if (t.period.count() != 0 && !t.cancelled) {
      t.firing = false;
      t.fn = std::move(fn);
      t.due += t.period;
      if (t.due <= now_) t.due = now_ + t.period;  // late: skip missed ticks
      t.seq = ++timer_seq_;
      t.armed = true;
      t.heap_pos = static_cast<std::uint32_t>(heap_.size());
      heap_.push_back(slot);
      heap_up(t.heap_pos);
    } else {
      release_timer_slot(slot);
    }
  }
}

bool Loop::heap_less(std::uint32_t a, std::uint32_t b) const noexcept {
  const TimerSlot& x = timers_[heap_[a]];
  const TimerSlot& y = timers_[heap_[b]];
  return x.due < y.due || (x.due == y.due && x.seq < y.seq);
}

void Loop::heap_swap(std::uint32_t i, std::uint32_t j) noexcept {
  std::swap(heap_[i], heap_[j]);
  timers_[heap_[i]].heap_pos = i;
  timers_[heap_[j]].heap_pos = j;
}

void Loop::heap_up(std::uint32_t i) noexcept {
  while (i > 0) {
    std::uint32_t parent = (i - 1) / 2;
    if (!heap_less(i, parent)) break;
    heap_swap(i, parent);
    i = parent;
  }
}

void Loop::heap_down(std::uint32_t i) noexcept {
  const auto n = static_cast<std::uint32_t>(heap_.size());
  for (;;) {
    std::uint32_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && heap_less(l, m)) m = l;
    if (r < n && heap_less(r, m)) m = r;
    if (m == i) break;
    heap_swap(i, m);
    i = m;
  }
}

void Loop::heap_remove(std::uint32_t pos) noexcept {
  const auto last = static_cast<std::uint32_t>(heap_.size() - 1);
  timers_[heap_[pos]].armed = false;
  if (pos != last) {
    heap_swap(pos, last);
    heap_.pop_back();
    heap_down(pos);
    heap_up(pos);
  } else {
    heap_.pop_back();
  }
}

// ---- watchers ------------------------------------------------------------------

Error Loop::watch_readable(int fd, std::function<void(int)> fn) { return watch(fd, true, std::move(fn)); }
Error Loop::watch_writable(int fd, std::function<void(int)> fn) { return watch(fd, false, std::move(fn)); }
void Loop::unwatch_readable(int fd) { unwatch(fd, true); }
void Loop::unwatch_writable(int fd) { unwatch(fd, false); }

Error Loop::watch(int fd, bool readable, std::function<void(int)> fn) {
  if (fd < 0 || !fn) return sys_error(EINVAL, "watch: invalid fd or empty callback");
  auto it = watchers_.find(fd);
  if (it == watchers_.end()) {
    auto w = std::make_unique<Watcher>();
    w->loop = this;
    w->fd = fd;
    (readable ? w->on_read : w->on_write) = std::move(fn);
    w->token = add_slot(w.get());
    if (Error e = epoll_add(fd, w->interest(), w->token)) {
      free_slot(w->token);
      return e;
    }
    watchers_.emplace(fd, std::move(w));
    return {};
  }
  Watcher& w = *it->second;
  auto& slot = readable ? w.on_read : w.on_write;
  if (slot) dead_watch_fns_.push_back(std::move(slot));  // it may be running now
  slot = std::move(fn);
  return epoll_mod(fd, w.interest(), w.token);
}

void Loop::unwatch(int fd, bool readable) {
  auto it = watchers_.find(fd);
  if (it == watchers_.end()) return;
  Watcher& w = *it->second;
  auto& slot = readable ? w.on_read : w.on_write;
  if (!slot) return;
  dead_watch_fns_.push_back(std::move(slot));
  slot = nullptr;
  if (w.interest() != 0) {
    (void)epoll_mod(fd, w.interest(), w.token);
    return;
  }
  epoll_del(fd);
  free_slot(w.token);
  w.token = 0;
  dead_watchers_.push_back(std::move(it->second));  // it may be running now
  watchers_.erase(it);
}

}  // namespace parley::net
