// An echo server on native uWebSockets (C++, plain TCP), for
// bench/compare/run --uws-native only: one thread, one loop, every message
// sent back as it came (text or binary), no compression, no automatic pings,
// no idle timeout, no limit on what it buffers for a slow reader. Prints
// "ws://127.0.0.1:PORT/" on stdout once it listens.
//
//   uws_native_echo [PORT]   (default 0: any free port)
//
// uWebSockets is not a dependency of parley and its sources are not in this
// repository: build this file yourself, outside the repository, against the
// uWebSockets and uSockets sources you want to measure, with their own build
// flags and without SSL, and give the binary to bench/compare/run.
#include <App.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {
struct NoUserData {};
}  // namespace

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 0;
  uWS::App app;
  app.ws<NoUserData>("/*", {
                               .compression = uWS::DISABLED,
                               .maxPayloadLength = 64u << 20,
                               .idleTimeout = 0,
                               .maxBackpressure = 0,  // 0: no limit
                               .closeOnBackpressureLimit = false,
                               .sendPingsAutomatically = false,
                               .message =
                                   [](auto* ws, std::string_view message, uWS::OpCode op) {
                                     ws->send(message, op, false);
                                   },
                           });
  app.listen("127.0.0.1", port, [](us_listen_socket_t* listening) {
    if (listening == nullptr) {
      std::fprintf(stderr, "uws_native_echo: cannot listen\n");
      std::exit(1);
    }
    std::printf("ws://127.0.0.1:%d/\n", us_socket_local_port(0, reinterpret_cast<us_socket_t*>(listening)));
    std::fflush(stdout);
  });
  app.run();
  return 1;
}
