// The opening handshake state machines (protocol/opening.hpp), both roles,
// driven with bytes alone: no sockets, no threads, no clock.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "parley/protocol/opening.hpp"

namespace parley::protocol {
namespace {

using Stage = ServerOpening::Stage;

const std::string kKey = "dGhlIHNhbXBsZSBub25jZQ==";

std::string upgrade_request(const std::vector<std::string>& extra = {}, const std::string& target = "/") {
  std::string r = "GET " + target + " HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: " + kKey + "\r\nSec-WebSocket-Version: 13\r\n";
  for (const auto& h : extra) r += h + "\r\n";
  return r + "\r\n";
}

/// Parses what the machine answers, as the client would read it.
Response parsed(const ServerOpening& h) {
  auto r = Response::parse(h.response().serialize());
  EXPECT_TRUE(r) << r.error().message();
  return r ? *r : Response{};
}

// ---- server -------------------------------------------------------------------

TEST(ServerOpening, ValidRequestGoesThroughOriginAndDecideTo101) {
  ServerPolicy policy;
  ServerOpening h(policy);
  const std::string req = upgrade_request();
  // A byte at a time works.
  for (std::size_t i = 0; i + 1 < req.size(); ++i) ASSERT_EQ(h.feed(req.substr(i, 1)), Stage::reading);
  ASSERT_EQ(h.feed(req.substr(req.size() - 1)), Stage::origin);
  EXPECT_EQ(h.request().path(), "/");
  EXPECT_TRUE(h.origin_allowed());  // no allow-list
  ASSERT_EQ(h.allow_origin(), Stage::decide);
  Headers cookie;
  cookie.add("Set-Cookie", "a=1");
  ASSERT_EQ(h.accept({}, cookie), Stage::respond);
  ASSERT_TRUE(h.accepted());
  const Response r = parsed(h);
  EXPECT_EQ(r.status, 101);
  EXPECT_EQ(r.headers.get("Sec-WebSocket-Accept").value_or(""), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(r.headers.get("Set-Cookie").value_or(""), "a=1");
  EXPECT_FALSE(h.error());
}

TEST(ServerOpening, FramesAfterTheHeadAreKeptForTheOpenConnection) {
  ServerPolicy policy;
  ServerOpening h(policy);
  ASSERT_EQ(h.feed(upgrade_request() + "\x81\x85"), Stage::origin);
  EXPECT_EQ(h.feed("more"), Stage::origin);  // while the origin is being decided (a deferred hook)
  EXPECT_EQ(h.early(), "\x81\x85more");
  // ... bounded by max_head_size: past it, 413.
  EXPECT_EQ(h.feed(std::string(policy.limits.max_head_size, 'x')), Stage::respond);
  EXPECT_FALSE(h.accepted());
  EXPECT_EQ(parsed(h).status, 413);
  EXPECT_EQ(h.error(), HandshakeError::head_too_large);
}

TEST(ServerOpening, OriginAllowList) {
  ServerPolicy policy;
  policy.allowed_origins = {"https://good.example", "http://a[b"};
  struct Case {
    const char* origin;  // nullptr: no Origin header
    bool allowed;
  };
  for (const Case& c : {Case{"https://evil.example", false}, Case{nullptr, false},
                        Case{"https://good.example", true}, Case{"HTTPS://Good.Example", true},
                        // One ASCII case-insensitive compare: '[' and '{' differ by 0x20 but are not letters.
                        Case{"http://a{b", false}, Case{"http://a[b", true}}) {
    SCOPED_TRACE(c.origin ? c.origin : "(none)");
    ServerOpening h(policy);
    std::vector<std::string> extra;
    if (c.origin) extra.push_back(std::string("Origin: ") + c.origin);
    ASSERT_EQ(h.feed(upgrade_request(extra)), Stage::origin);
    EXPECT_EQ(h.origin_allowed(), c.allowed);
  }
}

TEST(ServerOpening, SubprotocolSelection) {
  ServerPolicy policy;
  policy.subprotocols = {"chat", "superchat"};
  {
    ServerOpening h(policy);  // the client's order of preference wins
    h.feed(upgrade_request({"Sec-WebSocket-Protocol: superchat, chat"}));
    ASSERT_EQ(h.allow_origin(), Stage::decide);
    EXPECT_EQ(h.subprotocol(), "superchat");
    EXPECT_EQ(h.offered_subprotocols(), (std::vector<std::string>{"superchat", "chat"}));
    h.accept();
    EXPECT_EQ(parsed(h).headers.get("Sec-WebSocket-Protocol").value_or(""), "superchat");
  }
  {
    ServerOpening h(policy);  // no common one: go on without
    h.feed(upgrade_request({"Sec-WebSocket-Protocol: unknown"}));
    h.allow_origin();
    EXPECT_EQ(h.subprotocol(), "");
    h.accept();
    EXPECT_FALSE(parsed(h).headers.has("Sec-WebSocket-Protocol"));
  }
  {
    ServerOpening h(policy);  // the application chooses another offer
    h.feed(upgrade_request({"Sec-WebSocket-Protocol: superchat, chat"}));
    h.allow_origin();
    h.choose_subprotocol("chat");
    h.accept();
    EXPECT_EQ(parsed(h).headers.get("Sec-WebSocket-Protocol").value_or(""), "chat");
  }
  {
    ServerOpening h(policy);  // one the client never offered: the server's bug, answered 500
    h.feed(upgrade_request({"Sec-WebSocket-Protocol: chat"}));
    h.allow_origin();
    ASSERT_EQ(h.accept("superchat"), Stage::respond);
    EXPECT_FALSE(h.accepted());
    EXPECT_EQ(parsed(h).status, 500);
    EXPECT_EQ(h.error(), HandshakeError::unrequested_subprotocol);
  }
}

TEST(ServerOpening, BadRequestsGetTheRightStatus) {
  const std::string key = "Sec-WebSocket-Key: " + kKey + "\r\n";
  const std::string up = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
  struct Case {
    const char* name;
    std::string request;
    int status;
  };
  const std::vector<Case> cases = {
      {"POST", "POST / HTTP/1.1\r\nHost: x\r\n" + up + key + "Sec-WebSocket-Version: 13\r\n\r\n", 405},
      {"missing key", "GET / HTTP/1.1\r\nHost: x\r\n" + up + "Sec-WebSocket-Version: 13\r\n\r\n", 400},
      {"bad key", "GET / HTTP/1.1\r\nHost: x\r\n" + up + "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
       400},
      {"version 12", "GET / HTTP/1.1\r\nHost: x\r\n" + up + key + "Sec-WebSocket-Version: 12\r\n\r\n", 426},
      {"missing Host", "GET / HTTP/1.1\r\n" + up + key + "Sec-WebSocket-Version: 13\r\n\r\n", 400},
      {"HTTP/1.0", "GET / HTTP/1.0\r\nHost: x\r\n" + up + key + "Sec-WebSocket-Version: 13\r\n\r\n", 505},
      {"garbage", "HELLO\r\n\r\n", 400},
  };
  ServerPolicy policy;
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    ServerOpening h(policy);
    ASSERT_EQ(h.feed(tc.request), Stage::respond);
    EXPECT_FALSE(h.accepted());
    EXPECT_TRUE(h.error());
    const Response r = parsed(h);
    EXPECT_EQ(r.status, tc.status);
    if (tc.status == 426) {
      EXPECT_EQ(r.headers.get("Sec-WebSocket-Version").value_or(""), "13, 8, 7");
    }
    if (tc.status == 405) {
      EXPECT_EQ(r.headers.get("Allow").value_or(""), "GET");
    }
  }
}

TEST(ServerOpening, PlainRequestsAreTheApplicationsOrA426) {
  ServerPolicy policy;
  {
    ServerOpening h(policy);
    ASSERT_EQ(h.feed("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"), Stage::http);
    EXPECT_EQ(h.request().path(), "/health");
    ASSERT_EQ(h.upgrade(), Stage::respond);  // no on_http: a WebSocket endpoint's answer
    EXPECT_EQ(parsed(h).status, 426);
  }
  {
    ServerOpening h(policy);
    h.feed("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    Response ok;
    ok.status = 200;
    ok.reason = "OK";
    ok.body = "fine";
    ASSERT_EQ(h.respond(ok), Stage::respond);
    EXPECT_FALSE(h.accepted());
    EXPECT_FALSE(h.error());  // answered, not refused
    EXPECT_EQ(h.take_response().body, "fine");
  }
}

// A plain request's body (Content-Length) is read before the application
// sees the request, however it is cut, bounded by max_body_size.
std::string post(const std::string& body, const std::vector<std::string>& extra = {}) {
  std::string r = "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n";
  for (const auto& h : extra) r += h + "\r\n";
  if (extra.empty()) r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

TEST(ServerOpening, PlainRequestBodyInOnePiece) {
  ServerPolicy policy;
  ServerOpening h(policy);
  ASSERT_EQ(h.feed(post("user=alice&x=%C3%A9")), Stage::http);
  EXPECT_EQ(h.request().method, "POST");
  EXPECT_EQ(h.request().body, "user=alice&x=%C3%A9");
  EXPECT_EQ(parse_query(h.request().body)[1].value, "\xC3\xA9");
  EXPECT_TRUE(h.early().empty());
}

TEST(ServerOpening, PlainRequestBodyInManyPieces) {
  ServerPolicy policy;
  const std::string body(3000, 'b');
  const std::string req = post(body);
  for (std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{1000}}) {
    SCOPED_TRACE(piece);
    ServerOpening h(policy);
    for (std::size_t pos = 0; pos < req.size(); pos += piece) {
      const Stage s = h.feed(std::string_view(req).substr(pos, piece));
      ASSERT_EQ(s, pos + piece >= req.size() ? Stage::http : Stage::reading) << "at byte " << pos;
    }
    EXPECT_EQ(h.request().body, body);
  }
  {
    // The head in one piece and the body later: still reading in between.
    ServerOpening h(policy);
    const std::size_t head = req.size() - body.size();
    ASSERT_EQ(h.feed(req.substr(0, head + 10)), Stage::reading);
    EXPECT_EQ(h.request().body.size(), 10u);
    ASSERT_EQ(h.feed(req.substr(head + 10)), Stage::http);
    EXPECT_EQ(h.request().body, body);
  }
}

TEST(ServerOpening, PlainRequestBodyAtTheLimitAndOneByteOver) {
  ServerPolicy policy;
  policy.limits.max_body_size = 100;
  {
    ServerOpening h(policy);
    ASSERT_EQ(h.feed(post(std::string(100, 'a'))), Stage::http);
    EXPECT_EQ(h.request().body.size(), 100u);
  }
  {
    // Refused from the head alone: nothing of the body needs to arrive.
    ServerOpening h(policy);
    const std::string req = post(std::string(101, 'a'));
    ASSERT_EQ(h.feed(req.substr(0, req.size() - 101)), Stage::respond);
    EXPECT_FALSE(h.accepted());
    EXPECT_EQ(parsed(h).status, 413);
    EXPECT_EQ(h.error(), HandshakeError::head_too_large);
    EXPECT_TRUE(h.request().body.empty());
    EXPECT_EQ(h.feed(std::string(101, 'a')), Stage::respond);  // decided
  }
  {
    ServerOpening h(policy);  // a length too large for any integer
    ASSERT_EQ(h.feed(post("", {"Content-Length: 99999999999999999999999999"})), Stage::respond);
    EXPECT_EQ(parsed(h).status, 413);
  }
  {
    ServerPolicy none;
    none.limits.max_body_size = 0;  // no body at all; an empty one is fine
    ServerOpening h(none);
    ASSERT_EQ(h.feed(post("", {"Content-Length: 0"})), Stage::http);
    ServerOpening h2(none);
    ASSERT_EQ(h2.feed(post("x")), Stage::respond);
    EXPECT_EQ(parsed(h2).status, 413);
  }
}

TEST(ServerOpening, PlainRequestWithoutBody) {
  ServerPolicy policy;
  ServerOpening h(policy);
  ASSERT_EQ(h.feed("GET /page HTTP/1.1\r\nHost: x\r\n\r\n"), Stage::http);
  EXPECT_TRUE(h.request().body.empty());
  // What follows a body-less request (a pipelined one) is no body.
  ServerOpening h2(policy);
  ASSERT_EQ(h2.feed("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\n\r\n"), Stage::http);
  EXPECT_TRUE(h2.request().body.empty());
  EXPECT_EQ(h2.early(), "GET /b HTTP/1.1\r\n\r\n");
  // Neither is what follows a body.
  ServerOpening h3(policy);
  ASSERT_EQ(h3.feed(post("abc") + "more"), Stage::http);
  EXPECT_EQ(h3.request().body, "abc");
  EXPECT_EQ(h3.early(), "more");
}

TEST(ServerOpening, PlainRequestBodyFramingErrors) {
  ServerPolicy policy;
  struct Case {
    const char* name;
    std::vector<std::string> headers;
    int status;
  };
  for (const Case& c : {Case{"chunked", {"Transfer-Encoding: chunked"}, 411},
                        Case{"chunked and a length", {"Transfer-Encoding: chunked", "Content-Length: 3"}, 411},
                        Case{"not a number", {"Content-Length: 3x"}, 400},
                        Case{"negative", {"Content-Length: -3"}, 400},
                        Case{"empty", {"Content-Length: "}, 400},
                        Case{"two lengths", {"Content-Length: 3", "Content-Length: 4"}, 400},
                        Case{"a list of two lengths", {"Content-Length: 3, 4"}, 400}}) {
    SCOPED_TRACE(c.name);
    ServerOpening h(policy);
    ASSERT_EQ(h.feed(post("abc", c.headers)), Stage::respond);
    EXPECT_FALSE(h.accepted());
    EXPECT_TRUE(h.error());
    EXPECT_EQ(parsed(h).status, c.status);
  }
  // The same length twice is one length (RFC 7230 §3.3.2).
  for (const auto& same : {std::vector<std::string>{"Content-Length: 3", "Content-Length: 3"},
                           std::vector<std::string>{"Content-Length: 3 , 3"}}) {
    ServerOpening h(policy);
    ASSERT_EQ(h.feed(post("abc", same)), Stage::http);
    EXPECT_EQ(h.request().body, "abc");
  }
}

TEST(ServerOpening, SlowBodyTimesOutWith408) {
  ServerPolicy policy;
  ServerOpening h(policy);
  ASSERT_EQ(h.feed(post("", {"Content-Length: 10"}) + "12345"), Stage::reading);
  ASSERT_EQ(h.time_out("opening handshake not completed within 10 ms"), Stage::respond);
  EXPECT_EQ(parsed(h).status, 408);
  EXPECT_EQ(h.error(), HandshakeError::timeout);
}

TEST(ServerOpening, AnUpgradeWithABodyIsRefusedAsBefore) {
  // RFC 6455 §4.1: the upgrade is a GET without a body. Content-Length: 0
  // is no body; anything else is a malformed upgrade (400), and is not
  // read as a body (max_body_size does not apply).
  ServerPolicy policy;
  {
    ServerOpening h(policy);
    ASSERT_EQ(h.feed(upgrade_request({"Content-Length: 0"})), Stage::origin);
  }
  for (const char* field : {"Content-Length: 5", "Transfer-Encoding: chunked"}) {
    SCOPED_TRACE(field);
    ServerOpening h(policy);
    ASSERT_EQ(h.feed(upgrade_request({field})), Stage::respond);
    EXPECT_EQ(parsed(h).status, 400);
    EXPECT_EQ(h.error(), HandshakeError::malformed);
    EXPECT_TRUE(h.request().body.empty());
  }
  {
    // Bytes after an upgrade head are frames, not a body.
    ServerOpening h(policy);
    ASSERT_EQ(h.feed(upgrade_request() + "\x81\x80"), Stage::origin);
    EXPECT_TRUE(h.request().body.empty());
    EXPECT_EQ(h.early(), "\x81\x80");
  }
}

TEST(Request, SerializeWritesTheBodyWithItsLength) {
  Request r;
  r.method = "POST";
  r.headers.add("Host", "x");
  r.headers.add("Content-Length", "999");
  r.body = "user=bob";
  EXPECT_EQ(r.serialize(), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\nuser=bob");
  r.body.clear();
  EXPECT_EQ(r.serialize(), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999\r\n\r\n");
}

TEST(ServerOpening, RefusalsAndTimeouts) {
  ServerPolicy policy;
  {
    ServerOpening h(policy);
    h.feed(upgrade_request({"Origin: https://x.example"}));
    Headers why;
    why.add("X-Why", "policy");
    ASSERT_EQ(h.refuse(403, "go away", why, Error(HandshakeError::forbidden_origin, "no")), Stage::respond);
    const Response r = parsed(h);
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(r.headers.get("X-Why").value_or(""), "policy");
    EXPECT_EQ(h.error(), HandshakeError::forbidden_origin);
    EXPECT_EQ(h.accept(), Stage::respond);  // decided: nothing changes it
    EXPECT_FALSE(h.accepted());
  }
  {
    ServerOpening h(policy);  // a decision deferred too long
    h.feed(upgrade_request());
    h.allow_origin();
    ASSERT_EQ(h.time_out("not decided within 10 ms"), Stage::respond);
    EXPECT_EQ(parsed(h).status, 408);
    EXPECT_EQ(h.error(), HandshakeError::timeout);
  }
  {
    ServerOpening h(policy);  // slowloris: half a head
    h.feed("GET / HTTP/1.1\r\nHost:");
    ASSERT_EQ(h.time_out("too slow"), Stage::respond);
    EXPECT_EQ(parsed(h).status, 408);
  }
}

TEST(ServerOpening, PermessageDeflateIsAgreedWhenEnabled) {
  ServerPolicy policy;
  policy.deflate.enabled = true;
  ServerOpening h(policy);
  h.feed(upgrade_request({"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"}));
  h.allow_origin();
  ASSERT_EQ(h.extensions().size(), 1u);
  h.accept();
  ASSERT_TRUE(h.deflate());
  EXPECT_NE(parsed(h).headers.get("Sec-WebSocket-Extensions").value_or("").find("permessage-deflate"),
            std::string::npos);
}

// ---- client ---------------------------------------------------------------------

struct ClientCase {
  ClientHandshake handshake;
  HttpLimits limits;
  std::vector<DeflateOptions> offers;
  ClientCase() { handshake.uri = *Uri::parse("ws://example.com/chat"); }
  std::string accept_for(const ClientOpening& h) const {
    return accept_key(h.request().headers.get("Sec-WebSocket-Key").value_or(""));
  }
};

TEST(ClientOpening, A101WithTheRightKeyOpens) {
  ClientCase c;
  c.handshake.subprotocols = {"chat"};
  ClientOpening h(c.handshake, c.limits, c.offers, true);
  ASSERT_EQ(h.stage(), ClientOpening::Stage::reading);
  EXPECT_EQ(h.request().target, "/chat");
  const std::string answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Accept: " + c.accept_for(h) + "\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
  EXPECT_EQ(h.feed(answer.substr(0, 10)), ClientOpening::Stage::reading);
  ASSERT_EQ(h.feed(answer.substr(10) + "\x81\x02hi"), ClientOpening::Stage::open);
  EXPECT_EQ(h.negotiated().subprotocol, "chat");
  EXPECT_EQ(h.early(), "\x81\x02hi");
}

TEST(ClientOpening, AWrongAcceptKeyFails) {
  ClientCase c;
  ClientOpening h(c.handshake, c.limits, c.offers, true);
  ASSERT_EQ(h.feed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: xxxx\r\n\r\n"),
            ClientOpening::Stage::failed);
  EXPECT_EQ(h.error(), HandshakeError::bad_accept);
}

TEST(ClientOpening, RefusalBodiesEndByLengthByLastChunkOrByEof) {
  ClientCase c;
  {
    ClientOpening h(c.handshake, c.limits, c.offers, true);
    EXPECT_EQ(h.feed("HTTP/1.1 403 Forbidden\r\nContent-Length: 11\r\n\r\nlog "), ClientOpening::Stage::body);
    ASSERT_EQ(h.feed("in first"), ClientOpening::Stage::failed);
    EXPECT_EQ(h.error(), HandshakeError::bad_status);
    EXPECT_EQ(h.response().body, "log in firs");
    EXPECT_NE(h.error().message().find("403 Forbidden"), std::string::npos) << h.error().message();
  }
  {
    ClientOpening h(c.handshake, c.limits, c.offers, true);
    EXPECT_EQ(h.feed("HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"),
              ClientOpening::Stage::body);
    ASSERT_EQ(h.feed("6\r\n world\r\n0\r\n\r\n"), ClientOpening::Stage::failed);
    EXPECT_EQ(h.response().body, "hello world");
  }
  {
    ClientOpening h(c.handshake, c.limits, c.offers, true);
    EXPECT_EQ(h.feed("HTTP/1.1 503 Service Unavailable\r\n\r\nbusy"), ClientOpening::Stage::body);
    ASSERT_EQ(h.eof(), ClientOpening::Stage::failed);
    EXPECT_EQ(h.response().body, "busy");
  }
  {
    ClientOpening h(c.handshake, c.limits, c.offers, true);  // bounded by max_head_size
    h.feed("HTTP/1.1 500 Oops\r\n\r\n");
    ASSERT_EQ(h.feed(std::string(c.limits.max_head_size + 100, 'x')), ClientOpening::Stage::failed);
    EXPECT_EQ(h.response().body.size(), c.limits.max_head_size);
  }
  {
    ClientOpening h(c.handshake, c.limits, c.offers, true);
    ASSERT_EQ(h.eof(), ClientOpening::Stage::failed);  // closed before any answer
    EXPECT_EQ(h.error(), HandshakeError::closed);
    EXPECT_FALSE(h.answered());
  }
}

TEST(ClientOpening, RedirectsResolveAgainstTheCurrentUri) {
  ClientCase c;
  {
    ClientOpening h(c.handshake, c.limits, c.offers, true);
    ASSERT_EQ(h.feed("HTTP/1.1 302 Found\r\nLocation: /elsewhere?x=1\r\n\r\n"), ClientOpening::Stage::redirect);
    EXPECT_EQ(h.redirect_uri().host(), "example.com");
    EXPECT_EQ(h.redirect_uri().resource(), "/elsewhere?x=1");
  }
  {
    ClientOpening h(c.handshake, c.limits, c.offers, true);
    ASSERT_EQ(h.feed("HTTP/1.1 301 Moved\r\nLocation: https://other.example:8443/ws\r\n\r\n"),
              ClientOpening::Stage::redirect);
    EXPECT_TRUE(h.redirect_uri().secure());
    EXPECT_EQ(h.redirect_uri().port(), 8443);
  }
  {
    ClientOpening h(c.handshake, c.limits, c.offers, false);  // not followed: a refusal
    EXPECT_EQ(h.feed("HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n"), ClientOpening::Stage::failed);
    EXPECT_EQ(h.error(), HandshakeError::bad_status);
  }
  {
    ClientCase secure;
    secure.handshake.uri = *Uri::parse("wss://example.com/");
    ClientOpening h(secure.handshake, secure.limits, secure.offers, true);
    ASSERT_EQ(h.feed("HTTP/1.1 302 Found\r\nLocation: ws://example.com/\r\n\r\n"), ClientOpening::Stage::failed);
    EXPECT_EQ(h.error(), HandshakeError::bad_uri);
  }
}

TEST(ClientOpening, TimeOutKeepsARefusalsBodySoFar) {
  ClientCase c;
  ClientOpening h(c.handshake, c.limits, c.offers, true);
  h.feed("HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\npartial");
  ASSERT_EQ(h.time_out("no answer within 10 ms"), ClientOpening::Stage::failed);
  EXPECT_EQ(h.error(), HandshakeError::bad_status);
  EXPECT_EQ(h.response().body, "partial");
  ClientOpening silent(c.handshake, c.limits, c.offers, true);
  ASSERT_EQ(silent.time_out("no answer within 10 ms"), ClientOpening::Stage::failed);
  EXPECT_EQ(silent.error(), HandshakeError::timeout);
}

TEST(ClientOpening, BadOptionsFailAtOnce) {
  ClientCase c;
  c.handshake.subprotocols = {"not a token"};
  ClientOpening h(c.handshake, c.limits, c.offers, true);
  EXPECT_EQ(h.stage(), ClientOpening::Stage::failed);
  EXPECT_EQ(h.error(), HandshakeError::bad_extension_header);
}

}  // namespace
}  // namespace parley::protocol
