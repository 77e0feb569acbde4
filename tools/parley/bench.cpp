// `parley bench URL`: a load generator for echo servers.
//
// Every connection keeps `-p` messages in flight: each echo is checked
// against what was sent and answered at once with the next message, from the
// loop thread's callback (no cross-thread hop per message). Send times sit in
// a per-connection ring (echoes come back in order); latencies go into a
// per-thread histogram, merged at the end. The main thread only starts,
// watches the clock, prints progress and reconnects lost connections.
#include <parley/parley.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "histogram.hpp"

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

/// Counters of one loop thread. The atomics are written by that thread only
/// (relaxed) and read by the main thread for the progress line.
struct ThreadStats {
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::int64_t> in_flight{0};  // sent, echo not yet received
  std::uint64_t measured = 0;  // echoes inside the measurement window
  Histogram latency;           // ns, of the measured echoes
};

/// One connection's pipeline (Connection::metadata).
struct Pipe {
  std::vector<std::int64_t> sent_at;  // ring of send times, oldest at `head`
  std::size_t head = 0;
  std::size_t count = 0;
  std::string payload;           // the next message to send (stamped)
  std::string expected;          // what the next echo must be (stamped)
};

/// The sequence number of a message is written as hex into its first (up
/// to 16) bytes: every message differs from the one before, so an echo that
/// is lost, repeated or reordered does not match.
constexpr std::size_t stamp_digits(const std::string& buf) noexcept { return std::min<std::size_t>(16, buf.size()); }

/// Writes 0 into the stamp of `buf`.
void stamp_zero(std::string& buf) noexcept { std::fill_n(buf.begin(), stamp_digits(buf), '0'); }

/// Adds 1 to the stamp of `buf` in place (amortized one byte touched).
void stamp_next(std::string& buf) noexcept {
  for (std::size_t i = stamp_digits(buf); i-- > 0;) {
    char& d = buf[i];
    if (d == 'f') {
      d = '0';  // carry
      continue;
    }
    d = d == '9' ? 'a' : static_cast<char>(d + 1);
    return;
  }
}

class BenchApp {
 public:
  explicit BenchApp(const BenchSettings& s) : s_(s) {
    type_ = s.binary ? MessageType::binary : MessageType::text;
    if (s_.messages == 0 && s_.duration == 0) duration_s_ = 10;
    else duration_s_ = s_.duration;  // 0 with -n: until -n messages
  }

  int run() {
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    threads_ = s_.threads ? s_.threads : std::min(hw, s_.connections);

    parley::ClientOptions o;
    o.threads = threads_;
    o.subprotocols = s_.subprotocols;
    for (const std::string& h : s_.headers) {
      const auto colon = h.find(':');
      if (colon == std::string::npos || colon == 0) {
        std::fprintf(stderr, "parley bench: bad --header '%s': expected \"Name: value\"\n", h.c_str());
        return exit_usage;
      }
      std::string_view value = std::string_view(h).substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      o.headers.add(std::string_view(h).substr(0, colon), value);
    }
    o.connect_timeout = seconds_to_ms(s_.connect_timeout);
    o.handshake_timeout = seconds_to_ms(s_.connect_timeout);
    o.max_message_size = std::max<std::uint64_t>(s_.size, 64ull << 20);
    const std::uint64_t window = static_cast<std::uint64_t>(s_.pipeline) * (s_.size + 14) * 2;
    o.max_buffered_amount = static_cast<std::size_t>(std::max<std::uint64_t>(window, 16u << 20));
    o.deflate.enabled = s_.deflate;
    o.deflate.compression_threshold = 0;  // a benchmark of compression compresses every message
    apply_client_tls(s_.tls, o);
    apply_client_proxy(s_.proxy, o);

    block_stop_signals();  // SIGINT/SIGTERM end the run early (sigtimedwait below)
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);

    client_ = std::make_unique<parley::Client>(std::move(o));
    install_callbacks();

    // Open every connection; the run starts once all have opened or failed.
    const auto connect_deadline = Clock::now() + seconds_to_ms(s_.connect_timeout) * 2 + std::chrono::seconds(1);
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
    while (opened_.load() + failed_.load() < s_.connections && Clock::now() < connect_deadline) {
      if (interrupted(signals, 10)) return abort_run();
    }
    if (opened_.load() == 0) {
      std::lock_guard lock(mutex_);
      std::fprintf(stderr, "parley bench: cannot connect to %s: %s\n", s_.url.c_str(),
                   last_error_.empty() ? "no connection opened in time" : last_error_.c_str());
      stopping_ = true;
      client_.reset();
      return exit_connect_failed;
    }

    // Warmup, then the measurement window.
    const auto warm_end = Clock::now() + seconds_to_ms(s_.warmup);
    while (Clock::now() < warm_end) {
      if (interrupted(signals, 10)) return abort_run();
      reconnect_lost();
    }
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
    stop_sending_.store(true);
    const std::int64_t end = measure_end_.load();
    if (progress) std::fprintf(stderr, "\r\033[K");

    // Let the messages in flight come back (bounded), then close with 1000.
    const auto drain_deadline = Clock::now() + std::chrono::seconds(2);
    while (total_in_flight() > 0 && Clock::now() < drain_deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const std::int64_t lost = std::max<std::int64_t>(0, total_in_flight());
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      for (const auto& h : handles_) h.close(CloseCode::normal, "bench done");
    }
    const auto close_deadline = Clock::now() + std::chrono::seconds(3);
    while (opened_.load() > closed_.load() && Clock::now() < close_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    client_.reset();  // joins the loop threads: their stats are final now

    report(start, end, static_cast<std::uint64_t>(lost), interrupted_run);
    const std::uint64_t errors = total_errors() + static_cast<std::uint64_t>(lost);
    return errors == 0 && measured_total() > 0 ? exit_ok : exit_failure;
  }

 private:
  bool interrupted(const sigset_t& signals, long ms) {
    const timespec t{0, ms * 1'000'000};
    siginfo_t info;
    const int sig = sigtimedwait(&signals, &info, &t);
    return sig == SIGINT || sig == SIGTERM;
  }

  int abort_run() {
    std::fprintf(stderr, "parley bench: interrupted\n");
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    stop_sending_.store(true);
    client_.reset();
    return exit_failure;
  }

  ThreadStats& stats() {
    thread_local ThreadStats* mine = nullptr;
    thread_local const BenchApp* owner = nullptr;
    if (mine == nullptr || owner != this) {
      std::lock_guard lock(stats_mutex_);
      stats_.push_back(std::make_unique<ThreadStats>());
      mine = stats_.back().get();
      owner = this;
    }
    return *mine;
  }

  std::uint64_t total_received() {
    std::lock_guard lock(stats_mutex_);
    std::uint64_t n = 0;
    for (const auto& t : stats_) n += t->received.load(std::memory_order_relaxed);
    return n;
  }
  std::uint64_t total_errors() {
    std::uint64_t n = errors_.load();
    std::lock_guard lock(stats_mutex_);
    for (const auto& t : stats_) n += t->errors.load(std::memory_order_relaxed);
    return n;
  }
  std::int64_t total_in_flight() {
    std::lock_guard lock(stats_mutex_);
    std::int64_t n = 0;
    for (const auto& t : stats_) n += t->in_flight.load(std::memory_order_relaxed);
    return n;
  }
  std::uint64_t measured_total() {
    std::lock_guard lock(stats_mutex_);
    std::uint64_t n = 0;
    for (const auto& t : stats_) n += t->measured;
    return n;
  }

  void error(std::string message) {
    errors_.fetch_add(1);
    std::lock_guard lock(mutex_);
    last_error_ = std::move(message);
  }

  /// Sends the next message on `c` at time `t` if the run and the -n budget
  /// allow. Counters are the calling thread's: nothing shared is written.
  bool send_next(Connection& c, Pipe& p, ThreadStats& st, std::int64_t t) {
    if (stop_sending_.load(std::memory_order_relaxed)) return false;
    if (s_.messages && t >= measure_start_.load(std::memory_order_relaxed)) {
      if (budget_.fetch_add(1, std::memory_order_relaxed) >= s_.messages) return false;
    }
    const parley::SendResult r = c.send(type_, p.payload);
    stamp_next(p.payload);
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
      std::string pattern(static_cast<std::size_t>(s_.size), '\0');
      for (std::size_t i = 0; i < pattern.size(); ++i) {
        pattern[i] = type_ == MessageType::text ? static_cast<char>('a' + (i * 7 + c.id()) % 26)
                                                  : static_cast<char>((i * 131 + c.id() * 17) & 0xff);
      }
      stamp_zero(pattern);
      p.payload = pattern;
      p.expected = std::move(pattern);
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
        bump(st.in_flight, -1);
        if (type != type_ || m.size() != p.expected.size() ||
            std::memcmp(m.data(), p.expected.data(), m.size()) != 0) {
          bump(st.errors);
        }
        stamp_next(p.expected);
        bump(st.received);
        if (sent >= measure_start_.load(std::memory_order_relaxed) && t <= measure_end_.load(std::memory_order_relaxed)) {
          ++st.measured;
          st.latency.record(static_cast<std::uint64_t>(t - sent));
          if (s_.messages && measured_count_.fetch_add(1, std::memory_order_relaxed) + 1 == s_.messages) {
            measure_end_.store(t);
            budget_done_.store(true);
          }
        }
        send_next(c, p, st, t);
      };
    };
    client_->on_text(on_message(MessageType::text));
    client_->on_binary(on_message(MessageType::binary));
    client_->on_close([this](Connection& c, CloseCode code, std::string_view reason) {
      closed_.fetch_add(1);
      const Pipe& p = c.metadata_as<Pipe>();
      bump(stats().in_flight, -static_cast<std::int64_t>(p.count));
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      // Lost during the run: an error, and a new connection replaces it.
      errors_.fetch_add(1);
      last_error_ = "connection closed " + describe_close(code, reason);
      ++to_reconnect_;
    });
    client_->on_error([this](Connection* c, const parley::Error& e) {
      std::lock_guard lock(mutex_);
      last_error_ = e.message();
      if (c == nullptr || c->metadata().has_value()) return;  // an error on an open connection: on_close follows and counts it
      failed_.fetch_add(1);
      if (stopping_) return;
      errors_.fetch_add(1);
      ++to_reconnect_;
    });
  }

  void reconnect_lost() {
    std::vector<parley::ConnectionHandle> fresh;
    {
      std::lock_guard lock(mutex_);
      if (stopping_ || to_reconnect_ == 0) return;
      const auto now = Clock::now();
      if (now < next_reconnect_) return;
      next_reconnect_ = now + std::chrono::milliseconds(100);  // no tight retry loop against a dead server
      for (; to_reconnect_ > 0; --to_reconnect_) {
        auto h = client_->connect(s_.url);
        if (!h) break;
        handles_.push_back(*h);
        ++reconnects_;
      }
    }
  }

  void report(std::int64_t start, std::int64_t end, std::uint64_t lost, bool interrupted_run) {
    Histogram all;
    std::uint64_t measured = 0;
    std::uint64_t received = 0;
    for (const auto& t : stats_) {
      all.merge(t->latency);
      measured += t->measured;
      received += t->received.load();
    }
    const double secs = std::max(1e-9, static_cast<double>(end - start) / 1e9);
    const double rate = static_cast<double>(measured) / secs;
    const double mbps = rate * static_cast<double>(s_.size) / 1e6;
    const std::uint64_t errors = total_errors() + lost;
    auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
    std::string last_error;
    {
      std::lock_guard lock(mutex_);
      last_error = last_error_;
    }
    if (s_.json) {
      std::string escaped;
      for (char ch : s_.url) {
        if (ch == '"' || ch == '\\') escaped += '\\';
        if (static_cast<unsigned char>(ch) >= 0x20) escaped += ch;
      }
      std::printf(
          "{\"url\":\"%s\",\"connections\":%u,\"pipeline\":%u,\"size\":%" PRIu64
          ",\"binary\":%s,\"threads\":%u,\"duration_s\":%.6f,\"warmup_s\":%.3f,\"messages\":%" PRIu64
          ",\"messages_per_sec\":%.1f,\"mb_per_sec\":%.3f,\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
          "\"p99_9\":%.1f,\"max\":%.1f,\"mean\":%.1f,\"min\":%.1f},\"errors\":%" PRIu64 ",\"lost\":%" PRIu64
          ",\"reconnects\":%" PRIu64 ",\"interrupted\":%s}\n",
          escaped.c_str(), s_.connections, s_.pipeline, s_.size, s_.binary ? "true" : "false", threads_, secs,
          s_.warmup, measured, rate, mbps, us(all.quantile(0.5)), us(all.quantile(0.9)), us(all.quantile(0.99)),
          us(all.quantile(0.999)), us(all.max()), all.mean() / 1000.0, us(all.min()), errors, lost, reconnects_,
          interrupted_run ? "true" : "false");
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
    std::printf("  errors      %" PRIu64 "%s%s\n", errors, errors && !last_error.empty() ? "  last: " : "",
                errors ? last_error.c_str() : "");
    std::printf("  reconnects  %" PRIu64 "\n", reconnects_);
    std::fflush(stdout);
  }

  const BenchSettings& s_;
  MessageType type_;
  double duration_s_ = 10;
  unsigned threads_ = 1;
  std::unique_ptr<parley::Client> client_;

  std::atomic<std::int64_t> measure_start_{never};
  std::atomic<std::int64_t> measure_end_{never};
  std::atomic<bool> stop_sending_{false};
  std::atomic<std::uint64_t> budget_{0};          // -n: messages sent in the window
  std::atomic<std::uint64_t> measured_count_{0};  // -n: messages echoed in the window
  std::atomic<bool> budget_done_{false};
  std::atomic<unsigned> opened_{0};
  std::atomic<unsigned> closed_{0};
  std::atomic<unsigned> failed_{0};
  std::atomic<std::uint64_t> errors_{0};

  std::mutex stats_mutex_;
  std::deque<std::unique_ptr<ThreadStats>> stats_;

  std::mutex mutex_;  // guards the members below
  std::vector<parley::ConnectionHandle> handles_;
  std::string last_error_;
  bool stopping_ = false;
  unsigned to_reconnect_ = 0;
  std::uint64_t reconnects_ = 0;
  Clock::time_point next_reconnect_{};
};

}  // namespace

int run_bench(const BenchSettings& settings) {
  BenchApp app(settings);
  return app.run();
}

}  // namespace parley_cli
