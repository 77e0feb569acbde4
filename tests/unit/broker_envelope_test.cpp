// The broker's envelope (src/broker/envelope.hpp), without Redis: encode
// and decode round trips, every malformed form refused, stream ids.
#include <gtest/gtest.h>

#include <string>

#include "broker/envelope.hpp"

namespace parley::broker {
namespace {

std::string encoded(MessageType t, std::uint64_t origin, std::string_view id, std::string_view payload) {
  std::string s;
  encode_envelope(s, t, origin, id, payload);
  return s;
}

TEST(BrokerEnvelope, RoundTripWithoutId) {
  const std::string s = encoded(MessageType::text, 0x0123456789abcdefULL, "", "hello");
  EXPECT_EQ(s, "P1T0123456789abcdef|hello");
  auto e = decode_envelope(s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, MessageType::text);
  EXPECT_EQ(e->origin, 0x0123456789abcdefULL);
  EXPECT_EQ(e->id, "");
  EXPECT_EQ(e->payload, "hello");
}

TEST(BrokerEnvelope, RoundTripWithIdAndBinaryPayload) {
  const std::string payload("\x00\xff|P1\x80", 6);
  const std::string s = encoded(MessageType::binary, ~0ULL, "1700000000000-42", payload);
  auto e = decode_envelope(s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, MessageType::binary);
  EXPECT_EQ(e->origin, ~0ULL);
  EXPECT_EQ(e->id, "1700000000000-42");
  EXPECT_EQ(e->payload, payload);
}

TEST(BrokerEnvelope, EmptyPayload) {
  auto e = decode_envelope(encoded(MessageType::text, 1, "", ""));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->payload, "");
  EXPECT_EQ(e->origin, 1u);
}

TEST(BrokerEnvelope, HeadIsThePrefixOfTheEnvelope) {
  std::string head;
  encode_envelope_head(head, MessageType::binary, 0xabc);
  const std::string full = encoded(MessageType::binary, 0xabc, "5-6", "x");
  EXPECT_EQ(full.substr(0, head.size()), head);
  EXPECT_EQ(head.size(), kEnvelopeFixed);
  // What the Lua script builds: head .. id .. '|' .. data
  const std::string scripted = head + "5-6|x";
  auto e = decode_envelope(scripted);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->id, "5-6");
}

TEST(BrokerEnvelope, MalformedAreRefused) {
  const std::string good = encoded(MessageType::text, 7, "1-2", "ok");
  ASSERT_TRUE(decode_envelope(good));
  const char* bad[] = {
      "",
      "P1T0000000000000007",            // no '|'
      "P2T0000000000000007|x",          // other version
      "p1T0000000000000007|x",          // magic case
      "P1X0000000000000007|x",          // type
      "P1t0000000000000007|x",          // type case
      "P1T000000000000000G|x",          // not hex
      "P1T000000000000000A|x",          // uppercase hex
      "P1T000000000000007|x",           // origin too short
      "P1T00000000000000071-2x|x",      // id with a letter
      "P1T0000000000000007-|x",         // half an id
      "P1T00000000000000071-|x",        // half an id
      "P1T0000000000000007-1|x",        // half an id
      "P1T00000000000000071|x",         // id without seq
      "P1T000000000000000799999999999999999999999-1|x",  // ms over 20 digits
      "P1T000000000000000718446744073709551616-1|x",     // ms over UINT64_MAX
  };
  for (const char* b : bad) EXPECT_FALSE(decode_envelope(b)) << b;
  // A '|' beyond the longest id is not looked for.
  EXPECT_FALSE(decode_envelope("P1T0000000000000007" + std::string(60, '1') + "|x"));
}

TEST(BrokerEnvelope, TextMustBeUtf8BinaryNeedNot) {
  EXPECT_FALSE(decode_envelope(encoded(MessageType::text, 1, "", "\xc3\x28")));
  EXPECT_FALSE(decode_envelope(encoded(MessageType::text, 1, "", "\xed\xa0\x80")));  // surrogate
  EXPECT_TRUE(decode_envelope(encoded(MessageType::binary, 1, "", "\xc3\x28")));
  EXPECT_TRUE(decode_envelope(encoded(MessageType::text, 1, "", "caf\xc3\xa9")));
}

TEST(BrokerEnvelope, EveryPrefixOfAValidEnvelopeDecodesOrNot) {
  const std::string s = encoded(MessageType::binary, 99, "123-456", "payload");
  for (std::size_t n = 0; n <= s.size(); ++n) {
    auto e = decode_envelope(std::string_view(s).substr(0, n));
    if (e) {
      EXPECT_EQ(e->id, "123-456");
      EXPECT_EQ(e->payload, std::string_view(s).substr(27, n - 27));
    }
  }
}

TEST(BrokerEnvelope, MarkersCarryATokenAndNoId) {
  std::string out;
  encode_marker(out, 0x0123456789abcdefULL, "42");
  EXPECT_EQ(out, "P1M0123456789abcdef|42");
  const auto e = decode_envelope(out);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->marker);
  EXPECT_EQ(e->origin, 0x0123456789abcdefULL);
  EXPECT_EQ(e->payload, "42");
  EXPECT_TRUE(e->id.empty());
  // A marker never has an id; a message is never a marker.
  EXPECT_FALSE(decode_envelope("P1M0123456789abcdef1-1|42"));
  std::string message;
  encode_envelope(message, MessageType::text, 1, "1-1", "42");
  EXPECT_FALSE(decode_envelope(message)->marker);
}

TEST(BrokerEnvelope, StreamIds) {
  auto a = parse_stream_id("1700000000000-0");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->ms, 1700000000000u);
  EXPECT_EQ(a->seq, 0u);
  EXPECT_TRUE(parse_stream_id("18446744073709551615-18446744073709551615"));
  EXPECT_FALSE(parse_stream_id("18446744073709551616-0"));
  EXPECT_FALSE(parse_stream_id("12"));
  auto s = parse_stream_id("12", true);
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, (StreamId{12, 0}));
  EXPECT_FALSE(parse_stream_id("", true));
  EXPECT_FALSE(parse_stream_id("-1", true));
  EXPECT_FALSE(parse_stream_id("1-2-3"));
  EXPECT_FALSE(parse_stream_id("+1-2"));
  EXPECT_FALSE(parse_stream_id(" 1-2"));
  EXPECT_LT((StreamId{1, 9}), (StreamId{2, 0}));
  EXPECT_LT((StreamId{2, 0}), (StreamId{2, 1}));
  EXPECT_EQ(node_id_hex(0xfULL), "000000000000000f");
}

}  // namespace
}  // namespace parley::broker
