#include <gtest/gtest.h>

#include "parley/error.hpp"

using namespace parley;

TEST(Error, DefaultIsNoError) {
  Error e;
  EXPECT_FALSE(e);
  EXPECT_EQ(e.message(), "");
}

TEST(Error, ProtocolErrorCarriesCategoryAndMessage) {
  Error e(ProtocolError::reserved_opcode, "opcode 3 is reserved");
  EXPECT_TRUE(e);
  EXPECT_EQ(e.code().category().name(), std::string("parley.protocol"));
  EXPECT_EQ(e.message(), "opcode 3 is reserved");
  EXPECT_EQ(e, ProtocolError::reserved_opcode);
  Error d{ProtocolError::invalid_utf8};
  EXPECT_EQ(d.message(), "text message is not valid UTF-8");
}

TEST(Error, CloseCodeMapping) {
  EXPECT_EQ(close_code_for(ProtocolError::reserved_bits), CloseCode::protocol_error);
  EXPECT_EQ(close_code_for(TlsError::certificate_expired), CloseCode::tls_handshake);
  EXPECT_EQ(close_code_for(TlsError::not_tls), WS_TLS_HANDSHAKE_FAIL);
  EXPECT_EQ(close_code_for(ProtocolError::message_too_big), CloseCode::message_too_big);
  EXPECT_EQ(close_code_for(ProtocolError::frame_too_big), CloseCode::message_too_big);
  EXPECT_EQ(close_code_for(ProtocolError::invalid_utf8), CloseCode::invalid_payload);
  EXPECT_EQ(close_code_for(ProtocolError::bad_close_reason), CloseCode::invalid_payload);
}

TEST(Error, HttpStatusMapping) {
  EXPECT_EQ(http_status_for(HandshakeError::unsupported_version), 426);
  EXPECT_EQ(http_status_for(HandshakeError::bad_method), 405);
  EXPECT_EQ(http_status_for(HandshakeError::head_too_large), 431);
  EXPECT_EQ(http_status_for(HandshakeError::bad_key), 400);
  EXPECT_EQ(http_status_for(HandshakeError::forbidden_origin), 403);
}

TEST(Result, ValueAndError) {
  Result<int> ok = 5;
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 5);
  EXPECT_FALSE(ok.error());
  Result<int> bad = Error(HandshakeError::bad_key, "key too short");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), HandshakeError::bad_key);
  EXPECT_THROW((void)bad.value(), Exception);
  try {
    (void)bad.value();
  } catch (const Exception& ex) {
    EXPECT_EQ(ex.error().message(), "key too short");
    EXPECT_EQ(ex.code(), make_error_code(HandshakeError::bad_key));
  }
}

TEST(CloseCode, SeedConstantsAndSendability) {
  EXPECT_EQ(static_cast<int>(WS_OK), 1000);
  EXPECT_EQ(static_cast<int>(WS_GONE), 1001);
  EXPECT_EQ(static_cast<int>(WS_TLS_HANDSHAKE_FAIL), 1015);
  for (int c = 0; c < 6000; ++c) {
    bool expect = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
    EXPECT_EQ(is_sendable(CloseCode(static_cast<std::uint16_t>(c))), expect) << c;
  }
  EXPECT_EQ(describe(CloseCode{4242}), "application code");
  EXPECT_EQ(describe(CloseCode::normal), "normal closure");
  EXPECT_EQ(describe(CloseCode{2000}), "unknown");
}
