// `parley bench URL`: a load generator for echo servers.
//
// Every connection keeps `-p` messages in flight: each echo is checked
// against what was sent and answered at once with the next message, from the
// loop thread (no cross-thread hop per message). Send times sit in a
// per-connection ring (echoes come back in order); latencies go into a
// per-thread histogram, merged at the end. The main thread only starts,
// watches the clock, prints progress and reconnects lost connections.
//
// Two engines drive the connections:
//  - the direct engine (plain ws://, no proxy, no --deflate): its own epoll
//    loop per thread, non-blocking sockets, the reads of a wakeup and then
//    its writes each in io_uring batches where it can (uring.hpp: one system
//    call for many connections), the frames formatted by itself
//    from a pre-masked template per connection (one copy of a small frame
//    into the connection's output, none for a large one: written straight
//    from the template), and echoes verified where they lie in the thread's
//    receive buffer as they stream in (no reassembly, no copy, no allocation
//    per message). The handshake uses parley's protocol layer. Its cost per
//    message is what makes it a generator that saturates a fast server
//    before itself;
//  - the parley::Client engine for everything else (wss://, proxies,
//    permessage-deflate), where the library does the work.
// Both report the generator's own CPU time (getrusage: user + system of
// this process) per message and as a share of the cores it runs on, with a
// warning above 90 %: then the generator, not the server, is the limit.
#include <parley/parley.hpp>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "histogram.hpp"
#include "uring.hpp"
#include "protocol/proxy.hpp"  // the library's internal header (src/): proxy_from_environment

namespace parley_cli {
namespace {

using Clock = std::chrono::steady_clock;
using parley::CloseCode;
using parley::Connection;
using parley::MessageType;

constexpr std::int64_t never = INT64_MAX;

/// Adds to a counter that only the calling thread writes (others only read
/// it): a plain load and store, no locked read-modify-write.
template <class T>
void bump(std::atomic<T>& counter, std::type_identity_t<T> by = 1) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

/// User and system CPU time of the whole process (every thread), in ns.
struct CpuTime {
  std::int64_t user = 0;
  std::int64_t sys = 0;
  static CpuTime now() noexcept {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto ns = [](const timeval& v) { return static_cast<std::int64_t>(v.tv_sec) * 1'000'000'000 + v.tv_usec * 1000; };
    return {ns(u.ru_utime), ns(u.ru_stime)};
  }
};

/// CPUs this process may run on (taskset), at least 1.
unsigned usable_cpus() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

/// Counters of one loop thread. The atomics are written by that thread only
/// (relaxed) and read by the main thread for the progress line.
struct ThreadStats {
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::int64_t> in_flight{0};  // sent, echo not yet received
  std::atomic<std::uint64_t> reconnects{0};
  std::uint64_t measured = 0;  // echoes inside the measurement window
  Histogram latency;           // ns, of the measured echoes
};

/// The sequence number of a message is written as hex into its first (up
/// to 16) bytes: every message differs from the one before, so an echo that
/// is lost, repeated or reordered does not match.
struct Stamp {
  char digits[16];
  std::size_t n;  // how many digits the messages have room for

  explicit Stamp(std::uint64_t size) noexcept : n(std::min<std::size_t>(16, static_cast<std::size_t>(size))) {
    std::fill_n(digits, 16, '0');
  }
  /// Adds 1 (amortized one byte touched).
  void next() noexcept {
    for (std::size_t i = n; i-- > 0;) {
      char& d = digits[i];
      if (d == 'f') {
        d = '0';  // carry
        continue;
      }
      d = d == '9' ? 'a' : static_cast<char>(d + 1);
      return;
    }
  }
};

/// The payload of connection `id` before stamping: printable for text.
std::string make_pattern(std::uint64_t size, bool text, std::uint64_t id) {
  std::string pattern(static_cast<std::size_t>(size), '\0');
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    pattern[i] = text ? static_cast<char>('a' + (i * 7 + id) % 26) : static_cast<char>((i * 131 + id * 17) & 0xff);
  }
  return pattern;
}

/// The run's shared state and the parts common to both engines: the main
/// thread's control loop, the counters, the report. An engine opens the
/// connections and drives them on its threads.
class Bench {
 public:
  explicit Bench(const BenchSettings& s) : s_(s), text_(!s.binary) {
    if (s_.messages == 0 && s_.duration == 0) duration_s_ = 10;
    else duration_s_ = s_.duration;  // 0 with -n: until -n messages
    threads_ = s_.threads ? s_.threads : std::min(usable_cpus(), s_.connections);
  }
  virtual ~Bench() = default;
  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;

  int run() {
    block_stop_signals();  // SIGINT/SIGTERM end the run early (sigtimedwait below)
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);

    if (const int rc = start(); rc != exit_ok) return rc;

    // The run starts once every connection has opened or failed.
    const auto connect_deadline = Clock::now() + seconds_to_ms(s_.connect_timeout) * 2 + std::chrono::seconds(1);
    while (opened_.load() + failed_.load() < s_.connections && Clock::now() < connect_deadline) {
      if (interrupted(signals, 10)) return abort_run();
    }
    if (opened_.load() == 0) {
      std::lock_guard lock(mutex_);
      std::fprintf(stderr, "parley bench: cannot connect to %s: %s\n", s_.url.c_str(),
                   last_error_.empty() ? "no connection opened in time" : last_error_.c_str());
      stopping_.store(true);
      shutdown();
      return exit_connect_failed;
    }

    // Warmup, then the measurement window.
    const auto warm_end = Clock::now() + seconds_to_ms(s_.warmup);
    while (Clock::now() < warm_end) {
      if (interrupted(signals, 10)) return abort_run();
      reconnect_lost();
    }
    const CpuTime cpu_start = CpuTime::now();
    const std::int64_t start = now_ns();
    measure_start_.store(start);
    const auto deadline = duration_s_ > 0 ? Clock::now() + seconds_to_ms(duration_s_) : Clock::time_point::max();
    const bool progress = !s_.json && isatty(STDERR_FILENO);
    auto next_progress = Clock::now() + std::chrono::seconds(1);
    std::uint64_t last_received = total_received();
    auto last_progress = Clock::now();
    bool interrupted_run = false;
    for (;;) {
      if (s_.messages && budget_done_.load()) break;
      if (Clock::now() >= deadline) {
        measure_end_.store(now_ns());
        break;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (interrupted(signals, static_cast<long>(std::clamp<long long>(left, 1, 20)))) {
        measure_end_.store(now_ns());
        interrupted_run = true;
        break;
      }
      reconnect_lost();
      if (progress && Clock::now() >= next_progress) {
        const auto now = Clock::now();
        const std::uint64_t r = total_received();
        const double secs = std::chrono::duration<double>(now - last_progress).count();
        const double rate = static_cast<double>(r - last_received) / secs;
        std::fprintf(stderr, "\r\033[K[%5.1f s] %10.0f msg/s  %8.2f MB/s  errors %" PRIu64 "  open %u",
                     static_cast<double>(now_ns() - start) / 1e9, rate,
                     rate * static_cast<double>(s_.size) / 1e6, total_errors(), opened_.load() - closed_.load());
        std::fflush(stderr);
        last_received = r;
        last_progress = now;
        next_progress += std::chrono::seconds(1);
      }
    }
    const CpuTime cpu_end = CpuTime::now();
    const std::int64_t cpu_wall_end = now_ns();
    stop_sending_.store(true);
    const std::int64_t end = measure_end_.load();
    if (progress) std::fprintf(stderr, "\r\033[K");

    // Let the messages in flight come back (bounded), then close with 1000.
    const auto drain_deadline = Clock::now() + std::chrono::seconds(2);
    while (total_in_flight() > 0 && Clock::now() < drain_deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const std::int64_t lost = std::max<std::int64_t>(0, total_in_flight());
    stopping_.store(true);
    close_all();
    const auto close_deadline = Clock::now() + std::chrono::seconds(3);
    while (opened_.load() > closed_.load() && Clock::now() < close_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    shutdown();  // joins the loop threads: their stats are final now

    Usage usage;
    usage.user_s = static_cast<double>(cpu_end.user - cpu_start.user) / 1e9;
    usage.sys_s = static_cast<double>(cpu_end.sys - cpu_start.sys) / 1e9;
    usage.wall_s = std::max(1e-9, static_cast<double>(cpu_wall_end - start) / 1e9);
    usage.cores = std::min(threads_, usable_cpus());
    report(start, end, static_cast<std::uint64_t>(lost), interrupted_run, usage);
    const std::uint64_t errors = total_errors() + static_cast<std::uint64_t>(lost);
    return errors == 0 && measured_total() > 0 ? exit_ok : exit_failure;
  }

 protected:
  /// Starts opening the connections (they count themselves in opened_ or
  /// failed_); exit_ok, or the exit status of a failure to start.
  virtual int start() = 0;
  /// Main thread, every 20 ms of the run: opens again what was lost.
  virtual void reconnect_lost() {}
  /// Closes every open connection with 1000 (stopping_ is set).
  virtual void close_all() = 0;
  /// Stops the loop threads and joins them.
  virtual void shutdown() = 0;

  /// A new per-thread counter set, kept until the end.
  ThreadStats& add_stats() {
    std::lock_guard lock(stats_mutex_);
    stats_.push_back(std::make_unique<ThreadStats>());
    return *stats_.back();
  }

  void error(std::string message) {
    errors_.fetch_add(1);
    set_last_error(std::move(message));
  }
  void set_last_error(std::string message) {
    std::lock_guard lock(mutex_);
    last_error_ = std::move(message);
  }

  /// Whether one more message may be sent at time `t`: the run goes on and
  /// the -n budget has room.
  bool may_send(std::int64_t t) noexcept {
    if (stop_sending_.load(std::memory_order_relaxed)) return false;
    if (s_.messages && t >= measure_start_.load(std::memory_order_relaxed)) {
      if (budget_.fetch_add(1, std::memory_order_relaxed) >= s_.messages) return false;
    }
    return true;
  }

  /// Counts an echo received at `t` of a message sent at `sent` (whether it
  /// matched is counted by the caller).
  void count_echo(ThreadStats& st, std::int64_t sent, std::int64_t t) noexcept {
    bump(st.in_flight, -1);
    bump(st.received);
    if (sent >= measure_start_.load(std::memory_order_relaxed) && t <= measure_end_.load(std::memory_order_relaxed)) {
      ++st.measured;
      st.latency.record(static_cast<std::uint64_t>(t - sent));
      if (s_.messages && measured_count_.fetch_add(1, std::memory_order_relaxed) + 1 == s_.messages) {
        measure_end_.store(t);
        budget_done_.store(true);
      }
    }
  }

  /// The -H flags as header fields; false (after a message) for a bad one.
  bool parse_headers(parley::protocol::Headers& out) const {
    for (const std::string& h : s_.headers) {
      const auto colon = h.find(':');
      if (colon == std::string::npos || colon == 0) {
        std::fprintf(stderr, "parley bench: bad --header '%s': expected \"Name: value\"\n", h.c_str());
        return false;
      }
      std::string_view value = std::string_view(h).substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      out.add(std::string_view(h).substr(0, colon), value);
    }
    return true;
  }

  const BenchSettings& s_;
  const bool text_;
  double duration_s_ = 10;
  unsigned threads_ = 1;

  std::atomic<std::int64_t> measure_start_{never};
  std::atomic<std::int64_t> measure_end_{never};
  std::atomic<bool> stop_sending_{false};
  std::atomic<bool> stopping_{false};  // closing on purpose: a close is not a loss
  std::atomic<unsigned> opened_{0};
  std::atomic<unsigned> closed_{0};
  std::atomic<unsigned> failed_{0};
  std::atomic<std::uint64_t> errors_{0};

  std::mutex mutex_;  // guards last_error_ (and what an engine adds)
  std::string last_error_;

 private:
  struct Usage {
    double user_s = 0, sys_s = 0, wall_s = 1;
    unsigned cores = 1;
  };

  bool interrupted(const sigset_t& signals, long ms) {
    const timespec t{0, ms * 1'000'000};
    siginfo_t info;
    const int sig = sigtimedwait(&signals, &info, &t);
    return sig == SIGINT || sig == SIGTERM;
  }

  int abort_run() {
    std::fprintf(stderr, "parley bench: interrupted\n");
    stopping_.store(true);
    stop_sending_.store(true);
    shutdown();
    return exit_failure;
  }

  template <class F>
  auto sum(F f) {
    std::lock_guard lock(stats_mutex_);
    decltype(f(*stats_.front())) n{};
    for (const auto& t : stats_) n += f(*t);
    return n;
  }
  std::uint64_t total_received() {
    return sum([](ThreadStats& t) { return t.received.load(std::memory_order_relaxed); });
  }
  std::uint64_t total_errors() {
    return errors_.load() + sum([](ThreadStats& t) { return t.errors.load(std::memory_order_relaxed); });
  }
  std::int64_t total_in_flight() {
    return sum([](ThreadStats& t) { return t.in_flight.load(std::memory_order_relaxed); });
  }
  std::uint64_t measured_total() {
    return sum([](ThreadStats& t) { return t.measured; });
  }
  std::uint64_t total_reconnects() {
    return sum([](ThreadStats& t) { return t.reconnects.load(std::memory_order_relaxed); });
  }

  void report(std::int64_t start, std::int64_t end, std::uint64_t lost, bool interrupted_run, const Usage& u) {
    Histogram all;
    std::uint64_t measured = 0;
    std::uint64_t received = 0;
    {
      std::lock_guard lock(stats_mutex_);
      for (const auto& t : stats_) {
        all.merge(t->latency);
        measured += t->measured;
        received += t->received.load();
      }
    }
    const double secs = std::max(1e-9, static_cast<double>(end - start) / 1e9);
    const double rate = static_cast<double>(measured) / secs;
    const double mbps = rate * static_cast<double>(s_.size) / 1e6;
    const std::uint64_t errors = total_errors() + lost;
    const std::uint64_t reconnects = total_reconnects();
    // The generator's CPU: per echoed message and as a share of its cores.
    const double cpu_s = u.user_s + u.sys_s;
    const double share = cpu_s / (u.wall_s * u.cores);
    const double per_msg = measured ? cpu_s * 1e6 / static_cast<double>(measured) : 0.0;
    const double user_per_msg = measured ? u.user_s * 1e6 / static_cast<double>(measured) : 0.0;
    const double sys_per_msg = measured ? u.sys_s * 1e6 / static_cast<double>(measured) : 0.0;
    const bool limit = share > 0.90;
    if (limit) {
      std::fprintf(stderr,
                   "parley bench: warning: the generator is the limit: it used %.0f %% of its %u core%s "
                   "(the server may be faster than measured; give the generator more cores with -t or fewer to "
                   "the server)\n",
                   share * 100, u.cores, u.cores == 1 ? "" : "s");
    }
    auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
    std::string last_error;
    {
      std::lock_guard lock(mutex_);
      last_error = last_error_;
    }
    const char* engine = direct() ? "direct" : "client";
    if (s_.json) {
      std::string escaped;
      for (char ch : s_.url) {
        if (ch == '"' || ch == '\\') escaped += '\\';
        if (static_cast<unsigned char>(ch) >= 0x20) escaped += ch;
      }
      std::printf(
          "{\"url\":\"%s\",\"connections\":%u,\"pipeline\":%u,\"size\":%" PRIu64
          ",\"binary\":%s,\"threads\":%u,\"duration_s\":%.6f,\"warmup_s\":%.3f,\"messages\":%" PRIu64
          ",\"received\":%" PRIu64 ",\"messages_per_sec\":%.1f,\"mb_per_sec\":%.3f,\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
          "\"p99_9\":%.1f,\"max\":%.1f,\"mean\":%.1f,\"min\":%.1f},\"errors\":%" PRIu64 ",\"lost\":%" PRIu64
          ",\"reconnects\":%" PRIu64 ",\"interrupted\":%s,\"generator\":{\"engine\":\"%s\",\"io_uring\":%s,\"cores\":%u,"
          "\"cpu_share\":%.4f,\"cpu_us_per_msg\":%.4f,\"user_us_per_msg\":%.4f,\"sys_us_per_msg\":%.4f,"
          "\"user_s\":%.4f,\"sys_s\":%.4f,\"wall_s\":%.4f,\"is_limit\":%s}}\n",
          escaped.c_str(), s_.connections, s_.pipeline, s_.size, s_.binary ? "true" : "false", threads_, secs,
          s_.warmup, measured, received, rate, mbps, us(all.quantile(0.5)), us(all.quantile(0.9)), us(all.quantile(0.99)),
          us(all.quantile(0.999)), us(all.max()), all.mean() / 1000.0, us(all.min()), errors, lost, reconnects,
          interrupted_run ? "true" : "false", engine, batched() ? "true" : "false", u.cores, share, per_msg,
          user_per_msg, sys_per_msg, u.user_s, u.sys_s, u.wall_s, limit ? "true" : "false");
      std::fflush(stdout);
      return;
    }
    std::printf("parley bench %s\n", s_.url.c_str());
    std::printf("  %u connection%s x %u in flight, %" PRIu64 "-byte %s messages, %u thread%s%s\n", s_.connections,
                s_.connections == 1 ? "" : "s", s_.pipeline, s_.size, s_.binary ? "binary" : "text", threads_,
                threads_ == 1 ? "" : "s", interrupted_run ? " (interrupted)" : "");
    std::printf("  duration    %.2f s (after %.2f s warmup)\n", secs, s_.warmup);
    std::printf("  messages    %" PRIu64 " echoed and checked (%" PRIu64 " in all)\n", measured, received);
    std::printf("  rate        %.0f msg/s, %.2f MB/s of payload each way\n", rate, mbps);
    std::printf("  latency     p50 %.1f us  p90 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us  (mean %.1f us)\n",
                us(all.quantile(0.5)), us(all.quantile(0.9)), us(all.quantile(0.99)), us(all.quantile(0.999)),
                us(all.max()), all.mean() / 1000.0);
    std::printf("  generator   %.0f %% of %u core%s, %.3f us CPU per message (user %.3f, sys %.3f), %s engine%s%s\n",
                share * 100, u.cores, u.cores == 1 ? "" : "s", per_msg, user_per_msg, sys_per_msg, engine,
                batched() ? " (io_uring batches)" : "", limit ? "  [the generator is the limit]" : "");
    std::printf("  errors      %" PRIu64 "%s%s\n", errors, errors && !last_error.empty() ? "  last: " : "",
                errors ? last_error.c_str() : "");
    std::printf("  reconnects  %" PRIu64 "\n", reconnects);
    std::fflush(stdout);
  }

  virtual bool direct() const noexcept = 0;
  /// The direct engine's reads and writes went in io_uring batches.
  virtual bool batched() const noexcept { return false; }

  std::atomic<std::uint64_t> budget_{0};          // -n: messages sent in the window
  std::atomic<std::uint64_t> measured_count_{0};  // -n: messages echoed in the window
  std::atomic<bool> budget_done_{false};

  std::mutex stats_mutex_;
  std::deque<std::unique_ptr<ThreadStats>> stats_;
};

// ---- the parley::Client engine (wss://, proxies, deflate) -------------------

/// One connection's pipeline (Connection::metadata).
struct Pipe {
  std::vector<std::int64_t> sent_at;  // ring of send times, oldest at `head`
  std::size_t head = 0;
  std::size_t count = 0;
  std::string payload;   // the next message to send (stamped)
  std::string expected;  // what the next echo must be (stamped)
  Stamp send_stamp{0};
  Stamp recv_stamp{0};
};

class ClientBench final : public Bench {
 public:
  using Bench::Bench;

 private:
  bool direct() const noexcept override { return false; }

  int start() override {
    parley::ClientOptions o;
    o.threads = threads_;
    o.subprotocols = s_.subprotocols;
    if (!parse_headers(o.headers)) return exit_usage;
    o.connect_timeout = seconds_to_ms(s_.connect_timeout);
    o.handshake_timeout = seconds_to_ms(s_.connect_timeout);
    o.max_message_size = std::max<std::uint64_t>(s_.size, 64ull << 20);
    const std::uint64_t window = static_cast<std::uint64_t>(s_.pipeline) * (s_.size + 14) * 2;
    o.max_buffered_amount = static_cast<std::size_t>(std::max<std::uint64_t>(window, 16u << 20));
    o.deflate.enabled = s_.deflate;
    o.deflate.compression_threshold = 0;  // a benchmark of compression compresses every message
    apply_client_tls(s_.tls, o);
    apply_client_proxy(s_.proxy, o);

    client_ = std::make_unique<parley::Client>(std::move(o));
    install_callbacks();
    for (unsigned i = 0; i < s_.connections; ++i) {
      auto h = client_->connect(s_.url);
      if (!h) {
        std::fprintf(stderr, "parley bench: %s: %s\n", s_.url.c_str(), h.error().message().c_str());
        client_.reset();
        return exit_usage;
      }
      std::lock_guard lock(mutex_);
      handles_.push_back(*h);
    }
    return exit_ok;
  }

  void close_all() override {
    std::lock_guard lock(mutex_);
    for (const auto& h : handles_) h.close(CloseCode::normal, "bench done");
  }

  void shutdown() override { client_.reset(); }

  ThreadStats& stats() {
    thread_local ThreadStats* mine = nullptr;
    thread_local const ClientBench* owner = nullptr;
    if (mine == nullptr || owner != this) {
      mine = &add_stats();
      owner = this;
    }
    return *mine;
  }

  /// Stamps `buf` (the payload or the expected echo) with `stamp`.
  static void apply(std::string& buf, const Stamp& stamp) noexcept { std::copy_n(stamp.digits, stamp.n, buf.begin()); }

  /// Sends the next message on `c` at time `t` if the run and the -n budget
  /// allow. Counters are the calling thread's: nothing shared is written.
  bool send_next(Connection& c, Pipe& p, ThreadStats& st, std::int64_t t) {
    if (!may_send(t)) return false;
    apply(p.payload, p.send_stamp);
    const parley::SendResult r = c.send(text_ ? MessageType::text : MessageType::binary, p.payload);
    p.send_stamp.next();
    if (!r) {
      bump(st.errors);
      return false;
    }
    p.sent_at[(p.head + p.count) % p.sent_at.size()] = t;
    ++p.count;
    bump(st.in_flight);
    return true;
  }

  void install_callbacks() {
    client_->on_open([this](Connection& c) {
      Pipe& p = c.metadata_as<Pipe>();
      p.sent_at.assign(s_.pipeline, 0);
      p.payload = make_pattern(s_.size, text_, c.id());
      p.expected = p.payload;
      p.send_stamp = p.recv_stamp = Stamp(s_.size);
      opened_.fetch_add(1);
      ThreadStats& st = stats();
      for (unsigned i = 0; i < s_.pipeline; ++i) {
        if (!send_next(c, p, st, now_ns())) break;
      }
    });
    auto on_message = [this](MessageType type) {
      return [this, type](Connection& c, std::string_view m) {
        const std::int64_t t = now_ns();
        ThreadStats& st = stats();
        Pipe& p = c.metadata_as<Pipe>();
        if (p.count == 0) {
          bump(st.errors);  // nothing was in flight
          return;
        }
        const std::int64_t sent = p.sent_at[p.head];
        p.head = (p.head + 1) % p.sent_at.size();
        --p.count;
        apply(p.expected, p.recv_stamp);
        p.recv_stamp.next();
        if ((type == MessageType::text) != text_ || m.size() != p.expected.size() ||
            std::memcmp(m.data(), p.expected.data(), m.size()) != 0) {
          bump(st.errors);
        }
        count_echo(st, sent, t);
        send_next(c, p, st, t);
      };
    };
    client_->on_text(on_message(MessageType::text));
    client_->on_binary(on_message(MessageType::binary));
    client_->on_close([this](Connection& c, CloseCode code, std::string_view reason) {
      closed_.fetch_add(1);
      const Pipe& p = c.metadata_as<Pipe>();
      bump(stats().in_flight, -static_cast<std::int64_t>(p.count));
      if (stopping_.load()) return;
      // Lost during the run: an error, and a new connection replaces it.
      error("connection closed " + describe_close(code, reason));
      std::lock_guard lock(mutex_);
      ++to_reconnect_;
    });
    client_->on_error([this](Connection* c, const parley::Error& e) {
      set_last_error(e.message());
      if (c == nullptr || c->metadata().has_value()) return;  // an error on an open connection: on_close follows and counts it
      failed_.fetch_add(1);
      if (stopping_.load()) return;
      errors_.fetch_add(1);
      std::lock_guard lock(mutex_);
      ++to_reconnect_;
    });
  }

  void reconnect_lost() override {
    std::lock_guard lock(mutex_);
    if (stopping_.load() || to_reconnect_ == 0) return;
    const auto now = Clock::now();
    if (now < next_reconnect_) return;
    next_reconnect_ = now + std::chrono::milliseconds(100);  // no tight retry loop against a dead server
    ThreadStats& st = stats();  // the main thread's: it only counts reconnects
    for (; to_reconnect_ > 0; --to_reconnect_) {
      auto h = client_->connect(s_.url);
      if (!h) break;
      handles_.push_back(*h);
      bump(st.reconnects);
    }
  }

  std::unique_ptr<parley::Client> client_;
  // guarded by mutex_:
  std::vector<parley::ConnectionHandle> handles_;
  unsigned to_reconnect_ = 0;
  Clock::time_point next_reconnect_{};
};

// ---- the direct engine (plain ws://) -------------------------------------------

/// One WebSocket connection driven by a DirectWorker.
struct DirectConn {
  enum class State : std::uint8_t { idle, connecting, handshake, open, closing };
  State state = State::idle;
  int fd = -1;
  bool ever_opened = false;  // counted in opened_ (its end counts in closed_)
  std::uint64_t id = 0;
  std::int64_t deadline = never;  // connect/handshake timeout; when idle: when to reconnect

  // handshake
  std::string request;  // the upgrade request (then unused)
  std::string key;
  std::string reply;  // the answer's head, as it arrives

  // sending: every data frame is `frame` (header, mask key, masked pattern)
  // with the masked stamp written over the start of the payload.
  std::string frame;
  std::size_t payload_at = 0;  // offset of the payload in `frame`
  std::uint8_t mask[4]{};
  Stamp send_stamp{0};
  bool large = false;           // frames written from `frame` itself, one at a time
  std::uint64_t large_queued = 0;  // large: frames to write (the first maybe begun)
  std::size_t large_done = 0;      // large: bytes of the current frame written
  std::string out;                 // small frames and control frames, in order
  std::size_t out_at = 0;          // written up to here
  bool to_flush = false;           // in the worker's list of connections to write after this wakeup

  // receiving: echoes are compared with `pattern` + stamp as they stream in
  std::string pattern;
  Stamp recv_stamp{0};
  std::uint8_t head[14]{};
  std::uint8_t head_len = 0;       // bytes of a frame header gathered
  bool in_payload = false;         // inside a frame's payload
  std::uint64_t frame_left = 0;    // its bytes still to come
  std::uint8_t frame_op = 0;
  bool frame_fin = false;
  bool in_message = false;         // between a data frame and its final frame
  bool message_ok = true;
  std::uint64_t message_at = 0;    // payload bytes of the message so far
  std::string control;             // a control frame's payload (<= 125 bytes)

  std::vector<std::int64_t> sent_at;  // ring of send times
  std::size_t ring_head = 0;
  std::size_t ring_count = 0;
};

class DirectBench;

/// One loop thread of the direct engine: its epoll, its connections, its
/// receive buffer, its counters.
class DirectWorker {
 public:
  DirectWorker(DirectBench& bench, ThreadStats& st) : b_(bench), st_(st) {}
  ~DirectWorker() {
    if (thread_.joinable()) thread_.join();
    for (auto& c : conns_) drop_fd(*c);
    if (ep_ >= 0) ::close(ep_);
  }
  DirectWorker(const DirectWorker&) = delete;
  DirectWorker& operator=(const DirectWorker&) = delete;

  void add(std::uint64_t id) {
    conns_.push_back(std::make_unique<DirectConn>());
    conns_.back()->id = id;
  }
  void start() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    // PARLEY_BENCH_NO_URING=1 (any non-empty value): the plain system calls, to compare.
    const char* no_uring = std::getenv("PARLEY_BENCH_NO_URING");
    if (no_uring == nullptr || *no_uring == '\0') {
      ring_ = std::make_unique<Uring>(static_cast<unsigned>(buf_.size() / slice));
      if (!ring_->usable()) ring_.reset();
    }
    thread_ = std::thread([this] { loop(); });
  }
  void quit() noexcept { quit_.store(true); }
  /// Whether its reads and writes go in io_uring batches.
  bool batched() const noexcept { return ring_ != nullptr; }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  void loop();
  void sweep(std::int64_t t);
  void begin_connect(DirectConn& c, std::int64_t t);
  void on_event(DirectConn& c, std::uint32_t events, std::int64_t t);
  void read_rest(DirectConn& c, std::int64_t t);
  void read_batch(std::int64_t t);
  void write_batch(std::int64_t t);
  void on_connected(DirectConn& c, std::int64_t t);
  void on_reply(DirectConn& c, std::size_t n, std::int64_t t);
  void on_open(DirectConn& c, std::int64_t t);
  bool receive(DirectConn& c, const std::uint8_t* p, std::size_t n, std::int64_t t);
  bool end_frame(DirectConn& c, std::int64_t t);
  void check(DirectConn& c, const std::uint8_t* p, std::size_t n) noexcept;
  void echo_done(DirectConn& c, std::int64_t t);
  bool send_next(DirectConn& c, std::int64_t t);
  void queue_control(DirectConn& c, std::uint8_t op, std::string_view payload);
  bool flush(DirectConn& c);
  void flush_later(DirectConn& c);
  void fail(DirectConn& c, std::string why, std::int64_t t);
  void drop_fd(DirectConn& c) noexcept;

  DirectBench& b_;
  ThreadStats& st_;
  int ep_ = -1;
  std::thread thread_;
  std::atomic<bool> quit_{false};
  bool closing_ = false;  // close frames sent
  std::vector<std::unique_ptr<DirectConn>> conns_;
  std::vector<DirectConn*> to_flush_;  // connections with output from this wakeup's reads
  std::vector<DirectConn*> to_read_;   // io_uring: connections to read in this wakeup's batches
  std::vector<DirectConn*> batch_;     // io_uring: the connection of each operation of a batch
  std::vector<DirectConn*> read_more_; // io_uring: connections whose read filled its slice
  // The receive buffer; with io_uring, slices of `slice` bytes, one per read of a batch.
  static constexpr std::size_t slice = 8 * 1024;
  std::vector<std::uint8_t> buf_ = std::vector<std::uint8_t>(1024 * 1024);
  std::unique_ptr<Uring> ring_;  // null: a system call per read and per write
  std::minstd_rand rng_{std::random_device{}()};
};

class DirectBench final : public Bench {
 public:
  DirectBench(const BenchSettings& s, parley::protocol::Uri uri) : Bench(s), uri_(std::move(uri)) {}

 private:
  friend class DirectWorker;

  bool direct() const noexcept override { return true; }
  bool batched() const noexcept override {
    return std::all_of(workers_.begin(), workers_.end(), [](const auto& w) { return w->batched(); });
  }

  int start() override {
    parley::protocol::ClientHandshake hs;
    hs.uri = uri_;
    hs.subprotocols = s_.subprotocols;
    if (!parse_headers(hs.headers)) return exit_usage;
    if (auto r = parley::protocol::make_request(hs); !r) {
      std::fprintf(stderr, "parley bench: %s\n", r.error().message().c_str());
      return exit_usage;
    }
    handshake_ = std::move(hs);

    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(uri_.port());
    if (const int rc = getaddrinfo(uri_.host().c_str(), port.c_str(), &hints, &res); rc != 0 || res == nullptr) {
      std::fprintf(stderr, "parley bench: cannot connect to %s: cannot resolve %s: %s\n", s_.url.c_str(),
                   uri_.host().c_str(), gai_strerror(rc));
      return exit_connect_failed;
    }
    std::memcpy(&addr_, res->ai_addr, res->ai_addrlen);
    addr_len_ = res->ai_addrlen;
    family_ = res->ai_family;
    freeaddrinfo(res);

    const unsigned n = std::max(1u, std::min(threads_, s_.connections));
    for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<DirectWorker>(*this, add_stats()));
    for (unsigned i = 0; i < s_.connections; ++i) workers_[i % n]->add(i + 1);
    for (auto& w : workers_) w->start();
    return exit_ok;
  }

  void close_all() override {}  // the workers see stopping_ and close

  void shutdown() override {
    for (auto& w : workers_) w->quit();
    for (auto& w : workers_) w->join();
  }

  parley::protocol::Uri uri_;
  parley::protocol::ClientHandshake handshake_;
  sockaddr_storage addr_{};
  socklen_t addr_len_ = 0;
  int family_ = AF_INET;
  std::vector<std::unique_ptr<DirectWorker>> workers_;
};

void DirectWorker::loop() {
  const std::int64_t t0 = now_ns();
  for (auto& c : conns_) begin_connect(*c, t0);
  epoll_event events[256];
  std::int64_t next_sweep = t0 + 10'000'000;
  while (!quit_.load(std::memory_order_relaxed)) {
    const int n = epoll_wait(ep_, events, 256, 10);
    const std::int64_t t = now_ns();  // one clock read per wakeup: the time of every echo in it
    for (int i = 0; i < n; ++i) {
      DirectConn& c = *static_cast<DirectConn*>(events[i].data.ptr);
      const bool readable = (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) != 0;
      if (ring_ && readable && c.fd >= 0 &&
          (c.state == DirectConn::State::open || c.state == DirectConn::State::closing)) {
        to_read_.push_back(&c);
      } else {
        on_event(c, events[i].events, t);
      }
    }
    // All the reads of a wakeup first, then all the writes, back to back
    // (in io_uring batches where it can: one system call for many).
    if (!to_read_.empty()) read_batch(t);
    write_batch(t);
    if (t >= next_sweep) {
      sweep(t);
      next_sweep = t + 10'000'000;
    }
  }
}

/// Every 10 ms: timeouts, reconnects, and the close at the end of the run.
void DirectWorker::sweep(std::int64_t t) {
  const bool stopping = b_.stopping_.load();
  if (stopping && !closing_) {
    closing_ = true;
    static constexpr char bye[] = "\x03\xe8" "bench done";  // 1000
    for (auto& c : conns_) {
      if (c->state == DirectConn::State::open) {
        queue_control(*c, 0x8, std::string_view(bye, sizeof bye - 1));
        c->state = DirectConn::State::closing;
        if (!flush(*c)) drop_fd(*c);
      } else if (c->state != DirectConn::State::closing) {
        drop_fd(*c);
      }
    }
  }
  for (auto& cp : conns_) {
    DirectConn& c = *cp;
    if (c.state == DirectConn::State::idle) {
      if (!stopping && t >= c.deadline) begin_connect(c, t);
    } else if ((c.state == DirectConn::State::connecting || c.state == DirectConn::State::handshake) && t >= c.deadline) {
      char why[64];
      std::snprintf(why, sizeof why, "timed out after %g s", b_.s_.connect_timeout);
      fail(c, why, t);
    }
  }
}

void DirectWorker::begin_connect(DirectConn& c, std::int64_t t) {
  const int fd = ::socket(b_.family_, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail(c, std::string("socket: ") + std::strerror(errno), t);
    return;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c.fd = fd;
  c.state = DirectConn::State::connecting;
  c.deadline = t + static_cast<std::int64_t>(b_.s_.connect_timeout * 1e9);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &c;
  epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&b_.addr_), b_.addr_len_) != 0 && errno != EINPROGRESS) {
    fail(c, std::strerror(errno), t);
  }
}

void DirectWorker::on_event(DirectConn& c, std::uint32_t events, std::int64_t t) {
  if (c.fd < 0) return;
  if (c.state == DirectConn::State::connecting) {
    on_connected(c, t);
    return;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) read_rest(c, t);
  if (c.fd >= 0 && c.state != DirectConn::State::handshake) flush_later(c);
}

/// Edge-triggered: reads until a read comes back short (the socket is then
/// empty; what arrives later is a new edge). recv/send rather than
/// read/write: the socket calls skip the file-position lock.
void DirectWorker::read_rest(DirectConn& c, std::int64_t t) {
  for (;;) {
    const ssize_t n = ::recv(c.fd, buf_.data(), buf_.size(), 0);
    if (n > 0) {
      const auto len = static_cast<std::size_t>(n);
      if (c.state == DirectConn::State::handshake) on_reply(c, len, t);
      else if (!receive(c, buf_.data(), len, t)) return;
      if (c.fd < 0 || len < buf_.size()) return;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      fail(c, n == 0 ? "the server closed the TCP connection" : std::strerror(errno), t);
      return;
    }
  }
}

/// Reads the connections of to_read_, a slice of buf_ each, in io_uring
/// batches; one whose slice came back full is read on with read_rest once
/// the batch is done (read_rest reads into the whole of buf_).
void DirectWorker::read_batch(std::int64_t t) {
  std::size_t from = 0;
  while (from < to_read_.size() && ring_) {
    batch_.clear();
    read_more_.clear();
    for (; from < to_read_.size() && ring_->queued() < ring_->capacity(); ++from) {
      DirectConn* c = to_read_[from];
      ring_->recv(c->fd, buf_.data() + batch_.size() * slice, slice, batch_.size());
      batch_.push_back(c);
    }
    const bool ok = ring_->run([&](std::uint64_t i, int res) {
      DirectConn& c = *batch_[i];
      if (c.fd < 0) return;
      if (res > 0) {
        const auto len = static_cast<std::size_t>(res);
        if (!receive(c, buf_.data() + i * slice, len, t)) return;
        if (len == slice) read_more_.push_back(&c);
      } else if (res == 0) {
        fail(c, "the server closed the TCP connection", t);
        return;
      } else if (res != -EAGAIN && res != -EINTR) {
        fail(c, std::strerror(-res), t);
        return;
      }
      if (c.fd >= 0) flush_later(c);
    });
    if (!ok) {  // no more batches; what this one read is unknown: its connections start again
      b_.error(std::string("io_uring: ") + std::strerror(errno));
      ring_.reset();
      for (DirectConn* c : batch_) {
        if (c->fd >= 0) fail(*c, "io_uring failed", t);
      }
    }
    for (DirectConn* c : read_more_) {
      if (c->fd >= 0) read_rest(*c, t);
    }
  }
  for (; from < to_read_.size(); ++from) {  // left when a batch failed: plain reads
    DirectConn& c = *to_read_[from];
    if (c.fd >= 0) read_rest(c, t);
    if (c.fd >= 0) flush_later(c);
  }
  to_read_.clear();
}

/// Writes the connections of to_flush_: small frames in io_uring batches,
/// large ones (and all without io_uring) with flush().
void DirectWorker::write_batch(std::int64_t t) {
  batch_.clear();
  for (DirectConn* c : to_flush_) {
    if (c->fd < 0) {
      c->to_flush = false;
    } else if (ring_ && c->large_queued == 0 && c->large_done == 0 && c->out_at < c->out.size()) {
      if (ring_->queued() == ring_->capacity()) break;  // the rest: plain writes below
      c->to_flush = false;
      ring_->send(c->fd, c->out.data() + c->out_at, c->out.size() - c->out_at, batch_.size());
      batch_.push_back(c);
    } else {
      c->to_flush = false;
      if (!flush(*c)) fail(*c, std::strerror(errno), t);
    }
  }
  if (!batch_.empty()) {
    const bool ok = ring_->run([&](std::uint64_t i, int res) {
      DirectConn& c = *batch_[i];
      if (c.fd < 0) return;
      if (res > 0) {
        c.out_at += static_cast<std::size_t>(res);
        if (c.out_at == c.out.size()) {
          c.out.clear();
          c.out_at = 0;
        }
      } else if (res != -EAGAIN && res != -EINTR) {
        fail(c, std::strerror(-res), t);
      }
      // a short write: the rest goes when EPOLLOUT says there is room
    });
    if (!ok) {
      b_.error(std::string("io_uring: ") + std::strerror(errno));
      ring_.reset();
      for (DirectConn* c : batch_) {
        if (c->fd >= 0) fail(*c, "io_uring failed", t);
      }
    }
  }
  // Those beyond a full batch (or all when a batch failed).
  for (std::size_t i = 0; i < to_flush_.size(); ++i) {
    DirectConn* c = to_flush_[i];
    if (!c->to_flush) continue;
    c->to_flush = false;
    if (c->fd >= 0 && !flush(*c)) fail(*c, std::strerror(errno), t);
  }
  to_flush_.clear();
}

void DirectWorker::on_connected(DirectConn& c, std::int64_t t) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    fail(c, std::strerror(err), t);
    return;
  }
  auto req = parley::protocol::make_request(b_.handshake_);  // a fresh key each time
  if (!req) {
    fail(c, req.error().message(), t);
    return;
  }
  c.request = req->request.serialize();
  c.key = std::move(req->key);
  c.reply.clear();
  c.state = DirectConn::State::handshake;
  // A request of a few hundred bytes fits an empty socket buffer.
  if (::send(c.fd, c.request.data(), c.request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(c.request.size())) {
    fail(c, std::string("sending the handshake: ") + std::strerror(errno), t);
  }
}

void DirectWorker::on_reply(DirectConn& c, std::size_t n, std::int64_t t) {
  const std::size_t before = c.reply.size();
  c.reply.append(reinterpret_cast<const char*>(buf_.data()), n);
  const std::size_t end = c.reply.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
  if (end == std::string::npos) {
    if (c.reply.size() > 64 * 1024) fail(c, "the server's handshake answer is over 64 KiB", t);
    return;
  }
  const std::size_t head_size = end + 4;
  auto response = parley::protocol::Response::parse(std::string_view(c.reply).substr(0, head_size));
  if (!response) {
    fail(c, "bad handshake answer: " + response.error().message(), t);
    return;
  }
  auto ok = parley::protocol::validate_response(*response, c.key, b_.s_.subprotocols, {});
  if (!ok) {
    fail(c, ok.error().message(), t);
    return;
  }
  const std::size_t rest = c.reply.size() - head_size;  // frames right after the head
  on_open(c, t);
  if (rest > 0) {
    // buf_ holds the last read: its tail is what followed the head.
    if (!receive(c, buf_.data() + n - rest, rest, t)) return;
  }
  flush_later(c);
}

void DirectWorker::on_open(DirectConn& c, std::int64_t t) {
  std::string().swap(c.request);
  std::string().swap(c.reply);
  c.state = DirectConn::State::open;
  c.deadline = never;
  if (c.frame.empty()) {  // first open: the templates, kept across reconnects
    const std::uint64_t size = b_.s_.size;
    c.pattern = make_pattern(size, b_.text_, c.id);
    std::uint8_t header[14];
    std::size_t h = 0;
    header[h++] = static_cast<std::uint8_t>(0x80 | (b_.text_ ? 0x1 : 0x2));
    if (size < 126) {
      header[h++] = static_cast<std::uint8_t>(0x80 | size);
    } else if (size <= 0xffff) {
      header[h++] = 0x80 | 126;
      header[h++] = static_cast<std::uint8_t>(size >> 8);
      header[h++] = static_cast<std::uint8_t>(size);
    } else {
      header[h++] = 0x80 | 127;
      for (int i = 7; i >= 0; --i) header[h++] = static_cast<std::uint8_t>(size >> (8 * i));
    }
    do {
      const std::uint32_t m = static_cast<std::uint32_t>(rng_());
      std::memcpy(c.mask, &m, 4);
    } while (c.mask[0] == 0 && c.mask[1] == 0 && c.mask[2] == 0 && c.mask[3] == 0);
    std::memcpy(header + h, c.mask, 4);
    h += 4;
    c.payload_at = h;
    c.frame.assign(reinterpret_cast<const char*>(header), h);
    c.frame.append(c.pattern);
    for (std::size_t i = 0; i < size; ++i) c.frame[h + i] = static_cast<char>(c.frame[h + i] ^ c.mask[i & 3]);
    c.large = c.frame.size() > 16 * 1024;
    c.sent_at.assign(b_.s_.pipeline, 0);
    c.out.reserve(c.large ? 256 : std::min<std::size_t>(c.frame.size() * b_.s_.pipeline, 1 << 20));
  }
  c.send_stamp = c.recv_stamp = Stamp(b_.s_.size);
  c.head_len = 0;
  c.in_payload = c.in_message = false;
  c.ring_head = c.ring_count = 0;
  c.large_queued = c.large_done = 0;
  c.out.clear();
  c.out_at = 0;
  if (c.ever_opened) bump(st_.reconnects);
  c.ever_opened = true;
  b_.opened_.fetch_add(1);
  for (unsigned i = 0; i < b_.s_.pipeline; ++i) {
    if (!send_next(c, t)) break;
  }
}

/// Writes the stamp of the next message, masked, over the payload at `p`.
inline void stamp_masked(DirectConn& c, char* p) noexcept {
  for (std::size_t i = 0; i < c.send_stamp.n; ++i) p[i] = static_cast<char>(c.send_stamp.digits[i] ^ c.mask[i & 3]);
  c.send_stamp.next();
}

bool DirectWorker::send_next(DirectConn& c, std::int64_t t) {
  if (!b_.may_send(t)) return false;
  if (c.large) {
    ++c.large_queued;  // stamped when its first byte is written
  } else {
    const std::size_t at = c.out.size();
    c.out.append(c.frame);
    stamp_masked(c, c.out.data() + at + c.payload_at);
  }
  c.sent_at[(c.ring_head + c.ring_count) % c.sent_at.size()] = t;
  ++c.ring_count;
  bump(st_.in_flight);
  return true;
}

void DirectWorker::queue_control(DirectConn& c, std::uint8_t op, std::string_view payload) {
  const std::size_t at = c.out.size();
  c.out.push_back(static_cast<char>(0x80 | op));
  c.out.push_back(static_cast<char>(0x80 | payload.size()));
  c.out.append(reinterpret_cast<const char*>(c.mask), 4);
  c.out.append(payload);
  for (std::size_t i = 0; i < payload.size(); ++i) c.out[at + 6 + i] = static_cast<char>(payload[i] ^ c.mask[i & 3]);
}

/// What one write of the rest of a buffer did.
enum class Wrote : std::uint8_t { all, some, error };

/// Writes `data[done..size)` once, advancing `done`.
Wrote write_rest(int fd, const char* data, std::size_t size, std::size_t& done) noexcept {
  const ssize_t n = ::send(fd, data + done, size - done, MSG_NOSIGNAL);
  if (n < 0) return errno == EAGAIN || errno == EINTR ? Wrote::some : Wrote::error;
  done += static_cast<std::size_t>(n);
  return done == size ? Wrote::all : Wrote::some;
}

/// Writes what is queued until the socket is full; false on an error.
/// (The socket is registered edge-triggered for EPOLLOUT too: no epoll_ctl
/// per blocked write.)
bool DirectWorker::flush(DirectConn& c) {
  for (;;) {
    // The small output (all frames when small; control frames between large frames).
    if (c.out_at < c.out.size() && c.large_done == 0) {
      const Wrote w = write_rest(c.fd, c.out.data(), c.out.size(), c.out_at);
      if (w != Wrote::all) return w != Wrote::error;
      c.out.clear();
      c.out_at = 0;
    }
    if (c.large_queued == 0) break;
    if (c.large_done == 0) stamp_masked(c, c.frame.data() + c.payload_at);
    const Wrote w = write_rest(c.fd, c.frame.data(), c.frame.size(), c.large_done);
    if (w != Wrote::all) return w != Wrote::error;
    c.large_done = 0;
    --c.large_queued;
  }
  return true;  // what is left goes when EPOLLOUT says there is room
}

void DirectWorker::flush_later(DirectConn& c) {
  if (c.to_flush) return;
  c.to_flush = true;
  to_flush_.push_back(&c);
}

/// Compares `n` bytes of an echo at `p` with what was sent at that offset.
void DirectWorker::check(DirectConn& c, const std::uint8_t* p, std::size_t n) noexcept {
  const std::uint64_t at = c.message_at;
  c.message_at += n;
  if (!c.message_ok) return;
  if (c.message_at > c.pattern.size()) {
    c.message_ok = false;
    return;
  }
  std::size_t i = 0;
  const auto pos = static_cast<std::size_t>(at);
  for (; i < n && pos + i < c.recv_stamp.n; ++i) {
    if (p[i] != static_cast<std::uint8_t>(c.recv_stamp.digits[pos + i])) c.message_ok = false;
  }
  if (i < n && std::memcmp(p + i, c.pattern.data() + pos + i, n - i) != 0) c.message_ok = false;
}

/// Feeds bytes from the server to `c`; false when the connection was dropped.
bool DirectWorker::receive(DirectConn& c, const std::uint8_t* p, std::size_t n, std::int64_t t) {
  const std::uint8_t whole = b_.text_ ? 0x81 : 0x82;  // FIN + the opcode sent
  while (n > 0) {
    // The common case first: a small unfragmented echo wholly in the buffer.
    if (!c.in_payload && c.head_len == 0 && !c.in_message && n >= 2 && p[0] == whole && p[1] < 126 &&
        n >= 2u + p[1]) {
      const std::size_t len = p[1];
      const std::size_t digits = std::min(len, c.recv_stamp.n);
      c.message_ok = len == c.pattern.size() && std::memcmp(p + 2, c.recv_stamp.digits, digits) == 0 &&
                     std::memcmp(p + 2 + digits, c.pattern.data() + digits, len - digits) == 0;
      c.message_at = len;
      p += 2 + len;
      n -= 2 + len;
      echo_done(c, t);
      continue;
    }
    if (!c.in_payload) {
      // A frame header: straight from the buffer when whole, else gathered.
      const std::uint8_t* h = p;
      std::size_t have = n;
      if (c.head_len > 0) {
        const std::size_t take = std::min<std::size_t>(n, sizeof c.head - c.head_len);
        std::memcpy(c.head + c.head_len, p, take);
        h = c.head;
        have = c.head_len + take;
      }
      if (have < 2) {
        c.head[0] = p[0];
        c.head_len = 1;
        return true;
      }
      const std::uint8_t len7 = h[1] & 0x7f;
      const std::size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
      if (have < need) {
        if (c.head_len == 0) std::memcpy(c.head, p, n);
        c.head_len = static_cast<std::uint8_t>(have);
        return true;
      }
      if ((h[0] & 0x70) != 0 || (h[1] & 0x80) != 0) {
        fail(c, "protocol error: reserved bits or a masked frame from the server", t);
        return false;
      }
      std::uint64_t len = len7;
      if (len7 == 126) len = (std::uint64_t{h[2]} << 8) | h[3];
      if (len7 == 127) {
        len = 0;
        for (int i = 2; i < 10; ++i) len = (len << 8) | h[i];
      }
      const std::size_t used = need - c.head_len;  // bytes of `p` in the header
      c.head_len = 0;
      p += used;
      n -= used;
      c.frame_op = h[0] & 0x0f;
      c.frame_fin = (h[0] & 0x80) != 0;
      c.frame_left = len;
      c.in_payload = true;
      switch (c.frame_op) {
        case 0x1:
        case 0x2:
          if (c.in_message) {
            fail(c, "protocol error: a new message inside a fragmented one", t);
            return false;
          }
          c.in_message = true;
          c.message_ok = (c.frame_op == 0x1) == b_.text_;
          c.message_at = 0;
          break;
        case 0x0:
          if (!c.in_message) {
            fail(c, "protocol error: a continuation frame outside a message", t);
            return false;
          }
          break;
        case 0x8:
        case 0x9:
        case 0xa:
          if (!c.frame_fin || len > 125) {
            fail(c, "protocol error: a fragmented or long control frame", t);
            return false;
          }
          c.control.clear();
          break;
        default:
          fail(c, "protocol error: unknown opcode", t);
          return false;
      }
    } else {
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, c.frame_left));
      if (c.frame_op >= 0x8) c.control.append(reinterpret_cast<const char*>(p), k);
      else check(c, p, k);
      p += k;
      n -= k;
      c.frame_left -= k;
    }
    if (c.in_payload && c.frame_left == 0) {
      c.in_payload = false;
      if (!end_frame(c, t)) return false;
    }
  }
  return true;
}

/// A frame is complete: a message, a ping, a pong or a close.
bool DirectWorker::end_frame(DirectConn& c, std::int64_t t) {
  switch (c.frame_op) {
    case 0x9:
      queue_control(c, 0xa, c.control);
      return true;
    case 0xa:
      return true;
    case 0x8: {
      if (c.state == DirectConn::State::closing) {  // the answer to ours: done
        drop_fd(c);
        b_.closed_.fetch_add(1);
        return false;
      }
      std::string why = "connection closed by the server";
      if (c.control.size() >= 2) {
        const auto code = static_cast<CloseCode>((static_cast<std::uint8_t>(c.control[0]) << 8) |
                                                 static_cast<std::uint8_t>(c.control[1]));
        why = "connection closed " + describe_close(code, std::string_view(c.control).substr(2));
      }
      fail(c, why, t);
      return false;
    }
    default:
      if (c.frame_fin) {
        c.in_message = false;
        echo_done(c, t);
      }
      return true;
  }
}

void DirectWorker::echo_done(DirectConn& c, std::int64_t t) {
  if (c.ring_count == 0) {
    bump(st_.errors);  // nothing was in flight
    return;
  }
  const std::int64_t sent = c.sent_at[c.ring_head];
  if (++c.ring_head == c.sent_at.size()) c.ring_head = 0;
  --c.ring_count;
  if (!c.message_ok || c.message_at != c.pattern.size()) bump(st_.errors);
  c.recv_stamp.next();
  b_.count_echo(st_, sent, t);
  send_next(c, t);
}

/// The connection ended or could not be made: counted, and made again
/// after 100 ms unless the run is ending.
void DirectWorker::fail(DirectConn& c, std::string why, std::int64_t t) {
  const bool was_open = c.state == DirectConn::State::open || c.state == DirectConn::State::closing;
  const bool expected = c.state == DirectConn::State::closing || b_.stopping_.load();
  drop_fd(c);
  if (was_open) {
    bump(st_.in_flight, -static_cast<std::int64_t>(c.ring_count));
    c.ring_count = 0;
    b_.closed_.fetch_add(1);
  } else {
    b_.failed_.fetch_add(1);
  }
  if (expected) return;
  b_.error(was_open ? std::move(why) : "connect to " + b_.uri_.host() + ":" + std::to_string(b_.uri_.port()) + ": " + why);
  c.deadline = t + 100'000'000;  // no tight retry loop against a dead server
}

void DirectWorker::drop_fd(DirectConn& c) noexcept {
  if (c.fd >= 0) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
  }
  c.fd = -1;
  c.state = DirectConn::State::idle;
}

}  // namespace

int run_bench(const BenchSettings& settings) {
  auto uri = parley::protocol::Uri::parse(settings.url);
  if (!uri) {
    std::fprintf(stderr, "parley bench: %s: %s\n", settings.url.c_str(), uri.error().message().c_str());
    return exit_usage;
  }
  // The direct engine speaks plain ws:// without extensions, straight to the server.
  bool direct = uri->scheme() == "ws" && !settings.deflate;
  if (direct && !settings.proxy.none) {
    direct = settings.proxy.url.empty() &&
             !parley::protocol::proxy_from_environment(*uri, [](const char* name) { return std::getenv(name); });
  }
  if (direct && std::getenv("PARLEY_BENCH_CLIENT") != nullptr) direct = false;  // to compare the engines
  if (direct) return DirectBench(settings, *std::move(uri)).run();
  return ClientBench(settings).run();
}

}  // namespace parley_cli
