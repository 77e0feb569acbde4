// Error categories, close-code and HTTP-status mappings.
#include "parley/error.hpp"

namespace parley {
namespace {

class ProtocolCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "parley.protocol"; }
  std::string message(int ev) const override {
    switch (static_cast<ProtocolError>(ev)) {
      case ProtocolError::reserved_opcode: return "reserved opcode";
      case ProtocolError::reserved_bits: return "reserved bit set without a negotiated extension";
      case ProtocolError::fragmented_control: return "fragmented control frame";
      case ProtocolError::control_too_long: return "control frame payload over 125 bytes";
      case ProtocolError::unmasked_frame: return "unmasked frame from a client";
      case ProtocolError::masked_frame: return "masked frame from a server";
      case ProtocolError::bad_length: return "64-bit payload length with the top bit set";
      case ProtocolError::frame_too_big: return "frame exceeds max_frame_size";
      case ProtocolError::message_too_big: return "message exceeds max_message_size";
      case ProtocolError::too_many_fragments: return "message exceeds max_fragments";
      case ProtocolError::unexpected_continuation: return "continuation frame without a message in progress";
      case ProtocolError::expected_continuation: return "new data frame inside a fragmented message";
      case ProtocolError::invalid_utf8: return "text message is not valid UTF-8";
      case ProtocolError::bad_close_payload: return "close frame with a 1-byte payload";
      case ProtocolError::bad_close_code: return "close code not allowed on the wire";
      case ProtocolError::bad_close_reason: return "close reason is not valid UTF-8";
      case ProtocolError::compression_error: return "compressed message does not inflate";
      case ProtocolError::message_timeout: return "message left incomplete past message_timeout";
      case ProtocolError::memory_budget: return "the server's memory budget (max_total_buffered) is exhausted";
    }
    return "unknown protocol error";
  }
};

class HandshakeCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "parley.handshake"; }
  std::string message(int ev) const override {
    switch (static_cast<HandshakeError>(ev)) {
      case HandshakeError::malformed: return "malformed HTTP head";
      case HandshakeError::head_too_large: return "HTTP head too large";
      case HandshakeError::line_too_long: return "HTTP line too long";
      case HandshakeError::too_many_headers: return "too many header fields";
      case HandshakeError::bad_method: return "method is not GET";
      case HandshakeError::bad_http_version: return "HTTP version is not 1.1 or later";
      case HandshakeError::missing_host: return "missing Host header";
      case HandshakeError::not_upgrade: return "not a WebSocket upgrade (no Upgrade: websocket)";
      case HandshakeError::missing_connection_upgrade: return "Connection header lacks the upgrade token";
      case HandshakeError::bad_key: return "missing or invalid Sec-WebSocket-Key";
      case HandshakeError::unsupported_version: return "unsupported Sec-WebSocket-Version";
      case HandshakeError::forbidden_origin: return "origin not allowed";
      case HandshakeError::bad_extension_header: return "malformed Sec-WebSocket-Extensions or -Protocol header";
      case HandshakeError::rejected: return "handshake rejected by the application";
      case HandshakeError::bad_status: return "server did not answer 101 Switching Protocols";
      case HandshakeError::bad_accept: return "Sec-WebSocket-Accept does not match the key";
      case HandshakeError::unrequested_subprotocol: return "server chose a subprotocol that was not offered";
      case HandshakeError::unrequested_extension: return "server answered with an extension that was not offered";
      case HandshakeError::bad_uri: return "invalid WebSocket URI";
      case HandshakeError::timeout: return "opening handshake timed out";
      case HandshakeError::closed: return "connection closed during the opening handshake";
      case HandshakeError::too_many_redirects: return "too many redirects";
    }
    return "unknown handshake error";
  }
};

class UsageCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "parley.usage"; }
  std::string message(int ev) const override {
    switch (static_cast<UsageError>(ev)) {
      case UsageError::not_open: return "connection is closing or closed";
      case UsageError::bad_fragment_sequence: return "message sent while a fragmented message is in progress";
      case UsageError::bad_opcode: return "data messages are text or binary";
      case UsageError::bad_close_code: return "close code may not be sent";
      case UsageError::close_reason_too_long: return "close reason over 123 bytes";
      case UsageError::control_too_long: return "control payload over 125 bytes";
      case UsageError::invalid_utf8: return "close reason is not valid UTF-8";
      case UsageError::buffer_full: return "send buffer over max_buffered_amount";
      case UsageError::callback_exception: return "a callback threw an exception";
    }
    return "unknown usage error";
  }
};

class TlsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "parley.tls"; }
  std::string message(int ev) const override {
    switch (static_cast<TlsError>(ev)) {
      case TlsError::handshake_failed: return "TLS handshake failed";
      case TlsError::not_tls: return "the peer does not speak TLS";
      case TlsError::closed: return "connection closed during the TLS handshake";
      case TlsError::certificate_expired: return "certificate has expired";
      case TlsError::certificate_not_yet_valid: return "certificate is not yet valid";
      case TlsError::certificate_untrusted: return "certificate is not signed by a trusted CA";
      case TlsError::certificate_name_mismatch: return "certificate does not match the host name";
      case TlsError::certificate_invalid: return "certificate verification failed";
      case TlsError::certificate_required: return "a client certificate is required";
      case TlsError::bad_configuration: return "invalid TLS configuration";
      case TlsError::protocol_error: return "TLS protocol error";
      case TlsError::timeout: return "TLS handshake timed out";
    }
    return "unknown TLS error";
  }
};

}  // namespace

const std::error_category& tls_category() noexcept {
  static const TlsCategory c;
  return c;
}
std::error_code make_error_code(TlsError e) noexcept { return {static_cast<int>(e), tls_category()}; }
const std::error_category& usage_category() noexcept {
  static const UsageCategory c;
  return c;
}
const std::error_category& protocol_category() noexcept {
  static const ProtocolCategory c;
  return c;
}
const std::error_category& handshake_category() noexcept {
  static const HandshakeCategory c;
  return c;
}
std::error_code make_error_code(ProtocolError e) noexcept { return {static_cast<int>(e), protocol_category()}; }
std::error_code make_error_code(HandshakeError e) noexcept { return {static_cast<int>(e), handshake_category()}; }
std::error_code make_error_code(UsageError e) noexcept { return {static_cast<int>(e), usage_category()}; }

CloseCode close_code_for(ProtocolError e) noexcept {
  switch (e) {
    case ProtocolError::frame_too_big:
    case ProtocolError::message_too_big:
    case ProtocolError::too_many_fragments: return CloseCode::message_too_big;
    case ProtocolError::invalid_utf8:
    case ProtocolError::bad_close_reason:
    case ProtocolError::compression_error: return CloseCode::invalid_payload;
    case ProtocolError::message_timeout: return CloseCode::policy_violation;
    case ProtocolError::memory_budget: return CloseCode::message_too_big;  // (input; unsent output closes 1008)
    default: return CloseCode::protocol_error;
  }
}

CloseCode close_code_for(TlsError) noexcept { return CloseCode::tls_handshake; }

int http_status_for(HandshakeError e) noexcept {
  switch (e) {
    case HandshakeError::head_too_large:
    case HandshakeError::line_too_long:
    case HandshakeError::too_many_headers: return 431;
    case HandshakeError::bad_method: return 405;
    case HandshakeError::bad_http_version: return 505;
    case HandshakeError::not_upgrade:
    case HandshakeError::unsupported_version: return 426;
    case HandshakeError::forbidden_origin:
    case HandshakeError::rejected: return 403;
    case HandshakeError::timeout: return 408;
    default: return 400;
  }
}

std::string Error::message() const {
  if (!message_.empty()) return message_;
  return value_ != 0 ? code().message() : std::string();
}

std::string_view describe(CloseCode code) noexcept {
  switch (code) {
    case CloseCode::normal: return "normal closure";
    case CloseCode::going_away: return "going away";
    case CloseCode::protocol_error: return "protocol error";
    case CloseCode::unsupported_data: return "unsupported data";
    case CloseCode::no_status: return "no status received";
    case CloseCode::abnormal: return "abnormal closure";
    case CloseCode::invalid_payload: return "invalid frame payload data";
    case CloseCode::policy_violation: return "policy violation";
    case CloseCode::message_too_big: return "message too big";
    case CloseCode::mandatory_extension: return "mandatory extension";
    case CloseCode::internal_error: return "internal server error";
    case CloseCode::service_restart: return "service restart";
    case CloseCode::try_again_later: return "try again later";
    case CloseCode::bad_gateway: return "bad gateway";
    case CloseCode::tls_handshake: return "TLS handshake failure";
  }
  const auto v = static_cast<std::uint16_t>(code);
  return (v >= 3000 && v <= 4999) ? "application code" : "unknown";
}

}  // namespace parley
