// src/net/tcp_listener.cpp — a listening socket that accepts into TcpSockets.
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/tcp.hpp"
#include "sys.hpp"

namespace parley::net {

using detail::sys_error;

namespace {

// Creates, binds and listens; returns the fd or an Error.
Result<int> open_listener(const Endpoint& ep, bool dual_stack, const ListenOptions& o) {
  const int family = ep.family == Endpoint::Family::v6 ? AF_INET6 : AF_INET;
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error(errno, "socket");
  auto fail = [&](const char* what) {
    int err = errno;
    ::close(fd);
    return sys_error(err, std::string(what) + " " + ep.to_string());
  };
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) return fail("setsockopt(SO_REUSEADDR)");
  if (o.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
    return fail("setsockopt(SO_REUSEPORT)");
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET6) {
    int v6only = dual_stack ? 0 : 1;
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0) return fail("setsockopt(IPV6_V6ONLY)");
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(ep.port);
    std::memcpy(&in6->sin6_addr, ep.address.data(), 16);
    len = sizeof(sockaddr_in6);
  } else {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(ep.port);
    std::memcpy(&in->sin_addr, ep.address.data(), 4);
    len = sizeof(sockaddr_in);
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) return fail("bind");
  if (::listen(fd, o.backlog > 0 ? o.backlog : 1024) < 0) return fail("listen");
  return fd;
}

}  // namespace

Result<std::unique_ptr<TcpListener>> TcpListener::listen(Loop& loop, const ListenOptions& options,
                                                         AcceptCallback on_accept) {
  if (!on_accept) return sys_error(EINVAL, "TcpListener::listen: no accept callback");
  const bool all = options.host.empty() || options.host == "::" || options.host == "[::]";
  Result<Endpoint> ep = Endpoint::parse(all ? std::string("::") : options.host, options.port);
  if (!ep) return ep.error();
  Result<int> fd = open_listener(*ep, all, options);
  if (!fd && all && options.host.empty()) {
    // No IPv6 on this host: every IPv4 interface instead.
    Endpoint v4;
    v4.family = Endpoint::Family::v4;
    v4.port = options.port;
    fd = open_listener(v4, false, options);
  }
  if (!fd) return fd.error();
  std::unique_ptr<TcpListener> l(new TcpListener(loop, *fd, options, std::move(on_accept)));
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(*fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return sys_error(errno, "getsockname");
  l->local_ = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
  l->token_ = loop.add_slot(l.get());
  if (Error e = loop.epoll_add(*fd, EPOLLIN, l->token_)) return e;
  return l;
}

TcpListener::TcpListener(Loop& loop, int fd, const ListenOptions& o, AcceptCallback on_accept) noexcept
    : loop_(&loop),
      fd_(fd),
      nodelay_(o.nodelay),
      max_accepts_(o.max_accepts_per_event > 0 ? o.max_accepts_per_event : 1),
      accept_pause_(o.accept_pause > Millis(0) ? o.accept_pause : Millis(1)),
      on_accept_(std::move(on_accept)) {}

TcpListener::~TcpListener() {
  if (destroyed_) *destroyed_ = true;
  close();
}

void TcpListener::close() noexcept {
  if (fd_ < 0) return;
  if (pause_timer_) loop_->cancel_timer(pause_timer_);
  pause_timer_ = {};
  loop_->epoll_del(fd_);
  loop_->free_slot(token_);
  ::close(fd_);
  fd_ = -1;
}

void TcpListener::on_io(std::uint32_t) {
  bool destroyed = false;
  // Restored however this returns (an accept callback may throw: the loop
  // catches it), unless the listener was destroyed meanwhile.
  struct Restore {
    TcpListener* self;
    const bool& destroyed;
    bool* outer;
    ~Restore() {
      if (!destroyed) self->destroyed_ = outer;
    }
  } restore{this, destroyed, destroyed_};
  destroyed_ = &destroyed;
  for (int i = 0; i < max_accepts_ && fd_ >= 0; ++i) {
    int cfd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;  // that client gave up; next
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        // Out of descriptors or memory: the pending connection stays in the
        // backlog and level-triggered epoll would report it again at once.
        // Stop watching for a while instead of spinning. (Should that fail,
        // the fd stays watched and accept is retried at once: no worse.)
        (void)loop_->epoll_mod(fd_, 0, token_);
        pause_timer_ = loop_->add_timer(accept_pause_, [this] { resume_accepting(); });
      }
      if (on_error_) {
        on_error_(sys_error(err, "accept on " + local_.to_string()));
        if (destroyed) return;
      }
      break;
    }
    auto s = std::unique_ptr<TcpSocket>(new (*loop_) TcpSocket(*loop_, cfd));
    s->token_ = loop_->add_slot(s.get());
    if (nodelay_) (void)s->set_nodelay(true);
    on_accept_(std::move(s));
    if (destroyed) return;
  }
}

void TcpListener::resume_accepting() {
  pause_timer_ = {};
  if (fd_ < 0) return;
  if (Error e = loop_->epoll_mod(fd_, EPOLLIN, token_); e && on_error_) on_error_(e);
}

}  // namespace parley::net
