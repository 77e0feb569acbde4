// A raw-socket WebSocket test server that misbehaves on purpose, for the
// client tests. It listens on 127.0.0.1 (port 0 unless told), and a thread
// of its own accepts connections one after the other and runs a scripted
// exchange on each (RawPeer): read the request head, answer whatever the
// test wants (a wrong accept key, a refusal with a body, a redirect,
// frames, silence, a close at any point). It shares no code with the client
// under test except the protocol layer's accept_key() and frame encoder,
// which are tested on their own. Every wait is bounded (and cut short when
// the server stops); the destructor stops and joins the thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "parley/protocol/frame.hpp"
#include "parley/protocol/handshake.hpp"
#include "parley/protocol/http.hpp"

namespace parley::test {

class RawWsServer;

/// One accepted connection, handed to the script on the server's thread.
/// Closed (FIN) when the script returns, unless the script closed or reset
/// it itself.
class RawPeer {
 public:
  using Ms = std::chrono::milliseconds;

  /// A frame the client sent, unmasked.
  struct ClientFrame {
    bool ok = false;  // a whole frame arrived (false: EOF, timeout, or not a valid masked frame)
    bool fin = true;
    protocol::Opcode opcode = protocol::Opcode::text;
    bool masked = false;
    std::uint8_t mask[4] = {};  // the masking key the client used
    std::string payload;
    /// The close code of a close frame (0 when it has none).
    int close_code() const {
      if (payload.size() < 2) return 0;
      return (static_cast<std::uint8_t>(payload[0]) << 8) | static_cast<std::uint8_t>(payload[1]);
    }
    std::string close_reason() const { return payload.size() > 2 ? payload.substr(2) : std::string(); }
  };

  RawPeer(int fd, const std::atomic<bool>& stopping, std::function<void(const protocol::Request&)> record)
      : fd_(fd), stopping_(stopping), record_(std::move(record)) {}
  ~RawPeer() { close(); }
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  /// Reads the request head (up to the empty line) and parses it; nullopt
  /// on EOF, timeout or a head that does not parse. The key it carried is
  /// kept for accept_response().
  std::optional<protocol::Request> read_request(Ms timeout = Ms(5000)) {
    const auto end = deadline(timeout);
    std::size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (fill(end) <= 0) return std::nullopt;
    }
    auto req = protocol::Request::parse(std::string_view(buf_).substr(0, head_end + 4));
    buf_.erase(0, head_end + 4);
    if (!req) return std::nullopt;
    if (auto k = req->headers.get("Sec-WebSocket-Key")) key_ = std::string(*k);
    if (record_) record_(*req);
    return *req;
  }

  /// The Sec-WebSocket-Key of the request read.
  const std::string& key() const { return key_; }

  /// A 101 answer with the right accept key for the request read (or
  /// `accept` as given), then `extra` header lines ("Name: value").
  std::string accept_response(const std::vector<std::string>& extra = {}, std::optional<std::string> accept = {}) const {
    std::string r = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    r += "Sec-WebSocket-Accept: " + accept.value_or(protocol::accept_key(key_)) + "\r\n";
    for (const auto& h : extra) r += h + "\r\n";
    r += "\r\n";
    return r;
  }

  /// An encoded server frame: unmasked unless `masked`.
  static std::string frame(protocol::Opcode op, std::string_view payload, bool fin = true, bool masked = false) {
    std::string out;
    const std::uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};
    protocol::append_frame(out, op, payload, fin, 0, masked ? key : nullptr);
    return out;
  }
  /// A close frame payload: code (big-endian) and reason.
  static std::string close_payload(int code, std::string_view reason = {}) {
    std::string p;
    p += static_cast<char>(code >> 8);
    p += static_cast<char>(code & 0xff);
    p += reason;
    return p;
  }

  /// Sends all of `bytes` (bounded).
  bool send(std::string_view bytes, Ms timeout = Ms(10000)) {
    const auto end = deadline(timeout);
    while (!bytes.empty() && fd_ >= 0) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        if (wait_for(POLLOUT, end) <= 0) return false;
        continue;
      }
      return false;
    }
    return bytes.empty();
  }

  /// Reads one frame from the client (which must be masked), bounded.
  ClientFrame read_frame(Ms timeout = Ms(5000)) {
    const auto end = deadline(timeout);
    for (;;) {
      const std::size_t need = frame_size();
      if (need == 0 || buf_.size() < need) {  // parse only whole frames: linear in the frame's size
        if (fill(end) <= 0) return {};
        continue;
      }
      std::size_t used = 0;
      protocol::FrameParserOptions o;
      o.role = protocol::Role::server;  // requires masked frames
      auto parsed = protocol::Frame::parse(buf_, o, used);
      if (!parsed) return {};
      if (*parsed) {
        const protocol::Frame& f = **parsed;
        ClientFrame out;
        out.ok = true;
        out.fin = f.fin;
        out.opcode = f.opcode;
        out.masked = f.masked;
        std::copy(std::begin(f.mask), std::end(f.mask), std::begin(out.mask));
        out.payload = f.payload;
        buf_.erase(0, used);
        return out;
      }
      if (fill(end) <= 0) return {};
    }
  }

  /// Reads the client's frames (dropping them) until its close frame, echoes
  /// the close (code only, as RFC 6455 suggests) and waits for its EOF: true
  /// when all that happened within `timeout`.
  bool answer_close(Ms timeout = Ms(5000)) {
    const auto end = deadline(timeout);
    for (;;) {
      const auto left = std::chrono::duration_cast<Ms>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      ClientFrame f = read_frame(left);
      if (!f.ok) return false;
      if (f.opcode != protocol::Opcode::close) continue;
      if (!send(frame(protocol::Opcode::close, f.payload.substr(0, 2)))) return false;
      return wait_eof(std::chrono::duration_cast<Ms>(end - std::chrono::steady_clock::now()));
    }
  }

  /// Reads until the client closes the connection (EOF or reset): true
  /// when it did within `timeout`. Frames it sends meanwhile are dropped.
  bool wait_eof(Ms timeout = Ms(5000)) {
    const auto end = deadline(timeout);
    for (;;) {
      buf_.clear();
      const int n = fill(end);
      if (n == 0 || n == -1) return true;
      if (n == -2) return false;
    }
  }

  /// Closes the socket (FIN).
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  /// Closes the socket with a reset (SO_LINGER 0).
  void reset() {
    if (fd_ < 0) return;
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
  }
  int fd() const { return fd_; }

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  static TimePoint deadline(Ms t) { return std::chrono::steady_clock::now() + t; }

  // Waits for `events` until `end` or the server stops: 1 ready, 0 timeout
  // or stopping, -1 error. Polls in short slices to notice a stop.
  int wait_for(short events, TimePoint end) {
    for (;;) {
      if (stopping_.load()) return 0;
      const auto left = std::chrono::duration_cast<Ms>(end - std::chrono::steady_clock::now()).count();
      if (left <= 0) return 0;
      pollfd p{fd_, events, 0};
      const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 20)));
      if (n > 0) return 1;
      if (n < 0 && errno != EINTR) return -1;
    }
  }

  // Reads what is available into buf_: bytes read (> 0), 0 on EOF, -1 on
  // an error (a reset), -2 on timeout or stop.
  int fill(TimePoint end) {
    if (fd_ < 0) return -1;
    for (;;) {
      char tmp[65536];
      const ssize_t n = ::recv(fd_, tmp, sizeof tmp, MSG_DONTWAIT);
      if (n > 0) {
        buf_.append(tmp, static_cast<std::size_t>(n));
        return static_cast<int>(n);
      }
      if (n == 0) return 0;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      const int w = wait_for(POLLIN, end);
      if (w == 0) return -2;
      if (w < 0) return -1;
    }
  }

  // The size on the wire of the frame at the front of buf_ (header,
  // masking key, payload), or 0 while its header is incomplete.
  std::size_t frame_size() const {
    if (buf_.size() < 2) return 0;
    const auto u = [&](std::size_t i) { return static_cast<std::uint8_t>(buf_[i]); };
    std::uint64_t len = u(1) & 0x7f;
    std::size_t off = 2;
    if (len == 126) {
      if (buf_.size() < 4) return 0;
      len = (static_cast<std::uint64_t>(u(2)) << 8) | u(3);
      off = 4;
    } else if (len == 127) {
      if (buf_.size() < 10) return 0;
      len = 0;
      for (std::size_t i = 0; i < 8; ++i) len = (len << 8) | u(2 + i);
      off = 10;
      if (len > (std::uint64_t{1} << 40)) return off;  // absurd: let the parser reject it
    }
    if (u(1) & 0x80) off += 4;
    return off + static_cast<std::size_t>(len);
  }

  int fd_;
  const std::atomic<bool>& stopping_;
  std::function<void(const protocol::Request&)> record_;
  std::string buf_;
  std::string key_;
};

/// The listening side: accepts on 127.0.0.1 and runs `script` on each
/// connection, one at a time, on its own thread.
class RawWsServer {
 public:
  using Script = std::function<void(RawPeer&)>;

  /// Listens on 127.0.0.1:`port` (0: an ephemeral port, see port()).
  explicit RawWsServer(Script script, std::uint16_t port = 0) : script_(std::move(script)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }

  ~RawWsServer() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  RawWsServer(const RawWsServer&) = delete;
  RawWsServer& operator=(const RawWsServer&) = delete;

  /// True when it listens.
  bool ok() const { return fd_ >= 0; }
  std::uint16_t port() const { return port_; }
  /// "ws://127.0.0.1:port" followed by `path`.
  std::string url(std::string_view path = "/") const {
    return "ws://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  /// Connections accepted so far.
  int accepted() const { return accepted_.load(); }
  /// Every request head read by the scripts so far.
  std::vector<protocol::Request> requests() const {
    std::lock_guard l(mutex_);
    return requests_;
  }

 private:
  void run() {
    while (!stopping_.load()) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      int one = 1;
      ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ++accepted_;
      RawPeer peer(c, stopping_, [this](const protocol::Request& r) {
        std::lock_guard l(mutex_);
        requests_.push_back(r);
      });
      if (script_) script_(peer);
    }
  }

  Script script_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  mutable std::mutex mutex_;
  std::vector<protocol::Request> requests_;
  std::thread thread_;
};

}  // namespace parley::test
