// A client's HTTP CONNECT proxy (protocol/proxy.hpp): the URL, the CONNECT
// request, the answer fed in pieces, and the environment's rules, on values
// alone.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "parley/protocol/handshake.hpp"
#include "protocol/proxy.hpp"

namespace parley::protocol {
namespace {

ProxyUrl proxy(std::string_view url) {
  auto p = ProxyUrl::parse(url);
  EXPECT_TRUE(p) << url << ": " << p.error().message();
  return p ? *p : ProxyUrl{};
}

Uri uri(std::string_view text) { return Uri::parse(text).value(); }

// ---- the URL ------------------------------------------------------------------

TEST(ProxyUrl, Forms) {
  ProxyUrl p = proxy("http://proxy.example.com:3128");
  EXPECT_EQ(p.host(), "proxy.example.com");
  EXPECT_EQ(p.port(), 3128);
  EXPECT_FALSE(p.has_credentials());
  EXPECT_EQ(p.to_string(), "http://proxy.example.com:3128");

  p = proxy("HTTP://Proxy.Example.COM/");  // any case, trailing '/', curl's default port
  EXPECT_EQ(p.host(), "proxy.example.com");
  EXPECT_EQ(p.port(), 1080);
  EXPECT_EQ(p.port(), kDefaultProxyPort);

  p = proxy("10.1.2.3:8080");  // no scheme: http
  EXPECT_EQ(p.host(), "10.1.2.3");
  EXPECT_EQ(p.port(), 8080);

  p = proxy("http://[::1]:3128");
  EXPECT_EQ(p.host(), "::1");
  EXPECT_TRUE(p.is_ipv6());
  EXPECT_EQ(p.to_string(), "http://[::1]:3128");
  EXPECT_EQ(proxy("http://[2001:db8::1]").port(), 1080);
}

TEST(ProxyUrl, CredentialsArePercentDecoded) {
  ProxyUrl p = proxy("http://alice:s%40cr%3Aet@proxy:3128");
  EXPECT_TRUE(p.has_credentials());
  EXPECT_EQ(p.username(), "alice");
  EXPECT_EQ(p.password(), "s@cr:et");
  EXPECT_EQ(p.to_string(), "http://proxy:3128");  // never the credentials
  p = proxy("http://bob@proxy");  // a user without a password
  EXPECT_TRUE(p.has_credentials());
  EXPECT_EQ(p.username(), "bob");
  EXPECT_EQ(p.password(), "");
  p = proxy("http://a:b:c@d@proxy");  // the last '@' ends the userinfo; the first ':' splits it
  EXPECT_EQ(p.username(), "a");
  EXPECT_EQ(p.password(), "b:c@d");
  EXPECT_EQ(p.host(), "proxy");
}

TEST(ProxyUrl, RefusedWithClearMessagesThatHideThePassword) {
  for (const char* bad : {"https://proxy:443", "socks5://proxy:1080", "http://", "http://:3128", "http://proxy:0",
                          "http://proxy:65536", "http://proxy:", "http://proxy:80x", "http://proxy/path",
                          "http://proxy?x=1", "http://proxy#f", "http://[::1", "http://[proxy]:80", "http://pro xy",
                          "http://user:secret@pro\x1bxy:80", "http://[1.2.3.4]:80"}) {
    auto p = ProxyUrl::parse(bad);
    EXPECT_FALSE(p) << bad;
    if (p) continue;
    EXPECT_EQ(p.error().code(), std::make_error_code(std::errc::invalid_argument));
    EXPECT_EQ(p.error().message().find("secret"), std::string::npos) << p.error().message();
    EXPECT_EQ(p.error().message().find('\x1b'), std::string::npos) << p.error().message();
  }
  auto scheme = ProxyUrl::parse("https://proxy:443");
  EXPECT_NE(scheme.error().message().find("only http://"), std::string::npos) << scheme.error().message();
  auto port = ProxyUrl::parse("http://me:secret@proxy:99999");
  EXPECT_NE(port.error().message().find("http://proxy:99999"), std::string::npos) << port.error().message();
}

// ---- the CONNECT request -----------------------------------------------------------

TEST(ConnectRequest, PlainAndWithBasicAuth) {
  EXPECT_EQ(*connect_request(proxy("http://p:3128"), "example.com", 443),
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
  EXPECT_EQ(*connect_request(proxy("http://p:3128"), "2001:db8::1", 80),
            "CONNECT [2001:db8::1]:80 HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n");
  // RFC 7617's example: Aladdin / open sesame.
  const std::string r = *connect_request(proxy("http://Aladdin:open%20sesame@p:3128"), "example.com", 8443);
  EXPECT_EQ(r, "CONNECT example.com:8443 HTTP/1.1\r\nHost: example.com:8443\r\n"
               "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n");
  std::string decoded;
  ASSERT_TRUE(base64_decode("QWxhZGRpbjpvcGVuIHNlc2FtZQ==", decoded));
  EXPECT_EQ(decoded, "Aladdin:open sesame");
  for (const char* bad : {"", "a b", "a\r\nX: y", "a/b", "user@host"}) {
    EXPECT_FALSE(connect_request(proxy("http://p"), bad, 80)) << bad;
  }
}

// ---- the answer ----------------------------------------------------------------

using Status = ConnectReply::Status;

TEST(ConnectReply, TwoHundredOpensTheTunnelAndHandsBackTheRest) {
  ConnectReply reply("http://p:3128", "example.com:443");
  const std::string answer = "HTTP/1.0 200 Connection established\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\n";
  for (char c : answer.substr(0, answer.size() - 1)) ASSERT_EQ(reply.feed(std::string(1, c)), Status::reading);
  EXPECT_EQ(reply.feed(answer.substr(answer.size() - 1) + "\x16\x03\x01"), Status::open);
  EXPECT_EQ(reply.status_code(), 200);
  EXPECT_EQ(reply.rest(), "\x16\x03\x01");
  EXPECT_EQ(reply.feed("more"), Status::open);
  EXPECT_EQ(reply.rest(), "\x16\x03\x01more");
  EXPECT_EQ(reply.closed(), Status::open);
  EXPECT_FALSE(reply.error());
  // Any 2xx; a Content-Length on it is not a body (RFC 9110 §9.3.6).
  ConnectReply other("http://p:3128", "example.com:443");
  EXPECT_EQ(other.feed("HTTP/1.1 204 OK\r\nContent-Length: 5\r\n\r\nhello"), Status::open);
  EXPECT_EQ(other.rest(), "hello");
}

TEST(ConnectReply, RefusalsNameTheProxyAndItsStatusLine) {
  struct Case {
    const char* answer;
    const char* line;
    const char* hint;
  };
  for (const Case& c : {Case{"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n"
                             "Content-Length: 3\r\n\r\nno!",
                             "HTTP/1.1 407 Proxy Authentication Required", "credentials"},
                        Case{"HTTP/1.0 403 Access violation\r\n\r\n", "HTTP/1.0 403 Access violation", "does not allow"},
                        Case{"HTTP/1.1 502 Bad Gateway\r\n\r\n", "HTTP/1.1 502 Bad Gateway", "could not reach"},
                        Case{"HTTP/1.1 500 Internal\tError\r\n\r\n", "HTTP/1.1 500 Internal\\tError", ""},  // escaped
                        Case{"HTTP/1.1 101 Switching Protocols\r\n\r\n", "HTTP/1.1 101", ""}}) {
    ConnectReply reply("http://p:3128", "example.com:443");
    ASSERT_EQ(reply.feed(c.answer), Status::failed) << c.answer;
    EXPECT_EQ(reply.error(), HandshakeError::bad_status);
    const std::string m = reply.error().message();
    EXPECT_NE(m.find("proxy http://p:3128 refused the tunnel to example.com:443: "), std::string::npos) << m;
    EXPECT_NE(m.find(c.line), std::string::npos) << m;
    EXPECT_NE(m.find(c.hint), std::string::npos) << m;
    EXPECT_EQ(reply.feed("HTTP/1.1 200 OK\r\n\r\n"), Status::failed);  // final
  }
}

TEST(ConnectReply, MalformedTooLargeOrClosed) {
  ConnectReply garbage("http://p:3128", "h:1");
  EXPECT_EQ(garbage.feed("SSH-2.0-OpenSSH_9.2\r\n\r\n"), Status::failed);
  EXPECT_EQ(garbage.error().code().category(), handshake_category());
  EXPECT_NE(garbage.error().message().find("proxy http://p:3128"), std::string::npos) << garbage.error().message();
  EXPECT_EQ(garbage.status_code(), 0);

  HttpLimits small;
  small.max_head_size = 64;
  ConnectReply big("http://p:3128", "h:1", small);
  EXPECT_EQ(big.feed("HTTP/1.1 200 OK\r\nX: " + std::string(100, 'a')), Status::failed);
  EXPECT_EQ(big.error(), HandshakeError::head_too_large);

  ConnectReply cut("http://p:3128", "h:1");
  EXPECT_EQ(cut.feed("HTTP/1.1 200 OK\r\n"), Status::reading);
  EXPECT_EQ(cut.closed(), Status::failed);
  EXPECT_EQ(cut.error(), HandshakeError::closed);
  EXPECT_NE(cut.error().message().find("closed the connection before answering CONNECT h:1"), std::string::npos);
}

// ---- the environment -----------------------------------------------------------

struct Env {
  std::map<std::string, std::string> vars;
  GetEnv getenv() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
  std::string pick(std::string_view url) const {
    auto p = proxy_from_environment(uri(url), getenv());
    return p ? p->variable + "=" + p->value : "direct";
  }
};

TEST(ProxyEnvironment, OrderOfVariables) {
  Env e;
  EXPECT_EQ(e.pick("wss://example.com/"), "direct");
  e.vars = {{"ALL_PROXY", "A"}};
  EXPECT_EQ(e.pick("wss://example.com/"), "ALL_PROXY=A");
  EXPECT_EQ(e.pick("ws://example.com/"), "ALL_PROXY=A");
  e.vars["all_proxy"] = "a";
  EXPECT_EQ(e.pick("ws://example.com/"), "all_proxy=a");
  e.vars["HTTPS_PROXY"] = "S";
  e.vars["HTTP_PROXY"] = "ignored";  // never read: curl's rule
  EXPECT_EQ(e.pick("wss://example.com/"), "HTTPS_PROXY=S");
  EXPECT_EQ(e.pick("ws://example.com/"), "all_proxy=a");
  e.vars["https_proxy"] = "s";
  e.vars["http_proxy"] = "h";
  EXPECT_EQ(e.pick("wss://example.com/"), "https_proxy=s");
  EXPECT_EQ(e.pick("https://example.com/"), "https_proxy=s");
  EXPECT_EQ(e.pick("ws://example.com/"), "http_proxy=h");
  e.vars["WSS_PROXY"] = "W";
  e.vars["WS_PROXY"] = "w";
  EXPECT_EQ(e.pick("wss://example.com/"), "WSS_PROXY=W");
  EXPECT_EQ(e.pick("ws://example.com/"), "WS_PROXY=w");
  e.vars["wss_proxy"] = "ww";
  e.vars["ws_proxy"] = "";  // empty: as if unset
  EXPECT_EQ(e.pick("wss://example.com/"), "wss_proxy=ww");
  EXPECT_EQ(e.pick("ws://example.com/"), "WS_PROXY=w");
  EXPECT_FALSE(proxy_from_environment(uri("ws://x/"), nullptr));
}

TEST(ProxyEnvironment, NoProxyLowerCaseFirst) {
  Env e;
  e.vars = {{"https_proxy", "p"}, {"NO_PROXY", "example.com"}};
  EXPECT_EQ(e.pick("wss://www.example.com/"), "direct");
  e.vars["no_proxy"] = "other.org";  // the lower case one wins, even over a match
  EXPECT_EQ(e.pick("wss://www.example.com/"), "https_proxy=p");
  EXPECT_EQ(e.pick("wss://other.org/"), "direct");
  e.vars["no_proxy"] = "*";
  EXPECT_EQ(e.pick("wss://anything/"), "direct");
}

TEST(NoProxy, Names) {
  EXPECT_TRUE(no_proxy_matches("example.com", "example.com", 443));
  EXPECT_TRUE(no_proxy_matches("example.com", "www.example.com", 443));
  EXPECT_TRUE(no_proxy_matches(".example.com", "www.example.com", 443));
  EXPECT_TRUE(no_proxy_matches(".example.com", "example.com", 443));
  EXPECT_TRUE(no_proxy_matches("Example.COM.", "a.b.example.com.", 443));
  EXPECT_FALSE(no_proxy_matches("example.com", "notexample.com", 443));
  EXPECT_FALSE(no_proxy_matches("www.example.com", "example.com", 443));
  EXPECT_FALSE(no_proxy_matches("", "example.com", 443));
  EXPECT_FALSE(no_proxy_matches(".", "example.com", 443));
  EXPECT_TRUE(no_proxy_matches("a.org, b.org ,c.org", "c.org", 80));  // commas and spaces
  EXPECT_TRUE(no_proxy_matches("a.org b.org", "b.org", 80));
  EXPECT_TRUE(no_proxy_matches("a.org,*", "anything", 80));
  EXPECT_FALSE(no_proxy_matches("*.example.com", "www.example.com", 80));  // no glob but a lone '*'
  EXPECT_FALSE(no_proxy_matches("localhost", "127.0.0.1", 80));  // names and addresses are not resolved
}

TEST(NoProxy, AddressesNetworksAndPorts) {
  EXPECT_TRUE(no_proxy_matches("127.0.0.1", "127.0.0.1", 80));
  EXPECT_FALSE(no_proxy_matches("127.0.0.1", "127.0.0.2", 80));
  EXPECT_TRUE(no_proxy_matches("192.168.0.0/16", "192.168.44.1", 80));
  EXPECT_TRUE(no_proxy_matches("192.168.1.1/16", "192.168.44.1", 80));  // host bits ignored, as curl
  EXPECT_FALSE(no_proxy_matches("192.168.0.0/16", "192.169.0.1", 80));
  EXPECT_FALSE(no_proxy_matches("192.168.0.0/16", "www.example.com", 80));
  EXPECT_TRUE(no_proxy_matches("::1", "::1", 80));
  EXPECT_TRUE(no_proxy_matches("[::1]", "::1", 80));
  EXPECT_TRUE(no_proxy_matches("fd00::/8", "fd12::1", 80));
  EXPECT_FALSE(no_proxy_matches("fd00::/8", "fe80::1", 80));
  EXPECT_TRUE(no_proxy_matches("::ffff:10.0.0.0/104", "10.1.2.3", 80));
  EXPECT_FALSE(no_proxy_matches("10.0.0.0/x", "10.0.0.1", 80));
  // Ports.
  EXPECT_TRUE(no_proxy_matches("example.com:8080", "www.example.com", 8080));
  EXPECT_FALSE(no_proxy_matches("example.com:8080", "www.example.com", 443));
  EXPECT_TRUE(no_proxy_matches("10.0.0.0/8:9000", "10.0.0.1", 9000));
  EXPECT_FALSE(no_proxy_matches("10.0.0.1:9000", "10.0.0.1", 9001));
  EXPECT_TRUE(no_proxy_matches("[::1]:8080", "::1", 8080));
  EXPECT_FALSE(no_proxy_matches("[::1]:8080", "::1", 8081));
  EXPECT_FALSE(no_proxy_matches("example.com:x", "example.com", 80));
}

}  // namespace
}  // namespace parley::protocol
