// apply_mask against a byte-at-a-time reference: every length 0..300, every
// key phase, every buffer misalignment 0..63, a large buffer, round trips,
// and the same checks again under the other implementations (SSE2, scalar).
#include <gtest/gtest.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "parley/protocol/mask.hpp"
#include "protocol/unmask_ascii.hpp"

extern char** environ;

using parley::protocol::apply_mask;

namespace {

void reference_mask(std::uint8_t* data, std::size_t size, const std::uint8_t key[4], std::size_t phase) {
  for (std::size_t i = 0; i < size; ++i) data[i] ^= key[(phase + i) % 4];
}

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

}  // namespace

TEST(Mask, EmptyReturnsPhase) {
  const std::uint8_t key[4] = {1, 2, 3, 4};
  for (std::size_t phase = 0; phase < 8; ++phase) EXPECT_EQ(apply_mask(nullptr, 0, key, phase), phase % 4);
}

TEST(Mask, Rfc6455Example) {
  // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d is 7f 9f 4d 51 58.
  std::uint8_t data[] = {'H', 'e', 'l', 'l', 'o'};
  const std::uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  EXPECT_EQ(apply_mask(data, sizeof data, key), 1u);
  const std::uint8_t expected[] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
  EXPECT_EQ(0, std::memcmp(data, expected, sizeof data));
}

TEST(Mask, EveryLengthPhaseAndAlignment) {
  const std::uint8_t key[4] = {0xA5, 0x3C, 0x0F, 0xF0};
  const auto source = random_bytes(300 + 64 + 64, 1);
  // One backing buffer, aligned to 64, with guard bytes after the range.
  std::vector<std::uint8_t> backing(300 + 64 + 64 + 64);
  auto* base = backing.data() + (64 - reinterpret_cast<std::uintptr_t>(backing.data()) % 64) % 64;
  std::vector<std::uint8_t> expected(300 + 64 + 64);
  for (std::size_t offset = 0; offset < 64; ++offset) {
    for (std::size_t len = 0; len <= 300; ++len) {
      for (std::size_t phase = 0; phase < 4; ++phase) {
        std::memcpy(base, source.data(), 300 + 128);
        std::memcpy(expected.data(), source.data(), 300 + 128);
        reference_mask(expected.data() + offset, len, key, phase);
        const std::size_t next = apply_mask(base + offset, len, key, phase);
        ASSERT_EQ(next, (phase + len) % 4);
        // Also compares the bytes before and after the range: untouched.
        ASSERT_EQ(0, std::memcmp(base, expected.data(), 300 + 128))
            << "offset " << offset << " len " << len << " phase " << phase;
      }
    }
  }
}

TEST(Mask, UnmaskAsciiMasksAndFindsEveryHighByte) {
  // Every length 0..100 at every misalignment 0..15: the bytes as
  // apply_mask makes them (and none outside the range), and ASCII exactly
  // when no unmasked byte is 0x80 or above, wherever that byte is.
  const std::uint8_t key[4] = {0xA5, 0x3C, 0x0F, 0xF0};
  const auto noise = random_bytes(100 + 16 + 8, 3);
  std::vector<std::uint8_t> plain(100 + 16 + 8), wire(plain.size()), expected(plain.size());
  for (std::size_t offset = 0; offset < 16; ++offset) {
    for (std::size_t len = 0; len <= 100; ++len) {
      for (std::size_t high = 0; high <= len; ++high) {  // high == len: none
        for (std::size_t i = 0; i < plain.size(); ++i) plain[i] = noise[i] & 0x7f;
        if (high < len) plain[offset + high] |= 0x80;
        wire = plain;
        reference_mask(wire.data() + offset, len, key, 0);  // what a client sent
        expected = plain;
        ASSERT_EQ(parley::protocol::unmask_ascii(wire.data() + offset, len, key), high == len)
            << "offset " << offset << " len " << len << " high " << high;
        ASSERT_EQ(wire, expected) << "offset " << offset << " len " << len;
      }
    }
  }
}

TEST(Mask, LargePhaseValuesAreTakenModulo4) {
  const std::uint8_t key[4] = {9, 8, 7, 6};
  auto a = random_bytes(100, 2);
  auto b = a;
  apply_mask(a.data(), a.size(), key, 4 * 1000 + 3);
  reference_mask(b.data(), b.size(), key, 3);
  EXPECT_EQ(a, b);
}

TEST(Mask, OneMebibyte) {
  const std::uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
  const std::size_t n = 1 << 20;
  for (std::size_t offset : {0u, 1u, 3u, 17u, 31u}) {
    auto data = random_bytes(n + 32, 3);
    auto expected = data;
    reference_mask(expected.data() + offset, n - offset, key, 2);
    EXPECT_EQ(apply_mask(data.data() + offset, n - offset, key, 2), (2 + n - offset) % 4);
    EXPECT_EQ(data, expected) << "offset " << offset;
  }
}

TEST(Mask, PiecewiseEqualsWhole) {
  // A payload masked in pieces, each continuing the previous phase, equals
  // the payload masked at once; masking twice restores it.
  const std::uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};
  const auto original = random_bytes(5000, 4);
  auto whole = original;
  apply_mask(whole.data(), whole.size(), key);
  std::mt19937 rng(5);
  for (int round = 0; round < 50; ++round) {
    auto pieces = original;
    std::size_t pos = 0, phase = 0;
    while (pos < pieces.size()) {
      const std::size_t len = std::min<std::size_t>(rng() % 200, pieces.size() - pos);
      phase = apply_mask(pieces.data() + pos, len, key, phase);
      pos += len;
    }
    ASSERT_EQ(pieces, whole);
    apply_mask(pieces.data(), pieces.size(), key);
    ASSERT_EQ(pieces, original);
  }
}

// Runs this binary's Mask* and Utf8* tests again with PARLEY_SIMD capping the
// implementation, so that the SSE and scalar paths are tested on a machine
// that would otherwise always pick AVX2.
TEST(MaskUtf8Paths, SseAndScalarPassTheSameTests) {
  if (std::getenv("PARLEY_SIMD") != nullptr) GTEST_SKIP() << "already a child run";
  std::string self(4096, '\0');
  const ssize_t len = readlink("/proc/self/exe", self.data(), self.size() - 1);
  ASSERT_GT(len, 0);
  self.resize(static_cast<std::size_t>(len));
  for (const char* level : {"sse", "scalar"}) {
    std::vector<std::string> env_strings = {std::string("PARLEY_SIMD=") + level};
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "GTEST_", 6) != 0) env_strings.emplace_back(*e);  // ctest may shard via GTEST_*
    }
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string filter = "--gtest_filter=Mask*:Utf8*:-MaskUtf8Paths.*";
    std::string brief = "--gtest_brief=1";
    char* argv[] = {self.data(), filter.data(), brief.data(), nullptr};
    pid_t pid = 0;
    ASSERT_EQ(0, posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv, envp.data()));
    int status = 0;
    ASSERT_EQ(pid, waitpid(pid, &status, 0));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "tests failed with PARLEY_SIMD=" << level;
  }
}
