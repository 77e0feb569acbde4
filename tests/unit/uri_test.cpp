#include <gtest/gtest.h>

#include "parley/protocol/uri.hpp"

using namespace parley;
using namespace parley::protocol;

TEST(Uri, Basic) {
  auto u = Uri::parse("ws://example.com/chat?x=1&y=a%20b");
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->scheme(), "ws");
  EXPECT_FALSE(u->secure());
  EXPECT_EQ(u->host(), "example.com");
  EXPECT_EQ(u->port(), 80);
  EXPECT_FALSE(u->has_explicit_port());
  EXPECT_EQ(u->path(), "/chat");
  EXPECT_EQ(u->query(), "x=1&y=a%20b");
  EXPECT_EQ(u->resource(), "/chat?x=1&y=a%20b");
  EXPECT_EQ(u->host_header(), "example.com");
  auto params = u->query_params();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0], (QueryParam{"x", "1"}));
  EXPECT_EQ(params[1], (QueryParam{"y", "a b"}));
  EXPECT_EQ(u->to_string(), "ws://example.com/chat?x=1&y=a%20b");
}

TEST(Uri, SchemesAndDefaultPorts) {
  struct Case { const char* text; const char* scheme; bool secure; int port; };
  for (const Case& c : {Case{"ws://h", "ws", false, 80}, Case{"wss://h", "wss", true, 443},
                        Case{"http://h", "http", false, 80}, Case{"https://h", "https", true, 443},
                        Case{"WSS://H", "wss", true, 443}, Case{"Ws://h", "ws", false, 80}}) {
    auto u = Uri::parse(c.text);
    ASSERT_TRUE(u) << c.text;
    EXPECT_EQ(u->scheme(), c.scheme);
    EXPECT_EQ(u->secure(), c.secure);
    EXPECT_EQ(u->port(), c.port);
    EXPECT_EQ(u->path(), "/");
    EXPECT_EQ(u->resource(), "/");
    EXPECT_EQ(u->host(), "h");
    EXPECT_EQ(u->host_header(), "h");
  }
}

TEST(Uri, ExplicitPorts) {
  auto a = Uri::parse("wss://example.com:8443/x");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->port(), 8443);
  EXPECT_TRUE(a->has_explicit_port());
  EXPECT_EQ(a->host_header(), "example.com:8443");
  auto b = Uri::parse("wss://example.com:443/x");  // the default port is left out of Host
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->has_explicit_port());
  EXPECT_EQ(b->host_header(), "example.com");
  auto c = Uri::parse("ws://example.com:443/");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host_header(), "example.com:443");
  auto d = Uri::parse("ws://h:65535");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->port(), 65535);
  auto e = Uri::parse("ws://h:1");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->port(), 1);
}

TEST(Uri, Ipv4AndIpv6) {
  auto a = Uri::parse("ws://127.0.0.1:9001/");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host(), "127.0.0.1");
  EXPECT_FALSE(a->is_ipv6());
  EXPECT_EQ(a->host_header(), "127.0.0.1:9001");
  auto b = Uri::parse("ws://[::1]:9001/x");
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->host(), "::1");
  EXPECT_TRUE(b->is_ipv6());
  EXPECT_EQ(b->port(), 9001);
  EXPECT_EQ(b->host_header(), "[::1]:9001");
  auto c = Uri::parse("wss://[2001:DB8::A:1]");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host(), "2001:db8::a:1");
  EXPECT_EQ(c->host_header(), "[2001:db8::a:1]");
  EXPECT_EQ(c->to_string(), "wss://[2001:db8::a:1]/");
  for (const char* ok : {"ws://[::]/", "ws://[1:2:3:4:5:6:7:8]/", "ws://[::ffff:192.0.2.1]/", "ws://[1::]/",
                         "ws://[1:2:3:4:5:6::8]/", "ws://[1:2:3:4:5:6:1.2.3.4]/", "ws://[fe80::1]"}) {
    EXPECT_TRUE(Uri::parse(ok)) << ok;
  }
  for (const char* bad : {"ws://[::1/", "ws://[]/", "ws://[1:2:3:4:5:6:7:8:9]/", "ws://[1::2::3]/",
                          "ws://[12345::]/", "ws://[1:2:3:4:5:6:7]/", "ws://[:1]/", "ws://[1:]/",
                          "ws://[fe80::1%25eth0]/", "ws://[v1.x]/", "ws://[::1]x/", "ws://[g::1]/",
                          "ws://[::1.2.3]/", "ws://[1:2:3:4:5:6:7:1.2.3.4]/", "ws://::1/"}) {
    auto r = Uri::parse(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error(), HandshakeError::bad_uri);
    }
  }
  for (const char* bad : {"ws://1.2.3/", "ws://1.2.3.4.5/", "ws://256.1.1.1/", "ws://01.2.3.4/", "ws://1..2.3/"}) {
    EXPECT_FALSE(Uri::parse(bad)) << bad;
  }
}

TEST(Uri, QueryOnlyAndPaths) {
  auto a = Uri::parse("ws://h?x=1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->path(), "/");
  EXPECT_EQ(a->query(), "x=1");
  EXPECT_EQ(a->resource(), "/?x=1");
  auto b = Uri::parse("ws://h/?");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->query(), "");
  EXPECT_EQ(b->resource(), "/?");
  auto c = Uri::parse("ws://h/a/b%2Fc;p=1/@:?q=/?a");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->path(), "/a/b%2Fc;p=1/@:");
  EXPECT_EQ(c->query(), "q=/?a");
  auto d = Uri::parse("ws://Example.COM.");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host(), "example.com.");
}

TEST(Uri, Rejections) {
  for (const char* bad : {
           "",
           "example.com",
           "ftp://h/",
           "wsx://h/",
           "ws:/h/",
           "ws:h",
           "ws://",
           "ws:///path",
           "ws://:80/",
           "ws://h:/",
           "ws://h:0/",
           "ws://h:65536/",
           "ws://h:99999999999/",
           "ws://h:8a/",
           "ws://h:-1/",
           "ws://h/#frag",
           "ws://h#",
           "ws://user@h/",
           "ws://user:pass@h/",
           "ws://h /",
           "ws://h/a b",
           "ws://h/\x01",
           "ws://h/\x7f",
           "ws://h/\xc3\xa9",
           "ws://h\t/",
           "ws://h/%zz",
           "ws://h/%4",
           "ws://h/?a=%",
           "ws://h/<script>",
           "ws://h/a\\b",
           "ws://h!x/",
           "ws://h%41/",
           "ws://.h/",
       }) {
    auto r = Uri::parse(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error(), HandshakeError::bad_uri) << bad;
    }
  }
}

TEST(Uri, FragmentMessageMentionsRfc) {
  auto r = Uri::parse("ws://h/x#y");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("fragment"), std::string::npos);
}

TEST(PercentDecode, ValidAndMalformed) {
  EXPECT_EQ(percent_decode("a%20b%2fc%2F"), "a b/c/");
  EXPECT_EQ(percent_decode("%41%4a%4A"), "AJJ");
  EXPECT_EQ(percent_decode("%zz"), "%zz");
  EXPECT_EQ(percent_decode("%4"), "%4");
  EXPECT_EQ(percent_decode("%"), "%");
  EXPECT_EQ(percent_decode("100%"), "100%");
  EXPECT_EQ(percent_decode("%%41"), "%A");
  EXPECT_EQ(percent_decode("%g1%1g"), "%g1%1g");
  EXPECT_EQ(percent_decode("a+b"), "a+b");
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  EXPECT_EQ(percent_decode("%2B", true), "+");
  EXPECT_EQ(percent_decode("%00"), std::string(1, '\0'));
  EXPECT_EQ(percent_decode("%C3%A9"), "\xc3\xa9");
}

TEST(PercentDecode, QueryParams) {
  auto p = parse_query("a=1&b=&c&a=2&&=v&d=x=y&e=%zz&f+g=h+i");
  ASSERT_EQ(p.size(), 8u);
  EXPECT_EQ(p[0], (QueryParam{"a", "1"}));
  EXPECT_EQ(p[1], (QueryParam{"b", ""}));
  EXPECT_EQ(p[2], (QueryParam{"c", ""}));
  EXPECT_EQ(p[3], (QueryParam{"a", "2"}));
  EXPECT_EQ(p[4], (QueryParam{"", "v"}));
  EXPECT_EQ(p[5], (QueryParam{"d", "x=y"}));
  EXPECT_EQ(p[6], (QueryParam{"e", "%zz"}));
  EXPECT_EQ(p[7], (QueryParam{"f g", "h i"}));
  EXPECT_TRUE(parse_query("").empty());
  EXPECT_TRUE(parse_query("&&").empty());
}
