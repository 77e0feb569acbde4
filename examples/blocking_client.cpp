// A parley BlockingClient: no callbacks and no loop to run. Connects, sends
// each argument as a text message, prints each reply, and closes.
//
//   build/examples/blocking_client ws://127.0.0.1:8080/ hello world
//
// Try it against build/examples/echo_server.
#include <parley/parley.hpp>

#include <chrono>
#include <cstdio>

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s ws://host[:port]/path [message...]\n", argv[0]);
    return 2;
  }

  parley::ClientOptions options;
  options.connect_timeout = 5s;
  options.handshake_timeout = 5s;
  parley::BlockingClient client(options);

  if (parley::Error e = client.connect(argv[1])) {
    std::fprintf(stderr, "connect: %s\n", e.message().c_str());
    // A refusal (e.g. 403) comes with the server's status, headers and body.
    if (auto r = client.handshake_response(); r && !r->body.empty()) std::fprintf(stderr, "%s\n", r->body.c_str());
    return 1;
  }

  int status = 0;
  for (int i = 2; i < argc; ++i) {
    if (parley::Error e = client.send_text(argv[i])) {
      std::fprintf(stderr, "send: %s\n", e.message().c_str());
      status = 1;
      break;
    }
    auto reply = client.receive(5s);
    if (!reply) {  // timed out (still open), or the connection closed
      std::fprintf(stderr, "receive: %s\n", reply.error().message().c_str());
      status = 1;
      break;
    }
    if (reply->type == parley::MessageType::text) {
      std::printf("%s\n", reply->data.c_str());
    } else {
      std::printf("[%zu bytes]\n", reply->data.size());
    }
  }

  if (client.is_open()) {
    if (parley::Error e = client.close(parley::CloseCode::normal, "bye")) {
      std::fprintf(stderr, "close: %s\n", e.message().c_str());
      status = 1;
    }
  }
  return status;
}
