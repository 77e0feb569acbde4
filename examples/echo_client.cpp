// An async parley client: connects to a URL, sends each line of stdin as a
// text message, prints what comes back, and closes (1000) at end of input.
//
//   build/examples/echo_client ws://127.0.0.1:8080/
//
// Try it against build/examples/echo_server. Events run on the client's
// loop thread; the main thread only reads stdin and hands each line over
// through a ConnectionHandle (the thread-safe way to send).
#include <parley/parley.hpp>

#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s ws://host[:port]/path\n", argv[0]);
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  // What the main thread waits for: the connection opened, or ended.
  std::mutex m;
  std::condition_variable cv;
  bool opened = false;
  bool ended = false;
  int status = 0;
  auto finish = [&](int code) {
    std::lock_guard l(m);
    ended = true;
    status = code;
    cv.notify_all();
  };

  parley::Client client;
  client.on_open([&](parley::Connection& c) {
    const parley::Response* r = c.handshake_response();
    std::printf("connected to %s (%d %s)\n", c.remote_endpoint().to_string().c_str(), r ? r->status : 0,
                r ? r->reason.c_str() : "");
    std::lock_guard l(m);
    opened = true;
    cv.notify_all();
  });
  client.on_text([](parley::Connection&, std::string_view text) {
    std::printf("< %.*s\n", static_cast<int>(text.size()), text.data());
  });
  client.on_binary([](parley::Connection&, std::string_view bytes) { std::printf("< [%zu bytes]\n", bytes.size()); });
  client.on_close([&](parley::Connection&, parley::CloseCode code, std::string_view reason) {
    std::printf("closed: %d %.*s\n", static_cast<int>(code), static_cast<int>(reason.size()), reason.data());
    finish(code == parley::CloseCode::normal ? 0 : 1);
  });
  client.on_error([&](parley::Connection* c, const parley::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.message().c_str());
    if (c == nullptr) return;  // not about the connection (a function posted to the loop threw)
    // A refused handshake: show what the server said.
    if (const parley::Response* r = c->handshake_response(); r && r->status != 101 && !r->body.empty()) {
      std::fprintf(stderr, "%s\n", parley::protocol::printable(r->body).c_str());
    }
    if (c->state() != parley::ConnectionState::open && c->state() != parley::ConnectionState::closing) finish(1);
  });

  auto handle = client.connect(argv[1]);
  if (!handle) {
    std::fprintf(stderr, "error: %s\n", handle.error().message().c_str());
    return 1;
  }
  {
    std::unique_lock l(m);
    cv.wait(l, [&] { return opened || ended; });
    if (ended) return status;
  }

  std::string line;
  while (std::getline(std::cin, line)) {
    {
      std::lock_guard l(m);
      if (ended) return status;
    }
    handle->send_text(line);
  }
  handle->close(parley::CloseCode::normal, "end of input");
  std::unique_lock l(m);
  cv.wait(l, [&] { return ended; });  // the close handshake is bounded by close_timeout
  return status;
}
