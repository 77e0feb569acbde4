// parley::Server's opening handshake over real loopback sockets, answered
// at once: refusals, what on_handshake sees of the request, on_origin,
// subprotocols, on_accept, on_http, close() inside the hook. Deferred
// answers: server_deferred_test.cpp. Fixture and recorder: server_support.hpp.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "parley/parley.hpp"
#include "raw_ws_client.hpp"
#include "server_support.hpp"

namespace parley {
namespace {

TEST(ServerHandshake, RejectSends403AndBodyThenCloses) {
  TestServer srv(Attach::record);
  srv.server.on_handshake([](Connection&, const Request&) { return HandshakeReply::reject(403, "go away"); });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
  HttpReply r = c.handshake();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.raw_head.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << r.raw_head;
  EXPECT_NE(r.body.find("go away"), std::string::npos) << r.body;
  EXPECT_TRUE(c.read_until_eof());
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.errors.empty(); }));
  std::lock_guard l(srv.ev.m);
  EXPECT_TRUE(srv.ev.opened.empty());
  EXPECT_TRUE(srv.ev.closes.empty()) << "on_close fired for a connection that never opened";
}

// Connection::request() says plainly when the request was released (after
// on_open by default) instead of looking like an empty request; with
// keep_request it stays for the connection's life.
TEST(ServerHandshake, RequestIsReleasedAfterOpenUnlessKept) {
  for (bool keep : {false, true}) {
    ServerOptions o = loopback();
    o.keep_request = keep;
    TestServer srv(o, Attach::record);
    std::string in_open, in_text;
    bool null_in_text = false;
    srv.server.on_open([&](Connection& c) { srv.ev.update([&] { in_open = std::string(c.request()->path()); }); });
    srv.server.on_text([&](Connection& c, std::string_view) {
      srv.ev.update([&] {
        null_in_text = c.request() == nullptr;
        if (c.request()) in_text = std::string(c.request()->path());
        srv.ev.texts.emplace_back("seen");
      });
    });
    ASSERT_TRUE(srv.start());
    RawWsClient c;
    ASSERT_TRUE(open_ws(c, srv.port(), "/kept?x=1"));
    ASSERT_TRUE(c.send_text("hi"));
    ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.texts.empty(); }));
    std::lock_guard l(srv.ev.m);
    EXPECT_EQ(in_open, "/kept");
    EXPECT_EQ(null_in_text, !keep) << "keep_request=" << keep;
    EXPECT_EQ(in_text, keep ? "/kept" : "");
  }
}

TEST(ServerHandshake, RejectJsonSendsThePerlErrorBody) {
  TestServer srv(Attach::record);
  srv.server.on_handshake([](Connection&, const Request&) {
    // A quote, a backslash, a control character and non-ASCII text, all escaped or kept as JSON requires.
    return HandshakeReply::reject_json(403, 4031, "say \"please\"\\\x01 \xc3\xa9", {{"X-Extra", "1"}});
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
  HttpReply r = c.handshake();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.raw_head.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << r.raw_head;
  EXPECT_NE(r.raw_head.find("\r\nContent-Type: application/json\r\n"), std::string::npos) << r.raw_head;
  EXPECT_EQ(r.raw_head.find("text/plain"), std::string::npos) << r.raw_head;
  EXPECT_NE(r.raw_head.find("\r\nX-Content-Type-Options: nosniff\r\n"), std::string::npos) << r.raw_head;
  EXPECT_NE(r.raw_head.find("\r\nX-Extra: 1\r\n"), std::string::npos) << r.raw_head;
  EXPECT_EQ(r.body, "{\"code\":4031,\"message\":\"say \\\"please\\\"\\\\\\u0001 \xc3\xa9\",\"status\":403}\n");
  // Invalid UTF-8 never makes invalid JSON.
  EXPECT_EQ(HandshakeReply::reject_json(400, 1, "a\xff").text(), "{\"code\":1,\"message\":\"a\\ufffd\",\"status\":400}");
}

TEST(ServerHandshake, RequestDetailsAreVisible) {
  struct Seen {
    std::string method, target, path, user, x, session, theme, custom, origin, remote, local;
    std::uint16_t remote_port = 0;
    bool done = false;
  } seen;
  std::string open_path;
  TestServer srv;
  srv.server.on_handshake([&](Connection& c, const Request& req) {
    srv.ev.update([&] {
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
  srv.server.on_open([&](Connection& c) {
    srv.ev.update([&] {
      open_path = std::string(c.request()->path());
      srv.ev.opened.push_back(c.handle());
    });
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
  HttpReply r = c.handshake("/chat/room?user=ann%20b&x=1",
                            {"Cookie: session=abc123; theme=dark", "X-Custom: yes", "Origin: https://example.com"});
  ASSERT_EQ(r.status, 101);
  EXPECT_EQ(r.headers.get("Set-Cookie").value_or(""), "seen=1");
  ASSERT_TRUE(srv.ev.wait([&] { return seen.done && !srv.ev.opened.empty(); }));
  std::lock_guard l(srv.ev.m);
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
  EXPECT_EQ(seen.local, "127.0.0.1:" + std::to_string(srv.port()));
  EXPECT_EQ(open_path, "/chat/room");
}

TEST(ServerHandshake, OnOriginDecides) {
  ServerOptions o = loopback();
  o.allowed_origins = {"https://listed.example"};  // replaced by the callback
  std::mutex m;
  std::vector<std::string> seen;
  TestServer srv(o);
  srv.server.on_origin([&](Connection&, std::string_view origin, const Request&) {
    std::lock_guard l(m);
    seen.emplace_back(origin);
    return origin.ends_with(".trusted.example") ? HandshakeReply::accept() : HandshakeReply::reject(403);
  });
  ASSERT_TRUE(srv.start());
  {
    RawWsClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
    EXPECT_EQ(c.handshake("/", {"Origin: https://listed.example"}).status, 403);
    EXPECT_TRUE(c.read_until_eof());
  }
  {
    RawWsClient c;
    ASSERT_TRUE(open_ws(c, srv.port(), "/", {"Origin: https://app.trusted.example"}));
  }
  {
    RawWsClient c;  // no Origin: the callback sees ""
    ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
    EXPECT_EQ(c.handshake("/").status, 403);
  }
  EXPECT_TRUE(srv.ev.wait_opened(1));
  std::lock_guard l(m);
  EXPECT_EQ(seen, (std::vector<std::string>{"https://listed.example", "https://app.trusted.example", ""}));
}

TEST(ServerHandshake, OnOriginRefusesWithStatusHeadersAndBody) {
  std::mutex m;
  std::vector<std::string> errors;
  bool handshake_ran = false;
  TestServer srv;
  srv.server.on_error([&](Connection*, const Error& e) {
    std::lock_guard l(m);
    errors.push_back(e.message());
  });
  srv.server.on_handshake([&](Connection&, const Request&) {
    handshake_ran = true;
    return HandshakeReply::accept();
  });
  srv.server.on_origin([&](Connection&, std::string_view origin, const Request& req) {
    if (req.cookie("session") == "ok") {
      protocol::Headers h;
      h.add("X-Origin-Checked", std::string(origin));
      return HandshakeReply::accept("", std::move(h));
    }
    protocol::Headers h;
    h.add("WWW-Authenticate", "Cookie");
    return HandshakeReply::reject(401, "log in first", std::move(h));
  });
  ASSERT_TRUE(srv.start());
  {
    RawWsClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
    HttpReply r = c.handshake("/", {"Origin: https://a.example"});
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.headers.get("WWW-Authenticate").value_or(""), "Cookie");
    EXPECT_NE(r.body.find("log in first"), std::string::npos);
    EXPECT_TRUE(c.read_until_eof());
  }
  EXPECT_FALSE(handshake_ran);  // a refused origin never reaches on_handshake
  {
    RawWsClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
    HttpReply r = c.handshake("/", {"Origin: https://a.example", "Cookie: session=ok"});
    EXPECT_EQ(r.status, 101);
    EXPECT_TRUE(r.accept_matches);
    EXPECT_EQ(r.headers.get("X-Origin-Checked").value_or(""), "https://a.example");
  }
  EXPECT_TRUE(srv.ev.wait_opened(1));
  std::lock_guard l(m);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("https://a.example"), std::string::npos);
  EXPECT_NE(errors[0].find("401"), std::string::npos);
}

TEST(ServerHandshake, OnSelectSubprotocolDecides) {
  ServerOptions o = loopback();
  o.subprotocols = {"chat", "superchat"};
  std::vector<std::string> offered;
  TestServer srv(o, Attach::record);
  srv.server.on_select_subprotocol([&](const std::vector<std::string>& offers) {
    srv.ev.update([&] { offered = offers; });
    // Prefers the last offer; none when there is no offer.
    return offers.empty() ? std::string() : offers.back();
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
  HttpReply r = c.handshake("/", {"Sec-WebSocket-Protocol: superchat, chat"});
  ASSERT_EQ(r.status, 101);
  EXPECT_EQ(r.headers.get("Sec-WebSocket-Protocol").value_or("(none)"), "chat");
  std::lock_guard l(srv.ev.m);
  EXPECT_EQ(offered, (std::vector<std::string>{"superchat", "chat"}));
}

TEST(ServerHandshake, NothingNegotiatedReferencesFromOnOpenStayValid) {
  // subprotocol() and extensions() are documented as valid until a
  // reconnect (never, for a server): what on_open keeps of them must still
  // read after on_open, when a connection that negotiated nothing has let
  // go of its handshake state (under ASan, a use after free otherwise).
  const std::string* subprotocol = nullptr;
  const std::vector<Extension>* extensions = nullptr;
  TestServer srv;
  srv.server.on_open([&](Connection& c) {
    subprotocol = &c.subprotocol();
    extensions = &c.extensions();
  });
  srv.server.on_text([&](Connection& c, std::string_view) {
    c.send_text("[" + *subprotocol + "] " + std::to_string(extensions->size()));
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(c.send_text("tell"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, "[] 0");
}

TEST(ServerHandshake, OnAcceptCanRefuseTheConnection) {
  std::atomic<int> asked{0};
  TestServer srv;
  srv.server.on_accept([&](const net::Endpoint& remote) {
    ++asked;
    return remote.address_string() != "127.0.0.1";
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
  EXPECT_TRUE(c.read_until_eof());
  EXPECT_EQ(asked.load(), 1);
  EXPECT_EQ(srv.server.connection_count(), 0u);
}

TEST(ServerHandshake, CloseOrTerminateInsideOnHandshake) {
  // close() and terminate() are allowed during the handshake ("closes the
  // socket"): whatever on_handshake then returns must be ignored.
  TestServer srv;
  srv.server.on_handshake([](Connection& c, const Request& req) {
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
  ASSERT_TRUE(srv.start());
  for (const char* path : {"/close", "/terminate", "/defer"}) {
    SCOPED_TRACE(path);
    RawWsClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
    ASSERT_TRUE(c.send_raw(c.upgrade_request(path)));
    std::string rest;
    EXPECT_TRUE(c.read_until_eof(kWait, &rest));
    EXPECT_EQ(rest.find("101"), std::string::npos) << rest;
  }
  RawWsClient ok;
  EXPECT_TRUE(open_ws(ok, srv.port()));
  EXPECT_TRUE(eventually([&] { return srv.server.connection_count() == 1; }));
  std::lock_guard l(srv.ev.m);
  EXPECT_EQ(srv.ev.opened.size(), 1u);
  EXPECT_TRUE(srv.ev.closes.empty());
}

TEST(ServerHttp, OnHttpAnswersPlainRequests) {
  std::string seen_path;
  std::mutex m;
  TestServer srv(Attach::none);
  srv.server.on_http([&](const Request& req) {
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
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
  HttpReply r = c.request("GET /health?full=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "healthy");
  // The server closes after the answer, and says so (a keep-alive client
  // would otherwise send its next request into the closing socket).
  EXPECT_EQ(r.headers.get("Connection").value_or(""), "close");
  EXPECT_TRUE(c.read_until_eof());
  {
    std::lock_guard l(m);
    EXPECT_EQ(seen_path, "/health");
  }
  // Upgrades still work on the same port.
  RawWsClient ws;
  EXPECT_TRUE(open_ws(ws, srv.port()));
}

// on_http gets a plain request's body (here a form post sent in two pieces,
// as a slow client would); a body over max_body_size is refused with 413
// before on_http, and one that does not arrive within handshake_timeout
// with 408.
TEST(ServerHttp, OnHttpGetsTheRequestBody) {
  ServerOptions o = loopback();
  o.http_limits.max_body_size = 1000;
  o.handshake_timeout = Millis(300);
  TestServer srv(o, Attach::none);
  std::atomic<int> calls{0};
  srv.server.on_http([&](const Request& req) {
    ++calls;
    Response r;
    r.status = 200;
    r.reason = "OK";
    r.body = req.method + " " + std::string(req.path()) + " user=" +
             protocol::parse_query(req.body).at(0).value + " (" + std::to_string(req.body.size()) + " bytes)";
    return r;
  });
  ASSERT_TRUE(srv.start());
  const std::string body = "user=al%C3%AFce&pad=" + std::string(900, 'x');
  const std::string head = "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  {
    RawWsClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
    ASSERT_TRUE(c.send_raw(head + body.substr(0, 10)));
    std::this_thread::sleep_for(Millis(50));
    HttpReply r = c.request(body.substr(10));
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "POST /login user=al\xC3\xAF" "ce (" + std::to_string(body.size()) + " bytes)");
    EXPECT_TRUE(c.read_until_eof());
  }
  {
    RawWsClient c;  // 1001 bytes: refused from the head
    ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
    HttpReply r = c.request("POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.status, 413);
    EXPECT_TRUE(c.read_until_eof());
  }
  {
    RawWsClient c;  // half a body, then nothing
    ASSERT_TRUE(c.connect("127.0.0.1", srv.port()));
    HttpReply r = c.request(head + body.substr(0, 100));
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.status, 408);
    EXPECT_TRUE(c.read_until_eof());
  }
  EXPECT_EQ(calls.load(), 1);
}

}  // namespace
}  // namespace parley
