// The smallest useful parley server: echoes every message back.
//
//   build/examples/echo_server [port]      (default 8080; 0 = any free port)
//
// Try it with `python3 -m websockets ws://127.0.0.1:8080/`.
#include <parley/parley.hpp>

#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  parley::ServerOptions options;
  options.host = "127.0.0.1";
  options.port = argc > 1 ? static_cast<std::uint16_t>(std::atoi(argv[1])) : 8080;

  parley::Server server(options);
  server.on_text([](parley::Connection& c, std::string_view text) { c.send_text(text); });
  server.on_binary([](parley::Connection& c, std::string_view bytes) { c.send_binary(bytes); });
  server.on_close([](parley::Connection& c, parley::CloseCode code, std::string_view reason) {
    std::printf("%s closed: %d %.*s\n", c.remote_endpoint().to_string().c_str(), static_cast<int>(code),
                static_cast<int>(reason.size()), reason.data());
  });

  // Block SIGINT/SIGTERM in every thread (the loop threads inherit the
  // mask); the main thread waits for them and stops the server gracefully.
  std::signal(SIGINT, SIG_DFL);  // a shell may start us with SIGINT ignored
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (parley::Error e = server.start()) {
    std::fprintf(stderr, "echo_server: %s\n", e.message().c_str());
    return 1;
  }
  std::printf("listening on ws://127.0.0.1:%u/\n", server.port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  server.stop();  // close 1001 to everyone, wait for their close frames
  return 0;
}
