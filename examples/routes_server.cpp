// Two routes and a timer: chat rooms on /chat/<room>, a clock pushed to
// every client of /clock once a second, 404 for any other path, and the
// library's log on stderr.
//
//   build/examples/routes_server [port]      (default 8080; 0 = any free port)
//
// Try it: `python3 -m websockets ws://127.0.0.1:8080/clock`, or two
// `python3 -m websockets ws://127.0.0.1:8080/chat/lobby` talking to each other.
#include <parley/parley.hpp>

#include <pthread.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <set>
#include <string>

namespace {

// One loop (threads = 1): every callback and timer runs on its thread, so
// the rooms and the clock's listeners need no lock.
struct State {
  std::map<std::string, std::set<parley::Connection*>, std::less<>> rooms;  // room -> members
  std::set<parley::Connection*> clock_listeners;
};

// The room of a "/chat/<room>" path.
std::string room_of(const parley::Connection& c) {
  const parley::Request* req = c.request();  // (until on_open returns)
  return req ? std::string(req->path().substr(6)) : std::string();
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  parley::ServerOptions options;
  options.host = "127.0.0.1";
  options.port = argc > 1 ? static_cast<std::uint16_t>(std::atoi(argv[1])) : 8080;
  options.threads = 1;
  parley::Server server(options);
  State state;

  // /chat/<room>: what one member says, every member of the room hears.
  // (A Connection* is safe to keep here: it is removed in on_close, before
  // the connection is destroyed, and used on this loop's thread only.)
  server.route("/chat/*", {
      .on_handshake = [](parley::Connection&, const parley::Request& req) {
        return req.path().size() > 6 ? parley::HandshakeReply::accept()
                                     : parley::HandshakeReply::reject(404, "no room: try /chat/lobby");
      },
      .on_open = [&](parley::Connection& c) {
        const std::string room = room_of(c);
        c.metadata_as<std::string>() = room;
        state.rooms[room].insert(&c);
      },
      .on_text = [&](parley::Connection& c, std::string_view text) {
        for (parley::Connection* member : state.rooms[c.metadata_as<std::string>()]) {
          (void)member->send_text(text);  // (a member over its buffer limit misses it)
        }
      },
      .on_close = [&](parley::Connection& c, parley::CloseCode, std::string_view) {
        auto it = state.rooms.find(c.metadata_as<std::string>());
        if (it == state.rooms.end()) return;
        it->second.erase(&c);
        if (it->second.empty()) state.rooms.erase(it);
      },
  });

  // /clock: listens only.
  server.route("/clock", {
      .on_open = [&](parley::Connection& c) { state.clock_listeners.insert(&c); },
      .on_close = [&](parley::Connection& c, parley::CloseCode, std::string_view) { state.clock_listeners.erase(&c); },
  });
  parley::Timer clock = server.every(std::chrono::seconds(1), [&] {
    const std::time_t now = std::time(nullptr);
    char text[32];
    std::strftime(text, sizeof text, "%H:%M:%S", std::localtime(&now));
    for (parley::Connection* c : state.clock_listeners) (void)c->send_text(text);
  });

  // Any other path: refused before it opens.
  server.on_handshake([](parley::Connection&, const parley::Request&) {
    return parley::HandshakeReply::reject_json(404, 404, "no such endpoint: use /chat/<room> or /clock");
  });
  server.on_log([](parley::LogLevel level, std::string_view line) {
    std::fprintf(stderr, "%s: %.*s\n", parley::to_string(level).data(), static_cast<int>(line.size()), line.data());
  });

  std::signal(SIGINT, SIG_DFL);  // a shell may start us with SIGINT ignored
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // the loop thread inherits the mask

  if (parley::Error e = server.start()) {
    std::fprintf(stderr, "routes_server: %s\n", e.message().c_str());
    return 1;
  }
  std::printf("listening on ws://127.0.0.1:%u/ (/chat/<room>, /clock)\n", server.port());
  int sig = 0;
  sigwait(&signals, &sig);
  clock.cancel();
  server.stop();
  return 0;
}
