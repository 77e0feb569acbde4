// parley::Server::route over real loopback sockets: which callbacks a
// connection gets (exact and prefix patterns, first match wins, the
// server-wide callbacks as the fallback), a route's own handshake hook, its
// close event, and exceptions in a route's callbacks.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "parley/parley.hpp"
#include "raw_ws_client.hpp"
#include "server_support.hpp"

namespace parley {
namespace {

// Sends `text` and returns the text of the answer ("" when none came).
std::string ask(RawWsClient& c, std::string_view text) {
  if (!c.send_text(text)) return {};
  ReadResult r = c.read_frame();
  return r.is_frame() && r.frame.opcode == kText ? r.frame.payload : std::string{};
}

// Each route answers with its name, what it was asked and the pattern
// Connection::route() reports.
Route naming(std::string name) {
  Route r;
  r.on_text = [name](Connection& c, std::string_view t) {
    c.send_text(name + ":" + std::string(t) + ":" + std::string(c.route()));
  };
  return r;
}

TEST(ServerRoutes, PathPicksTheRouteFirstMatchWinsFallbackElse) {
  TestServer srv(Attach::none);
  srv.server.route("/chat/vip", naming("vip"));
  srv.server.route("/chat/*", naming("chat"));
  srv.server.route("/chat/vip/never", naming("never"));  // "/chat/*" comes first
  srv.server.route("/feed", naming("feed"));
  srv.server.on_text([](Connection& c, std::string_view t) {
    c.send_text("fallback:" + std::string(t) + ":" + std::string(c.route()));
  });
  ASSERT_TRUE(srv.start());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/chat/vip", "vip:x:/chat/vip"},
      {"/chat/room?user=1", "chat:x:/chat/*"},  // the query is not part of the path
      {"/chat/", "chat:x:/chat/*"},
      {"/chat/vip/never", "chat:x:/chat/*"},
      {"/chat", "fallback:x:"},  // "/chat/*" needs the slash
      {"/feed", "feed:x:/feed"},
      {"/feed/more", "fallback:x:"},  // exact means exact
      {"/", "fallback:x:"},
  };
  for (const auto& [target, expected] : cases) {
    SCOPED_TRACE(target);
    RawWsClient c;
    ASSERT_TRUE(open_ws(c, srv.port(), target));
    EXPECT_EQ(ask(c, "x"), expected);
  }
}

TEST(ServerRoutes, StarMatchesEveryPath) {
  TestServer srv(Attach::none);
  srv.server.route("*", naming("all"));
  srv.server.on_text([](Connection& c, std::string_view) { c.send_text("fallback"); });
  ASSERT_TRUE(srv.start());
  for (const char* target : {"/", "/a/b/c", "/x?y=z"}) {
    RawWsClient c;
    ASSERT_TRUE(open_ws(c, srv.port(), target));
    EXPECT_EQ(ask(c, "q"), "all:q:*") << target;
  }
}

TEST(ServerRoutes, RouteHandshakeReplacesTheServerWideOneAnd404ForUnknownPaths) {
  TestServer srv(Attach::none);
  std::atomic<int> server_wide_hook_calls{0};
  Route admin;
  admin.on_handshake = [](Connection&, const Request& req) {
    return req.query_param("key").value_or("") == "s3cret" ? HandshakeReply::accept()
                                                           : HandshakeReply::reject(401, "key needed");
  };
  admin.on_text = [](Connection& c, std::string_view) { c.send_text("admin"); };
  srv.server.route("/admin", std::move(admin));
  srv.server.route("/open", naming("open"));  // no hook of its own: accepted
  srv.server.on_handshake([&](Connection&, const Request&) {
    ++server_wide_hook_calls;
    return HandshakeReply::reject(404, "no such path");
  });
  ASSERT_TRUE(srv.start());
  {
    RawWsClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
    EXPECT_EQ(c.handshake("/admin?key=wrong").status, 401);
  }
  {
    RawWsClient c;
    ASSERT_TRUE(open_ws(c, srv.port(), "/admin?key=s3cret"));
    EXPECT_EQ(ask(c, "hi"), "admin");
  }
  {
    RawWsClient c;
    ASSERT_TRUE(open_ws(c, srv.port(), "/open"));
    EXPECT_EQ(ask(c, "hi"), "open:hi:/open");
  }
  EXPECT_EQ(server_wide_hook_calls.load(), 0) << "a routed connection ran the server-wide hook";
  {
    RawWsClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
    HttpReply r = c.handshake("/elsewhere");
    EXPECT_EQ(r.status, 404);
    EXPECT_NE(r.body.find("no such path"), std::string::npos) << r.body;
  }
  EXPECT_EQ(server_wide_hook_calls.load(), 1);
}

TEST(ServerRoutes, OpenAndCloseGoToTheRouteOnlyAndErrorsStayServerWide) {
  TestServer srv(Attach::none);
  std::mutex m;
  std::vector<std::string> seen;
  auto note = [&](std::string s) {
    std::lock_guard l(m);
    seen.push_back(std::move(s));
  };
  Route room;
  room.on_open = [&](Connection& c) { note("room open " + std::string(c.route())); };
  room.on_close = [&](Connection&, CloseCode code, std::string_view reason) {
    note("room close " + std::to_string(static_cast<int>(code)) + " " + std::string(reason));
  };
  room.on_text = [](Connection&, std::string_view t) {
    if (t == "boom") throw std::runtime_error("route callback failed");
  };
  srv.server.route("/room/*", std::move(room));
  srv.server.on_open([&](Connection&) { note("server open"); });
  srv.server.on_close([&](Connection&, CloseCode, std::string_view) { note("server close"); });
  srv.server.on_error([&](Connection* c, const Error& e) {
    note(std::string("error ") + (c ? std::string(c->route()) : "-") + " " + e.message());
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port(), "/room/1"));
  ASSERT_TRUE(c.send_text("boom"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kClose);
  EXPECT_EQ(r.frame.close_code(), 1011);
  ASSERT_TRUE(c.send_close(1011));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard l(m);
    return seen.size() >= 3;
  }));
  std::lock_guard l(m);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], "room open /room/*");
  EXPECT_EQ(seen[1].rfind("error /room/* ", 0), 0u) << seen[1];
  EXPECT_NE(seen[1].find("route callback failed"), std::string::npos) << seen[1];
  EXPECT_EQ(seen[2].rfind("room close 1011", 0), 0u) << seen[2];
}

}  // namespace
}  // namespace parley
