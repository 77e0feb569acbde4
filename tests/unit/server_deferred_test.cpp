// parley::Server's opening handshake answered later (HandshakeReply::defer(),
// then ConnectionHandle::finish_origin / finish_handshake, from another
// thread): accepted, refused, each stage taking only its own answer, timed out,
// and the client leaving meanwhile. Fixture and recorder: server_support.hpp.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "parley/parley.hpp"
#include "raw_ws_client.hpp"
#include "server_support.hpp"

namespace parley {
namespace {

/// Defers every opening handshake, keeping each connection's handle in
/// `waiting` (written under the recorder's lock) for the test to answer.
void defer_every_handshake(TestServer& srv, std::vector<ConnectionHandle>& waiting) {
  srv.server.on_handshake([&srv, &waiting](Connection& c, const Request&) {
    srv.ev.update([&] { waiting.push_back(c.handle()); });
    return HandshakeReply::defer();
  });
}

TEST(ServerHandshake, DeferredAnswerFromAnotherThread) {
  std::vector<ConnectionHandle> waiting;
  TestServer srv;
  srv.server.on_handshake([&](Connection& c, const Request& req) {
    if (req.path() == "/now") return HandshakeReply::accept();
    srv.ev.update([&] { waiting.push_back(c.handle()); });
    return HandshakeReply::defer();
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
  // The request and a frame right behind it (sent before any answer).
  ASSERT_TRUE(c.send_raw(c.upgrade_request("/later") + RawWsClient::encode(kText, "early bird")));
  ASSERT_TRUE(srv.ev.wait([&] { return waiting.size() == 1; }));
  // Nothing is answered while the decision is pending; the loop keeps serving others.
  RawWsClient other;
  ASSERT_TRUE(open_ws(other, srv.port(), "/now"));
  ASSERT_TRUE(other.send_text("meanwhile"));
  ReadResult o = other.read_frame();
  ASSERT_TRUE(o.is_frame());
  EXPECT_EQ(o.frame.payload, "meanwhile");
  ASSERT_EQ(c.read_frame(50ms).kind, ReadResult::Kind::timeout);
  ConnectionHandle h = srv.ev.read([&] { return waiting[0]; });
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
  TestServer srv(Attach::record);
  srv.server.on_handshake([&](Connection& c, const Request&) {
    srv.ev.update([&] { srv.ev.opened.push_back(c.handle()); });  // (not open: just the handle)
    return HandshakeReply::defer();
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
  ASSERT_TRUE(c.send_raw(c.upgrade_request("/")));
  ASSERT_TRUE(srv.ev.wait_opened(1));
  ConnectionHandle h = srv.ev.handle_at(0);
  std::thread db([h] { h.finish_handshake(HandshakeReply::reject(401, "who are you")); });
  db.join();
  HttpReply r = c.read_response();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("who are you"), std::string::npos);
  EXPECT_TRUE(c.read_until_eof());
}

TEST(ServerHandshake, OnOriginDefersThenOnHandshakeRuns) {
  std::vector<ConnectionHandle> waiting;
  std::vector<std::string> handshakes;
  TestServer srv;
  srv.server.on_origin([&](Connection& c, std::string_view, const Request&) {
    srv.ev.update([&] { waiting.push_back(c.handle()); });
    return HandshakeReply::defer();
  });
  srv.server.on_handshake([&](Connection&, const Request& req) {
    srv.ev.update([&] { handshakes.emplace_back(req.path()); });
    return HandshakeReply::accept();
  });
  ASSERT_TRUE(srv.start());
  RawWsClient yes, no;
  ASSERT_TRUE(yes.connect("127.0.0.1", srv.port()));
  ASSERT_TRUE(yes.send_raw(yes.upgrade_request("/yes", {"Origin: https://a.example"})));
  ASSERT_TRUE(srv.ev.wait([&] { return waiting.size() == 1; }));
  ASSERT_TRUE(no.connect("127.0.0.1", srv.port()));
  ASSERT_TRUE(no.send_raw(no.upgrade_request("/no", {"Origin: https://b.example"})));
  ASSERT_TRUE(srv.ev.wait([&] { return waiting.size() == 2; }));
  ASSERT_EQ(yes.read_frame(50ms).kind, ReadResult::Kind::timeout);  // nothing answered yet
  ConnectionHandle hy, hn;
  {
    std::lock_guard l(srv.ev.m);
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
  std::lock_guard l(srv.ev.m);
  EXPECT_EQ(handshakes, std::vector<std::string>{"/yes"});
}

TEST(ServerHandshake, EachDeferredStageTakesOnlyItsOwnAnswer) {
  std::vector<ConnectionHandle> origins, handshakes;
  std::string seen_subprotocol;
  TestServer srv;
  srv.server.on_origin([&](Connection& c, std::string_view, const Request&) {
    srv.ev.update([&] { origins.push_back(c.handle()); });
    return HandshakeReply::defer();
  });
  srv.server.on_handshake([&](Connection& c, const Request&) {
    srv.ev.update([&] {
      seen_subprotocol = c.subprotocol();  // the origin acceptance chose it
      handshakes.push_back(c.handle());
    });
    return HandshakeReply::defer();
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
  ASSERT_TRUE(c.send_raw(c.upgrade_request("/", {"Origin: https://a.example", "Sec-WebSocket-Protocol: chat, v2"})));
  ASSERT_TRUE(srv.ev.wait([&] { return origins.size() == 1; }));
  const ConnectionHandle h = srv.ev.read([&] { return origins[0]; });
  ASSERT_TRUE(h.finish_origin(HandshakeReply::accept("v2")));
  ASSERT_TRUE(srv.ev.wait([&] { return handshakes.size() == 1; }));
  // A second (stray) origin answer must not decide on_handshake's stage.
  ASSERT_TRUE(h.finish_origin(HandshakeReply::reject(403, "stray")));
  ASSERT_EQ(c.read_frame(100ms).kind, ReadResult::Kind::timeout);
  ASSERT_TRUE(h.finish_handshake(HandshakeReply::accept()));
  HttpReply r = c.read_response();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 101);
  EXPECT_EQ(r.headers.get("Sec-WebSocket-Protocol").value_or(""), "v2");
  std::lock_guard l(srv.ev.m);
  EXPECT_EQ(seen_subprotocol, "v2");
}

TEST(ServerHandshake, DeferredHandshakeStillTimesOut) {
  ServerOptions o = loopback();
  o.handshake_timeout = 200ms;
  std::vector<ConnectionHandle> waiting;
  TestServer srv(o, Attach::record);
  defer_every_handshake(srv, waiting);
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
  ASSERT_TRUE(c.send_raw(c.upgrade_request()));
  ASSERT_TRUE(srv.ev.wait([&] { return waiting.size() == 1; }));
  EXPECT_EQ(c.read_response(3s).status, 408);  // answered, not just dropped
  EXPECT_TRUE(c.read_until_eof(3s));
  // A late answer is ignored.
  ConnectionHandle h = srv.ev.read([&] { return waiting[0]; });
  std::thread late([h] { h.finish_handshake(HandshakeReply::accept()); });
  late.join();
  EXPECT_TRUE(eventually([&] { return srv.server.connection_count() == 0; }));
  std::lock_guard l(srv.ev.m);
  EXPECT_TRUE(srv.ev.opened.empty());
}

TEST(ServerHandshake, ClientLeavesWhileTheHandshakeIsDeferred) {
  std::vector<ConnectionHandle> waiting;
  TestServer srv(Attach::record);
  defer_every_handshake(srv, waiting);
  ASSERT_TRUE(srv.start());
  {
    RawWsClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
    ASSERT_TRUE(c.send_raw(c.upgrade_request()));
    ASSERT_TRUE(srv.ev.wait([&] { return waiting.size() == 1; }));
  }
  EXPECT_TRUE(eventually([&] { return srv.server.connection_count() == 0; }));
  ConnectionHandle h = srv.ev.read([&] { return waiting[0]; });
  std::thread late([h] { h.finish_handshake(HandshakeReply::accept()); });
  late.join();
  // The server is fine and serves the next client.
  RawWsClient next;
  ASSERT_TRUE(next.connect("127.0.0.1", srv.port()));
  ASSERT_TRUE(next.send_raw(next.upgrade_request()));
  ASSERT_TRUE(srv.ev.wait([&] { return waiting.size() == 2; }));
  h = srv.ev.read([&] { return waiting[1]; });
  EXPECT_TRUE(h.finish_handshake(HandshakeReply::accept()));
  EXPECT_EQ(next.read_response().status, 101);
  std::lock_guard l(srv.ev.m);
  EXPECT_TRUE(srv.ev.closes.empty());
}

}  // namespace
}  // namespace parley
