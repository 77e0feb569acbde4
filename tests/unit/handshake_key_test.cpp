#include <gtest/gtest.h>

#include "parley/protocol/handshake.hpp"

using namespace parley::protocol;

TEST(HandshakeKey, Rfc6455Section1_3Example) {
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(HandshakeKey, GeneratedKeysAre16RandomBytes) {
  std::string a = generate_key(), b = generate_key(), raw;
  EXPECT_EQ(a.size(), 24u);
  EXPECT_NE(a, b);
  ASSERT_TRUE(base64_decode(a, raw));
  EXPECT_EQ(raw.size(), 16u);
}

TEST(Base64, Rfc4648Vectors) {
  const char* vectors[][2] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
                              {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (auto& v : vectors) {
    EXPECT_EQ(base64_encode(v[0]), v[1]);
    std::string out;
    ASSERT_TRUE(base64_decode(v[1], out)) << v[1];
    EXPECT_EQ(out, v[0]);
  }
}

TEST(Base64, RejectsMalformed) {
  std::string out;
  for (const char* bad : {"Zg=", "Zg===", "Z===", "=Zg=", "Zm9v!A==", "Zg==Zg==", "Zm=v", "Zm9"}) {
    EXPECT_FALSE(base64_decode(bad, out)) << bad;
  }
}
