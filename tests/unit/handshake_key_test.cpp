#include <gtest/gtest.h>

#include "parley/protocol/handshake.hpp"
#include "protocol/sha1.hpp"

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

// FIPS 180-2 appendix A's examples and the empty message: one block, the
// padding spilling into a second block, and many blocks.
TEST(Sha1, FipsVectors) {
  const auto hex = [](const std::array<std::uint8_t, 20>& d) {
    std::string out;
    for (std::uint8_t b : d) out += "0123456789abcdef"[b >> 4], out += "0123456789abcdef"[b & 15];
    return out;
  };
  EXPECT_EQ(hex(detail::sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(hex(detail::sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex(detail::sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(hex(detail::sha1(std::string(1000000, 'a'))), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  // 55, 56 and 64 bytes: the lengths around the padding's block boundary.
  EXPECT_EQ(hex(detail::sha1(std::string(55, 'a'))), "c1c8bbdc22796e28c0e15163d20899b65621d65a");
  EXPECT_EQ(hex(detail::sha1(std::string(56, 'a'))), "c2db330f6083854c99d4b5bfb6e8f29f201be699");
  EXPECT_EQ(hex(detail::sha1(std::string(64, 'a'))), "0098ba824b5c16427bd7a1122a5a442a25ec644d");
}
