// parley/protocol/close_payload.hpp — the payload of a close frame
// (RFC 6455 §5.5.1): parsed, checked and written in one place.
#pragma once

#include <string>
#include <string_view>

#include "parley/close_code.hpp"
#include "parley/error.hpp"
#include "parley/export.hpp"

namespace parley::protocol {

/// A close frame's payload: a status code and a UTF-8 reason, or nothing
/// at all (`code == CloseCode::no_status`).
struct PARLEY_EXPORT ClosePayload {
  /// Most bytes of a reason: a control frame's 125 bytes less the code's 2.
  static constexpr std::size_t max_reason = 123;

  /// The status code; `no_status` (1005) stands for an empty payload.
  CloseCode code = CloseCode::no_status;
  /// The reason, UTF-8, at most `max_reason` bytes; empty without a code.
  std::string_view reason;

  /// Reads a received close frame's payload (`reason` points into it).
  /// Errors (ProtocolError, all 1002 but the last): bad_close_payload (a
  /// 1-byte payload), bad_close_code (a code not allowed on the wire, e.g.
  /// 1005, 1006, 999), bad_close_reason (not UTF-8; 1007).
  static Result<ClosePayload> parse(std::string_view payload);
  /// Whether it may be sent (UsageError): bad_close_code (a code not
  /// allowed on the wire, or a reason without a code),
  /// close_reason_too_long, invalid_utf8.
  Error check() const;
  /// Appends the wire form — two bytes of code (network order) then the
  /// reason, or nothing for `no_status` — to `out`.
  void append_to(std::string& out) const;
};

}  // namespace parley::protocol
