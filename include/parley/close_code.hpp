// parley/close_code.hpp — WebSocket close status codes (RFC 6455 §7.4).
#pragma once

#include <cstdint>
#include <string_view>

#include "parley/export.hpp"

/// parley: a WebSocket server (Server), client (Client, BlockingClient) and
/// the connection they share (Connection, ConnectionHandle), with errors as
/// values (Error, Result). Everything is declared by `<parley/parley.hpp>`.
namespace parley {

/// A close status code (RFC 6455 §7.4). The named values are those the RFC
/// and the IANA "WebSocket Close Code Number" registry define; any other
/// value in 3000-4999 is an application code and can be written as
/// `CloseCode{4242}`.
enum class CloseCode : std::uint16_t {
  normal = 1000,               ///< the purpose of the connection was fulfilled
  going_away = 1001,           ///< server shutting down, page navigated away
  protocol_error = 1002,       ///< the peer broke RFC 6455
  unsupported_data = 1003,     ///< a data type this endpoint does not accept
  no_status = 1005,            ///< reserved: the close frame carried no code (never sent)
  abnormal = 1006,             ///< reserved: the connection dropped without a close frame (never sent)
  invalid_payload = 1007,      ///< data not consistent with its type (e.g. invalid UTF-8 in text)
  policy_violation = 1008,     ///< a message violated this endpoint's policy
  message_too_big = 1009,      ///< a frame or message exceeded a configured limit
  mandatory_extension = 1010,  ///< (client) the server did not negotiate a required extension
  internal_error = 1011,       ///< (server) an unexpected condition prevented fulfilling the request
  service_restart = 1012,      ///< (server) restarting; the client may reconnect
  try_again_later = 1013,      ///< (server) temporarily overloaded
  bad_gateway = 1014,          ///< (gateway) the upstream server answered badly
  tls_handshake = 1015,        ///< reserved: the TLS handshake failed (never sent)
};

// The same codes under the names of the Perl `WebSocket` distribution's
// constants (see docs/perl-to-cpp.md).
inline constexpr CloseCode WS_OK = CloseCode::normal;                             ///< 1000
inline constexpr CloseCode WS_GONE = CloseCode::going_away;                       ///< 1001
inline constexpr CloseCode WS_PROTOCOL_ERROR = CloseCode::protocol_error;         ///< 1002
inline constexpr CloseCode WS_NOT_ACCEPTABLE = CloseCode::unsupported_data;       ///< 1003
inline constexpr CloseCode WS_NO_STATUS = CloseCode::no_status;                   ///< 1005
inline constexpr CloseCode WS_CLOSED_ABNORMALLY = CloseCode::abnormal;            ///< 1006
inline constexpr CloseCode WS_BAD_MESSAGE = CloseCode::invalid_payload;           ///< 1007
inline constexpr CloseCode WS_FORBIDDEN = CloseCode::policy_violation;            ///< 1008
inline constexpr CloseCode WS_MESSAGE_TOO_LARGE = CloseCode::message_too_big;     ///< 1009
inline constexpr CloseCode WS_EXTENSIONS_NOT_AVAILABLE = CloseCode::mandatory_extension;  ///< 1010
inline constexpr CloseCode WS_INTERNAL_SERVER_ERROR = CloseCode::internal_error;  ///< 1011
inline constexpr CloseCode WS_TLS_HANDSHAKE_FAIL = CloseCode::tls_handshake;      ///< 1015

/// True for a code that may appear in a close frame on the wire:
/// 1000-1003, 1007-1014 and 3000-4999 (RFC 6455 §7.4.1-2, IANA registry).
/// 1004, 1005, 1006, 1015, 1016-2999 and everything outside 1000-4999 are not.
constexpr bool is_sendable(CloseCode code) noexcept {
  const auto v = static_cast<std::uint16_t>(code);
  return (v >= 1000 && v <= 1003) || (v >= 1007 && v <= 1014) || (v >= 3000 && v <= 4999);
}

/// The RFC's short description of a code ("normal closure", ...), or
/// "application code" for 3000-4999 and "unknown" otherwise.
PARLEY_EXPORT std::string_view describe(CloseCode code) noexcept;

}  // namespace parley
