#include <gtest/gtest.h>

#include "parley/protocol/headers.hpp"

using namespace parley;
using namespace parley::protocol;

TEST(Headers, CaseInsensitiveMultiValuedOrdered) {
  Headers h;
  h.add("Host", "example.com");
  h.add("X-A", "1");
  h.add("x-a", "2");
  h.add("Other", "z");
  EXPECT_EQ(h.size(), 4u);
  EXPECT_EQ(h.get("HOST"), "example.com");
  EXPECT_EQ(h.get("X-a"), "1");
  EXPECT_FALSE(h.get("missing").has_value());
  EXPECT_TRUE(h.has("host"));
  EXPECT_FALSE(h.has("hos"));
  EXPECT_EQ(h.count("X-A"), 2u);
  auto all = h.get_all("X-A");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], "1");
  EXPECT_EQ(all[1], "2");
  std::vector<std::string> names;
  for (const auto& f : h) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"Host", "X-A", "x-a", "Other"}));
}

TEST(Headers, SetReplacesAllKeepingFirstPosition) {
  Headers h;
  h.add("A", "1");
  h.add("B", "x");
  h.add("a", "2");
  h.set("A", "3");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h.begin()->name, "A");
  EXPECT_EQ(h.begin()->value, "3");
  h.set("C", "new");
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.get("c"), "new");
}

TEST(Headers, RemoveAndClear) {
  Headers h;
  h.add("A", "1");
  h.add("b", "2");
  h.add("a", "3");
  EXPECT_EQ(h.remove("A"), 2u);
  EXPECT_EQ(h.remove("A"), 0u);
  EXPECT_EQ(h.size(), 1u);
  h.clear();
  EXPECT_TRUE(h.empty());
}

TEST(Headers, HasTokenAcrossFieldsAndLists) {
  Headers h;
  h.add("Connection", "keep-alive, Upgrade");
  h.add("Upgrade", "h2c");
  h.add("upgrade", " , WebSocket ,");
  EXPECT_TRUE(h.has_token("connection", "upgrade"));
  EXPECT_TRUE(h.has_token("Connection", "KEEP-ALIVE"));
  EXPECT_TRUE(h.has_token("Upgrade", "websocket"));
  EXPECT_TRUE(h.has_token("Upgrade", "h2c"));
  EXPECT_FALSE(h.has_token("Connection", "close"));
  EXPECT_FALSE(h.has_token("Connection", "upgrad"));
  EXPECT_FALSE(h.has_token("Connection", "keep-alive, Upgrade"));
  EXPECT_FALSE(h.has_token("Missing", "x"));
}

TEST(Headers, SerializeAndValidation) {
  Headers h;
  h.add("A", "1");
  h.add("B", "");
  std::string out;
  h.serialize_to(out);
  EXPECT_EQ(out, "A: 1\r\nB: \r\n");
  EXPECT_TRUE(Headers::valid_name("Sec-WebSocket-Key"));
  EXPECT_FALSE(Headers::valid_name(""));
  EXPECT_FALSE(Headers::valid_name("A B"));
  EXPECT_FALSE(Headers::valid_name("A:"));
  EXPECT_TRUE(Headers::valid_value("a\tb \x80"));
  EXPECT_TRUE(Headers::valid_value(""));
  EXPECT_FALSE(Headers::valid_value("a\r\nX-Injected: 1"));
  EXPECT_FALSE(Headers::valid_value(std::string("a\0b", 3)));
  EXPECT_FALSE(Headers::valid_value(" a"));
  EXPECT_FALSE(Headers::valid_value("a\t"));
}

TEST(HeaderValue, ParsesTokensParamsAndQuotedStrings) {
  auto r = HeaderValue::parse_list(R"(token; param; param2=token; p3="quoted \"string\"", token2)");
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 2u);
  const HeaderValue& a = (*r)[0];
  EXPECT_EQ(a.value(), "token");
  ASSERT_EQ(a.params().size(), 3u);
  EXPECT_EQ(a.params()[0], (HeaderParam{"param", std::nullopt}));
  EXPECT_EQ(a.params()[1], (HeaderParam{"param2", "token"}));
  EXPECT_EQ(a.params()[2], (HeaderParam{"p3", "quoted \"string\""}));
  EXPECT_TRUE(a.has_param("PARAM2"));
  EXPECT_EQ(a.find_param("P3")->value, "quoted \"string\"");
  EXPECT_EQ((*r)[1].value(), "token2");
  EXPECT_TRUE((*r)[1].params().empty());
  EXPECT_EQ(HeaderValue::join(*r), R"(token; param; param2=token; p3="quoted \"string\"", token2)");
}

TEST(HeaderValue, Rfc7692Example) {
  auto r = Extension::parse_list(
      "permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name(), "permessage-deflate");
  EXPECT_FALSE((*r)[0].find_param("client_max_window_bits")->value.has_value());
  EXPECT_EQ((*r)[0].find_param("server_max_window_bits")->value, "10");
  EXPECT_EQ((*r)[1].name(), "permessage-deflate");
  EXPECT_EQ(Extension::join(*r),
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate");
}

TEST(HeaderValue, WhitespaceAndEmptyElements) {
  auto r = HeaderValue::parse_list(" ,a \t;\tb=1 ;c ,, ,\td,");
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].to_string(), "a; b=1; c");
  EXPECT_EQ((*r)[1].to_string(), "d");
  auto empty = HeaderValue::parse_list("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  auto commas = HeaderValue::parse_list(" , ,");
  ASSERT_TRUE(commas);
  EXPECT_TRUE(commas->empty());
}

TEST(HeaderValue, QuotedStringEdgeCases) {
  auto r = HeaderValue::parse_list(R"(x; a=""; b="\\"; c="a,b;c=d"; d="\a"; e="tab	here")");
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  const auto& p = (*r)[0].params();
  ASSERT_EQ(p.size(), 5u);
  EXPECT_EQ(p[0].value, "");
  EXPECT_EQ(p[1].value, "\\");
  EXPECT_EQ(p[2].value, "a,b;c=d");
  EXPECT_EQ(p[3].value, "a");
  EXPECT_EQ(p[4].value, "tab\there");
  EXPECT_EQ((*r)[0].to_string(), "x; a=\"\"; b=\"\\\\\"; c=\"a,b;c=d\"; d=a; e=\"tab\there\"");
  auto again = HeaderValue::parse_list((*r)[0].to_string());
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)[0], (*r)[0]);
}

TEST(HeaderValue, DuplicatesAreKept) {
  auto r = HeaderValue::parse_list("a; p=1; p=2, a");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].params().size(), 2u);
  EXPECT_EQ((*r)[0].find_param("p")->value, "1");
}

TEST(HeaderValue, RejectsMalformed) {
  for (const char* bad : {
           "a b",             // two tokens without a separator
           "a;",              // missing parameter name
           "a; =1",           // missing parameter name
           "a; b=",           // missing value
           "a; b =1",         // whitespace before '='
           "a; b= 1",         // whitespace after '='
           "a; b=\"open",     // unterminated quoted-string
           "a; b=\"x\\",      // backslash at the end
           "a; b=\"x\"y",     // junk after a quoted-string
           "\"a\"",           // a quoted-string where a token belongs
           "a@b",             // not a tchar
           "a; b=c/d",        // '/' is not a tchar
           "a;b=1;",          // trailing ';'
           "a, ;b",           // parameter without a value
           "a; b=\"\x01\"",   // control character in a quoted-string
           "a\r\n",           // CRLF
           "(a)",             // delimiters
       }) {
    auto r = HeaderValue::parse_list(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error(), HandshakeError::bad_extension_header) << bad;
    }
  }
}

TEST(Extension, QuotedValueMustBeToken) {
  auto ok = Extension::parse_list("x; a=\"10\"");
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)[0].find_param("a")->value, "10");
  EXPECT_EQ((*ok)[0].to_string(), "x; a=10");
  EXPECT_FALSE(Extension::parse_list("x; a=\"1 0\""));
  EXPECT_FALSE(Extension::parse_list("x; a=\"\""));
  // The generic HeaderValue allows it.
  EXPECT_TRUE(HeaderValue::parse_list("x; a=\"1 0\""));
}

TEST(Extension, ValidAndBuild) {
  Extension e("permessage-deflate");
  e.add_param("client_max_window_bits");
  e.add_param("server_max_window_bits", "10");
  EXPECT_TRUE(e.valid());
  EXPECT_EQ(e.to_string(), "permessage-deflate; client_max_window_bits; server_max_window_bits=10");
  Extension bad("x");
  bad.add_param("a", "1 0");
  EXPECT_FALSE(bad.valid());
  EXPECT_TRUE(static_cast<const HeaderValue&>(bad).valid());
  EXPECT_FALSE(Extension("bad name").valid());
  HeaderValue ctl("x");
  ctl.add_param("a", "\r\n");
  EXPECT_FALSE(ctl.valid());
}
