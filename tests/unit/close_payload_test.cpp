// protocol::ClosePayload: a close frame's payload parsed, checked, written.
#include <gtest/gtest.h>

#include <string>

#include "parley/protocol/close_payload.hpp"

namespace parley::protocol {
namespace {

TEST(ClosePayload, ParsesCodeAndReason) {
  const std::string wire = std::string("\x03\xe8", 2) + "bye";
  auto p = ClosePayload::parse(wire);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->code, CloseCode::normal);
  EXPECT_EQ(p->reason, "bye");
  auto empty = ClosePayload::parse({});
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->code, CloseCode::no_status);
  EXPECT_TRUE(empty->reason.empty());
}

TEST(ClosePayload, RefusesWhatMayNotBeOnTheWire) {
  EXPECT_EQ(ClosePayload::parse(std::string(1, '\x03')).error(), ProtocolError::bad_close_payload);
  for (unsigned code : {0u, 999u, 1004u, 1005u, 1006u, 1015u, 1016u, 2999u, 5000u}) {
    const std::string wire{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
    EXPECT_EQ(ClosePayload::parse(wire).error(), ProtocolError::bad_close_code) << code;
  }
  EXPECT_EQ(ClosePayload::parse(std::string("\x03\xe8\xff", 3)).error(), ProtocolError::bad_close_reason);
}

TEST(ClosePayload, ChecksWhatMayBeSent) {
  EXPECT_FALSE(ClosePayload{}.check());
  EXPECT_FALSE((ClosePayload{CloseCode::going_away, "bye"}.check()));
  EXPECT_FALSE((ClosePayload{static_cast<CloseCode>(4000), std::string(123, 'r')}.check()));
  EXPECT_EQ((ClosePayload{CloseCode::no_status, "reason without a code"}.check()), UsageError::bad_close_code);
  EXPECT_EQ((ClosePayload{CloseCode::abnormal, {}}.check()), UsageError::bad_close_code);
  EXPECT_EQ((ClosePayload{CloseCode::normal, std::string(124, 'r')}.check()), UsageError::close_reason_too_long);
  EXPECT_EQ((ClosePayload{CloseCode::normal, "\xc3"}.check()), UsageError::invalid_utf8);
}

TEST(ClosePayload, WritesWhatItParses) {
  std::string wire;
  ClosePayload{CloseCode::message_too_big, "too big"}.append_to(wire);
  EXPECT_EQ(wire, std::string("\x03\xf1", 2) + "too big");
  auto back = ClosePayload::parse(wire);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->code, CloseCode::message_too_big);
  EXPECT_EQ(back->reason, "too big");
  std::string none;
  ClosePayload{}.append_to(none);
  EXPECT_TRUE(none.empty());
}

}  // namespace
}  // namespace parley::protocol
