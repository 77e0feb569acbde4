// src/net/tcp_socket.cpp — a non-blocking TCP connection with a corked output queue.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "net/tcp.hpp"
#include "socket_guard.hpp"
#include "sys.hpp"

namespace parley::net {

using detail::sys_error;

void SocketHandler::on_eof(TcpSocket& socket) { socket.close(); }
void SocketHandler::on_error(TcpSocket&, const Error&) {}
void SocketHandler::on_drain(TcpSocket&) {}

TcpSocket::TcpSocket(Loop& loop, int fd) noexcept : loop_(&loop), fd_(fd) {}

void* TcpSocket::operator new(std::size_t, Loop& loop) { return loop.sockets_.take(); }

void TcpSocket::operator delete(TcpSocket* socket, std::destroying_delete_t) noexcept {
  Loop& loop = *socket->loop_;
  socket->~TcpSocket();
  loop.sockets_.give(socket);
}

Result<std::unique_ptr<TcpSocket>> TcpSocket::adopt(Loop& loop, int fd, bool nodelay) {
  if (fd < 0) return sys_error(EBADF, "TcpSocket::adopt");
  int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || ::fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    int err = errno;
    ::close(fd);
    return sys_error(err, "TcpSocket::adopt: fcntl");
  }
  std::unique_ptr<TcpSocket> s(new (loop) TcpSocket(loop, fd));
  s->token_ = loop.add_slot(s.get());
  if (nodelay) (void)s->set_nodelay(true);  // fails harmlessly on a non-TCP stream (socketpair)
  return s;
}

TcpSocket::~TcpSocket() {
  detail::SocketGuard::socket_destroyed(*loop_, this);
  close();
}

void TcpSocket::close() noexcept {
  if (fd_ < 0) return;
  if (flags_ & kInEpoll) loop_->epoll_del(fd_);
  loop_->free_slot(token_);  // a pending event or flush for this socket is now ignored
  ::close(fd_);
  fd_ = -1;
  flags_ = static_cast<std::uint16_t>(flags_ & ~(kInEpoll | kInFlushList | kBackpressure));
  events_ = 0;
  release_buffer();
  if (tls_) tls_free();
}

void TcpSocket::release_buffer() noexcept { out_.release(*loop_); }

Error TcpSocket::set_nodelay(bool on) noexcept {
  int v = on ? 1 : 0;
  if (::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) < 0) return sys_error(errno, "setsockopt(TCP_NODELAY)");
  return {};
}

// ---- interest ------------------------------------------------------------------

void TcpSocket::update_interest() {
  if (fd_ < 0) return;
  std::uint32_t want = 0;
  const bool want_read = handler_ && !(flags_ & (kPaused | kEof));
  const bool want_write = (flags_ & kBackpressure) != 0;
  if (want_read) {
    want = EPOLLIN;
    if (want_write) want |= EPOLLOUT;
  } else if (want_write) {
    // Not reading: edge-triggered, so a hang-up (which epoll always reports)
    // is reported once instead of at every iteration.
    want = EPOLLOUT | EPOLLET;
  } else if (flags_ & kInEpoll) {
    want = EPOLLET;  // nothing wanted; hang-up/error once
  } else {
    return;  // never registered and nothing wanted: stay out of epoll
  }
  if (flags_ & kInEpoll) {
    if (want == events_) return;
    if (loop_->epoll_mod(fd_, want, token_)) return;
  } else {
    if (loop_->epoll_add(fd_, want, token_)) return;
    flags_ |= kInEpoll;
  }
  events_ = want;
}

void TcpSocket::set_handler(Handler* handler) {
  handler_ = handler;
  update_interest();
}

void TcpSocket::pause_reading() {
  if (flags_ & kPaused) return;
  flags_ |= kPaused;
  update_interest();
}

void TcpSocket::resume_reading() {
  if (!(flags_ & kPaused)) return;
  flags_ = static_cast<std::uint16_t>(flags_ & ~kPaused);
  update_interest();  // level-triggered: data already waiting is reported at the next wait
}

// ---- events --------------------------------------------------------------------

void TcpSocket::on_io(std::uint32_t events) {
  Guard guard(this);
  if (events & EPOLLOUT) {
    flush();
    if (guard.destroyed || fd_ < 0) return;
  }
  if (handler_ && !(flags_ & (kPaused | kEof)) && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
    handle_readable();
    return;
  }
  if (events & EPOLLERR) {
    // Not reading (paused, or after EOF): report the pending socket error.
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err != 0) fail(err, "socket error");
  }
}

ssize_t TcpSocket::receive(std::uint8_t* into, std::size_t size) noexcept {
  ssize_t n;
  do {
    n = ::recv(fd_, into, size, 0);
  } while (n < 0 && errno == EINTR);
  ++loop_->stats_.recv_calls;
  if (n > 0) loop_->stats_.bytes_received += static_cast<std::uint64_t>(n);
  return n;
}

void TcpSocket::peer_eof() {
  flags_ |= kEof;
  update_interest();
  if (handler_) handler_->on_eof(*this);
}

void TcpSocket::handle_readable() {
  if (tls_) return tls_readable();
  // One read per readiness event (level-triggered: if more is waiting, the
  // next iteration reports it), so a busy peer cannot starve the others.
  const ssize_t n = receive(loop_->rbuf(), loop_->receive_buffer_size());
  if (n > 0) {
    handler_->on_data(*this, std::span<std::uint8_t>(loop_->rbuf(), static_cast<std::size_t>(n)));
    return;
  }
  if (n == 0) return peer_eof();
  if (errno == EAGAIN || errno == EWOULDBLOCK) return;
  fail(errno, "recv");
}

void TcpSocket::fail(int err, const char* what) {
  close();
  if (handler_) handler_->on_error(*this, sys_error(err, what));
}

// ---- output --------------------------------------------------------------------

// ---- the byte queue -------------------------------------------------------------

namespace detail {

bool ByteQueue::reserve(Loop& loop, std::size_t n) {
  const std::size_t len = size();
  if (n > std::numeric_limits<std::uint32_t>::max() - len) return false;
  if (!buf) {
    cap = n <= Loop::kBlockSize ? Loop::kBlockSize : static_cast<std::uint32_t>(n);
    buf = loop.take_buffer(cap);
    head = tail = 0;
    return true;
  }
  if (cap - tail >= n) return true;
  if (len + n <= cap && head >= len) {
    // Compact: the bytes moved are fewer than the bytes freed (amortized O(1)).
    std::memmove(buf, buf + head, len);
    head = 0;
    tail = static_cast<std::uint32_t>(len);
    return true;
  }
  std::size_t wanted = static_cast<std::size_t>(cap) * 2;
  if (wanted < len + n) wanted = len + n;
  if (wanted > std::numeric_limits<std::uint32_t>::max()) wanted = std::numeric_limits<std::uint32_t>::max();
  auto grown_cap = static_cast<std::uint32_t>(wanted);
  auto* grown = loop.take_buffer(grown_cap);  // (may be larger)
  std::memcpy(grown, buf + head, len);
  loop.give_buffer(buf, cap);
  buf = grown;
  cap = grown_cap;
  head = 0;
  tail = static_cast<std::uint32_t>(len);
  return true;
}

void ByteQueue::append(std::span<const std::uint8_t> bytes) noexcept {
  if (bytes.empty()) return;
  std::memcpy(buf + tail, bytes.data(), bytes.size());
  tail += static_cast<std::uint32_t>(bytes.size());
}

void ByteQueue::release(Loop& loop) noexcept {
  if (buf) loop.give_buffer(buf, cap);
  buf = nullptr;
  cap = head = tail = 0;
}

}  // namespace detail

// ---- output --------------------------------------------------------------------

void TcpSocket::schedule_flush() {
  if (flags_ & (kInFlushList | kBackpressure)) return;  // backpressure: EPOLLOUT will flush
  flags_ |= kInFlushList;
  loop_->schedule_flush(token_);
}

// Sends a then b with one send/writev (`flags`: more for send(2), e.g.
// MSG_MORE); returns how many bytes the kernel took (0 on EAGAIN or error:
// a real error shows again at the next flush, which reports it from the
// loop, not from inside write()).
std::size_t TcpSocket::send_direct(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b, int flags) {
  ssize_t n;
  do {
    if (b.empty()) {
      n = ::send(fd_, a.data(), a.size(), MSG_NOSIGNAL | flags);
    } else {
      iovec iov[2] = {{const_cast<std::uint8_t*>(a.data()), a.size()}, {const_cast<std::uint8_t*>(b.data()), b.size()}};
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = 2;
      n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | flags);
    }
  } while (n < 0 && errno == EINTR);
  ++loop_->stats_.send_calls;
  if (n <= 0) return 0;
  loop_->stats_.bytes_sent += static_cast<std::uint64_t>(n);
  return static_cast<std::size_t>(n);
}

bool TcpSocket::write(std::span<const std::uint8_t> data) { return write(data, {}); }

bool TcpSocket::write(std::string_view data) {
  return write(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

bool TcpSocket::write(std::span<const std::uint8_t> head, std::span<const std::uint8_t> body) {
  if (fd_ < 0 || (flags_ & kShutdownWanted)) return false;
  if (tls_) return tls_write(head, body);
  const std::size_t total = head.size() + body.size();
  if (total == 0) return true;
  if (!tls_ && out_.empty() && total >= kDirectWriteSize && !(flags_ & kBackpressure)) {
    std::size_t sent = send_direct(head, body);
    if (sent >= head.size()) {
      body = body.subspan(sent - head.size());
      head = {};
    } else {
      head = head.subspan(sent);
    }
    if (head.empty() && body.empty()) return true;
  }
  detail::ByteQueue& q = queue();
  if (!q.reserve(*loop_, head.size() + body.size())) return false;
  q.append(head);
  q.append(body);
  schedule_flush();
  return true;
}

void TcpSocket::shutdown_write() {
  if (fd_ < 0 || (flags_ & kShutdownWanted)) return;
  flags_ |= kShutdownWanted;
  schedule_flush();  // under backpressure, the EPOLLOUT flush shuts down once drained
}

void TcpSocket::flush() {
  flags_ = static_cast<std::uint16_t>(flags_ & ~kInFlushList);
  if (fd_ < 0) return;
  if (tls_ && !tls_encrypt()) return;
  const std::size_t len = out_.size();
  if (len == 0 && out_.buf && !(flags_ & kBackpressure)) release_buffer();  // prepare() without data
  if (len > 0) {
    ssize_t n;
    do {
      n = ::send(fd_, out_.data(), len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    ++loop_->stats_.send_calls;
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        Guard guard(this);
        fail(errno, "send");
        return;
      }
      n = 0;
    }
    loop_->stats_.bytes_sent += static_cast<std::uint64_t>(n);
    out_.head += static_cast<std::uint32_t>(n);
    if (static_cast<std::size_t>(n) < len) {
      // The kernel's buffer is full: wait for EPOLLOUT.
      if (!(flags_ & kBackpressure)) {
        flags_ |= kBackpressure;
        update_interest();
      }
      return;
    }
    release_buffer();  // everything sent: give the block back to the loop
    if (flags_ & kBackpressure) {
      flags_ = static_cast<std::uint16_t>(flags_ & ~kBackpressure);
      update_interest();
      if (handler_) {
        Guard guard(this);
        handler_->on_drain(*this);
        if (guard.destroyed || fd_ < 0) return;
      }
      if (!out_.empty()) return;  // on_drain wrote more: already scheduled
    }
    if (tls_ && tls_has_work()) {
      schedule_flush();  // plaintext past the encryption budget: its next part
      return;
    }
  }
  if ((flags_ & (kShutdownWanted | kShutdownDone)) == kShutdownWanted && out_.empty() && !(tls_ && tls_has_work())) {
    flags_ |= kShutdownDone;
    ::shutdown(fd_, SHUT_WR);
  }
}

// ---- addresses -----------------------------------------------------------------

Result<Endpoint> TcpSocket::remote_endpoint() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd_ < 0) return sys_error(EBADF, "getpeername");
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return sys_error(errno, "getpeername");
  return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

Result<Endpoint> TcpSocket::local_endpoint() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd_ < 0) return sys_error(EBADF, "getsockname");
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return sys_error(errno, "getsockname");
  return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

}  // namespace parley::net
