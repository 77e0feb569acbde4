// src/net/socket_guard.hpp — TcpSocket::Guard, shared by the socket's
// sources (internal).
#pragma once

#include "net/tcp.hpp"

namespace parley::net {

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
// The Guard below deliberately stores the address of a local in the socket;
// it is removed when the Guard ends (or the socket is gone by then).
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif

// Marks the stack frame of a callback of this socket: if the socket is
// destroyed inside the callback, the destructor sets `destroyed` and the
// dispatching code returns without touching the object again.
struct TcpSocket::Guard {
  TcpSocket* socket;
  Guard* outer;
  bool destroyed = false;
  explicit Guard(TcpSocket* s) noexcept : socket(s), outer(s->guard_) { s->guard_ = this; }
  ~Guard() {
    if (destroyed) {
      if (outer) outer->destroyed = true;
    } else {
      socket->guard_ = outer;
    }
  }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;
};

}  // namespace parley::net
