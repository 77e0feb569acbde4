// parley::Client and parley::BlockingClient over real loopback sockets:
// against parley's own Server, and against a raw test server that
// misbehaves on purpose (raw_ws_server.hpp). Events fire on loop threads;
// the test thread waits for them through `Waitable` (a mutex and a
// condition variable, every wait bounded), never by sleeping.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "parley/parley.hpp"
#include "raw_ws_server.hpp"

namespace parley {
namespace {

using namespace std::chrono_literals;
using protocol::Opcode;
using test::RawPeer;
using test::RawWsServer;
using Clock = std::chrono::steady_clock;

constexpr auto kWait = 5s;   // the longest any single expected event may take
constexpr auto kLong = 30s;  // for 16 MiB messages under sanitizers

std::chrono::milliseconds since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t);
}

/// Deterministic content: lowercase letters for text, any byte for binary.
std::string pattern(std::size_t n, bool text, unsigned seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1u;
  for (char& ch : s) {
    x = x * 1664525u + 1013904223u;
    ch = text ? static_cast<char>('a' + (x >> 24) % 26) : static_cast<char>(x >> 24);
  }
  return s;
}

/// A mutex and a condition variable to hand events to the test thread.
struct Waitable {
  std::mutex m;
  std::condition_variable cv;

  template <class F>
  void update(F&& f) {
    {
      std::lock_guard l(m);
      f();
    }
    cv.notify_all();
  }
  template <class P>
  bool wait(P pred, std::chrono::milliseconds t = kWait) {
    std::unique_lock l(m);
    return cv.wait_for(l, t, pred);
  }
  template <class F>
  auto read(F&& f) {
    std::lock_guard l(m);
    return f();
  }
};

struct Closed {
  std::uint64_t id = 0;
  int code = 0;
  std::string reason;
};

// ---- parley's server, with an echo and a few commands ----------------------

ServerOptions loopback() {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.ping_interval = 0ms;
  return o;
}

/// What the server saw. Text commands: "cmd:close <code> <reason>",
/// "cmd:drop", "cmd:frag", "cmd:ping <payload>", "cmd:last"; anything else
/// is echoed.
struct ServerSide : Waitable {
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

/// A started parley Server on 127.0.0.1 (port 0 unless told).
struct TestServer {
  ServerSide ev;
  Server server;
  explicit TestServer(ServerOptions o = loopback()) : server(std::move(o)) { ev.attach(server); }
  ~TestServer() { server.stop(); }
  Error start() { return server.start(); }
  std::string url(std::string_view path = "/") const {
    return "ws://127.0.0.1:" + std::to_string(server.port()) + std::string(path);
  }
};

// ---- the client's events ---------------------------------------------------

struct ClientSide : Waitable {
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
        sent_requests.push_back(conn.request());
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
/// the client's threads).
struct TestClient {
  ClientSide ev;
  Client client;
  explicit TestClient(ClientOptions o = {}) : client(std::move(o)) { ev.attach(client); }
  ~TestClient() { client.stop(); }
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
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port) + "/"; }
};

/// True when the connection behind `h` still exists on its loop (open, or
/// waiting to reconnect). `marker` is another live connection of the same
/// single-threaded client: posts run in order, so once the marker's has
/// run, `h`'s has run or been dropped.
bool still_exists(const ConnectionHandle& h, const ConnectionHandle& marker) {
  auto ran = std::make_shared<std::atomic<bool>>(false);
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  h.post([ran](Connection&) { *ran = true; });
  marker.post([done](Connection&) { done->set_value(); });
  EXPECT_EQ(f.wait_for(kWait), std::future_status::ready) << "the marker connection is gone";
  return ran->load();
}

/// True once the connection behind `h` no longer exists (within kWait). A
/// connection lingers briefly after on_close (until the peer's FIN); one
/// waiting to reconnect never goes away.
bool gone(const ConnectionHandle& h, const ConnectionHandle& marker) {
  const auto end = Clock::now() + kWait;
  while (still_exists(h, marker)) {
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(1ms);  // polling, each round trip checked on the loop
  }
  return true;
}

// ---- against parley's server -----------------------------------------------

TEST(ClientServer, EchoesTextAndBinaryOfEverySize) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  TestClient cli;
  auto h = cli.client.connect(srv.url());
  ASSERT_TRUE(h) << h.error().message();
  ASSERT_TRUE(cli.ev.wait_open(1));

  const std::vector<std::size_t> sizes = {0, 125, 126, 65536, 16u << 20};
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    ASSERT_TRUE(h->send_text(pattern(sizes[i], true, static_cast<unsigned>(i))));
    ASSERT_TRUE(h->send_binary(pattern(sizes[i], false, static_cast<unsigned>(i))));
  }
  ASSERT_TRUE(cli.ev.wait([&] { return cli.ev.texts.size() >= sizes.size() && cli.ev.binaries.size() >= sizes.size(); },
                          kLong));
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::string text = pattern(sizes[i], true, static_cast<unsigned>(i));
    const std::string bin = pattern(sizes[i], false, static_cast<unsigned>(i));
    // Both ways: what the server received, and what came back.
    srv.ev.read([&] {
      ASSERT_EQ(srv.ev.texts.size(), sizes.size());
      EXPECT_TRUE(srv.ev.texts[i] == text) << "server text of " << sizes[i] << " bytes differs";
      EXPECT_TRUE(srv.ev.binaries[i] == bin) << "server binary of " << sizes[i] << " bytes differs";
    });
    cli.ev.read([&] {
      EXPECT_EQ(cli.ev.texts[i].size(), sizes[i]);
      EXPECT_TRUE(cli.ev.texts[i] == text) << "client text of " << sizes[i] << " bytes differs";
      EXPECT_TRUE(cli.ev.binaries[i] == bin) << "client binary of " << sizes[i] << " bytes differs";
    });
  }
}

TEST(ClientServer, OnFrameSeesMaskedFramesBothWays) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  std::vector<std::string> frames;  // "<dir> <opcode> <masked> <length>" (outlives the client)
  TestClient cli;
  cli.client.on_frame([&](Connection&, protocol::FrameDirection d, const protocol::FrameHeader& h) {
    cli.ev.update([&] {
      frames.push_back(std::string(d == protocol::FrameDirection::received ? "in " : "out ") +
                       std::to_string(static_cast<int>(h.opcode)) + (h.masked ? " masked " : " plain ") +
                       std::to_string(h.payload_length));
    });
  });
  auto h = cli.client.connect(srv.url());
  ASSERT_TRUE(h) << h.error().message();
  ASSERT_TRUE(cli.ev.wait_open(1));
  ASSERT_TRUE(h->send_text("hello"));
  ASSERT_TRUE(cli.ev.wait([&] { return frames.size() >= 2; }));
  cli.ev.read([&] { EXPECT_EQ(frames, (std::vector<std::string>{"out 1 masked 5", "in 1 plain 5"})); });
}

TEST(ClientServer, FragmentedSendsBothWays) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  std::vector<SendResult> results;  // written on the loop thread before the text is sent
  TestClient cli;
  cli.ev.open_hook = [&](Connection& c) {
    results.push_back(c.send_fragment(MessageType::text, "Hel", false));
    results.push_back(c.ping("mid-message"));  // control frames may interleave
    results.push_back(c.send_text("not now"));  // a whole message may not
    results.push_back(c.send_fragment(MessageType::binary, "x", true));  // nor another type
    results.push_back(c.send_fragment(MessageType::text, "lo, ", false));
    results.push_back(c.send_fragment(MessageType::text, "world", true));
    results.push_back(c.send_fragment(MessageType::binary, std::string(300, 'b'), false));
    results.push_back(c.send_fragment(MessageType::binary, "", true));
    results.push_back(c.send_text("cmd:frag"));
  };
  ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(srv.ev.wait([&] { return srv.ev.texts.size() >= 2 && srv.ev.binaries.size() >= 1; }));
  srv.ev.read([&] {
    EXPECT_EQ(srv.ev.texts[0], "Hello, world");
    EXPECT_EQ(srv.ev.texts[1], "cmd:frag");
    EXPECT_EQ(srv.ev.binaries[0], std::string(300, 'b'));
  });
  ASSERT_TRUE(cli.ev.wait([&] { return cli.ev.texts.size() >= 2 && cli.ev.binaries.size() >= 2; }));
  cli.ev.read([&] {
    ASSERT_EQ(results.size(), 9u);
    EXPECT_EQ(results[0].status, SendStatus::queued);
    EXPECT_EQ(results[1].status, SendStatus::queued);
    EXPECT_EQ(results[2].status, SendStatus::dropped);
    EXPECT_EQ(results[2].error, UsageError::bad_fragment_sequence);
    EXPECT_EQ(results[3].error, UsageError::bad_fragment_sequence);
    for (std::size_t i : {4u, 5u, 6u, 7u, 8u}) EXPECT_EQ(results[i].status, SendStatus::queued) << i;
    // The server echoes the client's messages, and answers cmd:frag (not
    // echoed) with a fragmented text and a fragmented binary.
    EXPECT_EQ(cli.ev.texts[0], "Hello, world");
    EXPECT_TRUE(cli.ev.texts[1] == "part one, " + pattern(70000, true, 7) + ", the end")
        << cli.ev.texts[1].size() << " bytes";
    EXPECT_EQ(cli.ev.binaries[0], std::string(300, 'b'));
    EXPECT_EQ(cli.ev.binaries[1], std::string("\x00\x01", 2));
    EXPECT_EQ(cli.ev.pings, std::vector<std::string>{"between"});
  });
}

TEST(ClientServer, PingsAndPongs) {
  TestServer srv;
  srv.ev.open_hook = [](Connection& c) {
    c.ping("s-ping");
    c.ping("quiet");
  };
  ASSERT_FALSE(srv.start());
  TestClient cli;
  cli.ev.open_hook = [](Connection& c) {
    EXPECT_TRUE(c.pong("unsolicited"));
    EXPECT_TRUE(c.ping("c-ping"));
    EXPECT_EQ(c.ping(std::string(126, 'p')).error, UsageError::control_too_long);
  };
  cli.ev.ping_hook = [](Connection& c, std::string_view p) {
    if (p != "quiet") return true;
    c.send_text("after-quiet");  // goes out after any pong this ping would have had
    return false;                // no automatic pong
  };
  ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(cli.ev.wait([&] { return !cli.ev.pongs.empty() && cli.ev.pings.size() >= 2; }));
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.texts.empty(); }));
  cli.ev.read([&] {
    EXPECT_EQ(cli.ev.pongs, std::vector<std::string>{"c-ping"});
    EXPECT_EQ(cli.ev.pings, (std::vector<std::string>{"s-ping", "quiet"}));
  });
  srv.ev.read([&] {
    EXPECT_EQ(srv.ev.texts[0], "after-quiet");
    EXPECT_EQ(srv.ev.pongs, (std::vector<std::string>{"unsolicited", "s-ping"}));
  });
}

TEST(ClientServer, HandshakeResponseInOnOpen) {
  TestServer srv;
  srv.ev.handshake_hook = [](Connection&, const Request&) {
    protocol::Headers extra;
    extra.add("X-Server", "parley-test");
    extra.add("Set-Cookie", "token=xyz");
    return HandshakeReply::accept("", extra);
  };
  ASSERT_FALSE(srv.start());
  TestClient cli;
  ASSERT_TRUE(cli.client.connect(srv.url("/room")));
  ASSERT_TRUE(cli.ev.wait_open(1));
  cli.ev.read([&] {
    const Response& r = cli.ev.responses[0];
    EXPECT_EQ(r.status, 101);
    EXPECT_EQ(r.headers.get("X-Server").value_or(""), "parley-test");
    EXPECT_EQ(r.headers.get("Set-Cookie").value_or(""), "token=xyz");
    const Request& q = cli.ev.sent_requests[0];
    const auto key = q.headers.get("Sec-WebSocket-Key");
    ASSERT_TRUE(key);
    EXPECT_EQ(r.headers.get("Sec-WebSocket-Accept").value_or(""), protocol::accept_key(*key));
    EXPECT_EQ(q.target, "/room");
    EXPECT_EQ(cli.ev.subprotocols[0], "");
  });
}

TEST(ClientServer, NegotiatesSubprotocol) {
  ServerOptions so = loopback();
  so.subprotocols = {"v1.chat", "v2.chat"};
  TestServer srv(so);
  ASSERT_FALSE(srv.start());
  ClientOptions co;
  co.subprotocols = {"v2.chat", "v1.chat"};
  TestClient cli(co);
  ASSERT_TRUE(cli.client.connect(srv.url()));
  ClientOptions none;
  none.subprotocols = {"mqtt"};
  TestClient other(none);
  ASSERT_TRUE(other.client.connect(srv.url()));
  ASSERT_TRUE(cli.ev.wait_open(1));
  ASSERT_TRUE(other.ev.wait_open(1));
  cli.ev.read([&] {
    EXPECT_EQ(cli.ev.subprotocols[0], "v2.chat");  // the client's preference among the server's
    EXPECT_EQ(cli.ev.responses[0].headers.get("Sec-WebSocket-Protocol").value_or(""), "v2.chat");
    EXPECT_EQ(cli.ev.sent_requests[0].headers.get("Sec-WebSocket-Protocol").value_or(""), "v2.chat, v1.chat");
  });
  other.ev.read([&] {
    EXPECT_EQ(other.ev.subprotocols[0], "");  // no common subprotocol: open without one
    EXPECT_FALSE(other.ev.responses[0].headers.has("Sec-WebSocket-Protocol"));
  });
}

TEST(ClientServer, SendsCookieOriginAndHeaders) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  ClientOptions co;
  co.origin = "https://example.com";
  co.cookie = "session=abc; theme=dark";
  co.headers.add("X-Token", "t-123");
  co.headers.add("User-Agent", "parley-test/1");
  TestClient cli(co);
  ASSERT_TRUE(cli.client.connect(srv.url("/chat/room?id=42&name=a%20b")));
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.requests.empty(); }));
  srv.ev.read([&] {
    const Request& r = srv.ev.requests[0];
    EXPECT_EQ(r.path(), "/chat/room");
    EXPECT_EQ(r.query_param("id").value_or(""), "42");
    EXPECT_EQ(r.query_param("name").value_or(""), "a b");
    EXPECT_EQ(r.origin().value_or(""), "https://example.com");
    EXPECT_EQ(r.cookie("session").value_or(""), "abc");
    EXPECT_EQ(r.cookie("theme").value_or(""), "dark");
    EXPECT_EQ(r.headers.get("X-Token").value_or(""), "t-123");
    EXPECT_EQ(r.headers.get("User-Agent").value_or(""), "parley-test/1");
    EXPECT_EQ(r.host().value_or(""), "127.0.0.1:" + std::to_string(srv.server.port()));
    EXPECT_EQ(r.headers.get("Sec-WebSocket-Version").value_or(""), "13");
  });
}

// ---- close paths -------------------------------------------------------------

TEST(ClientClose, ClientClosesWithCodeAndReason) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  TestClient cli;
  cli.ev.open_hook = [](Connection& c) {
    EXPECT_FALSE(c.close(CloseCode{4000}, "client done"));
    EXPECT_EQ(c.state(), ConnectionState::closing);
    EXPECT_EQ(c.send_text("too late").error, UsageError::not_open);
    EXPECT_EQ(c.close(), UsageError::not_open);
  };
  ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.closes.empty(); }));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  srv.ev.read([&] {
    EXPECT_EQ(srv.ev.closes[0].code, 4000);
    EXPECT_EQ(srv.ev.closes[0].reason, "client done");
    EXPECT_TRUE(srv.ev.texts.empty());
  });
  const Closed c = cli.ev.close_at(0);
  EXPECT_EQ(c.code, 4000);  // the server echoes the code
  cli.ev.read([&] { EXPECT_TRUE(cli.ev.errors.empty()); });
}

TEST(ClientClose, ServerClosesWithCodeAndReason) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  TestClient cli;
  cli.ev.open_hook = [](Connection& c) { c.send_text("cmd:close 4001 server done"); };
  ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  const Closed c = cli.ev.close_at(0);
  EXPECT_EQ(c.code, 4001);
  EXPECT_EQ(c.reason, "server done");
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.closes.empty(); }));
  srv.ev.read([&] { EXPECT_EQ(srv.ev.closes[0].code, 4001); });
}

TEST(ClientClose, ServerDropsTheConnection) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  TestClient cli;
  cli.ev.open_hook = [](Connection& c) { c.send_text("cmd:drop"); };
  ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  const Closed c = cli.ev.close_at(0);
  EXPECT_EQ(c.code, 1006);
  EXPECT_FALSE(c.reason.empty());
  cli.ev.read([&] { EXPECT_TRUE(cli.ev.reconnects.empty()); });
}

TEST(ClientClose, StopClosesWithGoingAway) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  {
    TestClient cli;
    ASSERT_TRUE(cli.client.connect(srv.url()));
    ASSERT_TRUE(cli.ev.wait_open(1));
    cli.client.stop();  // returns once the close handshake is done
    cli.ev.read([&] {
      ASSERT_EQ(cli.ev.closes.size(), 1u);
      EXPECT_EQ(cli.ev.closes[0].code, 1001);
    });
    EXPECT_FALSE(cli.client.connect(srv.url())) << "connect after stop";
  }
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.closes.empty(); }));
  srv.ev.read([&] {
    EXPECT_EQ(srv.ev.closes[0].code, 1001);
    EXPECT_EQ(srv.ev.closes[0].reason, "client shutting down");
  });
}

TEST(ClientClose, CloseTimeoutWhenThePeerNeverAnswers) {
  Waitable seen;
  RawPeer::ClientFrame close_frame;
  bool eof = false;
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response());
    RawPeer::ClientFrame f = p.read_frame();
    seen.update([&] { close_frame = f; });
    const bool e = p.wait_eof(5000ms);  // never answer the close
    seen.update([&] { eof = e; });
  });
  ASSERT_TRUE(raw.ok());
  ClientOptions co;
  co.close_timeout = 200ms;
  Clock::time_point closed_at{};
  TestClient cli(co);
  cli.ev.open_hook = [&](Connection& c) {
    closed_at = Clock::now();
    EXPECT_FALSE(c.close(CloseCode::normal, "bye"));
  };
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  const Closed c = cli.ev.close_at(0);
  EXPECT_EQ(c.code, 1006);
  EXPECT_EQ(c.reason, "close handshake timed out");
  cli.ev.read([&] { EXPECT_GE(since(closed_at), 190ms); });
  ASSERT_TRUE(seen.wait([&] { return eof; })) << "the client did not close the socket";
  seen.read([&] {
    ASSERT_TRUE(close_frame.ok);
    EXPECT_TRUE(close_frame.masked);
    EXPECT_EQ(close_frame.opcode, Opcode::close);
    EXPECT_EQ(close_frame.close_code(), 1000);
    EXPECT_EQ(close_frame.close_reason(), "bye");
  });
}

TEST(ClientClose, CloseDuringTheHandshakeReportsCancellation) {
  Waitable seen;
  bool got_request = false;
  bool eof = false;
  RawWsServer raw([&](RawPeer& p) {
    const bool r = p.read_request().has_value();
    seen.update([&] { got_request = r; });
    const bool e = p.wait_eof(5000ms);  // never answer
    seen.update([&] { eof = e; });
  });
  ASSERT_TRUE(raw.ok());
  TestClient cli;
  auto h = cli.client.connect(raw.url());
  ASSERT_TRUE(h);
  ASSERT_TRUE(seen.wait([&] { return got_request; }));
  ASSERT_TRUE(h->close());
  ASSERT_TRUE(seen.wait([&] { return eof; })) << "the client kept the socket open";
  cli.client.stop();
  cli.ev.read([&] {
    EXPECT_TRUE(cli.ev.opened.empty());
    EXPECT_TRUE(cli.ev.closes.empty());
    // The application's own cancellation (so a caller waiting for on_open
    // or on_error is told), never a network error.
    ASSERT_EQ(cli.ev.errors.size(), 1u);
    EXPECT_TRUE(cli.ev.errors[0].error.code() == std::errc::operation_canceled) << cli.ev.errors[0].error.message();
  });
}

// ---- keep-alive, limits, backpressure ----------------------------------------

TEST(ClientKeepAlive, AnsweredPingsKeepTheConnectionOpen) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  ClientOptions co;
  co.ping_interval = 50ms;
  co.pong_timeout = 200ms;
  TestClient cli(co);
  ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(cli.ev.wait([&] { return cli.ev.pongs.size() >= 3; }));
  cli.ev.read([&] { EXPECT_TRUE(cli.ev.closes.empty()); });
}

TEST(ClientKeepAlive, UnansweredPingDropsTheConnection) {
  Waitable seen;
  RawPeer::ClientFrame ping;
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response());
    RawPeer::ClientFrame f = p.read_frame();  // the keep-alive ping, never answered
    seen.update([&] { ping = f; });
    p.wait_eof(5000ms);
  });
  ASSERT_TRUE(raw.ok());
  ClientOptions co;
  co.ping_interval = 100ms;
  co.pong_timeout = 200ms;
  TestClient cli(co);
  const auto start = Clock::now();
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  EXPECT_GE(since(start), 290ms);
  const Closed c = cli.ev.close_at(0);
  EXPECT_EQ(c.code, 1006);
  EXPECT_EQ(c.reason, "keep-alive ping unanswered");
  ASSERT_TRUE(seen.wait([&] { return ping.ok; }));
  seen.read([&] {
    EXPECT_EQ(ping.opcode, Opcode::ping);
    EXPECT_TRUE(ping.masked);
  });
}

TEST(ClientLimits, MessageTooBigClosesWith1009) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  ClientOptions co;
  co.max_message_size = 1000;
  TestClient cli(co);
  cli.ev.open_hook = [](Connection& c) { c.send_text(std::string(2000, 'x')); };  // echoed back: too big
  ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  EXPECT_EQ(cli.ev.close_at(0).code, 1009);
  ASSERT_TRUE(cli.ev.wait_errors(1));
  EXPECT_EQ(cli.ev.error_at(0).error, ProtocolError::message_too_big) << cli.ev.error_at(0).error.message();
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.closes.empty(); }));
  srv.ev.read([&] { EXPECT_EQ(srv.ev.closes[0].code, 1009); });
  cli.ev.read([&] { EXPECT_TRUE(cli.ev.texts.empty()); });
}

TEST(ClientBackpressure, RefusesPastTheLimitThenDrains) {
  // A server that does not read until told: a 16 MiB message cannot all go
  // into the kernel, the rest stays buffered in the client.
  Waitable go;
  bool reading = false;
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response());
    go.wait([&] { return reading; }, 10s);
    p.answer_close(kLong);  // reads (and drops) everything until the client's close
  });
  ASSERT_TRUE(raw.ok());
  ClientOptions co;
  co.max_buffered_amount = 1024;
  Waitable drained;  // before the client: its callbacks use these
  int drains = 0;
  std::vector<SendResult> results;
  TestClient cli(co);
  cli.client.on_drain([&](Connection&) { drained.update([&] { ++drains; }); });
  cli.ev.open_hook = [&](Connection& c) {
    results.push_back(c.send_binary(std::string(16u << 20, 'b')));
    results.push_back(c.send_binary("more"));
    results.push_back(c.ping("pings still go"));  // control frames are not refused
  };
  auto h = cli.client.connect(raw.url());
  ASSERT_TRUE(h);
  ASSERT_TRUE(cli.ev.wait_open(1));
  cli.ev.read([&] {
    ASSERT_EQ(results.size(), 3u);
    EXPECT_EQ(results[0].status, SendStatus::backpressure);
    EXPECT_EQ(results[1].status, SendStatus::dropped);
    EXPECT_EQ(results[1].error, UsageError::buffer_full);
    EXPECT_NE(results[2].status, SendStatus::dropped);
  });
  drained.read([&] { EXPECT_EQ(drains, 0); });
  go.update([&] { reading = true; });
  ASSERT_TRUE(drained.wait([&] { return drains >= 1; }, kLong));
  ASSERT_TRUE(h->close());
}

// ---- many connections and threads -------------------------------------------

TEST(ClientScale, TwoHundredConnectionsOnOneClient) {
  constexpr std::size_t n = 200;
  TestServer srv;
  ASSERT_FALSE(srv.start());
  std::atomic<int> matched{0};
  TestClient cli;
  cli.ev.open_hook = [](Connection& c) { c.send_text("id:" + std::to_string(c.id())); };
  cli.ev.text_hook = [&](Connection& c, std::string_view t) {
    if (t == "id:" + std::to_string(c.id())) ++matched;
  };
  for (std::size_t i = 0; i < n; ++i) ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(cli.ev.wait_texts(n, 20s)) << cli.ev.read([&] { return cli.ev.texts.size(); });
  EXPECT_EQ(matched.load(), static_cast<int>(n));
  cli.ev.read([&] {
    EXPECT_EQ(std::set<std::uint64_t>(cli.ev.open_ids.begin(), cli.ev.open_ids.end()).size(), n);
    EXPECT_TRUE(cli.ev.errors.empty());
  });
  EXPECT_EQ(srv.server.connection_count(), n);
  cli.client.stop();
  ASSERT_TRUE(srv.ev.wait([&] { return srv.ev.closes.size() >= n; }, 20s));
}

TEST(ClientScale, TwoLoopThreads) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  ClientOptions co;
  co.threads = 2;
  TestClient cli(co);
  cli.ev.open_hook = [](Connection& c) { c.send_text("hello " + std::to_string(c.id())); };
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(cli.ev.wait_texts(6));
  cli.ev.read([&] {
    EXPECT_EQ(std::set<std::thread::id>(cli.ev.open_threads.begin(), cli.ev.open_threads.end()).size(), 2u);
  });
}

TEST(ClientScale, HandleSendsFromOtherThreads) {
  constexpr int threads = 4;
  constexpr int per_thread = 200;
  TestServer srv;
  ASSERT_FALSE(srv.start());
  std::atomic<int> queued{0};
  TestClient cli;
  auto h = cli.client.connect(srv.url());
  ASSERT_TRUE(h);
  ASSERT_TRUE(cli.ev.wait_open(1));
  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        h->send_text("t" + std::to_string(t) + ":" + std::to_string(i), [&](const SendResult& r) {
          if (r.status == SendStatus::queued) ++queued;
        });
      }
    });
  }
  for (auto& s : senders) s.join();
  ASSERT_TRUE(srv.ev.wait([&] { return srv.ev.texts.size() >= threads * per_thread; }, 20s));
  EXPECT_EQ(queued.load(), threads * per_thread);
  srv.ev.read([&] {
    std::vector<int> next(threads, 0);
    for (const std::string& s : srv.ev.texts) {
      const int t = s[1] - '0';
      const int i = std::stoi(s.substr(3));
      EXPECT_EQ(i, next[static_cast<std::size_t>(t)]) << "out of order from thread " << t;
      next[static_cast<std::size_t>(t)] = i + 1;
    }
  });
  ASSERT_TRUE(cli.ev.wait_texts(threads * per_thread, 20s));

  // Once the connection is gone, a handle's send reports not_open.
  ASSERT_TRUE(h->close(CloseCode::normal, "done"));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  auto result = std::make_shared<std::promise<SendResult>>();
  auto f = result->get_future();
  // on_close has fired, and the connection is destroyed at the end of that
  // loop iteration, before this post runs.
  ASSERT_TRUE(h->send_text("late", [result](const SendResult& r) { result->set_value(r); }));
  ASSERT_EQ(f.wait_for(kWait), std::future_status::ready);
  const SendResult r = f.get();
  EXPECT_EQ(r.status, SendStatus::dropped);
  EXPECT_EQ(r.error, UsageError::not_open);
}

// ---- a misbehaving server ---------------------------------------------------

/// Runs a client against `script` and returns its first error (waiting for it).
ClientSide::Failure first_error(RawWsServer::Script script, ClientOptions co = {},
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

TEST(ClientMisbehavingServer, WrongAcceptKey) {
  auto f = first_error([](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response({}, protocol::accept_key("AAAAAAAAAAAAAAAAAAAAAA==")));
    p.wait_eof(2000ms);
  });
  EXPECT_EQ(f.error, HandshakeError::bad_accept) << f.error.message();
  EXPECT_NE(f.error.message().find("Accept"), std::string::npos) << f.error.message();
  ASSERT_TRUE(f.response);
  EXPECT_EQ(f.response->status, 101);
}

TEST(ClientMisbehavingServer, UnrequestedSubprotocol) {
  ClientOptions co;
  co.subprotocols = {"chat"};
  auto f = first_error(
      [](RawPeer& p) {
        if (!p.read_request()) return;
        p.send(p.accept_response({"Sec-WebSocket-Protocol: superchat"}));
        p.wait_eof(2000ms);
      },
      co);
  EXPECT_EQ(f.error, HandshakeError::unrequested_subprotocol) << f.error.message();
  EXPECT_NE(f.error.message().find("superchat"), std::string::npos) << f.error.message();

  auto none = first_error([](RawPeer& p) {  // none offered at all
    if (!p.read_request()) return;
    p.send(p.accept_response({"Sec-WebSocket-Protocol: chat"}));
    p.wait_eof(2000ms);
  });
  EXPECT_EQ(none.error, HandshakeError::unrequested_subprotocol) << none.error.message();
}

TEST(ClientMisbehavingServer, UnrequestedExtension) {
  auto f = first_error([](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response({"Sec-WebSocket-Extensions: permessage-deflate"}));
    p.wait_eof(2000ms);
  });
  EXPECT_EQ(f.error, HandshakeError::unrequested_extension) << f.error.message();
  EXPECT_NE(f.error.message().find("permessage-deflate"), std::string::npos) << f.error.message();
}

TEST(ClientMisbehavingServer, RefusalWithABody) {
  auto f = first_error([](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Why: no-token\r\nContent-Length: 17\r\n\r\n"
        "token is missing\n");
    p.wait_eof(2000ms);
  });
  EXPECT_EQ(f.error, HandshakeError::bad_status) << f.error.message();
  EXPECT_NE(f.error.message().find("403"), std::string::npos) << f.error.message();
  EXPECT_NE(f.error.message().find("token is missing"), std::string::npos) << f.error.message();
  ASSERT_TRUE(f.response);
  EXPECT_EQ(f.response->status, 403);
  EXPECT_EQ(f.response->reason, "Forbidden");
  EXPECT_EQ(f.response->headers.get("X-Why").value_or(""), "no-token");
  EXPECT_EQ(f.response->body, "token is missing\n");
}

TEST(ClientMisbehavingServer, RefusalWithABodyUntilEof) {
  auto f = first_error([](RawPeer& p) {
    if (!p.read_request()) return;
    p.send("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\nback soon");
    p.send(", really");
  });  // the script returns: FIN ends the body
  EXPECT_EQ(f.error, HandshakeError::bad_status) << f.error.message();
  ASSERT_TRUE(f.response);
  EXPECT_EQ(f.response->status, 503);
  EXPECT_EQ(f.response->headers.get("Retry-After").value_or(""), "5");
  EXPECT_EQ(f.response->body, "back soon, really");
}

TEST(ClientMisbehavingServer, ChunkedRefusalOnAKeptAliveConnection) {
  // A refusal with a chunked body, the connection kept open (HTTP keep-alive):
  // the body ends with the last chunk, not with EOF.
  const auto start = Clock::now();
  auto f = first_error([](RawPeer& p) {
    if (!p.read_request()) return;
    p.send("HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\nWWW-Authenticate: Bearer\r\n\r\n");
    p.send("6\r\nlog in\r\n");
    p.send("a;ext=1\r\n, then try\r\n0\r\n\r\n");
    p.wait_eof(5000ms);
  });
  EXPECT_LT(since(start), 3000ms) << "the client waited for EOF or the handshake timeout";
  EXPECT_EQ(f.error, HandshakeError::bad_status) << f.error.message();
  ASSERT_TRUE(f.response);
  EXPECT_EQ(f.response->status, 401);
  EXPECT_EQ(f.response->headers.get("WWW-Authenticate").value_or(""), "Bearer");
  EXPECT_EQ(f.response->body, "log in, then try");
}

TEST(ClientMisbehavingServer, RefusalWithAShortBodyTimesOutAsARefusal) {
  // Content-Length promises more than is sent, and the connection stays
  // open: at the handshake timeout the refusal is reported with what came.
  ClientOptions co;
  co.handshake_timeout = 300ms;
  auto f = first_error(
      [](RawPeer& p) {
        if (!p.read_request()) return;
        p.send("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 100\r\n\r\nslow down");
        p.wait_eof(5000ms);
      },
      co);
  EXPECT_EQ(f.error, HandshakeError::bad_status) << f.error.message();
  ASSERT_TRUE(f.response);
  EXPECT_EQ(f.response->status, 429);
  EXPECT_EQ(f.response->body, "slow down");
}

TEST(ClientMisbehavingServer, NeverAnswers) {
  ClientOptions co;
  co.handshake_timeout = 300ms;
  const auto start = Clock::now();
  auto f = first_error(
      [](RawPeer& p) {
        if (!p.read_request()) return;
        p.wait_eof(5000ms);
      },
      co);
  EXPECT_EQ(f.error, HandshakeError::timeout) << f.error.message();
  EXPECT_NE(f.error.message().find("300 ms"), std::string::npos) << f.error.message();
  EXPECT_GE(since(start), 290ms);
  EXPECT_FALSE(f.response);
}

TEST(ClientMisbehavingServer, ClosesDuringTheHandshake) {
  auto f = first_error([](RawPeer& p) { (void)p.read_request(); });
  EXPECT_EQ(f.error, HandshakeError::closed) << f.error.message();

  auto half = first_error([](RawPeer& p) {  // half a head, then FIN
    if (!p.read_request()) return;
    p.send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n");
  });
  EXPECT_EQ(half.error, HandshakeError::closed) << half.error.message();

  auto reset = first_error([](RawPeer& p) {  // a reset instead of FIN
    if (!p.read_request()) return;
    p.reset();
  });
  EXPECT_TRUE(reset.error == HandshakeError::closed || reset.error.code() == std::errc::connection_reset)
      << reset.error.message();
}

TEST(ClientMisbehavingServer, MalformedResponse) {
  auto f = first_error([](RawPeer& p) {
    if (!p.read_request()) return;
    p.send("SSH-2.0-OpenSSH_9.6\r\n\r\n");
    p.wait_eof(2000ms);
  });
  EXPECT_EQ(f.error, HandshakeError::malformed) << f.error.message();
}

TEST(ClientMisbehavingServer, ClosesMidFrame) {
  RawWsServer raw([](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response() + RawPeer::frame(Opcode::text, "whole") + std::string("\x81\x0a" "half", 6));
  });
  ASSERT_TRUE(raw.ok());
  TestClient cli;
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  EXPECT_EQ(cli.ev.close_at(0).code, 1006);
  cli.ev.read([&] {
    EXPECT_EQ(cli.ev.opened.size(), 1u);
    EXPECT_EQ(cli.ev.texts, std::vector<std::string>{"whole"});  // the frame that came with the 101
  });
}

TEST(ClientMisbehavingServer, MaskedFrameFromTheServer) {
  Waitable seen;
  RawPeer::ClientFrame reply;
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response());
    p.send(RawPeer::frame(Opcode::text, "masked!", true, /*masked=*/true));
    RawPeer::ClientFrame f = p.read_frame();
    seen.update([&] { reply = f; });
    p.wait_eof(2000ms);
  });
  ASSERT_TRUE(raw.ok());
  TestClient cli;
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  EXPECT_EQ(cli.ev.close_at(0).code, 1002);
  ASSERT_TRUE(cli.ev.wait_errors(1));
  EXPECT_EQ(cli.ev.error_at(0).error, ProtocolError::masked_frame) << cli.ev.error_at(0).error.message();
  ASSERT_TRUE(seen.wait([&] { return reply.ok; }));
  seen.read([&] {
    EXPECT_EQ(reply.opcode, Opcode::close);
    EXPECT_EQ(reply.close_code(), 1002);
  });
  cli.ev.read([&] { EXPECT_TRUE(cli.ev.texts.empty()); });
}

TEST(ClientRawServer, CloseWithoutACode) {
  Waitable seen;
  RawPeer::ClientFrame reply;
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response() + RawPeer::frame(Opcode::close, ""));
    RawPeer::ClientFrame f = p.read_frame();
    seen.update([&] { reply = f; });
  });
  ASSERT_TRUE(raw.ok());
  TestClient cli;
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  EXPECT_EQ(cli.ev.close_at(0).code, 1005);
  EXPECT_EQ(cli.ev.close_at(0).reason, "");
  ASSERT_TRUE(seen.wait([&] { return reply.ok; }));
  seen.read([&] {
    EXPECT_EQ(reply.opcode, Opcode::close);
    EXPECT_EQ(reply.payload, "");  // no code in, no code out
  });
}

TEST(ClientRawServer, ResponseHeadByteByByte) {
  RawWsServer raw([](RawPeer& p) {
    if (!p.read_request()) return;
    const std::string head = p.accept_response({"X-Slow: yes"}) + RawPeer::frame(Opcode::text, "hi");
    for (char ch : head) {
      if (!p.send(std::string_view(&ch, 1))) return;
    }
    p.answer_close();
  });
  ASSERT_TRUE(raw.ok());
  TestClient cli;
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_texts(1));
  cli.ev.read([&] {
    EXPECT_EQ(cli.ev.texts[0], "hi");
    EXPECT_EQ(cli.ev.responses[0].headers.get("X-Slow").value_or(""), "yes");
  });
}

TEST(ClientRawServer, FreshKeysForEveryHandshakeAndFrame) {
  Waitable seen;
  std::vector<RawPeer::ClientFrame> frames;
  int accepted = 0;  // used on the raw server's thread only
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response());
    if (++accepted > 1) return;  // the second connection only needs to open
    for (int i = 0; i < 4; ++i) {
      RawPeer::ClientFrame f = p.read_frame();
      seen.update([&] { frames.push_back(f); });
      if (!f.ok) return;
    }
  });
  ASSERT_TRUE(raw.ok());
  TestClient cli;
  cli.ev.open_hook = [](Connection& c) {
    c.send_text("one");
    c.send_text("two");
    c.send_binary("three");
    c.ping("four");
  };
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(seen.wait([&] { return frames.size() >= 4; }));
  seen.read([&] {
    std::set<std::string> keys;
    const char* payloads[] = {"one", "two", "three", "four"};
    for (std::size_t i = 0; i < 4; ++i) {
      ASSERT_TRUE(frames[i].ok) << i;
      EXPECT_TRUE(frames[i].masked) << i;
      EXPECT_EQ(frames[i].payload, payloads[i]);
      keys.insert(std::string(reinterpret_cast<const char*>(frames[i].mask), 4));
    }
    EXPECT_EQ(keys.size(), 4u) << "a masking key was reused";
  });
  // A second connection: another Sec-WebSocket-Key, 16 random bytes.
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_open(2));
  const auto reqs = raw.requests();
  ASSERT_EQ(reqs.size(), 2u);
  const std::string k1(reqs[0].headers.get("Sec-WebSocket-Key").value_or(""));
  const std::string k2(reqs[1].headers.get("Sec-WebSocket-Key").value_or(""));
  EXPECT_NE(k1, k2);
  std::string raw_key;
  ASSERT_TRUE(protocol::base64_decode(k1, raw_key));
  EXPECT_EQ(raw_key.size(), 16u);
}

TEST(ClientRedirect, FollowsARedirectToParleysServer) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  const std::string target = srv.url("/landed?from=raw");
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    p.send("HTTP/1.1 302 Found\r\nLocation: " + target + "\r\nContent-Length: 0\r\n\r\n");
    p.wait_eof(2000ms);
  });
  ASSERT_TRUE(raw.ok());
  TestClient cli;
  cli.ev.open_hook = [](Connection& c) { c.send_text("after redirect"); };
  auto h = cli.client.connect(raw.url("/start"));
  ASSERT_TRUE(h);
  ASSERT_TRUE(cli.ev.wait_texts(1));
  cli.ev.read([&] {
    EXPECT_EQ(cli.ev.texts[0], "after redirect");
    EXPECT_EQ(cli.ev.open_ids[0], h->id());
    EXPECT_EQ(cli.ev.sent_requests[0].target, "/landed?from=raw");
    EXPECT_TRUE(cli.ev.errors.empty());
  });
  srv.ev.read([&] {
    ASSERT_EQ(srv.ev.requests.size(), 1u);
    EXPECT_EQ(srv.ev.requests[0].path(), "/landed");
    EXPECT_EQ(srv.ev.requests[0].host().value_or(""), "127.0.0.1:" + std::to_string(srv.server.port()));
  });
  ASSERT_EQ(raw.requests().size(), 1u);
  EXPECT_EQ(raw.requests()[0].target, "/start");
}

TEST(ClientRedirect, FollowsHttpAndRelativeLocations) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  const std::string http_target = "http://127.0.0.1:" + std::to_string(srv.server.port()) + "/final";
  std::atomic<int> n{0};
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    if (n++ == 0) {
      p.send("HTTP/1.1 307 Temporary Redirect\r\nLocation: /second\r\n\r\n");  // relative, no body
    } else {
      p.send("HTTP/1.1 301 Moved Permanently\r\nLocation: " + http_target + "\r\nContent-Length: 0\r\n\r\n");
    }
    p.wait_eof(2000ms);
  });
  ASSERT_TRUE(raw.ok());
  TestClient cli;
  ASSERT_TRUE(cli.client.connect(raw.url("/first")));
  ASSERT_TRUE(cli.ev.wait_open(1));
  auto reqs = raw.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].target, "/first");
  EXPECT_EQ(reqs[1].target, "/second");
  srv.ev.read([&] { EXPECT_EQ(srv.ev.requests.at(0).path(), "/final"); });
}

TEST(ClientRedirect, NotFollowedWithMaxRedirectsZero) {
  ClientOptions co;
  co.max_redirects = 0;
  auto f = first_error(
      [](RawPeer& p) {
        if (!p.read_request()) return;
        p.send("HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n");
        p.wait_eof(2000ms);
      },
      co);
  EXPECT_EQ(f.error, HandshakeError::bad_status) << f.error.message();
  EXPECT_NE(f.error.message().find("302"), std::string::npos) << f.error.message();
  ASSERT_TRUE(f.response);
  EXPECT_EQ(f.response->status, 302);
  EXPECT_EQ(f.response->headers.get("Location").value_or(""), "ws://127.0.0.1:1/");
}

TEST(ClientRedirect, RedirectLoopGivesUp) {
  RawWsServer* self = nullptr;
  Waitable ready;
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    ready.wait([&] { return self != nullptr; });
    p.send("HTTP/1.1 302 Found\r\nLocation: " + self->url("/again") + "\r\nContent-Length: 0\r\n\r\n");
    p.wait_eof(2000ms);
  });
  ASSERT_TRUE(raw.ok());
  ready.update([&] { self = &raw; });
  ClientOptions co;
  co.max_redirects = 3;
  TestClient cli(co);
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_errors(1));
  const auto f = cli.ev.error_at(0);
  EXPECT_EQ(f.error, HandshakeError::too_many_redirects) << f.error.message();
  EXPECT_NE(f.error.message().find("3"), std::string::npos) << f.error.message();
  EXPECT_EQ(raw.requests().size(), 4u);  // the first request and 3 redirects followed
}

TEST(ClientRedirect, FollowsARedirectToWss) {
  // ws:// to wss:// is an upgrade and is followed (here to a closed port).
  ClosedPort closed;
  ASSERT_NE(closed.port, 0);
  const std::string target = "wss://127.0.0.1:" + std::to_string(closed.port) + "/";
  auto f = first_error([&](RawPeer& p) {
    if (!p.read_request()) return;
    p.send("HTTP/1.1 302 Found\r\nLocation: " + target + "\r\nContent-Length: 0\r\n\r\n");
    p.wait_eof(2000ms);
  });
  EXPECT_TRUE(f.error.code() == std::errc::connection_refused) << f.error.message();
}

// ---- connect errors -----------------------------------------------------------

TEST(ClientConnect, RefusedPort) {
  ClosedPort closed;
  ASSERT_NE(closed.port, 0);
  TestClient cli;
  ASSERT_TRUE(cli.client.connect(closed.url()));
  ASSERT_TRUE(cli.ev.wait_errors(1));
  const Error e = cli.ev.error_at(0).error;
  EXPECT_EQ(e.code().category(), std::system_category());
  EXPECT_EQ(e.code().value(), ECONNREFUSED);
  EXPECT_TRUE(e.code() == std::errc::connection_refused);
  EXPECT_NE(e.message().find("127.0.0.1:" + std::to_string(closed.port)), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("refused"), std::string::npos) << e.message();
  cli.ev.read([&] { EXPECT_TRUE(cli.ev.opened.empty() && cli.ev.closes.empty() && cli.ev.reconnects.empty()); });
}

TEST(ClientConnect, DnsFailure) {
  TestClient cli;
  ASSERT_TRUE(cli.client.connect("ws://nonexistent.invalid/"));
  ASSERT_TRUE(cli.ev.wait_errors(1, 15s));
  const Error e = cli.ev.error_at(0).error;
  EXPECT_STREQ(e.code().category().name(), "parley.resolver") << e.message();
  EXPECT_NE(e.message().find("cannot resolve nonexistent.invalid"), std::string::npos) << e.message();
  cli.ev.read([&] { EXPECT_TRUE(cli.ev.opened.empty()); });
}

TEST(ClientConnect, MalformedUris) {
  Client client;
  for (const char* uri : {"", "127.0.0.1:80", "ws//127.0.0.1/", "ws://", "ws://127.0.0.1:99999/", "ws://[::1/",
                          "ftp://127.0.0.1/", "ws://exa mple.com/"}) {
    auto r = client.connect(uri);
    ASSERT_FALSE(r) << uri;
    EXPECT_EQ(r.error(), HandshakeError::bad_uri) << uri << ": " << r.error().message();
    EXPECT_FALSE(r.error().message().empty());
  }
  auto http = client.connect("http://127.0.0.1:1/");
  ASSERT_FALSE(http);
  EXPECT_EQ(http.error(), HandshakeError::bad_uri) << http.error().message();
}

TEST(ClientConnect, BadOptionsAreErrors) {
  ClientOptions zero;
  zero.threads = 0;
  Client a(zero);
  EXPECT_TRUE(a.start().code() == std::errc::invalid_argument);
  EXPECT_FALSE(a.connect("ws://127.0.0.1:1/"));

  ClientOptions reserved;
  reserved.headers.add("Sec-WebSocket-Key", "x");
  Client b(reserved);
  auto r = b.connect("ws://127.0.0.1:1/");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), HandshakeError::malformed) << r.error().message();

  ClientOptions fatal;
  fatal.fatal = true;
  Client c(fatal);
  try {
    (void)c.connect("ftp://127.0.0.1:1/");
    ADD_FAILURE() << "no exception";
  } catch (const Exception& e) {
    EXPECT_EQ(e.error(), HandshakeError::bad_uri);
  }
}

// ---- addresses ------------------------------------------------------------------

TEST(ClientAddress, Ipv6Loopback) {
  ServerOptions so = loopback();
  so.host = "::1";
  TestServer srv(so);
  if (Error e = srv.start()) GTEST_SKIP() << "no IPv6 loopback: " << e.message();
  net::Endpoint remote;
  TestClient cli;
  cli.ev.open_hook = [&](Connection& c) { remote = c.remote_endpoint(); };
  ASSERT_TRUE(cli.client.connect("ws://[::1]:" + std::to_string(srv.server.port()) + "/v6"));
  ASSERT_TRUE(cli.ev.wait_open(1));
  cli.ev.read([&] { EXPECT_EQ(remote.to_string(), "[::1]:" + std::to_string(srv.server.port())); });
  srv.ev.read([&] {
    EXPECT_EQ(srv.ev.requests.at(0).host().value_or(""), "[::1]:" + std::to_string(srv.server.port()));
  });
}

TEST(ClientAddress, Localhost) {
  // Whatever localhost resolves to (127.0.0.1, ::1 or both, in any order),
  // the client must reach a server on either loopback address: it tries
  // each address in turn.
  for (const char* host : {"127.0.0.1", "::1"}) {
    ServerOptions so = loopback();
    so.host = host;
    TestServer srv(so);
    if (srv.start()) continue;  // no IPv6
    TestClient cli;
    ASSERT_TRUE(cli.client.connect("ws://localhost:" + std::to_string(srv.server.port()) + "/"));
    // When localhost does not resolve to the server's family, the connect is refused.
    ASSERT_TRUE(cli.ev.wait([&] { return !cli.ev.opened.empty() || !cli.ev.errors.empty(); }));
    cli.ev.read([&] {
      if (!cli.ev.errors.empty()) {
        EXPECT_TRUE(cli.ev.errors[0].error.code() == std::errc::connection_refused) << cli.ev.errors[0].error.message();
        EXPECT_STREQ(host, "::1") << "localhost must reach 127.0.0.1";
      } else {
        EXPECT_EQ(cli.ev.sent_requests[0].host().value_or(""), "localhost:" + std::to_string(srv.server.port()));
      }
    });
  }
}

// ---- reconnection ------------------------------------------------------------------

ClientOptions reconnecting(unsigned max_attempts) {
  ClientOptions co;
  co.reconnect.enabled = true;
  co.reconnect.initial_delay = 20ms;
  co.reconnect.max_delay = 160ms;
  co.reconnect.multiplier = 2.0;
  co.reconnect.jitter = 0.0;
  co.reconnect.max_attempts = max_attempts;
  return co;
}

TEST(ClientReconnect, ServerRestartedOnTheSamePort) {
  auto first = std::make_unique<TestServer>();
  ASSERT_FALSE(first->start());
  const std::uint16_t port = first->server.port();
  TestClient cli(reconnecting(0));
  auto h = cli.client.connect(first->url());
  ASSERT_TRUE(h);
  ASSERT_TRUE(cli.ev.wait_open(1));

  first.reset();  // stop: 1001 to the client
  ASSERT_TRUE(cli.ev.wait_closed(1));
  EXPECT_EQ(cli.ev.close_at(0).code, 1001);
  ASSERT_TRUE(cli.ev.wait([&] { return cli.ev.reconnects.size() >= 3; }));

  ServerOptions so = loopback();
  so.port = port;
  TestServer second(so);
  ASSERT_FALSE(second.start()) << "port " << port << " was taken meanwhile";
  ASSERT_TRUE(cli.ev.wait_open(2));
  cli.ev.read([&] {
    EXPECT_EQ(cli.ev.open_ids[1], h->id());
    ASSERT_GE(cli.ev.reconnects.size(), 3u);
    EXPECT_EQ(cli.ev.reconnects[0].delay, 20ms);
    EXPECT_EQ(cli.ev.reconnects[1].delay, 40ms);
    EXPECT_EQ(cli.ev.reconnects[2].delay, 80ms);
    for (std::size_t i = 0; i < cli.ev.reconnects.size(); ++i) {
      EXPECT_EQ(cli.ev.reconnects[i].attempt, i + 1);
      EXPECT_EQ(cli.ev.reconnects[i].id, h->id());
      EXPECT_LE(cli.ev.reconnects[i].delay, 160ms);
      if (i > 0) {
        EXPECT_GE(cli.ev.reconnects[i].delay, cli.ev.reconnects[i - 1].delay);
      }
    }
    // Every failed attempt was reported (refused), but no on_close: the
    // connection never opened in between.
    EXPECT_EQ(cli.ev.errors.size() + 1, cli.ev.reconnects.size());
    for (const auto& f : cli.ev.errors) EXPECT_TRUE(f.error.code() == std::errc::connection_refused) << f.error.message();
    EXPECT_EQ(cli.ev.closes.size(), 1u);
  });
  // The old handle reaches the new connection.
  ASSERT_TRUE(h->send_text("back again"));
  ASSERT_TRUE(cli.ev.wait_texts(1));
  cli.ev.read([&] { EXPECT_EQ(cli.ev.texts[0], "back again"); });
}

TEST(ClientReconnect, DroppedConnectionReconnectsAndCountsAgain) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  TestClient cli(reconnecting(3));
  auto h = cli.client.connect(srv.url());
  ASSERT_TRUE(h);
  ASSERT_TRUE(cli.ev.wait_open(1));
  for (std::size_t round = 1; round <= 4; ++round) {  // more drops than max_attempts: the count restarts on open
    ASSERT_TRUE(h->send_text("cmd:drop"));
    ASSERT_TRUE(cli.ev.wait_open(round + 1)) << round;
  }
  cli.ev.read([&] {
    ASSERT_EQ(cli.ev.reconnects.size(), 4u);
    for (const auto& r : cli.ev.reconnects) {
      EXPECT_EQ(r.attempt, 1u);
      EXPECT_EQ(r.delay, 20ms);
    }
    for (const auto& c : cli.ev.closes) EXPECT_EQ(c.code, 1006);
    for (auto id : cli.ev.open_ids) EXPECT_EQ(id, h->id());
  });
}

TEST(ClientReconnect, GivesUpAfterMaxAttempts) {
  ClosedPort closed;
  ASSERT_NE(closed.port, 0);
  ClientOptions co = reconnecting(3);
  co.reconnect.initial_delay = 10ms;
  TestClient cli(co);
  ASSERT_TRUE(cli.client.connect(closed.url()));
  ASSERT_TRUE(cli.ev.wait_errors(5));
  const auto last = cli.ev.error_at(4);
  EXPECT_TRUE(last.error.code() == std::errc::operation_canceled) << last.error.message();
  EXPECT_EQ(last.error.message(), "gave up reconnecting after 3 attempts");
  cli.ev.read([&] {
    for (std::size_t i = 0; i < 4; ++i) {
      EXPECT_TRUE(cli.ev.errors[i].error.code() == std::errc::connection_refused) << cli.ev.errors[i].error.message();
    }
    ASSERT_EQ(cli.ev.reconnects.size(), 3u);
    EXPECT_EQ(cli.ev.reconnects[0].delay, 10ms);
    EXPECT_EQ(cli.ev.reconnects[1].delay, 20ms);
    EXPECT_EQ(cli.ev.reconnects[2].delay, 40ms);
    EXPECT_TRUE(cli.ev.opened.empty());
    EXPECT_TRUE(cli.ev.closes.empty());
  });
}

TEST(ClientReconnect, StopWhileWaitingToReconnect) {
  ClosedPort closed;
  ClientOptions co = reconnecting(0);
  co.reconnect.initial_delay = 10s;
  co.reconnect.max_delay = 10s;
  TestClient cli(co);
  ASSERT_TRUE(cli.client.connect(closed.url()));
  ASSERT_TRUE(cli.ev.wait([&] { return !cli.ev.reconnects.empty(); }));
  const auto start = Clock::now();
  cli.client.stop();
  EXPECT_LT(since(start), 2000ms);
  cli.ev.read([&] { EXPECT_EQ(cli.ev.reconnects.size(), 1u); });
}

TEST(ClientReconnect, NormalOrOwnCloseDoesNotReconnect) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  TestClient cli(reconnecting(0));
  auto keeper = cli.client.connect(srv.url());  // a marker on the same loop
  ASSERT_TRUE(keeper);
  ASSERT_TRUE(cli.ev.wait_open(1));

  // The server closes with 1000.
  auto a = cli.client.connect(srv.url());
  ASSERT_TRUE(a);
  ASSERT_TRUE(cli.ev.wait_open(2));
  ASSERT_TRUE(a->send_text("cmd:close 1000 finished"));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  EXPECT_EQ(cli.ev.close_at(0).code, 1000);
  EXPECT_TRUE(gone(*a, *keeper));

  // The application closes, even with another code.
  auto b = cli.client.connect(srv.url());
  ASSERT_TRUE(b);
  ASSERT_TRUE(cli.ev.wait_open(3));
  ASSERT_TRUE(b->close(CloseCode{4000}, "mine"));
  ASSERT_TRUE(cli.ev.wait_closed(2));
  EXPECT_EQ(cli.ev.close_at(1).code, 4000);
  EXPECT_TRUE(gone(*b, *keeper));

  // The application terminates.
  auto c = cli.client.connect(srv.url());
  ASSERT_TRUE(c);
  ASSERT_TRUE(cli.ev.wait_open(4));
  ASSERT_TRUE(c->post([](Connection& conn) { conn.terminate(); }));
  ASSERT_TRUE(cli.ev.wait_closed(3));
  EXPECT_EQ(cli.ev.close_at(2).code, 1006);
  EXPECT_TRUE(gone(*c, *keeper));

  EXPECT_TRUE(still_exists(*keeper, *keeper));
  cli.ev.read([&] { EXPECT_TRUE(cli.ev.reconnects.empty()); });
  srv.ev.read([&] { EXPECT_EQ(srv.ev.opened.size(), 4u); });
}

// ---- BlockingClient ------------------------------------------------------------------

TEST(ClientBlocking, ConnectSendReceiveClose) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  BlockingClient bc;
  ASSERT_FALSE(bc.connect(srv.url("/blocking")));
  EXPECT_TRUE(bc.is_open());
  ASSERT_TRUE(bc.handshake_response());
  EXPECT_EQ(bc.handshake_response()->status, 101);
  EXPECT_EQ(bc.subprotocol(), "");
  EXPECT_EQ(bc.connect(srv.url()).code(), std::errc::already_connected);

  ASSERT_FALSE(bc.send_text("hello"));
  ASSERT_FALSE(bc.send_binary(std::string("\x00\xff", 2)));
  ASSERT_FALSE(bc.ping("are you there"));
  ASSERT_FALSE(bc.send_text(""));
  auto m1 = bc.receive(kWait);
  ASSERT_TRUE(m1) << m1.error().message();
  EXPECT_EQ(m1->type, MessageType::text);
  EXPECT_EQ(m1->data, "hello");
  auto m2 = bc.receive(kWait);
  ASSERT_TRUE(m2) << m2.error().message();
  EXPECT_EQ(m2->type, MessageType::binary);
  EXPECT_EQ(m2->data, std::string("\x00\xff", 2));
  auto m3 = bc.receive(kWait);  // the pong was not queued
  ASSERT_TRUE(m3) << m3.error().message();
  EXPECT_EQ(m3->data, "");

  EXPECT_FALSE(bc.close(CloseCode{4003}, "bye"));
  EXPECT_FALSE(bc.is_open());
  EXPECT_EQ(bc.close_code(), CloseCode{4003});
  EXPECT_EQ(bc.send_text("late"), UsageError::not_open);
  auto after = bc.receive(100ms);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error(), UsageError::not_open);
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.closes.empty(); }));
  srv.ev.read([&] {
    EXPECT_EQ(srv.ev.closes[0].code, 4003);
    EXPECT_EQ(srv.ev.closes[0].reason, "bye");
    EXPECT_EQ(srv.ev.requests[0].path(), "/blocking");
  });
}

TEST(ClientBlocking, ReceiveTimesOutAndStaysOpen) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  BlockingClient bc;
  ASSERT_FALSE(bc.connect(srv.url()));
  const auto start = Clock::now();
  auto r = bc.receive(150ms);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().code() == std::errc::timed_out) << r.error().message();
  EXPECT_GE(since(start), 140ms);
  EXPECT_TRUE(bc.is_open());
  ASSERT_FALSE(bc.send_text("still here"));
  auto m = bc.receive(kWait);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->data, "still here");
}

TEST(ClientBlocking, ReceiveAfterTheServerClosed) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  BlockingClient bc;
  ASSERT_FALSE(bc.connect(srv.url()));
  ASSERT_FALSE(bc.send_text("cmd:last"));
  auto m = bc.receive(kWait);  // queued before the close: still returned
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->data, "last");
  auto r = bc.receive(kWait);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), UsageError::not_open) << r.error().message();
  EXPECT_NE(r.error().message().find("4002"), std::string::npos) << r.error().message();
  EXPECT_FALSE(bc.is_open());
  EXPECT_EQ(bc.close_code(), CloseCode{4002});
  EXPECT_EQ(bc.close_reason(), "done");
  EXPECT_EQ(bc.close(), UsageError::not_open);
}

TEST(ClientBlocking, ConnectRefused) {
  ClosedPort closed;
  BlockingClient bc;
  Error e = bc.connect(closed.url());
  EXPECT_TRUE(e.code() == std::errc::connection_refused) << e.message();
  EXPECT_FALSE(bc.is_open());
  EXPECT_FALSE(bc.handshake_response());
  EXPECT_EQ(bc.send_text("x"), UsageError::not_open);
  auto r = bc.receive(10ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), UsageError::not_open);
}

TEST(ClientBlocking, ConnectToARefusingServer) {
  TestServer srv;
  srv.ev.handshake_hook = [](Connection&, const Request&) {
    protocol::Headers h;
    h.add("X-Reason", "no-cookie");
    return HandshakeReply::reject(403, "you shall not pass", h);
  };
  ASSERT_FALSE(srv.start());
  BlockingClient bc;
  Error e = bc.connect(srv.url());
  EXPECT_EQ(e, HandshakeError::bad_status) << e.message();
  EXPECT_NE(e.message().find("403"), std::string::npos) << e.message();
  const auto r = bc.handshake_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->headers.get("X-Reason").value_or(""), "no-cookie");
  EXPECT_EQ(r->body, "you shall not pass\n");
  EXPECT_FALSE(bc.is_open());
}

TEST(ClientBlocking, ConnectTimesOutOnASilentServer) {
  RawWsServer raw([](RawPeer& p) {
    if (!p.read_request()) return;
    p.wait_eof(5000ms);
  });
  ASSERT_TRUE(raw.ok());
  ClientOptions co;
  co.handshake_timeout = 200ms;
  BlockingClient bc(co);
  const auto start = Clock::now();
  Error e = bc.connect(raw.url());
  EXPECT_EQ(e, HandshakeError::timeout) << e.message();
  EXPECT_GE(since(start), 190ms);
  EXPECT_LT(since(start), 3000ms);
}

TEST(ClientBlocking, ReceiveAndSendFromTwoThreads) {
  constexpr int n = 200;
  TestServer srv;
  ASSERT_FALSE(srv.start());
  BlockingClient bc;
  ASSERT_FALSE(bc.connect(srv.url()));
  std::vector<std::string> got;
  std::thread receiver([&] {
    for (int i = 0; i < n; ++i) {
      auto m = bc.receive(kWait);
      if (!m) break;
      got.push_back(m->data);
    }
  });
  std::thread sender([&] {
    for (int i = 0; i < n; ++i) EXPECT_FALSE(bc.send_text("m" + std::to_string(i)));
  });
  sender.join();
  receiver.join();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], "m" + std::to_string(i));
  EXPECT_FALSE(bc.close());
}

TEST(ClientBlocking, FatalThrowsOnARefusedConnect) {
  ClosedPort closed;
  ClientOptions co;
  co.fatal = true;
  BlockingClient bc(co);
  try {
    (void)bc.connect(closed.url());
    ADD_FAILURE() << "no exception";
  } catch (const Exception& e) {
    EXPECT_TRUE(e.code() == std::errc::connection_refused) << e.what();
    EXPECT_TRUE(e.error().code() == std::errc::connection_refused);
  }
}

TEST(ClientBlocking, DestructorClosesAnOpenConnection) {
  TestServer srv;
  ASSERT_FALSE(srv.start());
  {
    BlockingClient bc;
    ASSERT_FALSE(bc.connect(srv.url()));
  }
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.closes.empty(); }));
  srv.ev.read([&] { EXPECT_EQ(srv.ev.closes[0].code, 1000); });
}

}  // namespace
}  // namespace parley
