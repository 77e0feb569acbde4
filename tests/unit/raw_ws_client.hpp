// A blocking raw-socket WebSocket client for the server tests: it writes
// exactly the bytes a test asks for (any opcode, FIN, RSV, masked or not)
// and decodes what the server sends with its own small frame reader, so it
// does not share the code under test. Every wait is bounded by a poll(2)
// deadline.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "parley/protocol/handshake.hpp"
#include "parley/protocol/http.hpp"

namespace parley::test {

using Ms = std::chrono::milliseconds;

/// One frame as received from the server (unmasked by the server).
struct RawFrame {
  bool fin = true;
  std::uint8_t rsv = 0;  // the RSV bits as 0x40 | 0x20 | 0x10
  std::uint8_t opcode = 0;
  bool masked = false;
  std::string payload;

  /// The close code of a close frame (0 when it has none).
  int close_code() const {
    if (payload.size() < 2) return 0;
    return (static_cast<std::uint8_t>(payload[0]) << 8) | static_cast<std::uint8_t>(payload[1]);
  }
  /// The reason of a close frame.
  std::string close_reason() const { return payload.size() > 2 ? payload.substr(2) : std::string(); }
};

/// What read_frame() found.
struct ReadResult {
  enum class Kind { frame, eof, timeout, error } kind = Kind::timeout;
  RawFrame frame;
  bool is_frame() const { return kind == Kind::frame; }
};

/// A parsed HTTP response (head and, with Content-Length, body).
struct HttpReply {
  bool ok = false;  // a complete head was received and parsed
  int status = 0;
  std::string reason;
  protocol::Headers headers;
  std::string body;
  std::string raw_head;  // the head as received, status line included
  bool accept_matches = false;  // Sec-WebSocket-Accept is right for the key sent
};

inline constexpr std::uint8_t kText = 0x1;
inline constexpr std::uint8_t kBinary = 0x2;
inline constexpr std::uint8_t kCont = 0x0;
inline constexpr std::uint8_t kClose = 0x8;
inline constexpr std::uint8_t kPing = 0x9;
inline constexpr std::uint8_t kPong = 0xA;

class RawWsClient {
 public:
  RawWsClient() = default;
  ~RawWsClient() { close(); }
  RawWsClient(const RawWsClient&) = delete;
  RawWsClient& operator=(const RawWsClient&) = delete;
  RawWsClient(RawWsClient&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), buf_(std::move(o.buf_)), pos_(o.pos_), key_(std::move(o.key_)) {}

  /// Connects to `ip` (an IPv4 or IPv6 literal) and `port`. `rcvbuf` > 0
  /// sets SO_RCVBUF before connecting (a small window, for backpressure).
  bool connect(const std::string& ip, std::uint16_t port, int rcvbuf = 0, Ms timeout = Ms(5000)) {
    close();
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (ip.find(':') != std::string::npos) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(port);
      if (inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr) != 1) return false;
      len = sizeof(sockaddr_in6);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(port);
      if (inet_pton(AF_INET, ip.c_str(), &a->sin_addr) != 1) return false;
      len = sizeof(sockaddr_in);
    }
    fd_ = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      if (errno != EINPROGRESS) return fail();
      if (!wait_for(POLLOUT, deadline(timeout))) return fail();
      int err = 0;
      socklen_t el = sizeof err;
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &el);
      if (err != 0) return fail();
    }
    return true;
  }

  int fd() const { return fd_; }
  bool connected() const { return fd_ >= 0; }
  /// This end's port (to compare with the server's remote endpoint).
  std::uint16_t local_port() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }

  /// Sends all of `bytes` (bounded by `timeout`).
  bool send_raw(std::string_view bytes, Ms timeout = Ms(10000)) {
    const auto end = deadline(timeout);
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        if (!wait_for(POLLOUT, end)) return false;
        continue;
      }
      return false;
    }
    return true;
  }

  /// The upgrade request this client sends: GET `target`, the usual
  /// headers, then `extra` (each "Name: value", without CRLF).
  std::string upgrade_request(const std::string& target = "/", const std::vector<std::string>& extra = {}) {
    key_ = protocol::generate_key();
    std::string r = "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    r += "Sec-WebSocket-Key: " + key_ + "\r\nSec-WebSocket-Version: 13\r\n";
    for (const auto& h : extra) r += h + "\r\n";
    r += "\r\n";
    return r;
  }

  /// Sends an upgrade request and reads the response head (and a body of
  /// Content-Length bytes, if any). After a 101, bytes that follow the head
  /// stay buffered for read_frame().
  HttpReply handshake(const std::string& target = "/", const std::vector<std::string>& extra = {},
                      Ms timeout = Ms(5000)) {
    if (!send_raw(upgrade_request(target, extra))) return {};
    return read_response(timeout);
  }

  /// Sends `request` as is and reads the response.
  HttpReply request(std::string_view request, Ms timeout = Ms(5000)) {
    key_.clear();
    if (!send_raw(request)) return {};
    return read_response(timeout);
  }

  /// Reads one HTTP response head, and its body when it has a Content-Length.
  HttpReply read_response(Ms timeout = Ms(5000)) {
    HttpReply reply;
    const auto end = deadline(timeout);
    std::size_t head_end;
    while ((head_end = pending().find("\r\n\r\n")) == std::string_view::npos) {
      if (fill(end) <= 0) return reply;
    }
    reply.raw_head = std::string(pending().substr(0, head_end + 4));
    pos_ += head_end + 4;
    auto parsed = protocol::Response::parse(reply.raw_head);
    if (!parsed) return reply;
    reply.status = parsed->status;
    reply.reason = parsed->reason;
    reply.headers = parsed->headers;
    if (auto cl = reply.headers.get("Content-Length")) {
      const std::size_t want = std::stoul(std::string(*cl));
      while (pending().size() < want) {
        if (fill(end) <= 0) return reply;
      }
      reply.body = std::string(pending().substr(0, want));
      pos_ += want;
    }
    if (!key_.empty()) {
      auto acc = reply.headers.get("Sec-WebSocket-Accept");
      reply.accept_matches = acc && *acc == protocol::accept_key(key_);
    }
    reply.ok = true;
    return reply;
  }

  /// Encodes one frame: `mask` as a client must (the default).
  static std::string encode(std::uint8_t opcode, std::string_view payload, bool fin = true, std::uint8_t rsv = 0,
                            bool mask = true) {
    std::string f;
    f.reserve(payload.size() + 14);
    f += static_cast<char>((fin ? 0x80 : 0) | (rsv & 0x70) | (opcode & 0x0f));
    const std::uint8_t m = mask ? 0x80 : 0;
    if (payload.size() < 126) {
      f += static_cast<char>(m | payload.size());
    } else if (payload.size() <= 0xffff) {
      f += static_cast<char>(m | 126);
      f += static_cast<char>(payload.size() >> 8);
      f += static_cast<char>(payload.size() & 0xff);
    } else {
      f += static_cast<char>(m | 127);
      for (int i = 7; i >= 0; --i) f += static_cast<char>((static_cast<std::uint64_t>(payload.size()) >> (8 * i)) & 0xff);
    }
    const std::uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    if (mask) f.append(reinterpret_cast<const char*>(key), 4);
    const std::size_t start = f.size();
    f.append(payload);
    if (mask) {
      for (std::size_t i = 0; i < payload.size(); ++i) f[start + i] = static_cast<char>(f[start + i] ^ key[i & 3]);
    }
    return f;
  }

  /// Sends one frame of any opcode, FIN and RSV bits, masked unless told.
  bool send_frame(std::uint8_t opcode, std::string_view payload, bool fin = true, std::uint8_t rsv = 0,
                  bool mask = true) {
    return send_raw(encode(opcode, payload, fin, rsv, mask));
  }
  bool send_text(std::string_view s) { return send_frame(kText, s); }
  bool send_binary(std::string_view s) { return send_frame(kBinary, s); }
  /// Sends a close frame with `code` (0: no payload) and `reason`.
  bool send_close(int code, std::string_view reason = {}) {
    std::string p;
    if (code != 0) {
      p += static_cast<char>(code >> 8);
      p += static_cast<char>(code & 0xff);
      p += reason;
    }
    return send_frame(kClose, p);
  }

  /// Reads one frame, waiting at most `timeout` for it.
  ReadResult read_frame(Ms timeout = Ms(5000)) {
    ReadResult r;
    const auto end = deadline(timeout);
    for (;;) {
      if (parse_frame(r.frame)) {
        r.kind = ReadResult::Kind::frame;
        return r;
      }
      const int n = fill(end);
      if (n == 0) {
        r.kind = ReadResult::Kind::eof;
        return r;
      }
      if (n < 0) {
        r.kind = n == -2 ? ReadResult::Kind::timeout : ReadResult::Kind::error;
        return r;
      }
    }
  }

  /// Reads one frame, skipping pings and pongs (which it records).
  ReadResult read_data_or_close(Ms timeout = Ms(5000)) {
    const auto end = deadline(timeout);
    for (;;) {
      const auto left = std::chrono::duration_cast<Ms>(end - std::chrono::steady_clock::now());
      ReadResult r = read_frame(left.count() > 0 ? left : Ms(0));
      if (r.is_frame() && (r.frame.opcode == kPing || r.frame.opcode == kPong)) continue;
      return r;
    }
  }

  /// Reads and discards until the server closes the connection: true when
  /// EOF (or a reset) came within `timeout`. `rest` receives what was read.
  bool read_until_eof(Ms timeout = Ms(5000), std::string* rest = nullptr) {
    const auto end = deadline(timeout);
    for (;;) {
      if (rest) rest->append(pending());
      pos_ = buf_.size();
      const int n = fill(end);
      if (n == 0 || n == -1) return true;  // EOF, or a reset (also the end)
      if (n == -2) return false;
    }
  }

  /// Closes the socket (FIN).
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
    pos_ = 0;
  }
  /// Closes the socket with a reset (SO_LINGER 0): an abrupt loss.
  void reset() {
    if (fd_ < 0) return;
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
  }

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  static TimePoint deadline(Ms t) { return std::chrono::steady_clock::now() + t; }

  bool fail() {
    close();
    return false;
  }

  std::string_view pending() const { return std::string_view(buf_).substr(pos_); }

  // Waits for `events` until `end`: false on timeout.
  bool wait_for(short events, TimePoint end) {
    for (;;) {
      const auto left = std::chrono::duration_cast<Ms>(end - std::chrono::steady_clock::now()).count();
      pollfd p{fd_, events, 0};
      const int n = ::poll(&p, 1, left > 0 ? static_cast<int>(left) : 0);
      if (n > 0) return true;
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
  }

  // Reads what is available (waiting until `end`): bytes read (> 0), 0 on
  // EOF, -1 on an error (e.g. a reset), -2 on timeout.
  int fill(TimePoint end) {
    if (fd_ < 0) return -1;
    if (pos_ > 0 && pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
    } else if (pos_ > (1u << 20)) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    for (;;) {
      char tmp[65536];
      const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n > 0) {
        buf_.append(tmp, static_cast<std::size_t>(n));
        return static_cast<int>(n);
      }
      if (n == 0) return 0;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      if (!wait_for(POLLIN, end)) return -2;
    }
  }

  // Takes one whole frame from the front of the buffer, if there is one.
  bool parse_frame(RawFrame& f) {
    const std::string_view b = pending();
    if (b.size() < 2) return false;
    const auto u = [&](std::size_t i) { return static_cast<std::uint8_t>(b[i]); };
    std::size_t off = 2;
    std::uint64_t len = u(1) & 0x7f;
    if (len == 126) {
      if (b.size() < 4) return false;
      len = (static_cast<std::uint64_t>(u(2)) << 8) | u(3);
      off = 4;
    } else if (len == 127) {
      if (b.size() < 10) return false;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | u(2 + static_cast<std::size_t>(i));
      off = 10;
    }
    const bool masked = (u(1) & 0x80) != 0;
    std::uint8_t key[4] = {};
    if (masked) {
      if (b.size() < off + 4) return false;
      for (int i = 0; i < 4; ++i) key[i] = u(off + static_cast<std::size_t>(i));
      off += 4;
    }
    if (b.size() - off < len) return false;
    f.fin = (u(0) & 0x80) != 0;
    f.rsv = static_cast<std::uint8_t>(u(0) & 0x70);
    f.opcode = static_cast<std::uint8_t>(u(0) & 0x0f);
    f.masked = masked;
    f.payload.assign(b.substr(off, static_cast<std::size_t>(len)));
    if (masked) {
      for (std::size_t i = 0; i < f.payload.size(); ++i) f.payload[i] = static_cast<char>(f.payload[i] ^ key[i & 3]);
    }
    pos_ += off + static_cast<std::size_t>(len);
    return true;
  }

  int fd_ = -1;
  std::string buf_;
  std::size_t pos_ = 0;
  std::string key_;
};

}  // namespace parley::test
