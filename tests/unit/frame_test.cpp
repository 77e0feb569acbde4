// Frame header codec and the incremental parser (RFC 6455 §5).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "parley/protocol/frame.hpp"

using namespace parley;
using namespace parley::protocol;

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int v : b) s += static_cast<char>(v);
  return s;
}

struct Parsed {
  FrameHeader header;
  std::string payload;
};

// Feeds `wire` to a parser in pieces of the given sizes (the last repeats),
// collecting whole frames; stops at the first error and returns it.
Error parse_all(std::string wire, const FrameParserOptions& opt, std::vector<Parsed>& out,
                std::vector<std::size_t> pieces = {}) {
  FrameParser p(opt);
  std::size_t at = 0, k = 0;
  while (at < wire.size()) {
    std::size_t n = pieces.empty() ? wire.size() : pieces[std::min(k++, pieces.size() - 1)];
    n = std::min(n, wire.size() - at);
    auto* data = reinterpret_cast<std::uint8_t*>(wire.data() + at);
    std::size_t size = n;
    for (;;) {
      auto c = p.next(data, size);
      if (c.kind == FrameParser::Chunk::Kind::error) return p.error();
      if (c.kind == FrameParser::Chunk::Kind::need_more) break;
      if (c.frame_start) out.push_back({p.header(), {}});
      out.back().payload.append(reinterpret_cast<char*>(c.data), c.size);
    }
    EXPECT_EQ(size, 0u);
    at += n;
  }
  return {};
}

FrameParserOptions server() { return {Role::server, 0, 0}; }
FrameParserOptions client() { return {Role::client, 0, 0}; }

}  // namespace

// RFC 6455 §5.7 examples, byte for byte.
TEST(Frame, Rfc6455Section5_7Examples) {
  std::vector<Parsed> f;
  ASSERT_FALSE(parse_all(bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), client(), f));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].payload, "Hello");
  EXPECT_TRUE(f[0].header.fin);
  EXPECT_EQ(f[0].header.opcode, Opcode::text);

  f.clear();
  const std::string masked = bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  ASSERT_FALSE(parse_all(masked, server(), f));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].payload, "Hello");
  Frame fr;
  fr.payload = "Hello";
  fr.masked = true;
  std::memcpy(fr.mask, "\x37\xfa\x21\x3d", 4);
  EXPECT_EQ(fr.serialize(), masked);

  f.clear();
  ASSERT_FALSE(parse_all(bytes({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}), client(), f));
  ASSERT_EQ(f.size(), 2u);
  EXPECT_FALSE(f[0].header.fin);
  EXPECT_EQ(f[0].payload, "Hel");
  EXPECT_EQ(f[1].header.opcode, Opcode::continuation);
  EXPECT_EQ(f[1].payload, "lo");

  f.clear();
  ASSERT_FALSE(parse_all(bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), client(), f));
  EXPECT_EQ(f[0].header.opcode, Opcode::ping);
  f.clear();
  ASSERT_FALSE(parse_all(bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}), server(), f));
  EXPECT_EQ(f[0].header.opcode, Opcode::pong);
  EXPECT_EQ(f[0].payload, "Hello");

  Frame b256;
  b256.opcode = Opcode::binary;
  b256.payload.assign(256, 'x');
  EXPECT_EQ(b256.serialize().substr(0, 4), bytes({0x82, 0x7e, 0x01, 0x00}));
  Frame b64k;
  b64k.opcode = Opcode::binary;
  b64k.payload.assign(65536, 'y');
  EXPECT_EQ(b64k.serialize().substr(0, 10), bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}));
}

TEST(Frame, LengthEncodingBoundaries) {
  for (std::uint64_t len : {0ull, 1ull, 125ull, 126ull, 127ull, 65535ull, 65536ull, 0xffffffffull, 0x100000000ull,
                            0x7fffffffffffffffull}) {
    for (bool masked : {false, true}) {
      FrameHeader h;
      h.opcode = Opcode::binary;
      h.payload_length = len;
      h.masked = masked;
      h.rsv = rsv1 | rsv3;
      h.fin = false;
      std::memcpy(h.mask, "\x01\x02\x03\x04", 4);
      std::uint8_t buf[max_frame_header_size];
      const std::size_t n = write_frame_header(buf, h);
      const std::size_t expect = 2 + (len < 126 ? 0 : len <= 0xffff ? 2 : 8) + (masked ? 4 : 0);
      EXPECT_EQ(n, expect) << len;
      FrameParser p({masked ? Role::server : Role::client, rsv1 | rsv3, 0});
      std::uint8_t* data = buf;
      std::size_t size = n;
      auto c = p.next(data, size);
      ASSERT_EQ(c.kind, FrameParser::Chunk::Kind::payload) << len;
      EXPECT_TRUE(c.frame_start);
      EXPECT_EQ(c.frame_end, len == 0);
      EXPECT_EQ(p.header().payload_length, len);
      EXPECT_EQ(p.header().rsv, rsv1 | rsv3);
      EXPECT_FALSE(p.header().fin);
      EXPECT_EQ(p.remaining(), len);
      // read_frame_header gives the same header back, and nothing from a cut one.
      const std::string_view bytes(reinterpret_cast<const char*>(buf), n);
      auto read = read_frame_header(bytes);
      ASSERT_TRUE(read) << len;
      EXPECT_EQ(read->payload_length, len);
      EXPECT_EQ(read->masked, masked);
      EXPECT_EQ(read->rsv, rsv1 | rsv3);
      EXPECT_EQ(read->opcode, Opcode::binary);
      EXPECT_FALSE(read->fin);
      if (masked) {
        EXPECT_EQ(0, std::memcmp(read->mask, h.mask, 4));
      }
      EXPECT_FALSE(read_frame_header(bytes.substr(0, n - 1))) << len;
    }
  }
}

namespace {
Error first_error(const std::string& wire, FrameParserOptions opt) {
  std::vector<Parsed> f;
  return parse_all(wire, opt, f);
}
}  // namespace

TEST(Frame, RejectsReservedOpcodes) {
  for (int op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
    Error e = first_error(bytes({0x80 | op, 0x00}), client());
    EXPECT_EQ(e, ProtocolError::reserved_opcode) << op;
    EXPECT_EQ(close_code_for(ProtocolError::reserved_opcode), CloseCode::protocol_error);
  }
  for (int op : {0, 1, 2, 8, 9, 10}) {
    // (0 alone is only a sequencing error, found by the engine)
    EXPECT_FALSE(first_error(bytes({0x80 | op, 0x00}), client())) << op;
  }
}

TEST(Frame, RejectsUnnegotiatedReservedBits) {
  for (int bit : {0x40, 0x20, 0x10, 0x70}) {
    EXPECT_EQ(first_error(bytes({0x81 | bit, 0x00}), client()), ProtocolError::reserved_bits) << bit;
  }
  EXPECT_FALSE(first_error(bytes({0xc1, 0x00}), {Role::client, rsv1, 0}));
  EXPECT_EQ(first_error(bytes({0xe1, 0x00}), {Role::client, rsv1, 0}), ProtocolError::reserved_bits);
}

TEST(Frame, RejectsBadControlFrames) {
  EXPECT_EQ(first_error(bytes({0x09, 0x00}), client()), ProtocolError::fragmented_control);
  EXPECT_EQ(first_error(bytes({0x08, 0x00}), client()), ProtocolError::fragmented_control);
  EXPECT_EQ(first_error(bytes({0x89, 126, 0x00, 126}), client()), ProtocolError::control_too_long);
  EXPECT_EQ(first_error(bytes({0x8a, 127, 0, 0, 0, 0, 0, 0, 0, 200}), client()), ProtocolError::control_too_long);
  std::string ok = bytes({0x89, 125}) + std::string(125, 'p');
  EXPECT_FALSE(first_error(ok, client()));
}

TEST(Frame, EnforcesMaskingByRole) {
  EXPECT_EQ(first_error(bytes({0x81, 0x00}), server()), ProtocolError::unmasked_frame);
  EXPECT_EQ(first_error(bytes({0x81, 0x80, 1, 2, 3, 4}), client()), ProtocolError::masked_frame);
}

TEST(Frame, RejectsLengthWithTopBit) {
  EXPECT_EQ(first_error(bytes({0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}), client()), ProtocolError::bad_length);
}

TEST(Frame, MaxFrameSizeAtHeaderTime) {
  FrameParserOptions o = client();
  o.max_frame_size = 1000;
  // The header alone is enough to refuse: no payload follows.
  EXPECT_EQ(first_error(bytes({0x82, 126, 0x03, 0xe9}), o), ProtocolError::frame_too_big);
  EXPECT_EQ(close_code_for(ProtocolError::frame_too_big), CloseCode::message_too_big);
  EXPECT_FALSE(first_error(bytes({0x82, 126, 0x03, 0xe8}) + std::string(1000, 'a'), o));
}

TEST(Frame, PayloadArrivingWholeIsNotCopied) {
  std::string wire = bytes({0x82, 0x03, 'a', 'b', 'c', 0x82, 0x01, 'z'});
  FrameParser p(client());
  auto* data = reinterpret_cast<std::uint8_t*>(wire.data());
  std::size_t size = wire.size();
  auto c = p.next(data, size);
  EXPECT_EQ(c.data, reinterpret_cast<std::uint8_t*>(wire.data()) + 2);
  EXPECT_TRUE(c.frame_start && c.frame_end);
  c = p.next(data, size);
  EXPECT_EQ(c.data, reinterpret_cast<std::uint8_t*>(wire.data()) + 7);
  EXPECT_EQ(p.next(data, size).kind, FrameParser::Chunk::Kind::need_more);
}

TEST(Frame, SameFramesAtEverySplitPointAndChunkSize) {
  std::mt19937 rng(42);
  std::string wire;
  std::vector<Frame> frames;
  const Opcode ops[] = {Opcode::text, Opcode::binary, Opcode::continuation, Opcode::ping, Opcode::pong, Opcode::close};
  for (int i = 0; i < 40; ++i) {
    Frame f;
    f.opcode = ops[rng() % 6];
    std::size_t len = is_control(f.opcode) ? rng() % 126 : (i % 7 == 0 ? 70000 + rng() % 100 : rng() % 300);
    f.payload.resize(len);
    for (auto& ch : f.payload) ch = static_cast<char>(rng());
    f.fin = is_control(f.opcode) || rng() % 2;
    f.masked = true;
    for (auto& m : f.mask) m = static_cast<std::uint8_t>(rng());
    wire += f.serialize();
    frames.push_back(f);
  }
  auto check = [&](const std::vector<Parsed>& got) {
    ASSERT_EQ(got.size(), frames.size());
    for (std::size_t i = 0; i < frames.size(); ++i) {
      EXPECT_EQ(got[i].payload, frames[i].payload) << i;
      EXPECT_EQ(got[i].header.opcode, frames[i].opcode);
      EXPECT_EQ(got[i].header.fin, frames[i].fin);
      EXPECT_EQ(0, std::memcmp(got[i].header.mask, frames[i].mask, 4));
    }
  };
  // Two pieces, split at every point of the first 3000 bytes (every header
  // and mask phase of the small frames), then one byte at a time.
  for (std::size_t split = 0; split <= 3000; ++split) {
    std::vector<Parsed> got;
    ASSERT_FALSE(parse_all(wire, server(), got, {split == 0 ? wire.size() : split, wire.size()}));
    check(got);
    if (HasFailure()) return;
  }
  std::vector<Parsed> got;
  ASSERT_FALSE(parse_all(wire, server(), got, {1}));
  check(got);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::size_t> pieces;
    for (int k = 0; k < 2000; ++k) pieces.push_back(1 + rng() % (round < 25 ? 20 : 5000));
    got.clear();
    ASSERT_FALSE(parse_all(wire, server(), got, pieces));
    check(got);
  }
}

TEST(Frame, SerializeParseRoundTripOfRandomFrames) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    Frame f;
    const Opcode ops[] = {Opcode::text, Opcode::binary, Opcode::continuation, Opcode::ping, Opcode::pong, Opcode::close};
    f.opcode = ops[rng() % 6];
    f.fin = is_control(f.opcode) || rng() % 2;
    f.rsv = static_cast<std::uint8_t>((rng() % 8) << 4);
    f.masked = rng() % 2;
    for (auto& m : f.mask) m = static_cast<std::uint8_t>(rng());
    const std::size_t len = is_control(f.opcode) ? rng() % 126 : (rng() % 10 == 0 ? rng() % 70000 : rng() % 200);
    f.payload.resize(len);
    for (auto& ch : f.payload) ch = static_cast<char>(rng());
    const std::string wire = f.serialize() + "trailing";
    std::size_t consumed = 0;
    auto r = Frame::parse(wire, {f.masked ? Role::server : Role::client, rsv1 | rsv2 | rsv3, 0}, consumed);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_TRUE(r->has_value());
    const Frame& g = **r;
    EXPECT_EQ(consumed, wire.size() - 8);
    EXPECT_EQ(g.payload, f.payload);
    EXPECT_EQ(g.opcode, f.opcode);
    EXPECT_EQ(g.fin, f.fin);
    EXPECT_EQ(g.rsv, f.rsv);
    EXPECT_EQ(g.masked, f.masked);
    // Every proper prefix is incomplete, never an error.
    if (i % 50 == 0) {
      for (std::size_t cut = 0; cut + 8 < wire.size(); cut += 1 + cut / 3) {
        std::size_t n = 1;
        auto partial = Frame::parse(std::string_view(wire).substr(0, cut), {f.masked ? Role::server : Role::client, 0x70, 0}, n);
        ASSERT_TRUE(partial);
        EXPECT_FALSE(partial->has_value());
        EXPECT_EQ(n, 0u);
      }
    }
  }
}

TEST(Frame, ErrorIsStickyAndSaysWhy) {
  std::string wire = bytes({0x83, 0x00, 0x81, 0x00});
  FrameParser p(client());
  auto* data = reinterpret_cast<std::uint8_t*>(wire.data());
  std::size_t size = wire.size();
  EXPECT_EQ(p.next(data, size).kind, FrameParser::Chunk::Kind::error);
  EXPECT_EQ(p.next(data, size).kind, FrameParser::Chunk::Kind::error);
  EXPECT_EQ(p.error().message(), "reserved opcode 3");
}
