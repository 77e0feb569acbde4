// parley_fanout_bench: the fan-out load generator of bench/fanout_figures.sh
// (issue 16). One thread, raw epoll and non-blocking sockets, its own client
// handshake (the protocol layer's request, answer check and frame parser):
// no parley::Client in the way.
//
//   parley_fanout_bench URL [options]
//
// Opens N subscriber connections and then one publisher to URL (a topic:
// every message sent on it reaches every connection of that URL, the sender
// included, e.g. `parley serve`'s ws://127.0.0.1:PORT/chat/bench), waits until
// all are open, then the publisher sends M binary messages of S bytes. Each
// payload carries its sequence number (8 bytes little-endian at the start,
// its low byte again at the end); every receiver checks the size, that
// numbers only go up (a repeat or a step back is an error) and counts the
// numbers it never saw as missed.
//
// Flow control: at most W messages in flight, a message being delivered
// when the publisher received its own copy (it is a member too); and
// at most --max-backlog bytes published but not yet read by the subscribers
// over all (so that a generator slower than the server measures itself, not
// the server's buffer limits). --rate bounds messages per second (0: as fast
// as the window allows).
//
// Output: a few human lines, then one line "RESULT key=value ..." for the
// scripts. Figures: deliveries (messages the N subscribers received; the
// publisher's own copies are not counted), deliveries per second (first
// publish to last delivery), the server's CPU (utime + stime of
// /proc/PID/stat, all its threads) per million deliveries, this generator's
// CPU as a share of one core, missed deliveries. Bounded: --time-limit for
// the whole run, --drain for the wait after the last publish; the first
// error (refused connection, close frame, bad data) stops the run. Exit
// status 0 for a finished run (whatever the figures), 1 on an error, 2 for a
// usage error.
#include <parley/protocol/frame.hpp>
#include <parley/protocol/handshake.hpp>
#include <parley/protocol/http.hpp>
#include <parley/protocol/uri.hpp>

#include "common.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace proto = parley::protocol;
using Clock = std::chrono::steady_clock;

struct Settings {
  std::string url;
  unsigned subscribers = 1000;
  std::uint64_t messages = 10000;
  std::size_t size = 16;
  unsigned window = 64;
  double rate = 0;  // messages per second; 0: unbounded
  double seconds = 0;  // publishing stops after this long; 0: when M are published
  std::uint64_t max_backlog = 64u << 20;
  int server_pid = 0;
  double time_limit = 120;
  double drain = 3;
  unsigned connecting = 256;  // connections in their handshake at once
};

const char usage[] =
    "usage: parley_fanout_bench URL [-n SUBSCRIBERS] [-m MESSAGES] [-d SECONDS] [-s BYTES] [-w WINDOW] [-r RATE]\n"
    "                           [--max-backlog BYTES] [--server-pid PID] [--time-limit SECONDS]\n"
    "                           [--drain SECONDS] [--connecting N]\n"
    "  URL            ws://127.0.0.1:PORT/PATH, a topic whose members get every message sent on it\n"
    "  -n             subscriber connections (default 1000), plus one publisher\n"
    "  -m             messages published (default 10000)\n"
    "  -d             or fewer: publishing stops after this many seconds (default 0: no limit)\n"
    "  -s             message size in bytes, >= 9 (default 16)\n"
    "  -w             messages in flight: sent, the publisher's own copy not yet back (default 64)\n"
    "  -r             messages per second, 0 = as fast as the window allows (default 0)\n"
    "  --max-backlog  bytes published but not yet read by the subscribers, at most (default 64M)\n"
    "  (byte counts take a K, M or G suffix)\n"
    "  --server-pid   the server's process, for its CPU time (/proc/PID/stat); 0 = not measured\n"
    "  --time-limit   the whole run, connecting included (default 120 s)\n"
    "  --drain        after the last publish, how long to wait for a delivery before giving up (default 3 s)\n"
    "  --connecting   handshakes in progress at once (default 256)\n";

bool parse_args(int argc, char** argv, Settings& s) {
  const auto option = [&s](std::string_view a, const char* v) {
    double d = 0;
    if (!bench::parse_number(v, d)) return false;
    const auto u = static_cast<std::uint64_t>(d);
    if (a == "-n") s.subscribers = static_cast<unsigned>(u);
    else if (a == "-m") s.messages = u;
    else if (a == "-s") s.size = static_cast<std::size_t>(u);
    else if (a == "-w") s.window = static_cast<unsigned>(u);
    else if (a == "-r") s.rate = d;
    else if (a == "-d") s.seconds = d;
    else if (a == "--max-backlog") s.max_backlog = u;
    else if (a == "--server-pid") s.server_pid = static_cast<int>(u);
    else if (a == "--time-limit") s.time_limit = d;
    else if (a == "--drain") s.drain = d;
    else if (a == "--connecting") s.connecting = static_cast<unsigned>(u);
    else return false;
    return true;
  };
  const auto url = [&s](std::string_view a) {
    if (!s.url.empty()) return false;
    s.url = a;
    return true;
  };
  return bench::walk_command_line(argc, argv, option, url) && !s.url.empty() && s.subscribers > 0 &&
         s.messages > 0 && s.size >= 9 && s.window > 0 && s.connecting > 0;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Conn {
  enum class State : std::uint8_t { connecting, handshake, open, closing, done };
  State state = State::connecting;
  bool publisher = false;
  int fd = -1;
  std::string key;   // handshake: the Sec-WebSocket-Key sent
  std::string head;  // handshake: the answer so far
  std::string out;   // bytes to write (request, publisher frames, pongs, close)
  std::size_t out_at = 0;
  proto::FrameParser parser{proto::FrameParserOptions{proto::Role::client, 0, 0}};
  // the frame being read
  std::uint64_t payload_at = 0;
  std::uint8_t seq_bytes[8]{};
  std::uint8_t last_byte = 0;
  std::string control;  // a control frame's payload
  // what arrived
  std::uint64_t expect = 0;  // the next sequence number
  std::uint64_t received = 0;
};

class Fanout {
 public:
  explicit Fanout(const Settings& s) : s_(s) {}
  int run();

 private:
  bool start_connect(Conn& c);
  void on_event(Conn& c, std::uint32_t events);
  bool on_head(Conn& c, std::uint8_t* data, std::size_t n);
  bool receive(Conn& c, std::uint8_t* data, std::size_t n);
  bool end_frame(Conn& c);
  bool flush(Conn& c);
  void fail(Conn& c, const std::string& why);
  void finish(Conn& c);
  void publish_more();
  void poll(int timeout_ms);
  void close_all();
  std::uint64_t backlog() const noexcept {  // deliveries published and not yet read
    return published_ * s_.subscribers - delivered_ - missed_;
  }

  const Settings& s_;
  sockaddr_in addr_{};
  proto::ClientHandshake handshake_;
  int ep_ = -1;
  std::vector<std::unique_ptr<Conn>> conns_;  // the subscribers, then the publisher
  std::vector<std::uint8_t> buf_ = std::vector<std::uint8_t>(256 * 1024);
  std::minstd_rand rng_{std::random_device{}()};
  std::string payload_;
  unsigned opened_ = 0, in_handshake_ = 0, started_ = 0;
  std::string error_;  // the first error; stops the run
  std::uint64_t errors_ = 0;
  // counted over the subscribers
  std::uint64_t delivered_ = 0, missed_ = 0;
  Clock::time_point last_delivery_{};
  // the publisher
  std::uint64_t published_ = 0, acked_ = 0;  // acked: sequence numbers the publisher saw come back (or skip)
  Clock::time_point publish_start_{};
};

bool Fanout::start_connect(Conn& c) {
  c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) {
    fail(c, std::string("socket: ") + std::strerror(errno));
    return false;
  }
  const int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &c;
  epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
  ++in_handshake_;
  ++started_;
  if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_) != 0 && errno != EINPROGRESS) {
    fail(c, std::string("connect: ") + std::strerror(errno));
    return false;
  }
  auto req = proto::make_request(handshake_);
  if (!req) {
    fail(c, req.error().message());
    return false;
  }
  c.key = std::move(req->key);
  c.out = req->request.serialize();  // written once connected (EPOLLOUT)
  return true;
}

void Fanout::fail(Conn& c, const std::string& why) {
  if (c.state == Conn::State::done) return;
  if (c.state == Conn::State::closing) {  // measured already: the end of a connection being closed
    finish(c);
    return;
  }
  ++errors_;
  if (error_.empty()) {
    error_ = (c.publisher ? "publisher: " : "subscriber: ") + why;
  }
  if (c.state == Conn::State::connecting || c.state == Conn::State::handshake) --in_handshake_;
  finish(c);
}

void Fanout::finish(Conn& c) {
  if (c.fd >= 0) ::close(c.fd);
  c.fd = -1;
  c.state = Conn::State::done;
  std::string().swap(c.out);
  std::string().swap(c.head);
}

bool Fanout::flush(Conn& c) {
  while (c.out_at < c.out.size()) {
    const ssize_t n = ::send(c.fd, c.out.data() + c.out_at, c.out.size() - c.out_at, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_at += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return true;
    } else {
      fail(c, std::string("send: ") + std::strerror(errno));
      return false;
    }
  }
  c.out.clear();
  c.out_at = 0;
  return true;
}

void Fanout::on_event(Conn& c, std::uint32_t events) {
  if (c.fd < 0) return;
  if (c.state == Conn::State::connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      fail(c, std::string("connect: ") + std::strerror(err));
      return;
    }
    if (!(events & EPOLLOUT)) return;
    c.state = Conn::State::handshake;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
    // Edge-triggered: read until the socket is empty.
    for (;;) {
      const ssize_t n = ::read(c.fd, buf_.data(), buf_.size());
      if (n > 0) {
        const auto len = static_cast<std::size_t>(n);
        const bool ok = c.state == Conn::State::handshake ? on_head(c, buf_.data(), len) : receive(c, buf_.data(), len);
        if (!ok || c.fd < 0) return;
        if (len < buf_.size()) break;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && errno == EAGAIN) {
        break;
      } else if (c.state == Conn::State::closing) {  // the server's end after our close: done
        finish(c);
        return;
      } else {
        fail(c, n == 0 ? "the server closed the TCP connection" : std::string("read: ") + std::strerror(errno));
        return;
      }
    }
  }
  flush(c);
}

bool Fanout::on_head(Conn& c, std::uint8_t* data, std::size_t n) {
  const std::size_t before = c.head.size();
  c.head.append(reinterpret_cast<const char*>(data), n);
  const std::size_t end = c.head.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
  if (end == std::string::npos) {
    if (c.head.size() > 16 * 1024) fail(c, "the handshake answer is over 16 KiB");
    return c.fd >= 0;
  }
  const std::size_t head_size = end + 4;
  auto response = proto::Response::parse(std::string_view(c.head).substr(0, head_size));
  if (!response) {
    fail(c, "bad handshake answer: " + response.error().message());
    return false;
  }
  if (auto ok = proto::validate_response(*response, c.key, {}, {}); !ok) {
    fail(c, ok.error().message());
    return false;
  }
  const std::size_t rest = c.head.size() - head_size;  // frames right behind the head: the tail of `data`
  std::string().swap(c.head);
  std::string().swap(c.key);
  c.state = Conn::State::open;
  --in_handshake_;
  ++opened_;
  return rest == 0 || receive(c, data + n - rest, rest);
}

bool Fanout::receive(Conn& c, std::uint8_t* data, std::size_t n) {
  for (;;) {
    const proto::FrameParser::Chunk ch = c.parser.next(data, n);
    if (ch.kind == proto::FrameParser::Chunk::Kind::need_more) return true;
    if (ch.kind == proto::FrameParser::Chunk::Kind::error) {
      fail(c, "bad frame: " + c.parser.error().message());
      return false;
    }
    const proto::FrameHeader& h = c.parser.header();
    if (ch.frame_start) {
      c.payload_at = 0;
      c.control.clear();
      if (!proto::is_control(h.opcode) && (h.opcode != proto::Opcode::binary || !h.fin)) {
        fail(c, "unexpected frame (a fragment or not binary)");
        return false;
      }
    }
    if (proto::is_control(h.opcode)) {
      c.control.append(reinterpret_cast<const char*>(ch.data), ch.size);
    } else {
      if (c.payload_at < 8) {
        const std::size_t take = std::min<std::size_t>(8 - c.payload_at, ch.size);
        std::memcpy(c.seq_bytes + c.payload_at, ch.data, take);
      }
      if (ch.size != 0) c.last_byte = ch.data[ch.size - 1];
      c.payload_at += ch.size;
    }
    if (ch.frame_end && !end_frame(c)) return false;
  }
}

/// A whole frame is in: checks a message, answers a ping, or ends.
bool Fanout::end_frame(Conn& c) {
  const proto::FrameHeader& h = c.parser.header();
  switch (h.opcode) {
    case proto::Opcode::ping: {
      std::uint8_t mask[4];
      const std::uint32_t m = static_cast<std::uint32_t>(rng_());
      std::memcpy(mask, &m, 4);
      proto::append_frame(c.out, proto::Opcode::pong, c.control, true, 0, mask);
      return true;
    }
    case proto::Opcode::pong:
      return true;
    case proto::Opcode::close:
      if (c.state == Conn::State::closing) return true;  // the answer to ours
      fail(c, "the server sent a close frame");
      return false;
    default:
      break;
  }
  std::uint64_t seq = 0;
  for (int i = 7; i >= 0; --i) seq = (seq << 8) | c.seq_bytes[i];
  if (h.payload_length != s_.size || c.last_byte != static_cast<std::uint8_t>(seq)) {
    fail(c, "message " + std::to_string(seq) + ": wrong size or content");
    return false;
  }
  if (seq < c.expect || seq >= published_) {
    fail(c, "message " + std::to_string(seq) + " after " + std::to_string(c.expect) +
                (seq >= published_ ? " (never published)" : " (a repeat, or out of order)"));
    return false;
  }
  const std::uint64_t skipped = seq - c.expect;
  c.expect = seq + 1;
  ++c.received;
  if (c.publisher) {
    acked_ = c.expect;
  } else {
    ++delivered_;
    missed_ += skipped;
    last_delivery_ = Clock::now();
  }
  return true;
}

void Fanout::publish_more() {
  Conn& p = *conns_.back();
  if (p.state != Conn::State::open) return;
  const std::uint64_t frame_cost = s_.size * s_.subscribers;
  std::uint64_t allowed = s_.messages;
  if (s_.seconds > 0 && seconds_since(publish_start_) >= s_.seconds) allowed = published_;
  if (s_.rate > 0) {
    allowed = std::min<std::uint64_t>(allowed, 1 + static_cast<std::uint64_t>(seconds_since(publish_start_) * s_.rate));
  }
  bool queued = false;
  while (published_ < allowed && published_ - acked_ < s_.window && backlog() * s_.size + frame_cost <= s_.max_backlog &&
         p.out.size() < (1u << 20)) {
    const std::uint64_t seq = published_++;
    for (int i = 0; i < 8; ++i) payload_[static_cast<std::size_t>(i)] = static_cast<char>(seq >> (8 * i));
    payload_.back() = static_cast<char>(seq);
    std::uint8_t mask[4];
    const std::uint32_t m = static_cast<std::uint32_t>(rng_());
    std::memcpy(mask, &m, 4);
    proto::append_frame(p.out, proto::Opcode::binary, payload_, true, 0, mask);
    queued = true;
  }
  if (queued) flush(p);
}

void Fanout::poll(int timeout_ms) {
  epoll_event events[1024];
  const int n = epoll_wait(ep_, events, 1024, timeout_ms);
  for (int i = 0; i < n; ++i) on_event(*static_cast<Conn*>(events[i].data.ptr), events[i].events);
}

/// Sends a close frame on every open connection and waits (2 s at most)
/// for the server to end each TCP connection first (so that the TIME_WAIT
/// is the server's, not this port's), then drops what is left.
void Fanout::close_all() {
  static constexpr char bye[] = "\x03\xe8";  // 1000
  for (auto& cp : conns_) {
    Conn& c = *cp;
    if (c.state != Conn::State::open) continue;
    std::uint8_t mask[4] = {1, 2, 3, 4};
    proto::append_frame(c.out, proto::Opcode::close, std::string_view(bye, 2), true, 0, mask);
    c.state = Conn::State::closing;
    flush(c);
  }
  const auto t0 = Clock::now();
  auto closing = [&] {
    return std::any_of(conns_.begin(), conns_.end(), [](const auto& c) { return c->state == Conn::State::closing; });
  };
  while (closing() && seconds_since(t0) < 2) poll(10);
  const linger abort{1, 0};
  for (auto& cp : conns_) {
    if (cp->fd < 0) continue;
    setsockopt(cp->fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    finish(*cp);
  }
}

int Fanout::run() {
  auto uri = proto::Uri::parse(s_.url);
  if (!uri || uri->scheme() != "ws" || inet_pton(AF_INET, uri->host().c_str(), &addr_.sin_addr) != 1) {
    std::fprintf(stderr, "parley_fanout_bench: %s: a ws:// URL with an IPv4 address is needed\n", s_.url.c_str());
    return 2;
  }
  addr_.sin_family = AF_INET;
  addr_.sin_port = htons(uri->port());
  handshake_.uri = *uri;

  // Descriptors: one per connection and a few more.
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  const rlim_t need = s_.subscribers + 64;
  if (nofile.rlim_cur < need) {
    nofile.rlim_cur = std::min(nofile.rlim_max, std::max<rlim_t>(need, nofile.rlim_cur));
    setrlimit(RLIMIT_NOFILE, &nofile);
    getrlimit(RLIMIT_NOFILE, &nofile);
    if (nofile.rlim_cur < need) {
      std::fprintf(stderr, "parley_fanout_bench: %u connections need %lu descriptors; the hard limit is %lu\n",
                   s_.subscribers + 1, static_cast<unsigned long>(need), static_cast<unsigned long>(nofile.rlim_max));
      return 1;
    }
  }
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  for (unsigned i = 0; i <= s_.subscribers; ++i) conns_.push_back(std::make_unique<Conn>());
  conns_.back()->publisher = true;
  payload_.assign(s_.size, 'x');

  const auto t0 = Clock::now();
  auto over_time = [&] { return seconds_since(t0) > s_.time_limit; };

  // 1. Connect the subscribers, a bounded number of handshakes at once, then the publisher.
  while (error_.empty() && !over_time() && opened_ < s_.subscribers) {
    while (started_ < s_.subscribers && in_handshake_ < s_.connecting && error_.empty()) start_connect(*conns_[started_]);
    poll(10);
  }
  if (error_.empty() && !over_time()) start_connect(*conns_.back());
  while (error_.empty() && !over_time() && opened_ < s_.subscribers + 1) poll(10);
  const double connect_s = seconds_since(t0);
  if (error_.empty() && opened_ < s_.subscribers + 1) error_ = "not every connection was open within the time limit";
  std::printf("connections: %u of %u open in %.2f s (%u subscribers and the publisher)\n", opened_, s_.subscribers + 1,
              connect_s, s_.subscribers);
  std::fflush(stdout);
  if (!error_.empty()) {  // nothing to measure
    close_all();
    std::printf("error: %s (%llu connection(s) failed)\n", error_.c_str(), static_cast<unsigned long long>(errors_));
    return 1;
  }

  // 2. Publish, counting deliveries; then wait for the stragglers.
  const double server0 = s_.server_pid > 0 ? bench::process_cpu_seconds(s_.server_pid) : -1;
  const double own0 = bench::own_cpu_seconds();
  publish_start_ = last_delivery_ = Clock::now();
  bool timed_out = false;
  while (error_.empty()) {
    if (over_time()) {
      timed_out = true;
      break;
    }
    publish_more();
    const bool all_sent =
        published_ == s_.messages || (s_.seconds > 0 && seconds_since(publish_start_) >= s_.seconds);
    if (all_sent && delivered_ + missed_ >= published_ * s_.subscribers) break;
    if (all_sent && std::chrono::duration<double>(Clock::now() - last_delivery_).count() > s_.drain) break;
    poll(s_.rate > 0 || all_sent ? 1 : 10);
  }
  const auto t_end = delivered_ > 0 ? last_delivery_ : Clock::now();
  const double wall = std::chrono::duration<double>(t_end - publish_start_).count();
  const double own_wall = seconds_since(publish_start_);
  const double own = bench::own_cpu_seconds() - own0;
  const double server = server0 >= 0 ? bench::process_cpu_seconds(s_.server_pid) - server0 : -1;
  close_all();
  ::close(ep_);

  // What never arrived: gaps already counted, and the tails after each subscriber's last message.
  std::uint64_t missed = 0;
  for (unsigned i = 0; i < s_.subscribers; ++i) missed += published_ - conns_[i]->received;
  const double rate = wall > 0 ? static_cast<double>(delivered_) / wall : 0;
  const double server_per_m = server >= 0 && delivered_ > 0 ? server / (static_cast<double>(delivered_) / 1e6) : -1;
  const double share = own_wall > 0 ? own / own_wall : 0;

  std::printf("published: %llu messages of %zu B to %u subscribers in %.3f s\n",
              static_cast<unsigned long long>(published_), s_.size, s_.subscribers, wall);
  std::printf("deliveries: %llu (%.0f per second), missed: %llu\n", static_cast<unsigned long long>(delivered_), rate,
              static_cast<unsigned long long>(missed));
  if (server >= 0) std::printf("server CPU: %.2f s, %.3f s per million deliveries\n", server, server_per_m);
  std::printf("generator CPU: %.2f s, %.0f %% of one core%s\n", own, share * 100,
              share > 0.9 ? " (the generator may be the limit)" : "");
  if (timed_out) std::printf("stopped by the time limit (%g s)\n", s_.time_limit);
  if (!error_.empty()) std::printf("error: %s (%llu connection(s) failed)\n", error_.c_str(), static_cast<unsigned long long>(errors_));
  std::printf("RESULT subscribers=%u size=%zu published=%llu deliveries=%llu seconds=%.3f per_second=%.0f "
              "server_cpu=%.3f server_cpu_per_million=%.4f generator_share=%.3f missed=%llu errors=%llu timed_out=%d\n",
              s_.subscribers, s_.size, static_cast<unsigned long long>(published_),
              static_cast<unsigned long long>(delivered_), wall, rate, server, server_per_m, share,
              static_cast<unsigned long long>(missed), static_cast<unsigned long long>(errors_), timed_out ? 1 : 0);
  return error_.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  if (!parse_args(argc, argv, s)) {
    std::fputs(usage, stderr);
    return 2;
  }
  Fanout f(s);
  return f.run();
}
