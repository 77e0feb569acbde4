// The two halves of bench/deflate_figures.sh, which measures a server's RSS
// growth per idle connection for a permessage-deflate setting.
//
//   parley_deflate_memory server SETTING
//     An echo server (one loop thread, no keep-alive pings) on an ephemeral
//     loopback port with SETTING; prints "ws://127.0.0.1:PORT/" and runs
//     until SIGTERM or SIGINT. On SIGUSR1 it prints "heap in use: N bytes"
//     (glibc's mallinfo2: live allocations, without the allocator's free
//     memory that RSS also counts).
//   parley_deflate_memory client URL N SETTING [MESSAGES]
//     Opens N connections with the same SETTING; each sends MESSAGES
//     (default 3) JSON-like text messages of about 1 KiB and waits for their
//     echoes (so the server's deflater and inflater are both allocated and
//     used), then prints "ready N negotiated K" and holds every connection
//     idle until stdin closes. URL may be wss:// (the server's certificate
//     is not verified: this measures a server of one's own).
//
// SETTING is one of:
//   none      no permessage-deflate
//   default   15-bit windows, context takeover, memLevel 8, level 6
//   small     10-bit windows both ways, memLevel 4
//   tiny      9-bit windows both ways, memLevel 1
//   nct       no context takeover both ways (15-bit windows, memLevel 8)
//   nct-small no context takeover both ways, 10-bit windows, memLevel 4
#include <parley/parley.hpp>

#include <malloc.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>

namespace {

std::optional<parley::protocol::DeflateOptions> setting(const std::string& name) {
  parley::protocol::DeflateOptions d;
  d.enabled = name != "none";
  if (name == "none" || name == "default") return d;
  if (name == "small" || name == "nct-small") {
    d.server_max_window_bits = d.client_max_window_bits = 10;
    d.mem_level = 4;
  } else if (name == "tiny") {
    d.server_max_window_bits = d.client_max_window_bits = 9;
    d.mem_level = 1;
  } else if (name != "nct") {
    return std::nullopt;
  }
  if (name == "nct" || name == "nct-small") d.server_no_context_takeover = d.client_no_context_takeover = true;
  return d;
}

// About 1 KiB of JSON-like text, different for each (connection, message).
std::string message(unsigned long seed) {
  std::string s = "[";
  for (int i = 0; i < 9; ++i) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    const unsigned long r = seed >> 33;
    if (i) s += ',';
    s += "{\"id\":" + std::to_string(r % 100000) + ",\"user\":\"user" + std::to_string(r % 997) +
         "\",\"price\":" + std::to_string(r % 10000 / 100) + "." + std::to_string(r % 100) +
         ",\"active\":" + (r & 1 ? "true" : "false") + ",\"tags\":[\"t" + std::to_string(r % 7) + "\",\"x\"]}";
  }
  return s + "]";
}

int run_server(const parley::protocol::DeflateOptions& d) {
  parley::ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.ping_interval = parley::Millis(0);
  o.deflate = d;
  // Blocked here, before the loop threads start, so that sigwait() gets them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  parley::Server server(o);
  server.on_text([](parley::Connection& c, std::string_view t) { c.send_text(t); });
  if (auto e = server.start()) {
    std::fprintf(stderr, "start: %s\n", e.message().c_str());
    return 1;
  }
  std::printf("ws://127.0.0.1:%u/\n", static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  int signal = 0;
  while (sigwait(&stop_signals, &signal) == 0 && signal == SIGUSR1) {
    const struct mallinfo2 mi = mallinfo2();
    std::printf("heap in use: %zu bytes\n", mi.uordblks + mi.hblkhd);
    std::fflush(stdout);
  }
  server.stop();
  return 0;
}

struct Progress {
  int sent = 0;
  int echoed = 0;
};

int run_client(const std::string& url, long n, const parley::protocol::DeflateOptions& d, int messages) {
  parley::ClientOptions o;
  o.threads = 1;
  o.connect_timeout = std::chrono::seconds(30);
  o.handshake_timeout = std::chrono::seconds(30);
  o.deflate = d;
  o.tls.insecure = true;  // wss:// URLs: a benchmark against its own self-signed server
  parley::Client client(o);
  std::mutex m;
  std::condition_variable cv;
  long done = 0, failed = 0, negotiated = 0;
  auto finished = [&](parley::Connection& c) {
    std::lock_guard l(m);
    ++done;
    if (!c.extensions().empty()) ++negotiated;
    cv.notify_all();
  };
  client.on_open([&](parley::Connection& c) {
    if (messages == 0) return finished(c);
    c.metadata_as<Progress>().sent = 1;
    c.send_text(message(c.id() * 131));
  });
  client.on_text([&](parley::Connection& c, std::string_view) {
    Progress& p = c.metadata_as<Progress>();
    if (++p.echoed == messages) return finished(c);
    c.send_text(message(c.id() * 131 + static_cast<unsigned long>(p.sent++)));
  });
  client.on_error([&](parley::Connection*, const parley::Error& e) {
    std::lock_guard l(m);
    if (++failed == 1) std::fprintf(stderr, "first failure: %s\n", e.message().c_str());
    cv.notify_all();
  });
  const long wave = 250;
  for (long i = 0; i < n; ++i) {
    if (auto h = client.connect(url); !h) {
      std::fprintf(stderr, "connect: %s\n", h.error().message().c_str());
      return 1;
    }
    if ((i + 1) % wave == 0) {
      std::unique_lock l(m);
      cv.wait_for(l, std::chrono::seconds(30), [&] { return done + failed >= i + 1; });
    }
  }
  {
    std::unique_lock l(m);
    cv.wait_for(l, std::chrono::seconds(60), [&] { return done + failed >= n; });
    if (done < n) {
      std::printf("failed %ld\n", n - done);
      return 1;
    }
  }
  std::printf("ready %ld negotiated %ld\n", n, negotiated);
  std::fflush(stdout);
  while (std::getchar() != EOF) {
  }
  client.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bool server = argc == 3 && std::strcmp(argv[1], "server") == 0;
  const bool client = (argc == 5 || argc == 6) && std::strcmp(argv[1], "client") == 0;
  if (!server && !client) {
    std::fprintf(stderr, "usage: %s server SETTING | client URL N SETTING [MESSAGES]\n", argv[0]);
    return 2;
  }
  const auto d = setting(argv[server ? 2 : 4]);
  if (!d) {
    std::fprintf(stderr, "unknown setting %s (none, default, small, tiny, nct, nct-small)\n", argv[server ? 2 : 4]);
    return 2;
  }
  if (server) return run_server(*d);
  return run_client(argv[2], std::atol(argv[3]), *d, argc == 6 ? std::atoi(argv[5]) : 3);
}
