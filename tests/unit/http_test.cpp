#include <gtest/gtest.h>

#include <string>

#include "parley/protocol/http.hpp"

using namespace parley;
using namespace parley::protocol;
using Status = HeadParser::Status;
using Kind = HeadParser::Kind;

namespace {

// RFC 6455 §1.2.
const std::string kRequest =
    "GET /chat HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

const std::string kResponse =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Protocol: chat\r\n"
    "\r\n";

const std::string kFrames = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";  // a masked "Hello" (RFC 6455 §5.7)

void expect_rfc_request(const Request& r) {
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/chat");
  EXPECT_EQ(r.version_major, 1);
  EXPECT_EQ(r.version_minor, 1);
  EXPECT_EQ(r.headers.size(), 7u);
  EXPECT_EQ(r.host(), "server.example.com");
  EXPECT_EQ(r.origin(), "http://example.com");
  EXPECT_EQ(r.headers.get("sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");
}

// Parses `text` whole, expecting an error; returns the parser.
HeadParser parse_error(const std::string& text, Kind kind = Kind::request, HttpLimits limits = {}) {
  HeadParser p(kind, limits);
  auto r = p.feed(text);
  EXPECT_EQ(r.status, Status::error) << text;
  return p;
}

}  // namespace

TEST(HeadParser, WholeRequest) {
  HeadParser p(Kind::request);
  auto r = p.feed(kRequest);
  ASSERT_EQ(r.status, Status::done) << p.error().message();
  EXPECT_EQ(r.consumed, kRequest.size());
  expect_rfc_request(p.request());
  EXPECT_EQ(p.request().serialize(), kRequest);
}

TEST(HeadParser, WholeResponse) {
  HeadParser p(Kind::response);
  auto r = p.feed(kResponse);
  ASSERT_EQ(r.status, Status::done) << p.error().message();
  EXPECT_EQ(r.consumed, kResponse.size());
  EXPECT_EQ(p.response().status, 101);
  EXPECT_EQ(p.response().reason, "Switching Protocols");
  EXPECT_EQ(p.response().headers.get("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(p.response().serialize(), kResponse);
}

TEST(HeadParser, EverySplitPointAndBytesAfterHeadKept) {
  for (Kind kind : {Kind::request, Kind::response}) {
    const std::string head = kind == Kind::request ? kRequest : kResponse;
    const std::string input = head + kFrames;
    for (std::size_t split = 0; split <= input.size(); ++split) {
      HeadParser p(kind);
      auto a = p.feed(std::string_view(input).substr(0, split));
      std::string rest;
      if (a.status == Status::done) {
        EXPECT_EQ(a.consumed, head.size());
        rest = input.substr(a.consumed, split - a.consumed) + input.substr(split);
      } else {
        ASSERT_EQ(a.status, Status::need_more) << split;
        EXPECT_EQ(a.consumed, split);
        auto b = p.feed(std::string_view(input).substr(split));
        ASSERT_EQ(b.status, Status::done) << split;
        EXPECT_EQ(split + b.consumed, head.size());
        rest = input.substr(split + b.consumed);
      }
      EXPECT_EQ(rest, kFrames) << split;
      if (kind == Kind::request) {
        expect_rfc_request(p.request());
      } else {
        EXPECT_EQ(p.response().serialize(), kResponse);
      }
    }
  }
}

TEST(HeadParser, ByteByByte) {
  for (Kind kind : {Kind::request, Kind::response}) {
    const std::string head = kind == Kind::request ? kRequest : kResponse;
    const std::string input = head + kFrames;
    HeadParser p(kind);
    std::size_t i = 0;
    for (; i < input.size(); ++i) {
      auto r = p.feed(std::string_view(&input[i], 1));
      EXPECT_EQ(r.consumed, 1u);
      if (r.status == Status::done) break;
      ASSERT_EQ(r.status, Status::need_more) << i;
    }
    EXPECT_EQ(i + 1, head.size());
    EXPECT_EQ(p.status(), Status::done);
    // Done is sticky and consumes nothing.
    auto again = p.feed("more");
    EXPECT_EQ(again.status, Status::done);
    EXPECT_EQ(again.consumed, 0u);
    if (kind == Kind::request) expect_rfc_request(p.request());
  }
}

TEST(HeadParser, EmptyFeedAndReset) {
  HeadParser p(Kind::request);
  auto r = p.feed("");
  EXPECT_EQ(r.status, Status::need_more);
  EXPECT_EQ(r.consumed, 0u);
  ASSERT_EQ(p.feed(kRequest).status, Status::done);
  p.reset();
  EXPECT_EQ(p.status(), Status::need_more);
  EXPECT_TRUE(p.request().headers.empty());
  ASSERT_EQ(p.feed(kRequest).status, Status::done);
  expect_rfc_request(p.request());
}

TEST(HeadParser, OwsAndEmptyValues) {
  auto r = Request::parse("GET / HTTP/1.1\r\nA:1\r\nB: \t x y \t\r\nC:\r\nD:   \r\n\r\n");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->headers.get("A"), "1");
  EXPECT_EQ(r->headers.get("B"), "x y");
  EXPECT_EQ(r->headers.get("C"), "");
  EXPECT_EQ(r->headers.get("D"), "");
}

TEST(HeadParser, ResponseStatusLines) {
  auto a = Response::parse("HTTP/1.1 101 \r\n\r\n");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->reason, "");
  auto b = Response::parse("HTTP/1.1 101\r\n\r\n");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 101);
  auto c = Response::parse("HTTP/1.0 403 Forbidden by policy\r\nX: y\r\n\r\nbody");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, 403);
  EXPECT_EQ(c->version_minor, 0);
  EXPECT_EQ(c->reason, "Forbidden by policy");
  EXPECT_TRUE(c->body.empty());
  for (const char* bad : {"HTTP/1.1 10 x\r\n\r\n", "HTTP/1.1 1010 x\r\n\r\n", "HTTP/1.1 099 x\r\n\r\n",
                          "HTTP/1.1 600 x\r\n\r\n", "HTTP/1.1  101 x\r\n\r\n", "HTTP/1.1 abc x\r\n\r\n",
                          "HTTP/1.1\r\n\r\n", "HTTP/1.1 101 a\x01\r\n\r\n"}) {
    auto r = Response::parse(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error(), HandshakeError::malformed) << bad;
    }
  }
  for (const char* bad : {"HTTP/11 101 x\r\n\r\n", "http/1.1 101 x\r\n\r\n", "ICY 200 OK\r\n\r\n"}) {
    auto r = Response::parse(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error(), HandshakeError::bad_http_version) << bad;
    }
  }
}

TEST(HeadParser, RequestTargets) {
  auto a = Request::parse("GET ws://example.com:9000/a/b?x=1 HTTP/1.1\r\nHost: example.com:9000\r\n\r\n");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->target, "ws://example.com:9000/a/b?x=1");
  EXPECT_EQ(a->path(), "/a/b");
  EXPECT_EQ(a->query(), "x=1");
  auto b = Request::parse("GET http://example.com HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->path(), "/");
  EXPECT_EQ(b->query(), "");
  auto c = Request::parse("GET http://example.com?q HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->path(), "/");
  EXPECT_EQ(c->query(), "q");
  for (const char* bad : {"GET * HTTP/1.1\r\n\r\n", "GET example.com:80 HTTP/1.1\r\n\r\n",
                          "GET /a#b HTTP/1.1\r\n\r\n", "GET /a\x7f HTTP/1.1\r\n\r\n",
                          "GET /\xc3\xa9 HTTP/1.1\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "GET /  HTTP/1.1\r\n\r\n",
                          "GET / HTTP/1.1 \r\n\r\n", "GET /\r\n\r\n", "GET\r\n\r\n", "G@T / HTTP/1.1\r\n\r\n",
                          " GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1 x\r\n\r\n"}) {
    auto r = Request::parse(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error(), HandshakeError::malformed) << bad;
    }
  }
}

TEST(HeadParser, Versions) {
  auto a = Request::parse("GET / HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(a);  // the parser accepts any HTTP/d.d; the handshake refuses 1.0
  EXPECT_EQ(a->version_minor, 0);
  auto b = Request::parse("GET / HTTP/2.0\r\n\r\n");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->version_major, 2);
  for (const char* bad : {"GET / HTTP/1.10\r\n\r\n", "GET / HTTP/1\r\n\r\n", "GET / HTTPS/1.1\r\n\r\n",
                          "GET / http/1.1\r\n\r\n", "GET / HTTP/a.1\r\n\r\n", "GET / FOO\r\n\r\n"}) {
    HeadParser p = parse_error(bad);
    EXPECT_EQ(p.error(), HandshakeError::bad_http_version) << bad;
    EXPECT_EQ(p.error_status(), 505) << bad;
  }
}

TEST(HeadParser, MalformedHeadsAre400) {
  for (const char* bad : {
           "GET / HTTP/1.1\nHost: a\r\n\r\n",          // bare LF line ending (start line)
           "GET / HTTP/1.1\r\nHost: a\n\r\n",          // bare LF line ending (header)
           "GET / HTTP/1.1\r\nHost: a\r\n\n",          // bare LF as the empty line
           "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",     // bare CR in a value
           "GET / HTTP/1.1\r\nHo\rst: a\r\n\r\n",      // bare CR in a name
           "GET / HTTP/1.1\r\r\n\r\n",                 // bare CR before CRLF
           "\r\nGET / HTTP/1.1\r\n\r\n",               // an empty line before the request line
           "GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n",  // obs-fold
           "GET / HTTP/1.1\r\nHost: a\r\n\tb\r\n\r\n", // obs-fold with HTAB
           "GET / HTTP/1.1\r\n Host: a\r\n\r\n",       // whitespace at the first header line
           "GET / HTTP/1.1\r\nHost : a\r\n\r\n",       // whitespace before the colon
           "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",      // HTAB before the colon
           "GET / HTTP/1.1\r\nHost a\r\n\r\n",         // no colon
           "GET / HTTP/1.1\r\n: a\r\n\r\n",            // empty name
           "GET / HTTP/1.1\r\nH(st: a\r\n\r\n",        // name not a token
           "GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n",      // control character in a value
           "GET / HTTP/1.1\r\nX: a\x7fz\r\n\r\n",      // DEL in a value
       }) {
    HeadParser p = parse_error(bad);
    EXPECT_EQ(p.error(), HandshakeError::malformed) << bad;
    EXPECT_EQ(p.error_status(), 400) << bad;
    EXPECT_FALSE(p.error().message().empty());
  }
  // NUL inside a value (a string literal cannot hold it).
  HeadParser p = parse_error(std::string("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 26));
  EXPECT_EQ(p.error(), HandshakeError::malformed);
}

TEST(HeadParser, ErrorIsSticky) {
  HeadParser p(Kind::request);
  EXPECT_EQ(p.feed("GET / HTTP/1.1\n").status, Status::error);
  auto r = p.feed(kRequest);
  EXPECT_EQ(r.status, Status::error);
  EXPECT_EQ(r.consumed, 0u);
}

TEST(HeadParser, IncompleteHeadIsMalformedForWholeParse) {
  auto r = Request::parse("GET / HTTP/1.1\r\nHost: a\r\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), HandshakeError::malformed);
}

namespace {
// A request of exactly `size` bytes: padding goes into one header.
std::string request_of_size(std::size_t size) {
  const std::string start = "GET / HTTP/1.1\r\nX: ";
  const std::string end = "\r\n\r\n";
  return start + std::string(size - start.size() - end.size(), 'a') + end;
}
}  // namespace

TEST(HeadParser, HeadSizeLimitExactlyAndOnePast) {
  HttpLimits limits;
  limits.max_head_size = 200;
  for (bool bytewise : {false, true}) {
    const std::string ok = request_of_size(200);
    const std::string over = request_of_size(201);
    HeadParser a(Kind::request, limits);
    HeadParser b(Kind::request, limits);
    HeadParser::Progress ra{}, rb{};
    if (bytewise) {
      for (char c : ok) ra = a.feed(std::string_view(&c, 1));
      for (char c : over) {
        rb = b.feed(std::string_view(&c, 1));
        if (rb.status == Status::error) break;
      }
    } else {
      ra = a.feed(ok);
      rb = b.feed(over);
    }
    EXPECT_EQ(ra.status, Status::done);
    EXPECT_EQ(rb.status, Status::error);
    EXPECT_EQ(b.error(), HandshakeError::head_too_large);
    EXPECT_EQ(b.error_status(), 431);
  }
  // The default is the seed's 20480.
  EXPECT_EQ(HttpLimits{}.max_head_size, 20480u);
  HttpLimits long_lines;  // default head size, lines long enough for one padding header
  long_lines.max_line_size = 30000;
  HeadParser d(Kind::request, long_lines);
  EXPECT_EQ(d.feed(request_of_size(20480)).status, Status::done);
  HeadParser e(Kind::request, long_lines);
  EXPECT_EQ(e.feed(request_of_size(20481)).status, Status::error);
  EXPECT_EQ(e.error(), HandshakeError::head_too_large);
}

TEST(HeadParser, HeadTooLargeRefusedBeforeTheEnd) {
  HttpLimits limits;
  limits.max_head_size = 100;
  HeadParser p(Kind::request, limits);
  EXPECT_EQ(p.feed("GET / HTTP/1.1\r\n").status, Status::need_more);
  std::string junk(200, 'a');  // no LF: refused without waiting for it
  EXPECT_EQ(p.feed(junk).status, Status::error);
  EXPECT_EQ(p.error(), HandshakeError::head_too_large);
}

TEST(HeadParser, LineLimitExactlyAndOnePast) {
  HttpLimits limits;
  limits.max_line_size = 50;
  // A header line of exactly 50 bytes (CRLF not counted), then 51.
  const std::string h50 = "X: " + std::string(47, 'v');
  const std::string h51 = "X: " + std::string(48, 'v');
  for (bool bytewise : {false, true}) {
    auto run = [&](const std::string& text) {
      HeadParser p(Kind::request, limits);
      HeadParser::Progress r{};
      if (bytewise) {
        for (char c : text) {
          r = p.feed(std::string_view(&c, 1));
          if (r.status != Status::need_more) break;
        }
      } else {
        r = p.feed(text);
      }
      return std::make_pair(r.status, p);
    };
    EXPECT_EQ(run("GET / HTTP/1.1\r\n" + h50 + "\r\n\r\n").first, Status::done);
    auto [s, p] = run("GET / HTTP/1.1\r\n" + h51 + "\r\n\r\n");
    EXPECT_EQ(s, Status::error);
    EXPECT_EQ(p.error(), HandshakeError::line_too_long);
    EXPECT_EQ(p.error_status(), 431);
    // The request line: 414.
    const std::string rl50 = "GET /" + std::string(36, 'p') + " HTTP/1.1";
    ASSERT_EQ(rl50.size(), 50u);
    EXPECT_EQ(run(rl50 + "\r\n\r\n").first, Status::done);
    auto [s2, p2] = run("GET /" + std::string(37, 'p') + " HTTP/1.1\r\n\r\n");
    EXPECT_EQ(s2, Status::error);
    EXPECT_EQ(p2.error(), HandshakeError::line_too_long);
    EXPECT_EQ(p2.error_status(), 414);
  }
  // A line without its LF yet is refused as soon as it is one byte too long.
  HeadParser p(Kind::request, limits);
  EXPECT_EQ(p.feed("GET / HTTP/1.1\r\n" + h50).status, Status::need_more);
  EXPECT_EQ(p.feed("\r").status, Status::need_more);  // the CR is not counted
  HeadParser q(Kind::request, limits);
  EXPECT_EQ(q.feed("GET / HTTP/1.1\r\n" + h51).status, Status::error);
  // A response's status line over the limit: 431 (not a request).
  HeadParser r(Kind::response, limits);
  EXPECT_EQ(r.feed("HTTP/1.1 101 " + std::string(60, 'r')).status, Status::error);
  EXPECT_EQ(r.error(), HandshakeError::line_too_long);
  EXPECT_EQ(r.error_status(), 431);
  EXPECT_EQ(HttpLimits{}.max_line_size, 8192u);
}

TEST(HeadParser, BothLimitsCrossedGiveTheSameErrorHoweverCut) {
  // A header line that crosses max_head_size before max_line_size, one that
  // crosses max_line_size first, and one whose crossing byte is a CR: the
  // error is the one the byte stream reached first, whole or byte by byte.
  HttpLimits limits;
  limits.max_head_size = 60;
  limits.max_line_size = 30;
  struct Case { std::string text; HandshakeError expected; };
  const std::string start = "GET / HTTP/1.1\r\n";  // 16 bytes
  const Case cases[] = {
      {start + "A: " + std::string(27, 'a') + "\r\nB: " + std::string(40, 'b') + "\r\n\r\n",
       HandshakeError::head_too_large},
      {start + "B: " + std::string(40, 'b') + "\r\n\r\n", HandshakeError::line_too_long},
      {start + "B: " + std::string(27, 'b') + "\r\rzzzzzzzzzzzzzz\r\n\r\n", HandshakeError::line_too_long},
      {start + "A: " + std::string(10, 'a') + "\r\nB: " + std::string(27, 'b') + "\r\rzzz\r\n\r\n",
       HandshakeError::head_too_large},
  };
  for (const Case& c : cases) {
    HeadParser whole(Kind::request, limits);
    EXPECT_EQ(whole.feed(c.text).status, Status::error);
    EXPECT_EQ(whole.error(), c.expected) << c.text;
    HeadParser bytes(Kind::request, limits);
    for (char ch : c.text) {
      if (bytes.feed(std::string_view(&ch, 1)).status != Status::need_more) break;
    }
    EXPECT_EQ(bytes.status(), Status::error);
    EXPECT_EQ(bytes.error(), c.expected) << c.text;
  }
}

TEST(HeadParser, HeaderCountLimitExactlyAndOnePast) {
  HttpLimits limits;
  limits.max_headers = 5;
  auto head = [](int n) {
    std::string s = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < n; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
    return s + "\r\n";
  };
  HeadParser a(Kind::request, limits);
  EXPECT_EQ(a.feed(head(5)).status, Status::done);
  EXPECT_EQ(a.request().headers.size(), 5u);
  HeadParser b(Kind::request, limits);
  EXPECT_EQ(b.feed(head(6)).status, Status::error);
  EXPECT_EQ(b.error(), HandshakeError::too_many_headers);
  EXPECT_EQ(b.error_status(), 431);
  EXPECT_EQ(HttpLimits{}.max_headers, 100u);
  HeadParser c(Kind::request);
  EXPECT_EQ(c.feed(head(100)).status, Status::done);
  HeadParser d(Kind::request);
  EXPECT_EQ(d.feed(head(101)).status, Status::error);
  EXPECT_EQ(d.error(), HandshakeError::too_many_headers);
}

TEST(Request, PathQueryAndParams) {
  Request r;
  r.target = "/chat/room%201?csrf=abc%2Bdef&user=j+doe&tag=a&tag=b&bad=%zz";
  EXPECT_EQ(r.path(), "/chat/room%201");
  EXPECT_EQ(percent_decode(r.path()), "/chat/room 1");
  EXPECT_EQ(r.query(), "csrf=abc%2Bdef&user=j+doe&tag=a&tag=b&bad=%zz");
  auto p = r.query_params();
  ASSERT_EQ(p.size(), 5u);
  EXPECT_EQ(p[0], (QueryParam{"csrf", "abc+def"}));
  EXPECT_EQ(p[1], (QueryParam{"user", "j doe"}));
  EXPECT_EQ(p[2], (QueryParam{"tag", "a"}));
  EXPECT_EQ(p[3], (QueryParam{"tag", "b"}));
  EXPECT_EQ(p[4], (QueryParam{"bad", "%zz"}));
  EXPECT_EQ(r.query_param("tag"), "a");
  EXPECT_FALSE(r.query_param("TAG").has_value());
  r.target = "/";
  EXPECT_EQ(r.query(), "");
  EXPECT_TRUE(r.query_params().empty());
}

TEST(Request, Cookies) {
  Request r;
  r.headers.add("Cookie", "session=abc123; theme=\"dark\"; empty=; =noname; flag; spaced = v w ");
  r.headers.add("cookie", "second=2;third=3");
  auto c = r.cookies();
  ASSERT_EQ(c.size(), 6u);
  EXPECT_EQ(c[0], (Cookie{"session", "abc123"}));
  EXPECT_EQ(c[1], (Cookie{"theme", "dark"}));
  EXPECT_EQ(c[2], (Cookie{"empty", ""}));
  EXPECT_EQ(c[3], (Cookie{"spaced", "v w"}));
  EXPECT_EQ(c[4], (Cookie{"second", "2"}));
  EXPECT_EQ(c[5], (Cookie{"third", "3"}));
  EXPECT_EQ(r.cookie("theme"), "dark");
  EXPECT_EQ(r.cookie("third"), "3");
  EXPECT_FALSE(r.cookie("flag").has_value());
  EXPECT_FALSE(r.cookie("Session").has_value());
  EXPECT_EQ(parse_cookies("a=\"\"")[0].value, "");
  EXPECT_EQ(parse_cookies("a=\"")[0].value, "\"");
  EXPECT_EQ(parse_cookies("a=b=c")[0].value, "b=c");
  EXPECT_TRUE(parse_cookies("").empty());
  EXPECT_TRUE(Request().cookies().empty());
}

TEST(Request, OriginAndHost) {
  Request r;
  EXPECT_FALSE(r.origin().has_value());
  EXPECT_FALSE(r.host().has_value());
  r.headers.add("Sec-WebSocket-Origin", "http://old.example");
  EXPECT_EQ(r.origin(), "http://old.example");
  r.headers.add("Origin", "http://new.example");
  EXPECT_EQ(r.origin(), "http://new.example");
  r.headers.add("host", "h:1");
  EXPECT_EQ(r.host(), "h:1");
}

TEST(Response, SerializeAddsContentLength) {
  Response r;
  r.status = 403;
  r.reason = "Forbidden";
  r.headers.add("Content-Length", "999");
  r.headers.add("X", "y");
  r.body = "no\n";
  EXPECT_EQ(r.serialize(), "HTTP/1.1 403 Forbidden\r\nX: y\r\nContent-Length: 3\r\n\r\nno\n");
  Response empty;
  EXPECT_EQ(empty.serialize(), "HTTP/1.1 101 Switching Protocols\r\n\r\n");
  EXPECT_EQ(reason_phrase(426), "Upgrade Required");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(799), "");
}
