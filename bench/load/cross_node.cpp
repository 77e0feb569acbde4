// parley_cross_node: the cross-node load generator of bench/redis_figures.sh
// (issue 16): a publisher on one server, subscribers on another, the two
// servers sharing a topic through Redis.
//
//   parley_cross_node --pub URL --sub URL [options]
//
// Opens N subscriber connections to --sub (e.g. `parley serve --redis`'s
// ws://127.0.0.1:B/chat/bench on server B) and one publisher to --pub (the
// same room on server A; it is a member too and gets its own copies, which
// it ignores). It first sends text probes until every subscriber has got
// one (the room's Redis subscription on B is made after its first member
// joins), lets the stragglers drain, then publishes binary messages of S
// bytes (at least 16): the sequence number and the send time (steady clock,
// ns; one machine) in the first 16 bytes. Every subscriber checks that the
// numbers come one by one (a gap, repeat or step back is counted as an
// error); a message is complete when all N have it (in order, since each
// gets them in order).
//
// Two modes:
// - throughput (--rate 0, the default): at most --window messages published
//   and not complete; the publisher sends as completions come (all on the
//   client's one loop thread). For --seconds, then a drain. Figures:
//   messages/s (complete messages) and deliveries/s (x N).
// - latency (--rate R): R messages per second for --seconds, on a 1 ms
//   timer; latency = receive time - send time of every delivery, p50/p99
//   (µs). Keep R well under the throughput so that no queue builds.
//
// Optional --cpu-pid NAME=PID (repeatable): that process's CPU (utime +
// stime of /proc/PID/stat) over the measured interval, as a share of one
// core. This generator's own share is printed too: near 100 % means it was
// the limit. Output: human lines, then "RESULT key=value ..." for scripts.
// Exit status 0 for a finished run (whatever the figures), 1 on an error
// (refused connection, close, no probe within --time-limit), 2 for usage.
#include <parley/parley.hpp>

#include "common.hpp"


#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Settings {
  std::string pub, sub;
  unsigned subscribers = 1;
  std::size_t size = 16;
  unsigned window = 256;
  double rate = 0;
  double seconds = 3;
  double time_limit = 60;
  std::vector<std::pair<std::string, int>> cpu_pids;
};

const char* const usage =
    "usage: parley_cross_node --pub URL --sub URL [-n SUBSCRIBERS] [-s SIZE] [--window W] [--rate R]\n"
    "                         [--seconds T] [--time-limit T] [--cpu-pid NAME=PID ...]\n"
    "  --pub         the publisher's URL (a room on server A)\n"
    "  --sub         the subscribers' URL (the same room on server B)\n"
    "  -n            subscribers (default 1)\n"
    "  -s            message size in bytes, at least 16 (default 16)\n"
    "  --window      throughput mode: messages published and not yet complete, at most (default 256)\n"
    "  --rate        messages per second: latency mode; 0 = throughput mode (default 0)\n"
    "  --seconds     how long to publish (default 3)\n"
    "  --time-limit  the whole run, at most (default 60 s)\n"
    "  --cpu-pid     NAME=PID: report that process's CPU share over the run (repeatable)\n";

bool parse_args(int argc, char** argv, Settings& s) {
  const auto option = [&s](std::string_view a, const char* v) {
    if (a == "--pub") s.pub = v;
    else if (a == "--sub") s.sub = v;
    else if (a == "--cpu-pid") {
      const std::string_view pair = v;
      const auto eq = pair.find('=');
      double pid = 0;
      if (eq == std::string_view::npos || !bench::parse_number(v + eq + 1, pid)) return false;
      s.cpu_pids.emplace_back(std::string(pair.substr(0, eq)), static_cast<int>(pid));
    } else {
      double d = 0;
      if (!bench::parse_number(v, d)) return false;
      if (a == "-n") s.subscribers = static_cast<unsigned>(d);
      else if (a == "-s") s.size = static_cast<std::size_t>(d);
      else if (a == "--window") s.window = static_cast<unsigned>(d);
      else if (a == "--rate") s.rate = d;
      else if (a == "--seconds") s.seconds = d;
      else if (a == "--time-limit") s.time_limit = d;
      else return false;
    }
    return true;
  };
  const auto no_positional = [](std::string_view) { return false; };
  return bench::walk_command_line(argc, argv, option, no_positional) && !s.pub.empty() && !s.sub.empty() &&
         s.subscribers > 0 && s.size >= 16 && s.window > 0 && s.seconds > 0;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

void put64(char* p, std::uint64_t v) { std::memcpy(p, &v, 8); }
std::uint64_t get64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Everything below runs on the client's one loop thread, but for the
// atomics and what main() reads after `done`.
class Run {
 public:
  explicit Run(const Settings& s) : s_(s), payload_(s.size, 'x'), counts_(kRing, 0), next_(s.subscribers, 0) {}

  void start_connections(parley::Client& client) {
    auto pub = client.connect(s_.pub);
    if (!pub) return fail("--pub: " + pub.error().message());
    pub_id_ = pub->id();
    for (unsigned i = 0; i < s_.subscribers; ++i) {
      auto sub = client.connect(s_.sub);
      if (!sub) return fail("--sub: " + sub.error().message());
      sub_index_.emplace_back(sub->id(), i);
    }
    std::sort(sub_index_.begin(), sub_index_.end());
  }

  void opened(parley::Connection& c) {
    if (c.id() == pub_id_) pub_ = &c;
    if (++open_ == s_.subscribers + 1) probe();
  }

  void text(parley::Connection& c, std::string_view) {
    const int i = index(c);
    if (i < 0 || phase_ != Phase::probing || probed_[static_cast<std::size_t>(i)]) return;
    probed_[static_cast<std::size_t>(i)] = true;
    if (++probed_count_ == s_.subscribers) phase_ = Phase::settling;
  }

  void binary(parley::Connection& c, std::string_view m, parley::Client& client) {
    const int i = index(c);
    if (i < 0 || m.size() != s_.size) return;
    const std::uint64_t seq = get64(m.data());
    const std::int64_t sent = static_cast<std::int64_t>(get64(m.data() + 8));
    std::uint64_t& next = next_[static_cast<std::size_t>(i)];
    if (seq != next) ++errors_;
    next = seq + 1;
    if (s_.rate > 0) latencies_us_.push_back(static_cast<float>(static_cast<double>(now_ns() - sent) / 1e3));
    if (seq < complete_ || seq >= complete_ + kRing) return;  // (an error, counted above)
    ++counts_[seq % kRing];
    while (complete_ < published_ && counts_[complete_ % kRing] == s_.subscribers) {
      counts_[complete_ % kRing] = 0;
      ++complete_;
    }
    if (phase_ == Phase::measuring && s_.rate == 0) fill_window();
    if (phase_ == Phase::draining && complete_ == published_) finish(client);
  }

  void closed(parley::Connection&, parley::CloseCode code, std::string_view reason) {
    if (phase_ != Phase::done) fail("a connection closed: " + std::to_string(static_cast<int>(code)) + " " + std::string(reason));
  }
  void error(parley::Connection*, const parley::Error& e) { fail(e.message()); }

  // The probes: one every 100 ms until every subscriber has one, then
  // 500 ms for the stragglers, then the measurement.
  void probe() {
    phase_ = Phase::probing;
    probed_.assign(s_.subscribers, false);
    probe_timer_ = client_->every(parley::Millis(100), [this] {
      if (phase_ == Phase::probing) {
        if (pub_ != nullptr) (void)pub_->send_text("probe");
      } else if (phase_ == Phase::settling) {
        probe_timer_.cancel();
        (void)client_->add_timer(parley::Millis(500), [this] { measure(); });
      }
    });
  }

  void measure() {
    phase_ = Phase::measuring;
    t0_ = Clock::now();
    cpu0_ = bench::own_cpu_seconds();
    for (auto& [name, pid] : s_.cpu_pids) other_cpu0_.push_back(bench::process_cpu_seconds(pid));
    if (s_.rate == 0) {
      fill_window();
    } else {
      pace_timer_ = client_->every(parley::Millis(1), [this] {
        const double elapsed = std::chrono::duration<double>(Clock::now() - t0_).count();
        const auto due = static_cast<std::uint64_t>(std::min(elapsed, s_.seconds) * s_.rate);
        while (published_ < due) publish();
      });
    }
    (void)client_->add_timer(parley::Millis(static_cast<long>(s_.seconds * 1000)), [this] {
      pace_timer_.cancel();
      t1_ = Clock::now();
      complete_at_t1_ = complete_;
      phase_ = Phase::draining;
      if (complete_ == published_) return finish(*client_);
      // Bounded: what has not come within 3 s is not coming (counted).
      (void)client_->add_timer(parley::Millis(3000), [this] {
        if (phase_ != Phase::draining) return;
        errors_ += published_ - complete_;
        finish(*client_);
      });
    });
  }

  void fill_window() {
    while (published_ - complete_ < s_.window) publish();
  }

  void publish() {
    put64(payload_.data(), published_);
    put64(payload_.data() + 8, static_cast<std::uint64_t>(now_ns()));
    if (pub_ == nullptr || !pub_->send_binary(payload_)) return fail("the publisher could not send");
    ++published_;
  }

  void finish(parley::Client&) {
    if (phase_ == Phase::done) return;
    phase_ = Phase::done;
    t_end_ = Clock::now();
    cpu1_ = bench::own_cpu_seconds();
    for (auto& [name, pid] : s_.cpu_pids) other_cpu1_.push_back(bench::process_cpu_seconds(pid));
    signal_done();
  }

  void fail(std::string why) {
    if (phase_ == Phase::done) return;
    phase_ = Phase::done;
    failure_ = std::move(why);
    signal_done();
  }

  void set_client(parley::Client* c) { client_ = c; }

  // Waits (bounded) for the end; the report, or the failure.
  int wait_and_report() {
    {
      std::unique_lock l(m_);
      if (!cv_.wait_for(l, std::chrono::duration<double>(s_.time_limit), [this] { return done_; })) {
        std::fprintf(stderr, "parley_cross_node: no result within --time-limit (%g s): probed %u of %u\n",
                     s_.time_limit, probed_count_.load(), s_.subscribers);
        return 1;
      }
    }
    if (!failure_.empty()) {
      std::fprintf(stderr, "parley_cross_node: %s\n", failure_.c_str());
      return 1;
    }
    const double measured = std::chrono::duration<double>(t1_ - t0_).count();
    const double whole = std::chrono::duration<double>(t_end_ - t0_).count();
    const double msgs_per_s = static_cast<double>(complete_at_t1_) / measured;
    const double self_share = (cpu1_ - cpu0_) / whole;
    std::printf("%u subscriber(s), %zu B, %s: %llu messages published, %llu complete, errors %llu\n", s_.subscribers,
                s_.size, s_.rate > 0 ? "latency mode" : "throughput mode",
                static_cast<unsigned long long>(published_), static_cast<unsigned long long>(complete_),
                static_cast<unsigned long long>(errors_));
    std::string result = "RESULT subscribers=" + std::to_string(s_.subscribers) + " size=" + std::to_string(s_.size) +
                         " published=" + std::to_string(published_) + " errors=" + std::to_string(errors_);
    char buf[256];
    if (s_.rate == 0) {
      std::printf("  %.0f messages/s, %.0f deliveries/s (over %.2f s)\n", msgs_per_s, msgs_per_s * s_.subscribers,
                  measured);
      std::snprintf(buf, sizeof buf, " msgs_per_s=%.0f deliveries_per_s=%.0f", msgs_per_s,
                    msgs_per_s * s_.subscribers);
      result += buf;
    } else {
      std::vector<float>& l = latencies_us_;
      std::sort(l.begin(), l.end());
      auto pct = [&](double p) {
        return l.empty() ? 0.0 : static_cast<double>(l[std::min(l.size() - 1, static_cast<std::size_t>(p * static_cast<double>(l.size())))]);
      };
      std::printf("  %.0f messages/s offered, latency p50 %.0f us, p99 %.0f us, max %.0f us (%zu deliveries)\n", s_.rate,
                  pct(0.5), pct(0.99), l.empty() ? 0.0 : static_cast<double>(l.back()), l.size());
      std::snprintf(buf, sizeof buf, " rate=%.0f p50_us=%.0f p99_us=%.0f max_us=%.0f", s_.rate, pct(0.5), pct(0.99),
                    l.empty() ? 0.0 : static_cast<double>(l.back()));
      result += buf;
    }
    std::printf("  CPU share of one core: generator %.0f %%", 100 * self_share);
    std::snprintf(buf, sizeof buf, " generator_cpu=%.2f", self_share);
    result += buf;
    for (std::size_t i = 0; i < s_.cpu_pids.size(); ++i) {
      const double share = (other_cpu1_[i] - other_cpu0_[i]) / whole;
      std::printf(", %s %.0f %%", s_.cpu_pids[i].first.c_str(), 100 * share);
      std::snprintf(buf, sizeof buf, " %s_cpu=%.2f", s_.cpu_pids[i].first.c_str(), share);
      result += buf;
    }
    std::printf("\n%s\n", result.c_str());
    return 0;
  }

 private:
  enum class Phase { connecting, probing, settling, measuring, draining, done };
  static constexpr std::size_t kRing = 1u << 20;

  int index(const parley::Connection& c) const {
    auto it = std::lower_bound(sub_index_.begin(), sub_index_.end(), std::pair<std::uint64_t, unsigned>(c.id(), 0));
    return it != sub_index_.end() && it->first == c.id() ? static_cast<int>(it->second) : -1;
  }

  void signal_done() {
    std::lock_guard l(m_);
    done_ = true;
    cv_.notify_all();
  }

  const Settings& s_;
  parley::Client* client_ = nullptr;
  std::string payload_;
  std::uint64_t pub_id_ = 0;
  parley::Connection* pub_ = nullptr;
  std::vector<std::pair<std::uint64_t, unsigned>> sub_index_;  // connection id -> subscriber index, sorted
  unsigned open_ = 0;
  Phase phase_ = Phase::connecting;
  std::vector<bool> probed_;
  std::atomic<unsigned> probed_count_{0};
  parley::Timer probe_timer_, pace_timer_;
  std::vector<std::uint32_t> counts_;  // deliveries of message seq, at seq % kRing
  std::vector<std::uint64_t> next_;    // per subscriber: the sequence number expected next
  std::uint64_t published_ = 0, complete_ = 0, complete_at_t1_ = 0, errors_ = 0;
  std::vector<float> latencies_us_;
  Clock::time_point t0_, t1_, t_end_;
  double cpu0_ = 0, cpu1_ = 0;
  std::vector<double> other_cpu0_, other_cpu1_;
  std::string failure_;
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  if (!parse_args(argc, argv, s)) {
    std::fputs(usage, stderr);
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  parley::ClientOptions o;
  o.max_message_size = 1 << 20;
  parley::Client client(o);
  Run run(s);
  run.set_client(&client);
  client.on_open([&](parley::Connection& c) { run.opened(c); });
  client.on_text([&](parley::Connection& c, std::string_view m) { run.text(c, m); });
  client.on_binary([&](parley::Connection& c, std::string_view m) { run.binary(c, m, client); });
  client.on_close([&](parley::Connection& c, parley::CloseCode code, std::string_view r) { run.closed(c, code, r); });
  client.on_error([&](parley::Connection* c, const parley::Error& e) { run.error(c, e); });
  if (parley::Error e = client.start()) {
    std::fprintf(stderr, "parley_cross_node: %s\n", e.message().c_str());
    return 1;
  }
  // The connections are made on the loop thread, so that no on_open comes
  // before the publisher's id is known.
  (void)client.post([&] { run.start_connections(client); });
  const int status = run.wait_and_report();
  std::_Exit(status);  // (the client's close handshakes are not part of the figures)
}
