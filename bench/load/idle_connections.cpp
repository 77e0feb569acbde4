// Opens N WebSocket connections to URL and holds them idle, for measuring
// a server's memory per idle connection (bench/server_figures.sh).
//
//   parley_idle_connections URL N [THREADS]
//
// Prints "open N" on stdout once every connection is open (or "failed K"
// and exits 1 when some could not connect), then holds them until stdin
// closes, and closes them all (1000).
#include <parley/parley.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s URL N [THREADS]\n", argv[0]);
    return 2;
  }
  const std::string url = argv[1];
  const long n = std::atol(argv[2]);
  parley::ClientOptions options;
  options.threads = argc > 3 ? static_cast<unsigned>(std::atoi(argv[3])) : 1;
  options.connect_timeout = std::chrono::seconds(30);
  options.handshake_timeout = std::chrono::seconds(30);
  parley::Client client(options);
  std::mutex m;
  std::condition_variable cv;
  long opened = 0, failed = 0;
  client.on_open([&](parley::Connection&) {
    std::lock_guard l(m);
    ++opened;
    cv.notify_all();
  });
  client.on_error([&](parley::Connection&, const parley::Error& e) {
    std::lock_guard l(m);
    if (++failed == 1) std::fprintf(stderr, "first failure: %s\n", e.message().c_str());
    cv.notify_all();
  });
  // Open them in waves so the server's accept backlog is never exceeded.
  const long wave = 500;
  for (long i = 0; i < n; ++i) {
    if (auto h = client.connect(url); !h) {
      std::fprintf(stderr, "connect: %s\n", h.error().message().c_str());
      return 1;
    }
    if ((i + 1) % wave == 0) {
      std::unique_lock l(m);
      cv.wait_for(l, std::chrono::seconds(30), [&] { return opened + failed >= i + 1; });
    }
  }
  {
    std::unique_lock l(m);
    cv.wait_for(l, std::chrono::seconds(60), [&] { return opened + failed >= n; });
    if (opened < n) {
      std::printf("failed %ld\n", n - opened);
      return 1;
    }
  }
  std::printf("open %ld\n", n);
  std::fflush(stdout);
  while (std::getchar() != EOF) {
  }
  client.stop();
  return 0;
}
