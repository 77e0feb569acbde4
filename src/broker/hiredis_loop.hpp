// broker/hiredis_loop.hpp (internal) — drives a hiredis asynchronous
// context (redisAsyncContext, hiredis 0.14) from a parley net::Loop: no
// thread, no blocking call.
//
// hiredis tells its event library what to wait for through five hooks
// (ev.addRead, delRead, addWrite, delWrite, cleanup); 0.14 has no timer hook
// (scheduleTimer came in 1.0), so connect and command timeouts are the
// caller's (RedisBroker arms loop timers). The mapping:
//
//   addRead   -> Loop::watch_readable(fd) once; the callback calls
//                redisAsyncHandleRead. hiredis calls addRead after every
//                read: the adapter remembers that it is watching, so the
//                epoll set is changed once per connection, not per read.
//   delRead   -> Loop::unwatch_readable(fd).
//   addWrite  -> before the connection is established, watch_writable (the
//                connect completes on writability). Afterwards, "corking"
//                like parley's sockets: the write is deferred to the end of
//                the loop iteration (Loop::defer), so every command issued
//                during the iteration goes out in one write(2), and only
//                when the socket does not take everything (hiredis calls
//                addWrite again from inside redisAsyncHandleWrite) is the fd
//                watched for writability.
//   delWrite  -> unwatch_writable.
//   cleanup   -> unwatch both; the context is being freed (by hiredis after
//                an error, or by redisAsyncFree). detached() is true from
//                then on and the adapter never touches the context again.
//
// Lifetime: the adapter is held by a shared_ptr (a deferred write holds a
// weak_ptr, so it is harmless after the adapter is gone). Its owner frees
// the context (redisAsyncFree) before dropping the adapter, or finds
// detached() true. Loop thread only.
#pragma once

#include <memory>

#include "net/loop.hpp"
#include "parley/error.hpp"

struct redisAsyncContext;

namespace parley::broker {

class HiredisLoopAdapter : public std::enable_shared_from_this<HiredisLoopAdapter> {
 public:
  /// Installs the hooks on `ac` (which must have none yet). The context
  /// must have been created on `loop`'s thread and not be connected yet.
  static std::shared_ptr<HiredisLoopAdapter> attach(net::Loop& loop, redisAsyncContext* ac);
  ~HiredisLoopAdapter();
  HiredisLoopAdapter(const HiredisLoopAdapter&) = delete;
  HiredisLoopAdapter& operator=(const HiredisLoopAdapter&) = delete;

  /// True once hiredis has called the cleanup hook: the context is gone.
  bool detached() const noexcept { return ac_ == nullptr; }
  /// The first error the loop gave when asked to watch the fd (then the
  /// owner should give the connection up), else empty.
  const Error& watch_error() const noexcept { return watch_error_; }

  /// Private; public for make_shared.
  HiredisLoopAdapter(net::Loop& loop, redisAsyncContext* ac);

 private:
  static void add_read(void* self);
  static void del_read(void* self);
  static void add_write(void* self);
  static void del_write(void* self);
  static void cleanup(void* self);
  void on_readable();
  void on_writable();
  void flush();
  void start_watch(bool readable);
  void unwatch_all() noexcept;

  net::Loop& loop_;
  redisAsyncContext* ac_;
  int fd_ = -1;
  bool reading_ = false;
  bool writing_ = false;        // fd watched for writability
  bool flush_deferred_ = false; // a deferred write is queued
  bool in_write_ = false;       // inside redisAsyncHandleWrite
  bool want_write_ = false;     // hiredis asked for a write
  Error watch_error_;
};

}  // namespace parley::broker
