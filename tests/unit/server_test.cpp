// parley::Server driven over real loopback sockets by a raw test client
// (raw_ws_client.hpp). Events fire on the server's loop threads; the test
// thread waits for them through `Events` (a mutex and a condition variable,
// every wait bounded).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <random>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "parley/parley.hpp"
#include "raw_ws_client.hpp"
#include "server_support.hpp"

namespace parley {
namespace {

// ---- messages ---------------------------------------------------------------

TEST(ServerEcho, TextAndBinaryOfEverySize) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  for (std::size_t size : {std::size_t{0}, std::size_t{125}, std::size_t{126}, std::size_t{64} << 10,
                           std::size_t{16} << 20}) {
    for (bool text : {true, false}) {
      SCOPED_TRACE(std::to_string(size) + (text ? " text" : " binary"));
      const std::string msg = pattern(size, text);
      ASSERT_TRUE(c.send_frame(text ? kText : kBinary, msg));
      ReadResult r = c.read_frame(10s);
      ASSERT_TRUE(r.is_frame());
      EXPECT_EQ(r.frame.opcode, text ? kText : kBinary);
      EXPECT_TRUE(r.frame.fin);
      EXPECT_FALSE(r.frame.masked);  // a server never masks
      EXPECT_EQ(r.frame.payload.size(), size);
      EXPECT_TRUE(r.frame.payload == msg);
    }
  }
  EXPECT_EQ(ev.close_count(), 0u);
}

TEST(ServerFragments, ClientFragmentsAreReassembled) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  // Text in three fragments with a ping in the middle (allowed between fragments).
  ASSERT_TRUE(c.send_frame(kText, "Hel", false));
  ASSERT_TRUE(c.send_frame(kPing, "mid"));
  ASSERT_TRUE(c.send_frame(kCont, "lo w", false));
  ASSERT_TRUE(c.send_frame(kCont, "orld", true));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kPong);
  EXPECT_EQ(r.frame.payload, "mid");
  r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kText);
  EXPECT_EQ(r.frame.payload, "Hello world");
  // Binary, one fragment per byte-ish, and an empty final fragment.
  const std::string bin = pattern(3000, false);
  ASSERT_TRUE(c.send_frame(kBinary, bin.substr(0, 1000), false));
  ASSERT_TRUE(c.send_frame(kCont, bin.substr(1000, 2000), false));
  ASSERT_TRUE(c.send_frame(kCont, "", true));
  r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kBinary);
  EXPECT_TRUE(r.frame.payload == bin);
  // A UTF-8 sequence split across fragments is still valid.
  ASSERT_TRUE(c.send_frame(kText, "caf\xc3", false));
  ASSERT_TRUE(c.send_frame(kCont, "\xa9", true));
  r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, "caf\xc3\xa9");
}

TEST(ServerFragments, SendFragmentStreamsToTheClient) {
  Server server(loopback());
  Events ev;
  ev.attach(server);
  std::vector<SendStatus> statuses;
  Error interleaved;
  server.on_text([&](Connection& c, std::string_view) {
    std::vector<SendStatus> s;
    s.push_back(c.send_fragment(MessageType::text, "part1-", false).status);
    s.push_back(c.ping("p").status);  // control frames may interleave
    // A whole message cannot be sent in the middle of a fragmented one.
    Error e = c.send_text("not now").error;
    s.push_back(c.send_fragment(MessageType::text, "part2-", false).status);
    s.push_back(c.send_fragment(MessageType::text, "end", true).status);
    s.push_back(c.send_text("after").status);
    ev.update([&] {
      statuses = s;
      interleaved = e;
    });
  });
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(c.send_text("go"));
  struct Want {
    std::uint8_t op;
    bool fin;
    const char* payload;
  };
  for (const Want& w : {Want{kText, false, "part1-"}, Want{kPing, true, "p"}, Want{kCont, false, "part2-"},
                        Want{kCont, true, "end"}, Want{kText, true, "after"}}) {
    ReadResult r = c.read_frame();
    ASSERT_TRUE(r.is_frame());
    EXPECT_EQ(r.frame.opcode, w.op);
    EXPECT_EQ(r.frame.fin, w.fin);
    EXPECT_EQ(r.frame.payload, w.payload);
  }
  ASSERT_TRUE(ev.wait([&] { return statuses.size() == 5; }));
  std::lock_guard l(ev.m);
  for (SendStatus s : statuses) EXPECT_EQ(s, SendStatus::queued);
  EXPECT_EQ(interleaved, UsageError::bad_fragment_sequence);
}

// ---- ping / pong ------------------------------------------------------------

TEST(ServerPing, PingIsAnsweredWithPong) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(c.send_frame(kPing, "are you there?"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kPong);
  EXPECT_EQ(r.frame.payload, "are you there?");
  ASSERT_TRUE(c.send_frame(kPing, ""));
  r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kPong);
  EXPECT_EQ(r.frame.payload, "");
  // A pong from the client reaches on_pong.
  ASSERT_TRUE(c.send_frame(kPong, "unsolicited"));
  ASSERT_TRUE(ev.wait([&] { return ev.pongs.size() == 1; }));
  std::lock_guard l(ev.m);
  EXPECT_EQ(ev.pongs[0], "unsolicited");
}

TEST(ServerPing, OnPingReturningFalseSuppressesThePong) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  server.on_ping([&](Connection&, std::string_view p) {
    ev.update([&] { ev.pings.emplace_back(p); });
    return p != "quiet";
  });
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(c.send_frame(kPing, "quiet"));
  ASSERT_TRUE(c.send_text("after the quiet ping"));
  ASSERT_TRUE(c.send_frame(kPing, "loud"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kText) << "a suppressed ping was answered";
  EXPECT_EQ(r.frame.payload, "after the quiet ping");
  r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kPong);
  EXPECT_EQ(r.frame.payload, "loud");
  std::lock_guard l(ev.m);
  EXPECT_EQ(ev.pings, (std::vector<std::string>{"quiet", "loud"}));
}

// ---- the close handshake ----------------------------------------------------

TEST(ServerClose, ClientClosesWithCodeAndReason) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(c.send_close(4001, "bye"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kClose);
  EXPECT_EQ(r.frame.close_code(), 4001);  // the echo
  EXPECT_TRUE(c.read_until_eof());
  ASSERT_TRUE(ev.wait_closed(1));
  EXPECT_EQ(ev.close_at(0).code, 4001);
  EXPECT_EQ(ev.close_at(0).reason, "bye");
}

TEST(ServerClose, ClientClosesWithoutStatus) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(c.send_close(0));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kClose);
  EXPECT_EQ(r.frame.payload, "");
  EXPECT_TRUE(c.read_until_eof());
  ASSERT_TRUE(ev.wait_closed(1));
  EXPECT_EQ(ev.close_at(0).code, 1005);
}

TEST(ServerClose, ServerClosesWithCodeAndReason) {
  Server server(loopback());
  Events ev;
  ev.attach(server);
  server.on_text([](Connection& c, std::string_view) { EXPECT_FALSE(c.close(CloseCode::normal, "done")); });
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(c.send_text("close please"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kClose);
  EXPECT_EQ(r.frame.close_code(), 1000);
  EXPECT_EQ(r.frame.close_reason(), "done");
  EXPECT_EQ(ev.close_count(), 0u) << "on_close fired before the peer answered";
  ASSERT_TRUE(c.send_close(1000, "ok"));
  EXPECT_TRUE(c.read_until_eof());
  ASSERT_TRUE(ev.wait_closed(1));
  EXPECT_EQ(ev.close_at(0).code, 1000);
  EXPECT_EQ(ev.close_at(0).reason, "ok");
}

TEST(ServerClose, AbruptDisconnectReports1006) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient a, b;
  ASSERT_TRUE(open_ws(a, server.port()));
  ASSERT_TRUE(open_ws(b, server.port()));
  ASSERT_TRUE(ev.wait_opened(2));
  a.close();  // FIN without a close frame
  ASSERT_TRUE(ev.wait_closed(1));
  EXPECT_EQ(ev.close_at(0).code, 1006);
  b.reset();  // RST
  ASSERT_TRUE(ev.wait_closed(2));
  EXPECT_EQ(ev.close_at(1).code, 1006);
  EXPECT_TRUE(eventually([&] { return server.connection_count() == 0; }));
}

// ---- limits -------------------------------------------------------------------

TEST(ServerLimits, MessageTooBigCloses1009AndSparesOthers) {
  ServerOptions o = loopback();
  o.max_message_size = 1000;
  Server server(o);
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient big, other;
  ASSERT_TRUE(open_ws(big, server.port()));
  ASSERT_TRUE(open_ws(other, server.port()));
  // Exactly the limit is fine.
  ASSERT_TRUE(big.send_binary(std::string(1000, 'x')));
  ReadResult r = big.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload.size(), 1000u);
  // One byte more, in one frame.
  ASSERT_TRUE(big.send_binary(std::string(1001, 'x')));
  expect_close_then_eof(big, 1009);
  ASSERT_TRUE(ev.wait_closed(1));
  EXPECT_EQ(ev.close_at(0).code, 1009);
  // The other connection is unaffected.
  ASSERT_TRUE(other.send_text("still here"));
  r = other.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, "still here");
  // Over the limit across fragments (each frame under it) fails as well.
  RawWsClient frag;
  ASSERT_TRUE(open_ws(frag, server.port()));
  ASSERT_TRUE(frag.send_frame(kText, std::string(600, 'a'), false));
  ASSERT_TRUE(frag.send_frame(kCont, std::string(600, 'a'), true));
  expect_close_then_eof(frag, 1009);
  EXPECT_EQ(ev.close_count(), 2u);
}

TEST(ServerLimits, FrameTooBigCloses1009) {
  ServerOptions o = loopback();
  o.max_frame_size = 100;
  Server server(o);
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  // Frames up to the limit form a larger message.
  ASSERT_TRUE(c.send_frame(kText, std::string(100, 'a'), false));
  ASSERT_TRUE(c.send_frame(kCont, std::string(100, 'b'), true));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, std::string(100, 'a') + std::string(100, 'b'));
  ASSERT_TRUE(c.send_frame(kBinary, std::string(101, 'c')));
  expect_close_then_eof(c, 1009);
  ASSERT_TRUE(ev.wait_closed(1));
  EXPECT_EQ(ev.close_at(0).code, 1009);
}

TEST(ServerLimits, TooManyFragmentsCloses1009) {
  ServerOptions o = loopback();
  o.max_fragments = 3;
  Server server(o);
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(c.send_frame(kText, "a", false));
  ASSERT_TRUE(c.send_frame(kCont, "b", false));
  ASSERT_TRUE(c.send_frame(kCont, "c", false));
  ASSERT_TRUE(c.send_frame(kCont, "d", true));
  expect_close_then_eof(c, 1009);
}

// ---- protocol errors by the client --------------------------------------------

struct ProtocolCase {
  const char* name;
  std::string frame;  // on the wire
  int code;
};

TEST(ServerProtocol, ClientViolationsCloseWithTheRightCode) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  const std::vector<ProtocolCase> cases = {
      {"unmasked frame", RawWsClient::encode(kText, "hi", true, 0, false), 1002},
      {"invalid UTF-8", RawWsClient::encode(kText, "ok \xff\xfe"), 1007},
      {"truncated UTF-8 at the end", RawWsClient::encode(kText, "ok \xc3"), 1007},
      {"reserved opcode 3", RawWsClient::encode(0x3, "x"), 1002},
      {"reserved control opcode 11", RawWsClient::encode(0xB, "x"), 1002},
      {"RSV1 without an extension", RawWsClient::encode(kText, "x", true, 0x40), 1002},
      {"fragmented ping", RawWsClient::encode(kPing, "x", false), 1002},
      {"ping over 125 bytes", RawWsClient::encode(kPing, std::string(126, 'p')), 1002},
      {"continuation without a message", RawWsClient::encode(kCont, "x"), 1002},
      {"close code 1005 on the wire", RawWsClient::encode(kClose, std::string("\x03\xed", 2)), 1002},
      {"close reason not UTF-8", RawWsClient::encode(kClose, std::string("\x03\xe8\xff", 3)), 1007},
  };
  std::size_t n = 0;
  for (const ProtocolCase& pc : cases) {
    SCOPED_TRACE(pc.name);
    RawWsClient c;
    ASSERT_TRUE(open_ws(c, server.port()));
    ASSERT_TRUE(c.send_raw(pc.frame));
    expect_close_then_eof(c, pc.code);
    ASSERT_TRUE(ev.wait_closed(++n));
    EXPECT_EQ(ev.close_at(n - 1).code, pc.code);
  }
  // Each violation was also reported to on_error.
  std::lock_guard l(ev.m);
  EXPECT_EQ(ev.errors.size(), cases.size());
}

// ---- the opening handshake ----------------------------------------------------

TEST(ServerHandshake, RejectSends403AndBodyThenCloses) {
  Server server(loopback());
  Events ev;
  ev.attach(server);
  server.on_handshake([](Connection&, const Request&) { return HandshakeReply::reject(403, "go away"); });
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", server.port()));
  HttpReply r = c.handshake();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.raw_head.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << r.raw_head;
  EXPECT_NE(r.body.find("go away"), std::string::npos) << r.body;
  EXPECT_TRUE(c.read_until_eof());
  ASSERT_TRUE(ev.wait([&] { return !ev.errors.empty(); }));
  std::lock_guard l(ev.m);
  EXPECT_TRUE(ev.opened.empty());
  EXPECT_TRUE(ev.closes.empty()) << "on_close fired for a connection that never opened";
}

TEST(ServerHandshake, DeferredAnswerFromAnotherThread) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  std::vector<ConnectionHandle> waiting;
  server.on_handshake([&](Connection& c, const Request& req) {
    if (req.path() == "/now") return HandshakeReply::accept();
    ev.update([&] { waiting.push_back(c.handle()); });
    return HandshakeReply::defer();
  });
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", server.port()));
  // The request and a frame right behind it (sent before any answer).
  ASSERT_TRUE(c.send_raw(c.upgrade_request("/later") + RawWsClient::encode(kText, "early bird")));
  ASSERT_TRUE(ev.wait([&] { return waiting.size() == 1; }));
  // Nothing is answered while the decision is pending; the loop keeps serving others.
  RawWsClient other;
  ASSERT_TRUE(open_ws(other, server.port(), "/now"));
  ASSERT_TRUE(other.send_text("meanwhile"));
  ReadResult o = other.read_frame();
  ASSERT_TRUE(o.is_frame());
  EXPECT_EQ(o.frame.payload, "meanwhile");
  ASSERT_EQ(c.read_frame(50ms).kind, ReadResult::Kind::timeout);
  ConnectionHandle h;
  {
    std::lock_guard l(ev.m);
    h = waiting[0];
  }
  std::thread db([h] { EXPECT_TRUE(h.finish_handshake(HandshakeReply::accept())); });
  db.join();
  HttpReply r = c.read_response();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 101);
  EXPECT_TRUE(r.accept_matches);
  ReadResult f = c.read_frame();
  ASSERT_TRUE(f.is_frame());
  EXPECT_EQ(f.frame.payload, "early bird");
  ASSERT_TRUE(c.send_text("late"));
  f = c.read_frame();
  ASSERT_TRUE(f.is_frame());
  EXPECT_EQ(f.frame.payload, "late");
}

TEST(ServerHandshake, DeferredRejectionFromAnotherThread) {
  Server server(loopback());
  Events ev;
  ev.attach(server);
  server.on_handshake([&](Connection& c, const Request&) {
    ev.update([&] { ev.opened.push_back(c.handle()); });  // (not open: just the handle)
    return HandshakeReply::defer();
  });
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", server.port()));
  ASSERT_TRUE(c.send_raw(c.upgrade_request("/")));
  ASSERT_TRUE(ev.wait_opened(1));
  ConnectionHandle h = ev.handle_at(0);
  std::thread db([h] { h.finish_handshake(HandshakeReply::reject(401, "who are you")); });
  db.join();
  HttpReply r = c.read_response();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("who are you"), std::string::npos);
  EXPECT_TRUE(c.read_until_eof());
}

TEST(ServerHandshake, RequestDetailsAreVisible) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  struct Seen {
    std::string method, target, path, user, x, session, theme, custom, origin, remote, local;
    std::uint16_t remote_port = 0;
    bool done = false;
  } seen;
  server.on_handshake([&](Connection& c, const Request& req) {
    ev.update([&] {
      seen.method = req.method;
      seen.target = req.target;
      seen.path = std::string(req.path());
      seen.user = req.query_param("user").value_or("?");
      seen.x = req.query_param("x").value_or("?");
      seen.session = req.cookie("session").value_or("?");
      seen.theme = req.cookie("theme").value_or("?");
      seen.custom = std::string(req.headers.get("X-Custom").value_or("?"));
      seen.origin = std::string(req.origin().value_or("?"));
      seen.remote = c.remote_endpoint().address_string();
      seen.remote_port = c.remote_endpoint().port;
      seen.local = c.local_endpoint().to_string();
      seen.done = true;
    });
    return HandshakeReply::accept({}, [] {
      protocol::Headers h;
      h.add("Set-Cookie", "seen=1");
      return h;
    }());
  });
  std::string open_path;
  server.on_open([&](Connection& c) {
    ev.update([&] {
      open_path = std::string(c.request().path());
      ev.opened.push_back(c.handle());
    });
  });
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", server.port()));
  HttpReply r = c.handshake("/chat/room?user=ann%20b&x=1",
                            {"Cookie: session=abc123; theme=dark", "X-Custom: yes", "Origin: https://example.com"});
  ASSERT_EQ(r.status, 101);
  EXPECT_EQ(r.headers.get("Set-Cookie").value_or(""), "seen=1");
  ASSERT_TRUE(ev.wait([&] { return seen.done && !ev.opened.empty(); }));
  std::lock_guard l(ev.m);
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.target, "/chat/room?user=ann%20b&x=1");
  EXPECT_EQ(seen.path, "/chat/room");
  EXPECT_EQ(seen.user, "ann b");
  EXPECT_EQ(seen.x, "1");
  EXPECT_EQ(seen.session, "abc123");
  EXPECT_EQ(seen.theme, "dark");
  EXPECT_EQ(seen.custom, "yes");
  EXPECT_EQ(seen.origin, "https://example.com");
  EXPECT_EQ(seen.remote, "127.0.0.1");
  EXPECT_EQ(seen.remote_port, c.local_port());
  EXPECT_EQ(seen.local, "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(open_path, "/chat/room");
}

TEST(ServerHandshake, OnOriginDecides) {
  ServerOptions o = loopback();
  o.allowed_origins = {"https://listed.example"};  // replaced by the callback
  Server server(o);
  Events ev;
  ev.attach_echo(server);
  std::mutex m;
  std::vector<std::string> seen;
  server.on_origin([&](Connection&, std::string_view origin, const Request&) {
    std::lock_guard l(m);
    seen.emplace_back(origin);
    return origin.ends_with(".trusted.example") ? HandshakeReply::accept() : HandshakeReply::reject(403);
  });
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  {
    RawWsClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", server.port()));
    EXPECT_EQ(c.handshake("/", {"Origin: https://listed.example"}).status, 403);
    EXPECT_TRUE(c.read_until_eof());
  }
  {
    RawWsClient c;
    ASSERT_TRUE(open_ws(c, server.port(), "/", {"Origin: https://app.trusted.example"}));
  }
  {
    RawWsClient c;  // no Origin: the callback sees ""
    ASSERT_TRUE(c.connect("127.0.0.1", server.port()));
    EXPECT_EQ(c.handshake("/").status, 403);
  }
  EXPECT_TRUE(ev.wait_opened(1));
  std::lock_guard l(m);
  EXPECT_EQ(seen, (std::vector<std::string>{"https://listed.example", "https://app.trusted.example", ""}));
}

TEST(ServerHandshake, OnOriginRefusesWithStatusHeadersAndBody) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  std::mutex m;
  std::vector<std::string> errors;
  server.on_error([&](Connection*, const Error& e) {
    std::lock_guard l(m);
    errors.push_back(e.message());
  });
  bool handshake_ran = false;
  server.on_handshake([&](Connection&, const Request&) {
    handshake_ran = true;
    return HandshakeReply::accept();
  });
  server.on_origin([&](Connection&, std::string_view origin, const Request& req) {
    if (req.cookie("session") == "ok") {
      protocol::Headers h;
      h.add("X-Origin-Checked", std::string(origin));
      return HandshakeReply::accept("", std::move(h));
    }
    protocol::Headers h;
    h.add("WWW-Authenticate", "Cookie");
    return HandshakeReply::reject(401, "log in first", std::move(h));
  });
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  {
    RawWsClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", server.port()));
    HttpReply r = c.handshake("/", {"Origin: https://a.example"});
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.headers.get("WWW-Authenticate").value_or(""), "Cookie");
    EXPECT_NE(r.body.find("log in first"), std::string::npos);
    EXPECT_TRUE(c.read_until_eof());
  }
  EXPECT_FALSE(handshake_ran);  // a refused origin never reaches on_handshake
  {
    RawWsClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", server.port()));
    HttpReply r = c.handshake("/", {"Origin: https://a.example", "Cookie: session=ok"});
    EXPECT_EQ(r.status, 101);
    EXPECT_TRUE(r.accept_matches);
    EXPECT_EQ(r.headers.get("X-Origin-Checked").value_or(""), "https://a.example");
  }
  EXPECT_TRUE(ev.wait_opened(1));
  std::lock_guard l(m);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("https://a.example"), std::string::npos);
  EXPECT_NE(errors[0].find("401"), std::string::npos);
}

TEST(ServerHandshake, OnOriginDefersThenOnHandshakeRuns) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  std::vector<ConnectionHandle> waiting;
  std::vector<std::string> handshakes;
  server.on_origin([&](Connection& c, std::string_view, const Request&) {
    ev.update([&] { waiting.push_back(c.handle()); });
    return HandshakeReply::defer();
  });
  server.on_handshake([&](Connection&, const Request& req) {
    ev.update([&] { handshakes.emplace_back(req.path()); });
    return HandshakeReply::accept();
  });
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  RawWsClient yes, no;
  ASSERT_TRUE(yes.connect("127.0.0.1", server.port()));
  ASSERT_TRUE(yes.send_raw(yes.upgrade_request("/yes", {"Origin: https://a.example"})));
  ASSERT_TRUE(ev.wait([&] { return waiting.size() == 1; }));
  ASSERT_TRUE(no.connect("127.0.0.1", server.port()));
  ASSERT_TRUE(no.send_raw(no.upgrade_request("/no", {"Origin: https://b.example"})));
  ASSERT_TRUE(ev.wait([&] { return waiting.size() == 2; }));
  ASSERT_EQ(yes.read_frame(50ms).kind, ReadResult::Kind::timeout);  // nothing answered yet
  ConnectionHandle hy, hn;
  {
    std::lock_guard l(ev.m);
    hy = waiting[0];
    hn = waiting[1];
    EXPECT_TRUE(handshakes.empty());
  }
  // An answer for the other stage, or a defer(), leaves the origin waiting.
  ASSERT_TRUE(hy.finish_handshake(HandshakeReply::reject(500, "wrong stage")));
  ASSERT_TRUE(hy.finish_origin(HandshakeReply::defer()));
  ASSERT_EQ(yes.read_frame(50ms).kind, ReadResult::Kind::timeout);
  std::thread db([hy, hn] {
    EXPECT_TRUE(hn.finish_origin(HandshakeReply::reject(403, "not from there")));
    EXPECT_TRUE(hy.finish_origin(HandshakeReply::accept()));
  });
  db.join();
  HttpReply r = no.read_response();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("not from there"), std::string::npos);
  EXPECT_TRUE(no.read_until_eof());
  r = yes.read_response();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 101);
  ASSERT_TRUE(yes.send_text("hi"));
  ReadResult f = yes.read_frame();
  ASSERT_TRUE(f.is_frame());
  EXPECT_EQ(f.frame.payload, "hi");
  std::lock_guard l(ev.m);
  EXPECT_EQ(handshakes, std::vector<std::string>{"/yes"});
}

TEST(ServerHandshake, EachDeferredStageTakesOnlyItsOwnAnswer) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  std::vector<ConnectionHandle> origins, handshakes;
  std::string seen_subprotocol;
  server.on_origin([&](Connection& c, std::string_view, const Request&) {
    ev.update([&] { origins.push_back(c.handle()); });
    return HandshakeReply::defer();
  });
  server.on_handshake([&](Connection& c, const Request&) {
    ev.update([&] {
      seen_subprotocol = c.subprotocol();  // the origin acceptance chose it
      handshakes.push_back(c.handle());
    });
    return HandshakeReply::defer();
  });
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", server.port()));
  ASSERT_TRUE(c.send_raw(c.upgrade_request("/", {"Origin: https://a.example", "Sec-WebSocket-Protocol: chat, v2"})));
  ASSERT_TRUE(ev.wait([&] { return origins.size() == 1; }));
  ConnectionHandle h;
  {
    std::lock_guard l(ev.m);
    h = origins[0];
  }
  ASSERT_TRUE(h.finish_origin(HandshakeReply::accept("v2")));
  ASSERT_TRUE(ev.wait([&] { return handshakes.size() == 1; }));
  // A second (stray) origin answer must not decide on_handshake's stage.
  ASSERT_TRUE(h.finish_origin(HandshakeReply::reject(403, "stray")));
  ASSERT_EQ(c.read_frame(100ms).kind, ReadResult::Kind::timeout);
  ASSERT_TRUE(h.finish_handshake(HandshakeReply::accept()));
  HttpReply r = c.read_response();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 101);
  EXPECT_EQ(r.headers.get("Sec-WebSocket-Protocol").value_or(""), "v2");
  std::lock_guard l(ev.m);
  EXPECT_EQ(seen_subprotocol, "v2");
}

TEST(ServerHandshake, OnSelectSubprotocolDecides) {
  ServerOptions o = loopback();
  o.subprotocols = {"chat", "superchat"};
  Server server(o);
  Events ev;
  ev.attach(server);
  std::vector<std::string> offered;
  server.on_select_subprotocol([&](const std::vector<std::string>& offers) {
    ev.update([&] { offered = offers; });
    // Prefers the last offer; none when there is no offer.
    return offers.empty() ? std::string() : offers.back();
  });
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", server.port()));
  HttpReply r = c.handshake("/", {"Sec-WebSocket-Protocol: superchat, chat"});
  ASSERT_EQ(r.status, 101);
  EXPECT_EQ(r.headers.get("Sec-WebSocket-Protocol").value_or("(none)"), "chat");
  std::lock_guard l(ev.m);
  EXPECT_EQ(offered, (std::vector<std::string>{"superchat", "chat"}));
}

TEST(ServerHttp, OnHttpAnswersPlainRequests) {
  Server server(loopback());
  std::string seen_path;
  std::mutex m;
  server.on_http([&](const Request& req) {
    {
      std::lock_guard l(m);
      seen_path = std::string(req.path());
    }
    Response r;
    r.status = 200;
    r.reason = "OK";
    r.headers.add("Content-Type", "text/plain");
    r.body = "healthy";
    return r;
  });
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", server.port()));
  HttpReply r = c.request("GET /health?full=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "healthy");
  EXPECT_TRUE(c.read_until_eof());
  {
    std::lock_guard l(m);
    EXPECT_EQ(seen_path, "/health");
  }
  // Upgrades still work on the same port.
  RawWsClient ws;
  EXPECT_TRUE(open_ws(ws, server.port()));
}

// ---- timeouts and keep-alive --------------------------------------------------

TEST(ServerTimeouts, SlowlorisHandshakeIsDropped) {
  ServerOptions o = loopback();
  o.handshake_timeout = 200ms;
  Server server(o);
  Events ev;
  ev.attach(server);
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", server.port()));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.send_raw("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: webs"));  // and never the rest
  EXPECT_TRUE(c.read_until_eof(3s));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 150ms);
  EXPECT_TRUE(eventually([&] { return server.connection_count() == 0; }));
  // A client that says nothing at all is dropped too.
  RawWsClient mute;
  ASSERT_TRUE(mute.connect("127.0.0.1", server.port()));
  EXPECT_TRUE(mute.read_until_eof(3s));
  std::lock_guard l(ev.m);
  EXPECT_TRUE(ev.opened.empty());
  EXPECT_TRUE(ev.closes.empty());
}

TEST(ServerTimeouts, IdleConnectionIsClosedWith1001) {
  ServerOptions o = loopback();
  o.idle_timeout = 300ms;
  o.ping_interval = 0ms;
  Server server(o);
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  const auto t0 = std::chrono::steady_clock::now();
  ReadResult r = c.read_frame(3s);
  ASSERT_TRUE(r.is_frame());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms);
  EXPECT_EQ(r.frame.opcode, kClose);
  EXPECT_EQ(r.frame.close_code(), 1001);
  ASSERT_TRUE(c.send_close(1001));
  EXPECT_TRUE(c.read_until_eof());
  ASSERT_TRUE(ev.wait_closed(1));
  EXPECT_EQ(ev.close_at(0).code, 1001);
}

TEST(ServerKeepAlive, UnansweredPingDropsTheConnection) {
  ServerOptions o = loopback();
  o.ping_interval = 100ms;
  o.pong_timeout = 300ms;
  Server server(o);
  Events ev;
  ev.attach_echo(server);
  server.on_ping([](Connection&, std::string_view) { return true; });
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ReadResult r = c.read_frame(3s);
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kPing);
  // Not answered: the server gives up on this peer.
  EXPECT_TRUE(c.read_until_eof(3s));
  ASSERT_TRUE(ev.wait_closed(1));
  EXPECT_EQ(ev.close_at(0).code, 1006);
  EXPECT_TRUE(eventually([&] { return server.connection_count() == 0; }));
}

TEST(ServerKeepAlive, AnsweredPingsKeepTheConnectionOpen) {
  ServerOptions o = loopback();
  o.ping_interval = 100ms;
  o.pong_timeout = 300ms;
  Server server(o);
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  int pings = 0;
  const auto end = std::chrono::steady_clock::now() + 1200ms;
  while (std::chrono::steady_clock::now() < end) {
    ReadResult r = c.read_frame(100ms);
    if (r.kind == ReadResult::Kind::timeout) continue;
    ASSERT_TRUE(r.is_frame()) << "the connection was dropped";
    ASSERT_EQ(r.frame.opcode, kPing);
    ++pings;
    ASSERT_TRUE(c.send_frame(kPong, r.frame.payload));
  }
  EXPECT_GE(pings, 3);
  EXPECT_EQ(ev.close_count(), 0u);
  ASSERT_TRUE(c.send_text("alive"));
  ReadResult r = c.read_data_or_close();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, "alive");
  std::lock_guard l(ev.m);
  EXPECT_EQ(ev.pongs.size(), static_cast<std::size_t>(pings));
}

// ---- scale, threads, stop -------------------------------------------------------

TEST(ServerLoad, ThousandConcurrentConnections) {
  constexpr int kN = 1000;
  Server server(loopback());
  Events ev;
  ev.attach(server);
  server.on_text([](Connection& c, std::string_view t) { c.send_text(t); });
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  std::vector<RawWsClient> clients(kN);
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE(clients[i].connect("127.0.0.1", server.port())) << i;
    ASSERT_TRUE(clients[i].send_raw(clients[i].upgrade_request("/c" + std::to_string(i))));
  }
  for (int i = 0; i < kN; ++i) {
    HttpReply r = clients[i].read_response(10s);
    ASSERT_EQ(r.status, 101) << i;
    ASSERT_TRUE(r.accept_matches) << i;
  }
  ASSERT_TRUE(ev.wait_opened(kN));
  EXPECT_EQ(server.connection_count(), static_cast<std::size_t>(kN));
  for (int i = 0; i < kN; ++i) ASSERT_TRUE(clients[i].send_text("message " + std::to_string(i)));
  for (int i = 0; i < kN; ++i) {
    ReadResult r = clients[i].read_frame(10s);
    ASSERT_TRUE(r.is_frame()) << i;
    ASSERT_EQ(r.frame.payload, "message " + std::to_string(i));
  }
  EXPECT_EQ(ev.close_count(), 0u);
  clients.clear();
  EXPECT_TRUE(ev.wait_closed(kN));
  EXPECT_TRUE(eventually([&] { return server.connection_count() == 0; }));
}

TEST(ServerStop, GracefulStopLosesNoMessage) {
  ServerOptions o = loopback();
  o.close_timeout = 2000ms;
  Server server(o);
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(ev.wait_opened(1));
  ConnectionHandle h = ev.handle_at(0);
  // Big enough that much of it is still queued in the server when stop() runs
  // (the client reads nothing until then).
  constexpr int kMessages = 200;
  const std::string filler(32 * 1024, 'f');
  for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(h.send_text(std::to_string(i) + ":" + filler));
  // A message sent from a loop thread, inside a callback, counts as well.
  ASSERT_TRUE(h.post([](Connection& conn) { conn.send_text("last"); }));
  auto stopped = std::async(std::launch::async, [&] { server.stop(); });
  for (int i = 0; i < kMessages; ++i) {
    ReadResult r = c.read_frame();
    ASSERT_TRUE(r.is_frame()) << "message " << i << " lost";
    ASSERT_EQ(r.frame.opcode, kText) << i;
    ASSERT_EQ(r.frame.payload, std::to_string(i) + ":" + filler) << i;
  }
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, "last");
  r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kClose);
  EXPECT_EQ(r.frame.close_code(), 1001);
  ASSERT_TRUE(c.send_close(1001));
  EXPECT_TRUE(c.read_until_eof());
  c.close();
  ASSERT_EQ(stopped.wait_for(kWait), std::future_status::ready) << "stop() did not return";
  std::lock_guard l(ev.m);
  EXPECT_EQ(ev.shutdowns, 1);
  ASSERT_EQ(ev.closes.size(), 1u);
  EXPECT_EQ(ev.closes[0].code, 1001);
}

TEST(ServerStop, StopWithAnUnresponsivePeerIsBounded) {
  ServerOptions o = loopback();
  o.close_timeout = 200ms;
  Server server(o);
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(ev.wait_opened(1));
  const auto t0 = std::chrono::steady_clock::now();
  server.stop();  // the client never answers the close frame
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.close_code(), 1001);
  std::lock_guard l(ev.m);
  ASSERT_EQ(ev.closes.size(), 1u);
  EXPECT_EQ(ev.closes[0].code, 1006);
  server.stop();  // idempotent
}

TEST(ServerIPv6, EchoOnLoopback) {
  ServerOptions o = loopback();
  o.host = "::1";
  Server server(o);
  Events ev;
  ev.attach_echo(server);
  std::string remote;
  server.on_handshake([&](Connection& c, const Request&) {
    ev.update([&] { remote = c.remote_endpoint().address_string(); });
    return HandshakeReply::accept();
  });
  StopOnExit stop_guard(server);
  if (Error e = server.start()) GTEST_SKIP() << "cannot listen on ::1: " << e.message();
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port(), "/", {}, "::1"));
  ASSERT_TRUE(c.send_text("over IPv6"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, "over IPv6");
  std::lock_guard l(ev.m);
  EXPECT_EQ(remote, "::1");
}

TEST(ServerThreads, CrossThreadSendsAndBroadcast) {
  ServerOptions o = loopback();
  o.threads = 4;
  Server server(o);
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  constexpr int kClients = 8, kSenders = 4, kPerSender = 50;
  std::vector<RawWsClient> clients(kClients);
  for (auto& c : clients) ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(ev.wait_opened(kClients));
  std::vector<ConnectionHandle> handles;
  {
    std::lock_guard l(ev.m);
    handles = ev.opened;
  }
  std::atomic<int> queued{0}, other{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < kSenders; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < kPerSender; ++i) {
        for (const ConnectionHandle& h : handles) {
          h.send_text("t" + std::to_string(t) + ":" + std::to_string(i), [&](const SendResult& r) {
            (r.status == SendStatus::queued ? queued : other).fetch_add(1);
          });
        }
      }
    });
  }
  for (auto& s : senders) s.join();
  server.broadcast(MessageType::text, "to everyone");
  for (int k = 0; k < kClients; ++k) {
    SCOPED_TRACE("client " + std::to_string(k));
    std::vector<int> next(kSenders, 0);
    for (int n = 0; n < kSenders * kPerSender; ++n) {
      ReadResult r = clients[k].read_frame();
      ASSERT_TRUE(r.is_frame());
      const std::string& p = r.frame.payload;
      ASSERT_EQ(p[0], 't') << p;
      const int t = p[1] - '0';
      ASSERT_TRUE(t >= 0 && t < kSenders) << p;
      EXPECT_EQ(p.substr(3), std::to_string(next[t])) << "out of order";  // each sender's order is kept
      ++next[t];
    }
    ReadResult r = clients[k].read_frame();
    ASSERT_TRUE(r.is_frame());
    EXPECT_EQ(r.frame.payload, "to everyone");
  }
  EXPECT_TRUE(eventually([&] { return queued.load() == kClients * kSenders * kPerSender; }));
  EXPECT_EQ(other.load(), 0);
  // Every connection can also echo on its own loop.
  for (auto& c : clients) {
    ASSERT_TRUE(c.send_binary("ping"));
    ReadResult r = c.read_frame();
    ASSERT_TRUE(r.is_frame());
    EXPECT_EQ(r.frame.payload, "ping");
  }
  clients.clear();  // (stop() would otherwise wait close_timeout for their close frames)
  server.stop();
}

TEST(ServerConnections, ListAndCount) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  EXPECT_EQ(server.connection_count(), 0u);
  EXPECT_TRUE(server.connections().empty());
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient a, b, c;
  ASSERT_TRUE(open_ws(a, server.port()));
  ASSERT_TRUE(open_ws(b, server.port()));
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(ev.wait_opened(3));
  // A connection still in its handshake is counted but not listed.
  RawWsClient half;
  ASSERT_TRUE(half.connect("127.0.0.1", server.port()));
  ASSERT_TRUE(half.send_raw("GET / HTTP/1.1\r\n"));
  EXPECT_TRUE(eventually([&] { return server.connection_count() == 4; }));
  std::vector<ConnectionHandle> list = server.connections();
  ASSERT_EQ(list.size(), 3u);
  std::set<std::uint64_t> ids;
  for (const auto& h : list) ids.insert(h.id());
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids.count(0), 0u);
  // b closes: it leaves the list at once, and the count once its socket is gone.
  ASSERT_TRUE(b.send_close(1000));
  ASSERT_TRUE(ev.wait_closed(1));
  const std::uint64_t gone = ev.close_at(0).id;
  EXPECT_EQ(server.connections().size(), 2u);
  EXPECT_TRUE(b.read_until_eof());
  b.close();
  half.close();
  EXPECT_TRUE(eventually([&] { return server.connection_count() == 2; }));
  // A handle to the closed connection fails cleanly.
  std::promise<SendResult> result;
  for (const auto& h : list) {
    if (h.id() == gone) {
      ASSERT_TRUE(h.send_text("too late", [&](const SendResult& r) { result.set_value(r); }));
    }
  }
  auto f = result.get_future();
  ASSERT_EQ(f.wait_for(kWait), std::future_status::ready);
  SendResult r = f.get();
  EXPECT_EQ(r.status, SendStatus::dropped);
  EXPECT_EQ(r.error, UsageError::not_open);
}

TEST(ServerThreads, HandleCloseFromAnotherThread) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(ev.wait_opened(1));
  const ConnectionHandle h = ev.handle_at(0);
  std::thread t([h] { EXPECT_TRUE(h.close(CloseCode{4002}, "from a thread")); });
  t.join();
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kClose);
  EXPECT_EQ(r.frame.close_code(), 4002);
  EXPECT_EQ(r.frame.close_reason(), "from a thread");
  ASSERT_TRUE(c.send_close(4002));
  EXPECT_TRUE(c.read_until_eof());
  ASSERT_TRUE(ev.wait_closed(1));
  EXPECT_EQ(ev.close_at(0).code, 4002);
}

TEST(ServerClose, TerminateDropsWithout1000) {
  Server server(loopback());
  Events ev;
  ev.attach(server);
  server.on_text([](Connection& c, std::string_view) { c.terminate(); });
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(c.send_text("kill me"));
  ReadResult r = c.read_frame();
  EXPECT_NE(r.kind, ReadResult::Kind::timeout);
  EXPECT_FALSE(r.is_frame()) << "terminate() sent a frame";
  ASSERT_TRUE(ev.wait_closed(1));
  EXPECT_EQ(ev.close_at(0).code, 1006);
  // Dropped at once, while the client still holds its socket open.
  EXPECT_TRUE(eventually([&] { return server.connection_count() == 0; }, 1000ms));
}

TEST(ServerClose, UnansweredServerCloseTimesOutWith1006) {
  ServerOptions o = loopback();
  o.close_timeout = 200ms;
  Server server(o);
  Events ev;
  ev.attach(server);
  server.on_text([](Connection& c, std::string_view) { (void)c.close(CloseCode::normal, "bye"); });
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(c.send_text("x"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.close_code(), 1000);
  // The client never answers: the server gives up after close_timeout.
  EXPECT_TRUE(c.read_until_eof(3s));
  ASSERT_TRUE(ev.wait_closed(1));
  EXPECT_EQ(ev.close_at(0).code, 1006);
}

TEST(ServerLimits, MaxConnectionsAnswers503) {
  ServerOptions o = loopback();
  o.max_connections = 2;
  Server server(o);
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  RawWsClient a, b;
  ASSERT_TRUE(open_ws(a, server.port()));
  ASSERT_TRUE(open_ws(b, server.port()));
  {
    RawWsClient third;
    ASSERT_TRUE(third.connect("127.0.0.1", server.port()));
    HttpReply r = third.handshake();
    EXPECT_EQ(r.status, 503);
    EXPECT_TRUE(third.read_until_eof());
  }
  // Once one leaves, there is room again.
  a.close();
  ASSERT_TRUE(ev.wait_closed(1));
  EXPECT_TRUE(eventually([&] { return server.connection_count() == 1; }));
  RawWsClient d;
  EXPECT_TRUE(open_ws(d, server.port()));
}

TEST(ServerHandshake, OnAcceptCanRefuseTheConnection) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  std::atomic<int> asked{0};
  server.on_accept([&](const net::Endpoint& remote) {
    ++asked;
    return remote.address_string() != "127.0.0.1";
  });
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", server.port()));
  EXPECT_TRUE(c.read_until_eof());
  EXPECT_EQ(asked.load(), 1);
  EXPECT_EQ(server.connection_count(), 0u);
}

TEST(ServerHandshake, CloseOrTerminateInsideOnHandshake) {
  // close() and terminate() are allowed during the handshake ("closes the
  // socket"): whatever on_handshake then returns must be ignored.
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  server.on_handshake([](Connection& c, const Request& req) {
    if (req.path() == "/close") {
      (void)c.close();
      return HandshakeReply::accept();
    }
    if (req.path() == "/terminate") {
      c.terminate();
      return HandshakeReply::reject(403, "gone");
    }
    if (req.path() == "/defer") {
      (void)c.close();
      return HandshakeReply::defer();
    }
    return HandshakeReply::accept();
  });
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  for (const char* path : {"/close", "/terminate", "/defer"}) {
    SCOPED_TRACE(path);
    RawWsClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", server.port()));
    ASSERT_TRUE(c.send_raw(c.upgrade_request(path)));
    std::string rest;
    EXPECT_TRUE(c.read_until_eof(kWait, &rest));
    EXPECT_EQ(rest.find("101"), std::string::npos) << rest;
  }
  RawWsClient ok;
  EXPECT_TRUE(open_ws(ok, server.port()));
  EXPECT_TRUE(eventually([&] { return server.connection_count() == 1; }));
  std::lock_guard l(ev.m);
  EXPECT_EQ(ev.opened.size(), 1u);
  EXPECT_TRUE(ev.closes.empty());
}

TEST(ServerStop, ConcurrentStopsBothWaitUntilStopped) {
  ServerOptions o = loopback();
  o.close_timeout = 300ms;
  Server server(o);
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  RawWsClient c;  // never answers the close frame: stopping takes close_timeout
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(ev.wait_opened(1));
  auto first = std::async(std::launch::async, [&] { server.stop(); });
  ASSERT_TRUE(ev.wait([&] { return ev.shutdowns == 1; }));
  server.stop();  // documented to block until the server has stopped
  EXPECT_EQ(ev.close_count(), 1u) << "a second stop() returned before the server had stopped";
  EXPECT_EQ(first.wait_for(kWait), std::future_status::ready);
}

TEST(ServerHandshake, DeferredHandshakeStillTimesOut) {
  ServerOptions o = loopback();
  o.handshake_timeout = 200ms;
  Server server(o);
  Events ev;
  ev.attach(server);
  std::vector<ConnectionHandle> waiting;
  server.on_handshake([&](Connection& c, const Request&) {
    ev.update([&] { waiting.push_back(c.handle()); });
    return HandshakeReply::defer();
  });
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", server.port()));
  ASSERT_TRUE(c.send_raw(c.upgrade_request()));
  ASSERT_TRUE(ev.wait([&] { return waiting.size() == 1; }));
  EXPECT_EQ(c.read_response(3s).status, 408);  // answered, not just dropped
  EXPECT_TRUE(c.read_until_eof(3s));
  // A late answer is ignored.
  ConnectionHandle h;
  {
    std::lock_guard l(ev.m);
    h = waiting[0];
  }
  std::thread late([h] { h.finish_handshake(HandshakeReply::accept()); });
  late.join();
  EXPECT_TRUE(eventually([&] { return server.connection_count() == 0; }));
  std::lock_guard l(ev.m);
  EXPECT_TRUE(ev.opened.empty());
}

TEST(ServerHandshake, ClientLeavesWhileTheHandshakeIsDeferred) {
  Server server(loopback());
  Events ev;
  ev.attach(server);
  std::vector<ConnectionHandle> waiting;
  server.on_handshake([&](Connection& c, const Request&) {
    ev.update([&] { waiting.push_back(c.handle()); });
    return HandshakeReply::defer();
  });
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  {
    RawWsClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", server.port()));
    ASSERT_TRUE(c.send_raw(c.upgrade_request()));
    ASSERT_TRUE(ev.wait([&] { return waiting.size() == 1; }));
  }
  EXPECT_TRUE(eventually([&] { return server.connection_count() == 0; }));
  ConnectionHandle h;
  {
    std::lock_guard l(ev.m);
    h = waiting[0];
  }
  std::thread late([h] { h.finish_handshake(HandshakeReply::accept()); });
  late.join();
  // The server is fine and serves the next client.
  RawWsClient next;
  ASSERT_TRUE(next.connect("127.0.0.1", server.port()));
  ASSERT_TRUE(next.send_raw(next.upgrade_request()));
  ASSERT_TRUE(ev.wait([&] { return waiting.size() == 2; }));
  {
    std::lock_guard l(ev.m);
    h = waiting[1];
  }
  EXPECT_TRUE(h.finish_handshake(HandshakeReply::accept()));
  EXPECT_EQ(next.read_response().status, 101);
  std::lock_guard l(ev.m);
  EXPECT_TRUE(ev.closes.empty());
}

TEST(ServerStop, StopFromACallbackThenWait) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  server.on_text([&](Connection&, std::string_view t) {
    if (t == "stop") server.stop();  // returns at once on a loop thread
  });
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(c.send_text("stop"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.close_code(), 1001);
  ASSERT_TRUE(c.send_close(1001));
  EXPECT_TRUE(c.read_until_eof());
  c.close();
  auto waited = std::async(std::launch::async, [&] { server.wait(); });
  EXPECT_EQ(waited.wait_for(kWait), std::future_status::ready);
  std::lock_guard l(ev.m);
  EXPECT_EQ(ev.shutdowns, 1);
}

TEST(ServerStop, RunBlocksUntilStop) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);
  auto running = std::async(std::launch::async, [&] { return server.run(); });
  ASSERT_TRUE(eventually([&] { return server.port() != 0; }));
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  EXPECT_EQ(running.wait_for(50ms), std::future_status::timeout);
  c.close();
  server.stop();
  ASSERT_EQ(running.wait_for(kWait), std::future_status::ready);
  EXPECT_FALSE(running.get());
}

TEST(ServerTick, TicksOnTheFirstLoop) {
  ServerOptions o = loopback();
  o.tick_period = 20ms;
  Server server(o);
  std::atomic<int> ticks{0};
  server.on_tick([&] { ++ticks; });
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  EXPECT_TRUE(eventually([&] { return ticks.load() >= 3; }));
}

// ---- backpressure and errors --------------------------------------------------

TEST(ServerBackpressure, DropsOverTheLimitAndDrainsWhenTheClientReads) {
  ServerOptions o = loopback();
  o.max_buffered_amount = 64 * 1024;
  Server server(o);
  Events ev;
  ev.attach(server);
  struct Outcome {
    int queued = 0;
    bool backpressure = false;
    SendResult after;
    std::size_t buffered = 0;
    bool done = false;
  } out;
  const std::string chunk(64 * 1024, 'z');
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", server.port(), 16 * 1024));
  ASSERT_EQ(c.handshake().status, 101);
  ASSERT_TRUE(ev.wait_opened(1));
  ASSERT_TRUE(ev.handle_at(0).post([&](Connection& conn) {
    // The client reads nothing: the kernel's buffers fill, then ours.
    for (int i = 0; i < 4096; ++i) {
      SendResult r = conn.send_binary(chunk);
      if (r.status == SendStatus::queued) {
        ++out.queued;
        continue;
      }
      out.backpressure = r.status == SendStatus::backpressure;
      out.after = conn.send_binary(chunk);
      break;
    }
    out.buffered = conn.buffered_amount();
    ev.update([&] { out.done = true; });
  }));
  ASSERT_TRUE(ev.wait([&] { return out.done; }, 20s));
  EXPECT_TRUE(out.backpressure);
  EXPECT_EQ(out.after.status, SendStatus::dropped);
  EXPECT_EQ(out.after.error, UsageError::buffer_full);
  EXPECT_GT(out.buffered, o.max_buffered_amount);
  {
    std::lock_guard l(ev.m);
    EXPECT_EQ(ev.drains, 0);
  }
  // The client reads everything that was not dropped; then on_drain fires.
  for (int i = 0; i < out.queued + 1; ++i) {
    ReadResult r = c.read_frame();
    ASSERT_TRUE(r.is_frame()) << i;
    ASSERT_EQ(r.frame.payload.size(), chunk.size());
  }
  EXPECT_TRUE(ev.wait([&] { return ev.drains == 1; }));
  // And sending works again.
  ASSERT_TRUE(ev.handle_at(0).send_text("again"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, "again");
}

TEST(ServerBackpressure, DrainFollowsBackpressureEvenWhenTheKernelTakesEverything) {
  // A send that passes the limit only while corked (the kernel then takes
  // it all at once) still owes the on_drain its `backpressure` status promised.
  ServerOptions o = loopback();
  o.max_buffered_amount = 1024;
  Server server(o);
  Events ev;
  ev.attach(server);
  std::vector<SendStatus> statuses;
  server.on_text([&](Connection& c, std::string_view) {
    SendStatus s = c.send_text(std::string(2000, 'q')).status;
    ev.update([&] { statuses.push_back(s); });
  });
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(c.send_text("go"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload.size(), 2000u);
  ASSERT_TRUE(ev.wait([&] { return statuses.size() == 1; }));
  EXPECT_EQ(statuses[0], SendStatus::backpressure);
  EXPECT_TRUE(ev.wait([&] { return ev.drains == 1; })) << "on_drain never came after a backpressure status";
}

TEST(ServerBackpressure, ClosePolicyCuts1008) {
  ServerOptions o = loopback();
  o.max_buffered_amount = 1024;
  o.backpressure_policy = BackpressurePolicy::close;
  Server server(o);
  Events ev;
  ev.attach(server);
  std::vector<SendStatus> statuses;
  server.on_text([&](Connection& c, std::string_view) {
    SendStatus a = c.send_text(std::string(2000, 'q')).status;  // over the limit: backpressure
    SendStatus b = c.send_text("more").status;                  // past it: dropped, and closed
    ev.update([&] { statuses = {a, b}; });
  });
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(c.send_text("go"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload.size(), 2000u);
  r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kClose);
  EXPECT_EQ(r.frame.close_code(), 1008);
  ASSERT_TRUE(ev.wait([&] { return statuses.size() == 2; }));
  EXPECT_EQ(statuses[0], SendStatus::backpressure);
  EXPECT_EQ(statuses[1], SendStatus::dropped);
}

TEST(ServerErrors, FatalNeverThrowsOnALoopThread) {
  // `fatal` throws on the caller's own thread only: inside a callback (and
  // through a ConnectionHandle) a dropped send is a value, as without it.
  ServerOptions o = loopback();
  o.fatal = true;
  Server server(o);
  Events ev;
  ev.attach(server);
  struct Seen {
    bool threw = false;
    SendResult direct;
    SendResult via_handle;
    bool done = false;
  } seen;
  server.on_text([&](Connection& c, std::string_view) {
    (void)c.close(CloseCode::normal, "done");
    Seen s;
    try {
      s.direct = c.send_text("after close");
      EXPECT_EQ(c.close(), UsageError::not_open);
    } catch (const Exception&) {
      s.threw = true;
    }
    ev.update([&] { seen.threw = s.threw, seen.direct = s.direct; });
    c.handle().send_text("later", [&](const SendResult& r) { ev.update([&] { seen.via_handle = r, seen.done = true; }); });
  });
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(c.send_text("x"));
  ASSERT_TRUE(ev.wait([&] { return seen.done; }));
  EXPECT_FALSE(seen.threw);
  EXPECT_EQ(seen.direct.status, SendStatus::dropped);
  EXPECT_EQ(seen.direct.error, UsageError::not_open);
  EXPECT_EQ(seen.via_handle.status, SendStatus::dropped);
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.close_code(), 1000);
  // The process and the server are still there: a new connection works.
  RawWsClient d;
  EXPECT_TRUE(open_ws(d, server.port()));
}

TEST(ServerErrors, WithoutFatalADroppedSendReturnsTheError) {
  Server server(loopback());
  Events ev;
  ev.attach(server);
  SendResult seen;
  bool done = false;
  server.on_text([&](Connection& c, std::string_view) {
    (void)c.close();
    SendResult r = c.send_text("after close");
    ev.update([&] {
      seen = r;
      done = true;
    });
  });
  StopOnExit stop_guard(server);  // before the locals the callbacks use go away
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(c.send_text("x"));
  ASSERT_TRUE(ev.wait([&] { return done; }));
  EXPECT_EQ(seen.status, SendStatus::dropped);
  EXPECT_FALSE(seen);
  EXPECT_EQ(seen.error, UsageError::not_open);
}

TEST(ServerErrors, BadArgumentsAreRefusedAndTheConnectionStaysOpen) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  struct Seen {
    Error long_reason, code_1006, code_1005_with_reason, long_ping, long_pong;
    std::size_t listed_inside = 0;
    bool done = false;
  } seen;
  server.on_text([&](Connection& c, std::string_view t) {
    if (t != "check") return (void)c.send_text(t);
    Seen s;
    s.long_reason = c.close(CloseCode::normal, std::string(124, 'r'));
    s.code_1006 = c.close(CloseCode::abnormal);
    s.code_1005_with_reason = c.close(CloseCode::no_status, "why");
    s.long_ping = c.ping(std::string(126, 'p')).error;
    s.long_pong = c.pong(std::string(126, 'p')).error;
    s.listed_inside = server.connections().size();  // from a loop thread
    s.done = true;
    ev.update([&] { seen = s; });
  });
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(c.send_text("check"));
  ASSERT_TRUE(ev.wait([&] { return seen.done; }));
  EXPECT_EQ(seen.long_reason, UsageError::close_reason_too_long);
  EXPECT_EQ(seen.code_1006, UsageError::bad_close_code);
  EXPECT_EQ(seen.code_1005_with_reason, UsageError::bad_close_code);
  EXPECT_EQ(seen.long_ping, UsageError::control_too_long);
  EXPECT_EQ(seen.long_pong, UsageError::control_too_long);
  EXPECT_EQ(seen.listed_inside, 1u);
  // Still open.
  ASSERT_TRUE(c.send_text("still open"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, "still open");
}

TEST(ServerConnections, ListingAfterStopIsImmediate) {
  ServerOptions o = loopback();
  o.threads = 2;
  Server server(o);
  Events ev;
  ev.attach_echo(server);
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  std::vector<RawWsClient> clients(4);
  for (auto& c : clients) ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(ev.wait_opened(4));
  EXPECT_EQ(server.connections().size(), 4u);
  clients.clear();
  ASSERT_TRUE(ev.wait_closed(4));
  server.stop();
  // The loops no longer run: nobody can answer, so nothing must be waited for.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(server.connections().empty());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(server.connection_count(), 0u);
}

TEST(ServerConnections, ListingFromCallbacksOnSeveralLoops) {
  ServerOptions o = loopback();
  o.threads = 4;
  Server server(o);
  Events ev;
  ev.attach(server);
  server.on_text([&](Connection& c, std::string_view) {
    c.send_text(std::to_string(server.connections().size()));
  });
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  std::vector<RawWsClient> clients(8);
  for (auto& c : clients) ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(ev.wait_opened(8));
  // Only one at a time: two loops that list each other at once would each
  // wait for the other (documented bound: 5 s).
  for (auto& c : clients) {
    ASSERT_TRUE(c.send_text("count"));
    ReadResult r = c.read_frame();
    ASSERT_TRUE(r.is_frame());
    EXPECT_EQ(r.frame.payload, "8");
  }
  clients.clear();
}

TEST(ServerErrors, HandlesOutliveTheServer) {
  ConnectionHandle kept;
  EXPECT_FALSE(kept);
  EXPECT_FALSE(kept.send_text("to nobody"));
  EXPECT_FALSE(kept.close());
  {
    Server server(loopback());
    Events ev;
    ev.attach_echo(server);
    StopOnExit stop_guard(server);
    ASSERT_FALSE(server.start());
    RawWsClient c;
    ASSERT_TRUE(open_ws(c, server.port()));
    ASSERT_TRUE(ev.wait_opened(1));
    kept = ev.handle_at(0);
    EXPECT_TRUE(kept);
  }
  // The server and its loops are gone: the handle fails cleanly.
  EXPECT_FALSE(kept.send_text("too late"));
  EXPECT_FALSE(kept.finish_handshake(HandshakeReply::accept()));
  EXPECT_FALSE(kept.post([](Connection&) { ADD_FAILURE() << "ran on a destroyed server"; }));
}

TEST(ServerOptionsCheck, ZeroThreadsIsAnError) {
  ServerOptions o = loopback();
  o.threads = 0;
  Server server(o);
  Error e = server.start();
  ASSERT_TRUE(e);
  EXPECT_EQ(e.code(), std::make_error_code(std::errc::invalid_argument));
  EXPECT_EQ(server.port(), 0);
  server.stop();  // harmless on a server that never started

  o.fatal = true;
  Server throwing(o);
  EXPECT_THROW((void)throwing.start(), Exception);
}

TEST(ServerOptionsCheck, PortInUseIsAnError) {
  Server first(loopback());
  ASSERT_FALSE(first.start());
  ServerOptions o = loopback();
  o.port = first.port();
  Server second(o);
  Error e = second.start();
  EXPECT_TRUE(e);
}


TEST(ServerEvents, OnFrameSeesEveryFrameBothWaysBroadcastsIncluded) {
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  std::vector<std::string> frames;  // "<dir> <opcode> <fin> <length>"
  server.on_frame([&](Connection&, protocol::FrameDirection d, const protocol::FrameHeader& h) {
    ev.update([&] {
      frames.push_back(std::string(d == protocol::FrameDirection::received ? "in " : "out ") +
                       std::to_string(static_cast<int>(h.opcode)) + (h.fin ? " fin " : " more ") +
                       std::to_string(h.payload_length));
    });
  });
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, server.port()));
  ASSERT_TRUE(ev.wait_opened(1));
  ASSERT_TRUE(c.send_raw(RawWsClient::encode(kText, "ab", false) + RawWsClient::encode(0x9, "p") +
                         RawWsClient::encode(kCont, "c", true)));
  ASSERT_TRUE(c.read_frame().is_frame());  // pong
  ReadResult echo = c.read_frame();
  ASSERT_TRUE(echo.is_frame());
  EXPECT_EQ(echo.frame.payload, "abc");
  server.broadcast(MessageType::binary, std::string(200, 'x'));
  ReadResult b = c.read_frame();
  ASSERT_TRUE(b.is_frame());
  EXPECT_EQ(b.frame.payload.size(), 200u);
  ASSERT_TRUE(ev.wait([&] { return frames.size() >= 6; }));
  std::lock_guard l(ev.m);
  EXPECT_EQ(frames, (std::vector<std::string>{"in 1 more 2", "in 9 fin 1", "out 10 fin 1", "in 0 fin 1",
                                              "out 1 fin 3", "out 2 fin 200"}));
}

TEST(ServerConnections, HandlesFindTheirConnectionAfterManyComeAndGo) {
  // The hub's table of connections by id grows, and loses entries in an
  // arbitrary order: every surviving handle must still reach its own
  // connection, and every handle of a gone one must fail cleanly.
  Server server(loopback());
  Events ev;
  ev.attach_echo(server);
  std::map<std::uint16_t, ConnectionHandle> by_port;  // the client's port -> its handle
  server.on_open([&](Connection& c) {
    ev.update([&] {
      by_port[c.remote_endpoint().port] = c.handle();
      ev.opened.push_back(c.handle());
    });
  });
  StopOnExit stop_guard(server);
  ASSERT_FALSE(server.start());
  constexpr int kClients = 300;
  std::vector<std::unique_ptr<RawWsClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<RawWsClient>());
    ASSERT_TRUE(open_ws(*clients.back(), server.port()));
  }
  ASSERT_TRUE(ev.wait_opened(kClients));
  std::vector<int> order(kClients);
  for (int i = 0; i < kClients; ++i) order[i] = i;
  std::mt19937 rng(12345);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<ConnectionHandle> gone;
  std::vector<int> kept;
  for (int k = 0; k < kClients; ++k) {
    const int i = order[k];
    if (k < 2 * kClients / 3) {
      {
        std::lock_guard l(ev.m);
        gone.push_back(by_port.at(clients[i]->local_port()));
      }
      clients[i].reset();  // TCP gone: on_close 1006, then the connection is destroyed
    } else {
      kept.push_back(i);
    }
  }
  ASSERT_TRUE(ev.wait_closed(gone.size()));
  std::atomic<int> not_open{0}, ran{0};
  for (const ConnectionHandle& h : gone) {
    h.send_text("nobody", [&](const SendResult& r) {
      if (r.error.code() == UsageError::not_open) not_open.fetch_add(1);
    });
    h.post([&](Connection&) { ran.fetch_add(1); });
  }
  for (int i : kept) {
    ConnectionHandle h;
    {
      std::lock_guard l(ev.m);
      h = by_port.at(clients[i]->local_port());
    }
    ASSERT_TRUE(h.send_text("for " + std::to_string(clients[i]->local_port())));
  }
  for (int i : kept) {
    ReadResult r = clients[i]->read_frame();
    ASSERT_TRUE(r.is_frame());
    EXPECT_EQ(r.frame.payload, "for " + std::to_string(clients[i]->local_port()));
  }
  ASSERT_TRUE(ev.wait([&] { return not_open.load() == static_cast<int>(gone.size()); }));
  EXPECT_EQ(ran.load(), 0);
}

}  // namespace
}  // namespace parley
