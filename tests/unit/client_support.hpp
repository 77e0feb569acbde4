// Test support for parley::Client and parley::BlockingClient tests over
// real loopback sockets: a parley Server that echoes and obeys commands
// (CommandServer, with what it saw in ServerSide), the client's recorder
// (ClientSide) and fixture (TestClient), a port that refuses connections,
// and the first error of a client against a raw test server
// (raw_ws_server.hpp). The generic pieces (kWait, Recorder, eventually,
// pattern, loopback, BasicTestServer) are in test_support.hpp.
#pragma once

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "parley/parley.hpp"
#include "raw_ws_server.hpp"
#include "test_support.hpp"

namespace parley {
namespace {

using protocol::Opcode;
using test::RawPeer;
using test::RawWsServer;
using Clock = std::chrono::steady_clock;

inline constexpr auto kLong = 30s;  // for 16 MiB messages under sanitizers

inline std::chrono::milliseconds since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t);
}

// ---- parley's server, with an echo and a few commands ----------------------

/// loopback() without the server's keep-alive pings (the client tests count
/// every ping and pong).
inline ServerOptions quiet_loopback() {
  ServerOptions o = loopback();
  o.ping_interval = 0ms;
  return o;
}

/// What the server saw. Text commands: "cmd:close <code> <reason>",
/// "cmd:drop", "cmd:frag", "cmd:ping <payload>", "cmd:last"; anything else
/// is echoed.
struct ServerSide : Recorder {
  std::vector<std::string> texts;
  std::vector<std::string> binaries;
  std::vector<std::string> pongs;
  std::vector<Closed> closes;
  std::vector<Request> requests;
  std::vector<ConnectionHandle> opened;
  std::function<HandshakeReply(Connection&, const Request&)> handshake_hook;
  std::function<void(Connection&)> open_hook;

  void attach(Server& s) {
    s.on_handshake([this](Connection& c, const Request& r) {
      update([&] { requests.push_back(r); });
      return handshake_hook ? handshake_hook(c, r) : HandshakeReply::accept();
    });
    s.on_open([this](Connection& c) {
      update([&] { opened.push_back(c.handle()); });
      if (open_hook) open_hook(c);
    });
    s.on_close([this](Connection& c, CloseCode code, std::string_view reason) {
      update([&] { closes.push_back({c.id(), static_cast<int>(code), std::string(reason)}); });
    });
    s.on_pong([this](Connection&, std::string_view p) { update([&] { pongs.emplace_back(p); }); });
    s.on_binary([this](Connection& c, std::string_view b) {
      update([&] { binaries.emplace_back(b); });
      c.send_binary(b);
    });
    s.on_text([this](Connection& c, std::string_view t) {
      update([&] { texts.emplace_back(t); });
      if (t.starts_with("cmd:close ")) {
        const std::string rest(t.substr(10));
        const auto sp = rest.find(' ');
        const int code = std::stoi(rest.substr(0, sp));
        (void)c.close(static_cast<CloseCode>(code), sp == std::string::npos ? "" : rest.substr(sp + 1));
      } else if (t == "cmd:drop") {
        c.terminate();
      } else if (t == "cmd:frag") {
        c.send_fragment(MessageType::text, "part one, ", false);
        c.ping("between");
        c.send_fragment(MessageType::text, pattern(70000, true, 7), false);
        c.send_fragment(MessageType::text, ", the end", true);
        c.send_fragment(MessageType::binary, "", false);
        c.send_fragment(MessageType::binary, std::string("\x00\x01", 2), true);
      } else if (t.starts_with("cmd:ping ")) {
        c.ping(t.substr(9));
      } else if (t == "cmd:last") {
        c.send_text("last");
        (void)c.close(CloseCode{4002}, "done");
      } else {
        c.send_text(t);
      }
    });
  }
};

/// A parley Server on 127.0.0.1 (quiet_loopback() unless told) that records
/// in `ev` and answers the commands above; hooks in `ev` are set before
/// start(). `ASSERT_TRUE(srv.start())`, then connect to srv.url(path).
struct CommandServer : BasicTestServer<ServerSide> {
  explicit CommandServer(ServerOptions o = quiet_loopback()) : BasicTestServer<ServerSide>(std::move(o)) {
    ev.attach(server);
  }
};

// ---- the client's events ---------------------------------------------------

struct ClientSide : Recorder {
  struct Failure {
    std::uint64_t id = 0;
    Error error;
    std::optional<Response> response;
  };
  struct Reconnect {
    std::uint64_t id = 0;
    unsigned attempt = 0;
    std::chrono::milliseconds delay{0};
  };
  std::vector<ConnectionHandle> opened;
  std::vector<std::uint64_t> open_ids;
  std::vector<Response> responses;
  std::vector<std::string> subprotocols;
  std::vector<Request> sent_requests;
  std::vector<std::thread::id> open_threads;
  std::vector<std::string> texts;
  std::vector<std::string> binaries;
  std::vector<std::string> pings;
  std::vector<std::string> pongs;
  std::vector<Closed> closes;
  std::vector<Failure> errors;
  std::vector<Reconnect> reconnects;
  // Set before connecting; run on the loop threads before the event is
  // recorded (so what they write is visible once the test sees the event).
  std::function<void(Connection&)> open_hook;
  std::function<void(Connection&, std::string_view)> text_hook;
  std::function<bool(Connection&, std::string_view)> ping_hook;

  void attach(Client& c) {
    c.on_open([this](Connection& conn) {
      if (open_hook) open_hook(conn);
      update([&] {
        opened.push_back(conn.handle());
        open_ids.push_back(conn.id());
        responses.push_back(conn.handshake_response() ? *conn.handshake_response() : Response{});
        subprotocols.push_back(conn.subprotocol());
        sent_requests.push_back(*conn.request());
        open_threads.push_back(std::this_thread::get_id());
      });
    });
    c.on_text([this](Connection& conn, std::string_view t) {
      if (text_hook) text_hook(conn, t);
      update([&] { texts.emplace_back(t); });
    });
    c.on_binary([this](Connection&, std::string_view b) { update([&] { binaries.emplace_back(b); }); });
    c.on_ping([this](Connection& conn, std::string_view p) {
      const bool pong = ping_hook ? ping_hook(conn, p) : true;
      update([&] { pings.emplace_back(p); });
      return pong;
    });
    c.on_pong([this](Connection&, std::string_view p) { update([&] { pongs.emplace_back(p); }); });
    c.on_close([this](Connection& conn, CloseCode code, std::string_view reason) {
      update([&] { closes.push_back({conn.id(), static_cast<int>(code), std::string(reason)}); });
    });
    c.on_error([this](Connection* conn, const Error& e) {
      std::optional<Response> r;
      if (conn && conn->handshake_response()) r = *conn->handshake_response();
      update([&] { errors.push_back({conn ? conn->id() : 0, e, std::move(r)}); });
    });
    c.on_reconnect([this](Connection& conn, unsigned attempt, std::chrono::milliseconds delay) {
      update([&] { reconnects.push_back({conn.id(), attempt, delay}); });
    });
  }

  bool wait_open(std::size_t n, std::chrono::milliseconds t = kWait) {
    return wait([&] { return opened.size() >= n; }, t);
  }
  bool wait_closed(std::size_t n, std::chrono::milliseconds t = kWait) {
    return wait([&] { return closes.size() >= n; }, t);
  }
  bool wait_errors(std::size_t n, std::chrono::milliseconds t = kWait) {
    return wait([&] { return errors.size() >= n; }, t);
  }
  bool wait_texts(std::size_t n, std::chrono::milliseconds t = kWait) {
    return wait([&] { return texts.size() >= n; }, t);
  }
  Failure error_at(std::size_t i) {
    return read([&] { return i < errors.size() ? errors[i] : Failure{}; });
  }
  Closed close_at(std::size_t i) {
    return read([&] { return i < closes.size() ? closes[i] : Closed{}; });
  }
};

/// A Client whose events go to `ev` (declared before it, so it outlives
/// the client's threads), stopped when the test ends. Hooks in `ev` and
/// the test's own callbacks are set before connecting.
struct TestClient {
  ClientSide ev;
  Client client;
  explicit TestClient(ClientOptions o = {}) : client(std::move(o)) { ev.attach(client); }
  ~TestClient() { client.stop(); }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;
};

/// A port on 127.0.0.1 that refuses connections: bound, not listening
/// (nobody else can take it while this lives).
struct ClosedPort {
  int fd = -1;
  std::uint16_t port = 0;
  ClosedPort() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port = ntohs(a.sin_port);
    }
  }
  ~ClosedPort() {
    if (fd >= 0) ::close(fd);
  }
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port) + "/"; }
};

/// Runs a client against `script` and returns its first error (waiting for it).
inline ClientSide::Failure first_error(RawWsServer::Script script, ClientOptions co = {},
                                       std::chrono::milliseconds t = kWait, std::string_view path = "/") {
  RawWsServer raw(std::move(script));
  EXPECT_TRUE(raw.ok());
  TestClient cli(std::move(co));
  EXPECT_TRUE(cli.client.connect(raw.url(path)));
  EXPECT_TRUE(cli.ev.wait_errors(1, t)) << "no error reported";
  cli.ev.read([&] {
    EXPECT_TRUE(cli.ev.opened.empty());
    EXPECT_TRUE(cli.ev.closes.empty());
  });
  return cli.ev.error_at(0);
}

}  // namespace
}  // namespace parley
