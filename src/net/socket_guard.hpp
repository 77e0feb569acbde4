// src/net/socket_guard.hpp — TcpSocket::Guard (detail::SocketGuard), shared
// by the socket's sources (internal).
#pragma once

#include "net/tcp.hpp"

namespace parley::net::detail {

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
// The Guard below deliberately stores the address of a local in the loop;
// it is removed when the Guard ends.
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif

// Marks the stack frame of a callback of a socket: if the socket is
// destroyed inside the callback, its destructor sets `destroyed` and the
// dispatching code returns without touching the object again. The guards
// of the callbacks running on a loop form one stack in the Loop (innermost
// first: they are locals of its one thread), so a socket carries no
// pointer for them.
struct SocketGuard {
  Loop& loop;
  const TcpSocket* socket;
  SocketGuard* outer;
  bool destroyed = false;
  explicit SocketGuard(TcpSocket* s) noexcept : loop(*s->loop_), socket(s), outer(loop.socket_guards_) {
    loop.socket_guards_ = this;
  }
  ~SocketGuard() { loop.socket_guards_ = outer; }
  SocketGuard(const SocketGuard&) = delete;
  SocketGuard& operator=(const SocketGuard&) = delete;
  // From ~TcpSocket: marks every running callback of `s` (a few at most).
  static void socket_destroyed(Loop& loop, const TcpSocket* s) noexcept {
    for (SocketGuard* g = loop.socket_guards_; g != nullptr; g = g->outer) {
      if (g->socket == s) g->destroyed = true;
    }
  }
};

}  // namespace parley::net::detail
