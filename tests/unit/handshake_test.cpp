#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "parley/protocol/handshake.hpp"

using namespace parley;
using namespace parley::protocol;

namespace {

const char* const kKey = "dGhlIHNhbXBsZSBub25jZQ==";
const char* const kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

// The RFC 6455 §1.2 client request.
Request rfc_request() {
  auto r = Request::parse(
      "GET /chat HTTP/1.1\r\n"
      "Host: server.example.com\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Origin: http://example.com\r\n"
      "Sec-WebSocket-Protocol: chat, superchat\r\n"
      "Sec-WebSocket-Version: 13\r\n"
      "\r\n");
  EXPECT_TRUE(r);
  return *r;
}

Response parse_response(const std::string& text) {
  HeadParser p(HeadParser::Kind::response);
  auto r = p.feed(text);
  EXPECT_EQ(r.status, HeadParser::Status::done) << p.error().message();
  return p.response();
}

void expect_refused(const Request& r, HandshakeError e, int status) {
  auto v = validate_request(r);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error(), e) << v.error().message();
  EXPECT_EQ(http_status_for(e), status);
  EXPECT_FALSE(v.error().message().empty());
  Response resp = make_error_response(v.error());
  EXPECT_EQ(resp.status, status);
}

// True when `s` holds no terminal control byte: C0 controls, DEL, and (as
// the messages here escape every byte above 0x7F) no byte above 0x7F.
bool no_raw_controls(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7F) return false;
  }
  return true;
}

}  // namespace

TEST(Handshake, Rfc6455ServerSide) {
  auto offer = validate_request(rfc_request());
  ASSERT_TRUE(offer) << offer.error().message();
  EXPECT_EQ(offer->key, kKey);
  EXPECT_EQ(offer->version, 13);
  EXPECT_EQ(offer->subprotocols, (std::vector<std::string>{"chat", "superchat"}));
  EXPECT_TRUE(offer->extensions.empty());
  EXPECT_EQ(offer->origin, "http://example.com");
  auto chosen = select_subprotocol(offer->subprotocols, {"superchat", "chat"});
  EXPECT_EQ(chosen, "chat");  // the client's preference wins
  Response resp = make_accept_response(offer->key, *chosen);
  EXPECT_EQ(resp.serialize(),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Sec-WebSocket-Protocol: chat\r\n"
            "\r\n");
}

TEST(Handshake, RoundTripClientServerClient) {
  ClientHandshake opts;
  opts.uri = *Uri::parse("wss://Example.com:8443/chat?token=a%20b");
  opts.origin = "https://example.com";
  opts.subprotocols = {"v2.chat", "v1.chat"};
  Extension pmd("permessage-deflate");
  pmd.add_param("client_max_window_bits");
  opts.extensions = {pmd, Extension("x-other")};
  opts.cookie = "session=s1";
  opts.headers.add("User-Agent", "parley-test");
  auto req = make_request(opts);
  ASSERT_TRUE(req) << req.error().message();
  std::string raw;
  ASSERT_TRUE(base64_decode(req->key, raw));
  EXPECT_EQ(raw.size(), 16u);

  // Over the wire, byte by byte.
  const std::string wire = req->request.serialize();
  HeadParser sp(HeadParser::Kind::request);
  for (char c : wire) sp.feed(std::string_view(&c, 1));
  ASSERT_EQ(sp.status(), HeadParser::Status::done);
  const Request& got = sp.request();
  EXPECT_EQ(got.target, "/chat?token=a%20b");
  EXPECT_EQ(got.query_param("token"), "a b");
  EXPECT_EQ(got.host(), "example.com:8443");
  EXPECT_EQ(got.cookie("session"), "s1");
  EXPECT_EQ(got.headers.get("User-Agent"), "parley-test");

  auto offer = validate_request(got);
  ASSERT_TRUE(offer) << offer.error().message();
  EXPECT_EQ(offer->key, req->key);
  EXPECT_EQ(offer->origin, "https://example.com");
  ASSERT_EQ(offer->extensions.size(), 2u);
  EXPECT_EQ(offer->extensions[0], pmd);
  auto proto = select_subprotocol(offer->subprotocols, {"v1.chat"});
  ASSERT_EQ(proto, "v1.chat");
  Extension accepted("permessage-deflate");
  accepted.add_param("client_max_window_bits", "10");
  Response resp = make_accept_response(offer->key, *proto, {accepted});

  Response back = parse_response(resp.serialize());
  auto neg = validate_response(back, req->key, opts.subprotocols, opts.extensions);
  ASSERT_TRUE(neg) << neg.error().message();
  EXPECT_EQ(neg->subprotocol, "v1.chat");
  ASSERT_EQ(neg->extensions.size(), 1u);
  EXPECT_EQ(neg->extensions[0], accepted);
}

TEST(Handshake, MakeRequestWire) {
  ClientHandshake opts;
  opts.uri = *Uri::parse("ws://[::1]:9001");
  auto req = make_request(opts, kKey);
  ASSERT_TRUE(req);
  EXPECT_EQ(req->request.serialize(),
            "GET / HTTP/1.1\r\n"
            "Host: [::1]:9001\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "\r\n");
  EXPECT_NE(make_request(opts)->key, make_request(opts)->key);  // fresh keys
}

TEST(Handshake, MakeRequestVersion) {
  ClientHandshake opts;
  opts.uri = *Uri::parse("ws://example.com/");
  for (int v : {13, 8, 7}) {
    opts.version = v;
    auto req = make_request(opts, kKey);
    ASSERT_TRUE(req) << v;
    EXPECT_EQ(req->request.headers.get("Sec-WebSocket-Version"), std::to_string(v));
    EXPECT_TRUE(validate_request(req->request)) << v;  // parley's server speaks all three
  }
  for (int v : {0, 6, 12, 14}) {
    opts.version = v;
    auto req = make_request(opts, kKey);
    ASSERT_FALSE(req) << v;
    EXPECT_EQ(req.error(), HandshakeError::unsupported_version);
  }
}

TEST(Handshake, MakeRequestExtraHeaders) {
  ClientHandshake opts;
  opts.uri = *Uri::parse("ws://10.0.0.1/");
  opts.origin = "http://a";
  opts.headers.add("Host", "virtual.example");
  opts.headers.add("Origin", "http://b");
  opts.headers.add("X-Multi", "1");
  opts.headers.add("X-Multi", "2");
  auto req = make_request(opts, kKey);
  ASSERT_TRUE(req) << req.error().message();
  EXPECT_EQ(req->request.headers.count("Host"), 1u);
  EXPECT_EQ(req->request.host(), "virtual.example");
  EXPECT_EQ(req->request.origin(), "http://b");
  EXPECT_EQ(req->request.headers.count("X-Multi"), 2u);
}

TEST(Handshake, MakeRequestRejections) {
  ClientHandshake base;
  base.uri = *Uri::parse("ws://h/");
  {
    ClientHandshake o;  // no URI
    auto r = make_request(o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), HandshakeError::bad_uri);
  }
  {
    auto r = make_request(base, "c2hvcnQ=");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), HandshakeError::bad_key);
  }
  for (auto subs : {std::vector<std::string>{"a b"}, std::vector<std::string>{""},
                    std::vector<std::string>{"a", "a"}, std::vector<std::string>{"a,b"}}) {
    ClientHandshake o = base;
    o.subprotocols = subs;
    auto r = make_request(o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), HandshakeError::bad_extension_header);
  }
  {
    ClientHandshake o = base;
    Extension e("x");
    e.add_param("a", "b c");
    o.extensions = {e};
    auto r = make_request(o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), HandshakeError::bad_extension_header);
  }
  for (auto [name, value] : {std::pair{"X", "a\r\nEvil: 1"}, std::pair{"Bad Name", "v"}, std::pair{"Upgrade", "h2c"},
                             std::pair{"connection", "close"}, std::pair{"Sec-WebSocket-Key", kKey},
                             std::pair{"sec-websocket-version", "8"}}) {
    ClientHandshake o = base;
    o.headers.add(name, value);
    auto r = make_request(o);
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error(), HandshakeError::malformed);
  }
  {
    ClientHandshake o = base;
    o.cookie = "a=1\r\nX: y";
    EXPECT_FALSE(make_request(o));
    o = base;
    o.origin = "http://a\n";
    EXPECT_FALSE(make_request(o));
  }
}

TEST(Handshake, ServerRejections) {
  {
    Request r = rfc_request();
    r.method = "POST";
    expect_refused(r, HandshakeError::bad_method, 405);
    r.method = "get";  // methods are case-sensitive
    expect_refused(r, HandshakeError::bad_method, 405);
  }
  {
    Request r = rfc_request();
    r.version_minor = 0;
    expect_refused(r, HandshakeError::bad_http_version, 505);
    r.version_major = 0;
    r.version_minor = 9;
    expect_refused(r, HandshakeError::bad_http_version, 505);
    r.version_major = 2;
    r.version_minor = 0;
    EXPECT_TRUE(validate_request(r));  // "or later"
  }
  {
    Request r = rfc_request();
    r.headers.remove("Host");
    expect_refused(r, HandshakeError::missing_host, 400);
    r.headers.add("Host", "");
    expect_refused(r, HandshakeError::missing_host, 400);
    r.headers.set("Host", "a");
    r.headers.add("Host", "b");
    expect_refused(r, HandshakeError::malformed, 400);
  }
  {
    Request r = rfc_request();
    r.headers.remove("Upgrade");
    expect_refused(r, HandshakeError::not_upgrade, 426);
    r.headers.add("Upgrade", "h2c");
    expect_refused(r, HandshakeError::not_upgrade, 426);
    r.headers.set("Upgrade", "websocket/13");
    expect_refused(r, HandshakeError::not_upgrade, 426);
    r.headers.set("Upgrade", "h2c, WebSocket");
    EXPECT_TRUE(validate_request(r));
  }
  {
    Request r = rfc_request();
    r.headers.set("Connection", "keep-alive");
    expect_refused(r, HandshakeError::missing_connection_upgrade, 400);
    r.headers.remove("Connection");
    expect_refused(r, HandshakeError::missing_connection_upgrade, 400);
    r.headers.add("Connection", "keep-alive");
    r.headers.add("connection", "UPGRADE");
    EXPECT_TRUE(validate_request(r));
  }
  for (const char* key : {"", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25j",
                          "dGhlIHNhbXBsZSBub25jZXg=", "dGhlIHNhbXBsZSBub25jZ!==", "not base64 at all"}) {
    Request r = rfc_request();
    r.headers.set("Sec-WebSocket-Key", key);
    expect_refused(r, HandshakeError::bad_key, 400);
  }
  {
    Request r = rfc_request();
    r.headers.remove("Sec-WebSocket-Key");
    expect_refused(r, HandshakeError::bad_key, 400);
    r.headers.add("Sec-WebSocket-Key", kKey);
    r.headers.add("Sec-WebSocket-Key", kKey);
    expect_refused(r, HandshakeError::bad_key, 400);
  }
  for (const char* version : {"12", "14", "0", "", "13, 8", "abc", "013"}) {
    Request r = rfc_request();
    r.headers.set("Sec-WebSocket-Version", version);
    expect_refused(r, HandshakeError::unsupported_version, 426);
  }
  {
    Request r = rfc_request();
    r.headers.add("Sec-WebSocket-Version", "13");
    expect_refused(r, HandshakeError::unsupported_version, 426);
  }
  for (const char* version : {"13", "8", "7"}) {
    Request r = rfc_request();
    r.headers.set("Sec-WebSocket-Version", version);
    auto v = validate_request(r);
    ASSERT_TRUE(v) << version;
    EXPECT_EQ(v->version, std::stoi(version));
  }
  {
    Request r = rfc_request();
    r.headers.set("Content-Length", "0");
    EXPECT_TRUE(validate_request(r));
    r.headers.set("Content-Length", "5");
    expect_refused(r, HandshakeError::malformed, 400);
    r.headers.remove("Content-Length");
    r.headers.add("Transfer-Encoding", "chunked");
    expect_refused(r, HandshakeError::malformed, 400);
  }
  for (const char* bad : {"chat; x=1", "a b", "\"chat\""}) {
    Request r = rfc_request();
    r.headers.set("Sec-WebSocket-Protocol", bad);
    expect_refused(r, HandshakeError::bad_extension_header, 400);
  }
  for (const char* bad : {"permessage-deflate;", "a; b=\"c d\"", "a b", "a; b=\"x"}) {
    Request r = rfc_request();
    r.headers.add("Sec-WebSocket-Extensions", bad);
    expect_refused(r, HandshakeError::bad_extension_header, 400);
  }
}

TEST(Handshake, HixieRequestsRefusedLikeUnsupportedVersions) {
  // draft-hixie-thewebsocketprotocol-76
  auto hixie76 = Request::parse(
      "GET /demo HTTP/1.1\r\n"
      "Host: example.com\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n"
      "Sec-WebSocket-Protocol: sample\r\n"
      "Upgrade: WebSocket\r\n"
      "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n"
      "Origin: http://example.com\r\n"
      "\r\n");
  ASSERT_TRUE(hixie76);
  auto v = validate_request(*hixie76);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error(), HandshakeError::unsupported_version);
  EXPECT_NE(v.error().message().find("obsolete"), std::string::npos);
  // draft-hixie-thewebsocketprotocol-75
  auto hixie75 = Request::parse(
      "GET /demo HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: example.com\r\n"
      "Origin: http://example.com\r\nWebSocket-Protocol: sample\r\n\r\n");
  ASSERT_TRUE(hixie75);
  auto w = validate_request(*hixie75);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error(), HandshakeError::unsupported_version);
  Response resp = make_error_response(w.error());
  EXPECT_EQ(resp.status, 426);
  EXPECT_EQ(resp.headers.get("Sec-WebSocket-Version"), "13, 8, 7");
}

TEST(Handshake, OriginFromOlderVersions) {
  Request r = rfc_request();
  r.headers.remove("Origin");
  EXPECT_FALSE(validate_request(r)->origin.has_value());
  r.headers.set("Sec-WebSocket-Version", "8");
  r.headers.add("Sec-WebSocket-Origin", "http://old");
  EXPECT_EQ(validate_request(r)->origin, "http://old");
}

TEST(Handshake, OfferedExtensionsAcrossFields) {
  Request r = rfc_request();
  r.headers.add("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits, x-a");
  r.headers.add("Sec-WebSocket-Extensions", "x-b; p=\"1\"");
  r.headers.add("Sec-WebSocket-Protocol", "third");
  auto v = validate_request(r);
  ASSERT_TRUE(v);
  ASSERT_EQ(v->extensions.size(), 3u);
  EXPECT_EQ(v->extensions[0].name(), "permessage-deflate");
  EXPECT_EQ(v->extensions[2].find_param("p")->value, "1");
  EXPECT_EQ(v->subprotocols, (std::vector<std::string>{"chat", "superchat", "third"}));
}

TEST(Handshake, SelectSubprotocol) {
  EXPECT_EQ(select_subprotocol({"a", "b", "c"}, {"c", "b"}), "b");
  EXPECT_FALSE(select_subprotocol({"a"}, {"A"}).has_value());
  EXPECT_FALSE(select_subprotocol({}, {"a"}).has_value());
  EXPECT_FALSE(select_subprotocol({"a"}, {}).has_value());
}

TEST(Handshake, ClientRejections) {
  const std::vector<std::string> subs{"chat", "superchat"};
  Extension pmd("permessage-deflate");
  const std::vector<Extension> exts{pmd};
  auto good = [] {
    Response r = make_accept_response(kKey);
    EXPECT_EQ(r.headers.get("Sec-WebSocket-Accept"), kAccept);
    return r;
  };
  auto expect = [&](const Response& r, HandshakeError e) {
    auto v = validate_response(r, kKey, subs, exts);
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error(), e) << v.error().message();
  };
  ASSERT_TRUE(validate_response(good(), kKey, subs, exts));
  {
    Response r = parse_response("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    expect(r, HandshakeError::bad_status);
    Response s = good();
    s.status = 200;
    expect(s, HandshakeError::bad_status);
  }
  {
    Response r = good();
    r.headers.remove("Upgrade");
    expect(r, HandshakeError::not_upgrade);
    r.headers.add("Upgrade", "h2c");
    expect(r, HandshakeError::not_upgrade);
  }
  {
    Response r = good();
    r.headers.set("Connection", "close");
    expect(r, HandshakeError::missing_connection_upgrade);
  }
  {
    Response r = good();
    r.headers.remove("Sec-WebSocket-Accept");
    expect(r, HandshakeError::bad_accept);
    r.headers.add("Sec-WebSocket-Accept", "wrong");
    expect(r, HandshakeError::bad_accept);
    r.headers.set("Sec-WebSocket-Accept", kAccept);
    r.headers.add("Sec-WebSocket-Accept", kAccept);
    expect(r, HandshakeError::bad_accept);
    Response other = make_accept_response(kKey);
    auto v = validate_response(other, "AAAAAAAAAAAAAAAAAAAAAA==", subs, exts);
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error(), HandshakeError::bad_accept);
  }
  {
    Response r = make_accept_response(kKey, "other");
    expect(r, HandshakeError::unrequested_subprotocol);
    Response s = make_accept_response(kKey, "Chat");  // exact match only
    expect(s, HandshakeError::unrequested_subprotocol);
    Response t = make_accept_response(kKey, "chat");
    t.headers.add("Sec-WebSocket-Protocol", "chat");
    expect(t, HandshakeError::unrequested_subprotocol);
    Response u = make_accept_response(kKey, "chat");
    u.headers.set("Sec-WebSocket-Protocol", "chat, superchat");
    expect(u, HandshakeError::unrequested_subprotocol);
    auto none = validate_response(make_accept_response(kKey, "chat"), kKey, {}, exts);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error(), HandshakeError::unrequested_subprotocol);
  }
  {
    expect(make_accept_response(kKey, {}, {Extension("x-other")}), HandshakeError::unrequested_extension);
    expect(make_accept_response(kKey, {}, {pmd, pmd}), HandshakeError::unrequested_extension);
    Response r = good();
    r.headers.add("Sec-WebSocket-Extensions", "permessage-deflate; x=");
    expect(r, HandshakeError::bad_extension_header);
    auto v = validate_response(make_accept_response(kKey, {}, {Extension("PerMessage-Deflate")}), kKey, subs, exts);
    ASSERT_TRUE(v);  // extension names compare case-insensitively
    EXPECT_EQ(v->extensions.size(), 1u);
    EXPECT_EQ(v->subprotocol, "");
  }
}

TEST(Handshake, ErrorResponses) {
  Response r = make_error_response(403, "You are forbidden from accessing this websocket.");
  EXPECT_EQ(r.serialize(),
            "HTTP/1.1 403 Forbidden\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Connection: close\r\n"
            "Content-Length: 49\r\n"
            "\r\n"
            "You are forbidden from accessing this websocket.\n");
  Response u = make_error_response(426);
  EXPECT_EQ(u.reason, "Upgrade Required");
  EXPECT_EQ(u.headers.get("Sec-WebSocket-Version"), "13, 8, 7");
  EXPECT_TRUE(u.headers.has_token("Upgrade", "websocket"));
  EXPECT_TRUE(u.headers.has_token("Connection", "close"));
  EXPECT_TRUE(u.headers.has_token("Connection", "upgrade"));
  EXPECT_EQ(u.body, "Upgrade Required\n");
  EXPECT_EQ(make_error_response(405).headers.get("Allow"), "GET");
  EXPECT_EQ(make_error_response(42).status, 500);
  EXPECT_EQ(make_error_response(799).status, 500);
  EXPECT_EQ(make_error_response(599).body, "599\n");

  Headers extra;
  extra.add("Content-Type", "application/json");
  extra.add("Set-Cookie", "a=1");
  extra.add("Set-Cookie", "b=2");
  extra.add("X-Evil", "a\r\nInjected: 1");
  extra.add("Bad Name", "x");
  Response e = make_error_response(400, "{}", extra);
  EXPECT_EQ(e.headers.count("Content-Type"), 1u);
  EXPECT_EQ(e.headers.get("Content-Type"), "application/json");
  EXPECT_EQ(e.headers.count("Set-Cookie"), 2u);
  EXPECT_FALSE(e.headers.has("X-Evil"));
  EXPECT_FALSE(e.headers.has("Bad Name"));
  EXPECT_EQ(e.serialize().find("Injected"), std::string::npos);

  // From Errors: the status comes from http_status_for, the body from the message.
  Response m = make_error_response(Error(HandshakeError::bad_method, "method POST is not GET"));
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.body, "method POST is not GET\n");
  EXPECT_EQ(make_error_response(Error(HandshakeError::forbidden_origin)).status, 403);
  EXPECT_EQ(make_error_response(Error(HandshakeError::head_too_large)).status, 431);
  EXPECT_EQ(make_error_response(Error(ProtocolError::invalid_utf8)).status, 500);
  // A request line that is too long: 414 via the parser's status.
  HttpLimits limits;
  limits.max_line_size = 10;
  HeadParser p(HeadParser::Kind::request, limits);
  ASSERT_EQ(p.feed("GET /very/long/path HTTP/1.1\r\n").status, HeadParser::Status::error);
  Response t = make_error_response(p.error(), p.error_status());
  EXPECT_EQ(t.status, 414);
  EXPECT_EQ(t.reason, "URI Too Long");
}

TEST(Handshake, RequestListsTheOfferedSubprotocolsAndExtensions) {
  auto r = Request::parse(
      "GET /chat HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Protocol: chat.v2, chat.v1\r\n"
      "Sec-WebSocket-Protocol: legacy\r\n"
      "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-other\r\n\r\n");
  ASSERT_TRUE(r);
  auto subs = r->subprotocols();
  ASSERT_TRUE(subs);
  EXPECT_EQ(*subs, (std::vector<std::string>{"chat.v2", "chat.v1", "legacy"}));
  auto exts = r->extensions();
  ASSERT_TRUE(exts);
  ASSERT_EQ(exts->size(), 2u);
  EXPECT_EQ((*exts)[0].name(), "permessage-deflate");
  EXPECT_EQ((*exts)[0].params().size(), 1u);
  EXPECT_EQ((*exts)[1].name(), "x-other");

  auto none = Request::parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->subprotocols()->empty());
  EXPECT_TRUE(none->extensions()->empty());

  auto bad = Request::parse("GET / HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Protocol: chat; v=1\r\n\r\n");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->subprotocols().error(), HandshakeError::bad_extension_header);
}

// Bytes from the peer reach error messages and the refusal's body escaped
// and bounded (parley::protocol::printable), never raw: a terminal that
// shows the log line or the body must not obey an escape sequence in them.
TEST(Handshake, PeerBytesInMessagesAndBodiesAreEscaped) {
  // An HTTP version carrying an OSC sequence (ESC ] 0 ; ... BEL): 505.
  HeadParser p(HeadParser::Kind::request);
  ASSERT_EQ(p.feed("GET / HTTP/1.1\x1b]0;pwned\x07\r\nHost: a\r\n\r\n").status, HeadParser::Status::error);
  EXPECT_EQ(p.error(), HandshakeError::bad_http_version);
  EXPECT_EQ(p.error_status(), 505);
  EXPECT_TRUE(no_raw_controls(p.error().message())) << p.error().message();
  EXPECT_NE(p.error().message().find("HTTP/1.1\\x1b]0;pwned\\x07"), std::string::npos) << p.error().message();
  Response r = make_error_response(p.error(), p.error_status());
  EXPECT_EQ(r.status, 505);
  EXPECT_EQ(r.body.back(), '\n');
  EXPECT_TRUE(no_raw_controls(std::string_view(r.body).substr(0, r.body.size() - 1))) << r.body;
  const std::string wire = r.serialize();
  EXPECT_EQ(wire.find('\x1b'), std::string::npos);
  EXPECT_EQ(wire.find('\x07'), std::string::npos);
  // A long version is cut: the message stays short.
  HeadParser q(HeadParser::Kind::request);
  ASSERT_EQ(q.feed("GET / HTTP/1.1" + std::string(4000, '\x1b') + "\r\n\r\n").status, HeadParser::Status::error);
  EXPECT_EQ(q.error(), HandshakeError::bad_http_version);
  EXPECT_LT(q.error().message().size(), 300u);
  EXPECT_TRUE(no_raw_controls(q.error().message()));

  // validate_request: the method and Sec-WebSocket-Version as sent.
  Request bad_method = rfc_request();
  bad_method.method = "G\x1b[2JET";
  auto m = validate_request(bad_method);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error(), HandshakeError::bad_method);
  EXPECT_TRUE(no_raw_controls(m.error().message())) << m.error().message();
  EXPECT_TRUE(no_raw_controls(make_error_response(m.error()).body.substr(0, make_error_response(m.error()).body.size() - 1)));
  Request bad_version = rfc_request();
  bad_version.headers.set("Sec-WebSocket-Version", "13\xc2\x9b" "2J");  // obs-text passes the parser
  auto v = validate_request(bad_version);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error(), HandshakeError::unsupported_version);
  EXPECT_TRUE(no_raw_controls(v.error().message())) << v.error().message();
  EXPECT_NE(v.error().message().find("13\\xc2\\x9b2J"), std::string::npos) << v.error().message();
}

TEST(Handshake, RefusalErrorEscapesReasonAndBody) {
  Response r;
  r.status = 403;
  r.reason = "Forbidden\x1b]0;x\x07";
  r.body = "\x1b]0;x\x07go away \xc3\xa9\r\n";
  const Error e = refusal_error(r);
  EXPECT_EQ(e, HandshakeError::bad_status);
  // The body is read as UTF-8 (the "é" stays), the trailing CRLF dropped.
  EXPECT_EQ(e.message(),
            "server answered 403 Forbidden\\x1b]0;x\\x07 instead of 101 Switching Protocols: "
            "\\x1b]0;x\\x07go away \xc3\xa9");
  // validate_response refuses a non-101 answer with the same Error.
  auto v = validate_response(r, kKey, {}, {});
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error(), HandshakeError::bad_status);
  EXPECT_EQ(v.error().message(), e.message());
  // Neither a long reason nor a long body makes a long message.
  r.reason = std::string(1000, 'r');
  r.body = std::string(5000, '\x07');
  const std::string long_message = refusal_error(r).message();
  EXPECT_LT(long_message.size(), 64 + 3 + 4 * 200 + 3 + 80);
  EXPECT_EQ(long_message.substr(long_message.size() - 3), "...");
  // No reason, no body: just the status.
  Response bare;
  bare.status = 500;
  bare.reason.clear();
  EXPECT_EQ(refusal_error(bare).message(), "server answered 500 instead of 101 Switching Protocols");
}

TEST(Handshake, ServerChosenNamesInMessagesAreEscaped) {
  Response r = make_accept_response(kKey, "chat\x1b[31m");
  auto v = validate_response(r, kKey, {"chat"}, {});
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error(), HandshakeError::unrequested_subprotocol);
  EXPECT_TRUE(no_raw_controls(v.error().message())) << v.error().message();
}
