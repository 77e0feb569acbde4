// The payload of a close frame (RFC 6455 §5.5.1).
#include "parley/protocol/close_payload.hpp"

#include <cstdint>

#include "parley/protocol/utf8.hpp"

namespace parley::protocol {

Result<ClosePayload> ClosePayload::parse(std::string_view payload) {
  ClosePayload p;
  if (payload.empty()) return p;
  if (payload.size() == 1) return Error(ProtocolError::bad_close_payload, "close frame with a 1-byte payload");
  p.code = static_cast<CloseCode>(static_cast<std::uint8_t>(payload[0]) << 8 | static_cast<std::uint8_t>(payload[1]));
  if (!is_sendable(p.code)) {
    return Error(ProtocolError::bad_close_code,
                 "close code " + std::to_string(static_cast<unsigned>(p.code)) + " is not allowed on the wire");
  }
  p.reason = payload.substr(2);
  if (!is_valid_utf8(p.reason)) return Error(ProtocolError::bad_close_reason, "close reason is not valid UTF-8");
  return p;
}

Error ClosePayload::check() const {
  if (code == CloseCode::no_status) {
    if (!reason.empty()) return Error(UsageError::bad_close_code, "a close reason needs a close code");
    return {};
  }
  if (!is_sendable(code)) return UsageError::bad_close_code;
  if (reason.size() > max_reason) return UsageError::close_reason_too_long;
  if (!is_valid_utf8(reason)) return UsageError::invalid_utf8;
  return {};
}

void ClosePayload::append_to(std::string& out) const {
  if (code == CloseCode::no_status) return;
  const auto v = static_cast<std::uint16_t>(code);
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
  out += reason;
}

}  // namespace parley::protocol
