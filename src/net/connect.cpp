// src/net/connect.cpp — outgoing connections: off-loop name resolution,
// non-blocking connect over each resolved address, an overall timeout.
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "net/tcp.hpp"
#include "sys.hpp"

namespace parley::net {

using detail::sys_error;

namespace {

class ResolverCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "parley.resolver"; }
  std::string message(int value) const override { return ::gai_strerror(value); }
};

struct Address {
  sockaddr_storage storage{};
  socklen_t len = 0;
};

using Addresses = std::vector<Address>;

// getaddrinfo; blocking (so called on a worker thread unless AI_NUMERICHOST).
Result<Addresses> resolve(const std::string& host, std::uint16_t port, int flags) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = flags | AI_NUMERICSERV;
  std::string name = host;
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
  const std::string service = std::to_string(port);
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(name.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    if (rc == EAI_SYSTEM) return sys_error(errno, "cannot resolve " + host);
    return Error(std::error_code(rc, resolver_category()), "cannot resolve " + host + ": " + ::gai_strerror(rc));
  }
  Addresses out;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    Address a;
    std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
    a.len = ai->ai_addrlen;
    out.push_back(a);
  }
  ::freeaddrinfo(res);
  if (out.empty()) return Error(std::error_code(EAI_NONAME, resolver_category()), "cannot resolve " + host + ": no address");
  return out;
}

}  // namespace

const std::error_category& resolver_category() noexcept {
  static const ResolverCategory category;
  return category;
}

namespace detail {

struct ConnectOp final : IoHandler, std::enable_shared_from_this<ConnectOp> {
  Loop* loop;
  std::string host;
  std::uint16_t port;
  Millis timeout;
  bool nodelay;
  ConnectCallback callback;
  Addresses addrs;
  std::size_t next = 0;
  int fd = -1;
  std::uint64_t token = 0;
  bool in_epoll = false;
  TimerId timer;
  bool done = false;
  Error last_error;

  ConnectOp(Loop& l, std::string h, std::uint16_t p, Millis t, bool nd, ConnectCallback cb)
      : loop(&l), host(std::move(h)), port(p), timeout(t), nodelay(nd), callback(std::move(cb)) {}
  ~ConnectOp() { cancel(); }
  ConnectOp(const ConnectOp&) = delete;
  ConnectOp& operator=(const ConnectOp&) = delete;

  std::string target() const {
    if (host.find(':') != std::string::npos && host.front() != '[') return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
  }

  void start(std::optional<Addresses> known = std::nullopt) {
    if (timeout > Millis(0)) {
      timer = loop->add_timer(timeout, [this] {
        timer = {};
        finish(Error(std::make_error_code(std::errc::timed_out),
                     "connect to " + target() + " timed out after " + std::to_string(timeout.count()) + " ms"));
      });
    }
    std::weak_ptr<ConnectOp> weak = weak_from_this();
    if (known) {
      loop->post([weak, a = std::move(*known)]() mutable {
        if (auto op = weak.lock()) op->on_resolved(std::move(a));
      });
      return;
    }
    Result<Addresses> numeric = resolve(host, port, AI_NUMERICHOST);
    if (numeric) {
      // An IP literal: no thread; still answer from the loop, never inside connect().
      loop->post([weak, a = std::move(*numeric)]() mutable {
        if (auto op = weak.lock()) op->on_resolved(std::move(a));
      });
      return;
    }
    try {
      std::thread([link = loop->handle(), weak, h = host, p = port] {
        Result<Addresses> r = resolve(h, p, 0);
        link.post([weak, r = std::move(r)]() mutable {
          if (auto op = weak.lock()) op->on_resolved(std::move(r));
        });
      }).detach();
    } catch (const std::system_error& e) {
      Error err = sys_error(e.code().value(), "cannot start a resolver thread for " + host);
      loop->post([weak, err] {
        if (auto op = weak.lock()) op->finish(err);
      });
    }
  }

  void on_resolved(Result<Addresses> r) {
    if (done) return;
    if (!r) {
      finish(r.error());
      return;
    }
    if (r->empty()) {
      finish(sys_error(EINVAL, "connect: no address to connect to"));
      return;
    }
    addrs = std::move(*r);
    try_next();
  }

  void close_fd() noexcept {
    if (fd < 0) return;
    if (in_epoll) loop->epoll_del(fd);
    in_epoll = false;
    loop->free_slot(token);
    token = 0;
    ::close(fd);
    fd = -1;
  }

  void record(int err, const Address& a) {
    Endpoint ep = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&a.storage));
    last_error = sys_error(err, "connect to " + ep.to_string() + " failed");
  }

  void try_next() {
    while (!done && next < addrs.size()) {
      const Address& a = addrs[next++];
      fd = ::socket(a.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        record(errno, a);
        continue;
      }
      int rc;
      do {
        rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&a.storage), a.len);
      } while (rc < 0 && errno == EINTR);
      if (rc == 0) {
        succeed();
        return;
      }
      if (errno != EINPROGRESS) {
        record(errno, a);
        close_fd();
        continue;
      }
      token = loop->add_slot(this);
      if (Error e = loop->epoll_add(fd, EPOLLOUT, token)) {
        last_error = e;
        close_fd();
        continue;
      }
      in_epoll = true;
      return;  // on_io() continues
    }
    if (!done) finish(last_error ? last_error : sys_error(EHOSTUNREACH, "connect to " + target() + " failed"));
  }

  void on_io(std::uint32_t) override {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err == 0) {
      succeed();
      return;
    }
    record(err, addrs[next - 1]);
    close_fd();
    try_next();
  }

  void succeed() {
    if (in_epoll) loop->epoll_del(fd);
    in_epoll = false;
    if (token) loop->free_slot(token);
    token = 0;
    int sfd = fd;
    fd = -1;
    std::unique_ptr<TcpSocket> s(new (*loop) TcpSocket(*loop, sfd));
    s->token_ = loop->add_slot(s.get());
    if (nodelay) (void)s->set_nodelay(true);
    finish(std::move(s));
  }

  // Calls the callback; `this` may be destroyed by it, so nothing follows.
  void finish(Result<std::unique_ptr<TcpSocket>> result) {
    if (done) return;
    done = true;
    close_fd();
    if (timer) loop->cancel_timer(timer);
    timer = {};
    ConnectCallback cb = std::move(callback);
    callback = nullptr;
    if (cb) cb(std::move(result));
  }

  void cancel() noexcept {
    if (done) return;
    done = true;
    close_fd();
    if (timer) loop->cancel_timer(timer);
    timer = {};
    callback = nullptr;
  }
};

}  // namespace detail

ConnectHandle& ConnectHandle::operator=(ConnectHandle&& other) noexcept {
  if (this != &other) {
    cancel();
    op_ = std::move(other.op_);
  }
  return *this;
}

ConnectHandle::~ConnectHandle() { cancel(); }

void ConnectHandle::cancel() noexcept {
  if (op_) op_->cancel();
  op_.reset();
}

bool ConnectHandle::pending() const noexcept { return op_ && !op_->done; }

ConnectHandle connect(Loop& loop, const std::string& host, std::uint16_t port, Millis timeout,
                      ConnectCallback callback, bool nodelay) {
  auto op = std::make_shared<detail::ConnectOp>(loop, host, port, timeout, nodelay, std::move(callback));
  op->start();
  return ConnectHandle(std::move(op));
}

ConnectHandle connect(Loop& loop, std::vector<Endpoint> endpoints, Millis timeout, ConnectCallback callback,
                      bool nodelay) {
  Addresses addrs;
  for (const Endpoint& ep : endpoints) {
    Address a;
    if (ep.family == Endpoint::Family::v6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(ep.port);
      std::memcpy(&in6->sin6_addr, ep.address.data(), 16);
      a.len = sizeof(sockaddr_in6);
    } else if (ep.family == Endpoint::Family::v4) {
      auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
      in->sin_family = AF_INET;
      in->sin_port = htons(ep.port);
      std::memcpy(&in->sin_addr, ep.address.data(), 4);
      a.len = sizeof(sockaddr_in);
    } else {
      continue;
    }
    addrs.push_back(a);
  }
  std::string name = endpoints.empty() ? std::string("(no address)") : endpoints.front().address_string();
  std::uint16_t port = endpoints.empty() ? 0 : endpoints.front().port;
  auto op = std::make_shared<detail::ConnectOp>(loop, std::move(name), port, timeout, nodelay, std::move(callback));
  op->start(std::move(addrs));
  return ConnectHandle(std::move(op));
}

}  // namespace parley::net
