// A live dashboard: the server pushes its figures (open connections,
// messages per second, a simulated metric) to every page five times a
// second from `on_tick`; the page draws them as charts on a <canvas>.
//
// A page that cannot keep up (a background tab, a slow link) is skipped,
// not buffered for: when a send reports SendStatus::backpressure (the
// connection's unsent output is over max_buffered_amount, 64 KiB by
// default) the page is paused, its updates are counted as missed, and
// `on_drain` resumes it with the next update. Old figures are worth
// nothing. Each update is numbered (`seq`), so a page can tell that it
// missed one, and `GET /status` reports what was sent and skipped
// (read-only, JSON).
//
//   build/examples/dashboard_example [--port 8080] [--host 127.0.0.1] [--period-ms 200] [--max-buffered 65536]
//
// then open http://127.0.0.1:8080/. README.md says more.
#include <parley/parley.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "example_support.hpp"

namespace {

constexpr std::string_view kHeartbeat = "__parley_ping__";  // parley.js's heartbeat, and its answer
constexpr std::string_view kHeartbeatReply = "__parley_pong__";

// Each page's state, in its connection's user data.
struct Viewer {
  bool paused = false;       // over max_buffered_amount: skipped until on_drain
  std::uint64_t missed = 0;  // updates skipped for this page
};

// The figures, from every loop thread.
struct Figures {
  std::atomic<std::uint64_t> received{0};     // messages from pages
  std::atomic<std::uint64_t> sent{0};         // updates sent
  std::atomic<std::uint64_t> skipped{0};      // updates skipped (a page was paused)
  std::atomic<std::size_t> peak_buffered{0};  // the most unsent output any page had at an update

  void note_buffered(std::size_t bytes) {
    std::size_t peak = peak_buffered.load(std::memory_order_relaxed);
    while (bytes > peak && !peak_buffered.compare_exchange_weak(peak, bytes, std::memory_order_relaxed)) {
    }
  }
};

// A simulated metric: a slow wave with a random walk on top, 0-100.
class Metric {
 public:
  double next(double seconds) {
    walk_ = std::clamp(walk_ + noise_(rng_), -15.0, 15.0);
    return std::clamp(50.0 + 30.0 * std::sin(seconds / 4.0) + walk_, 0.0, 100.0);
  }

 private:
  std::mt19937 rng_{std::random_device{}()};
  std::normal_distribution<double> noise_{0.0, 2.0};
  double walk_ = 0;
};

std::string fixed(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  long period_ms = 200;
  long max_buffered = 64 * 1024;  // many updates' worth for a page that does not read
  const example::Flags flags = example::parse_flags(
      argc, argv, "[--host ADDR] [--port N] [--period-ms 200] [--max-buffered 65536] [--tls-cert F --tls-key F]",
      [&](std::string_view flag, const char* value) {
        if (flag == "--period-ms") {
          period_ms = std::clamp(std::atol(value), 20L, 10000L);
        } else if (flag == "--max-buffered") {
          max_buffered = std::clamp(std::atol(value), 1024L, 16L << 20);
        } else {
          return false;
        }
        return true;
      });
  parley::ServerOptions options = example::server_options(flags);
  options.tick_period = parley::Millis(period_ms);
  options.max_message_size = 4096;
  options.max_buffered_amount = static_cast<std::size_t>(max_buffered);
  parley::Server server(options);
  Figures figures;
  Metric metric;
  std::mutex m;
  std::map<std::uint64_t, parley::ConnectionHandle> viewers;  // by connection id
  const auto files = example::static_files();

  std::atomic<std::uint64_t> seq{0};  // updates made so far: the number of the last one

  server.on_http([&](const parley::Request& req) {
    parley::Response r;
    if (example::serve_static(req, files, r)) return r;
    // What was sent and skipped, for a look from outside (curl, a test).
    if (req.method == "GET" && req.path() == "/status") {
      std::size_t connections = 0;
      {
        std::lock_guard lock(m);
        connections = viewers.size();
      }
      return example::reply(200,
                            "{\"updates\":" + std::to_string(seq.load()) + ",\"connections\":" +
                                std::to_string(connections) + ",\"sent\":" + std::to_string(figures.sent.load()) +
                                ",\"skipped\":" + std::to_string(figures.skipped.load()) +
                                ",\"max_buffered_amount\":" + std::to_string(options.max_buffered_amount) +
                                ",\"peak_buffered\":" + std::to_string(figures.peak_buffered.load()) + "}\n",
                            "application/json");
    }
    return example::reply(404, "not found\n");
  });
  server.on_handshake([](parley::Connection&, const parley::Request& req) {
    if (req.path() != "/figures") return parley::HandshakeReply::reject(404, "the figures are at /figures");
    return parley::HandshakeReply::accept();
  });
  server.on_open([&](parley::Connection& conn) {
    conn.metadata_as<Viewer>();
    std::lock_guard lock(m);
    viewers.emplace(conn.id(), conn.handle());
  });
  server.on_close([&](parley::Connection& conn, parley::CloseCode, std::string_view) {
    std::lock_guard lock(m);
    viewers.erase(conn.id());
  });
  // Pages may send anything (the page's "burst" button does): counted.
  server.on_text([&](parley::Connection& conn, std::string_view text) {
    if (text == kHeartbeat) {
      (void)conn.send_text(kHeartbeatReply);
      return;
    }
    figures.received.fetch_add(1, std::memory_order_relaxed);
  });
  server.on_drain([](parley::Connection& conn) { conn.metadata_as<Viewer>().paused = false; });

  // Every period, on the first loop's thread: the figures of the last
  // second, sent to each page on its own loop thread.
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  std::deque<std::pair<Clock::time_point, std::uint64_t>> history;  // (when, messages so far)
  server.on_tick([&] {
    const Clock::time_point now = Clock::now();
    const std::uint64_t messages = figures.received.load() + figures.sent.load();
    history.emplace_back(now, messages);
    while (history.size() > 2 && now - history.front().first > std::chrono::seconds(1)) history.pop_front();
    const double span = std::chrono::duration<double>(now - history.front().first).count();
    const double rate = span > 0 ? static_cast<double>(messages - history.front().second) / span : 0.0;
    const double seconds = std::chrono::duration<double>(now - start).count();
    std::vector<parley::ConnectionHandle> targets;
    {
      std::lock_guard lock(m);
      for (const auto& [id, h] : viewers) targets.push_back(h);
    }
    // (missed is per page; the rest is the same for everyone)
    const std::string tail = ",\"seq\":" + std::to_string(++seq) + ",\"t\":" + fixed(seconds, 2) +
                             ",\"connections\":" + std::to_string(targets.size()) + ",\"rate\":" + fixed(rate, 1) + ",\"metric\":" + fixed(metric.next(seconds), 2) +
                             ",\"skipped\":" + std::to_string(figures.skipped.load()) + "}";
    for (const parley::ConnectionHandle& h : targets) {
      h.post([&figures, tail](parley::Connection& conn) {
        Viewer& v = conn.metadata_as<Viewer>();
        parley::SendStatus status = parley::SendStatus::dropped;
        if (!v.paused) status = conn.send_text("{\"missed\":" + std::to_string(v.missed) + tail).status;
        figures.note_buffered(conn.buffered_amount());
        if (status == parley::SendStatus::dropped) {
          // Paused, or already over the limit (a heartbeat answer can take
          // it there): skipped, and skipped until on_drain.
          v.paused = true;
          ++v.missed;
          figures.skipped.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        if (status == parley::SendStatus::backpressure) v.paused = true;  // queued; the next ones wait for on_drain
        figures.sent.fetch_add(1, std::memory_order_relaxed);
      });
    }
  });
  return example::run(server, flags, "dashboard_example");
}
