// broker/hiredis_loop.cpp — see hiredis_loop.hpp.
#include "broker/hiredis_loop.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

namespace parley::broker {

std::shared_ptr<HiredisLoopAdapter> HiredisLoopAdapter::attach(net::Loop& loop, redisAsyncContext* ac) {
  auto a = std::make_shared<HiredisLoopAdapter>(loop, ac);
  ac->ev.data = a.get();
  ac->ev.addRead = &HiredisLoopAdapter::add_read;
  ac->ev.delRead = &HiredisLoopAdapter::del_read;
  ac->ev.addWrite = &HiredisLoopAdapter::add_write;
  ac->ev.delWrite = &HiredisLoopAdapter::del_write;
  ac->ev.cleanup = &HiredisLoopAdapter::cleanup;
  return a;
}

HiredisLoopAdapter::HiredisLoopAdapter(net::Loop& loop, redisAsyncContext* ac) : loop_(loop), ac_(ac), fd_(ac->c.fd) {}

HiredisLoopAdapter::~HiredisLoopAdapter() {
  unwatch_all();
  if (ac_ != nullptr) ac_->ev = {};  // the owner frees it: no hook may reach a dead adapter
}

void HiredisLoopAdapter::unwatch_all() noexcept {
  if (reading_) loop_.unwatch_readable(fd_);
  if (writing_) loop_.unwatch_writable(fd_);
  reading_ = writing_ = false;
}

void HiredisLoopAdapter::add_read(void* p) {
  auto* self = static_cast<HiredisLoopAdapter*>(p);
  if (self->reading_ || self->ac_ == nullptr) return;
  self->start_watch(true);
}

void HiredisLoopAdapter::start_watch(bool readable) {
  Error e = readable ? loop_.watch_readable(fd_, [this](int) { on_readable(); })
                     : loop_.watch_writable(fd_, [this](int) { on_writable(); });
  if (e) {
    if (!watch_error_) watch_error_ = std::move(e);  // the owner gives the connection up
    return;
  }
  (readable ? reading_ : writing_) = true;
}

void HiredisLoopAdapter::del_read(void* p) {
  auto* self = static_cast<HiredisLoopAdapter*>(p);
  if (!self->reading_) return;
  self->loop_.unwatch_readable(self->fd_);
  self->reading_ = false;
}

void HiredisLoopAdapter::add_write(void* p) {
  auto* self = static_cast<HiredisLoopAdapter*>(p);
  if (self->ac_ == nullptr) return;
  self->want_write_ = true;
  const bool connected = (self->ac_->c.flags & REDIS_CONNECTED) != 0;
  if (connected && !self->in_write_) {
    // Cork: one write at the end of this iteration for every command of it.
    if (self->flush_deferred_ || self->writing_) return;
    self->flush_deferred_ = true;
    self->loop_.defer([weak = self->weak_from_this()] {
      if (auto a = weak.lock()) a->flush();
    });
    return;
  }
  // Connecting, or the socket did not take everything: wait for writability.
  if (!self->writing_) self->start_watch(false);
}

void HiredisLoopAdapter::del_write(void* p) {
  auto* self = static_cast<HiredisLoopAdapter*>(p);
  self->want_write_ = false;
  if (!self->writing_) return;
  self->loop_.unwatch_writable(self->fd_);
  self->writing_ = false;
}

void HiredisLoopAdapter::cleanup(void* p) {
  auto* self = static_cast<HiredisLoopAdapter*>(p);
  self->unwatch_all();
  self->ac_ = nullptr;
}

void HiredisLoopAdapter::on_readable() {
  if (ac_ == nullptr) return;
  auto keep = shared_from_this();  // a callback run by hiredis may drop the owner's reference
  redisAsyncHandleRead(ac_);
}

void HiredisLoopAdapter::on_writable() {
  if (ac_ == nullptr) return;
  auto keep = shared_from_this();
  in_write_ = true;
  redisAsyncHandleWrite(ac_);
  in_write_ = false;
}

void HiredisLoopAdapter::flush() {
  flush_deferred_ = false;
  if (ac_ == nullptr || !want_write_ || writing_) return;
  auto keep = shared_from_this();
  in_write_ = true;
  redisAsyncHandleWrite(ac_);
  in_write_ = false;
}

}  // namespace parley::broker
