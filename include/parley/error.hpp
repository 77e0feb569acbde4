// parley/error.hpp — the error model: Error, Result<T>, Exception.
//
// Nothing in parley throws unless the user asks for it (the `fatal` option of
// Server and Client). A call that can fail returns `Result<T>` (a value or an
// Error) or an `Error` (empty on success). An Error carries a
// `std::error_code` from one of parley's categories (or the system category)
// and a human-readable message that says what went wrong.
#pragma once

#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "parley/close_code.hpp"
#include "parley/export.hpp"

namespace parley {

/// A violation of RFC 6455 framing or of a configured limit, found while
/// reading frames. Category: `protocol_category()` ("parley.protocol").
/// `close_code_for()` gives the close code the connection is failed with.
enum class ProtocolError {
  reserved_opcode = 1,        ///< opcode 3-7 or 11-15 (1002)
  reserved_bits,              ///< RSV1-3 set that no negotiated extension claims (1002)
  fragmented_control,         ///< a control frame without FIN (1002)
  control_too_long,           ///< a control frame payload over 125 bytes (1002)
  unmasked_frame,             ///< a client sent an unmasked frame (1002)
  masked_frame,               ///< a server sent a masked frame (1002)
  bad_length,                 ///< a 64-bit length with the most significant bit set (1002)
  frame_too_big,              ///< a frame payload over `max_frame_size` (1009)
  message_too_big,            ///< a message over `max_message_size` (1009)
  too_many_fragments,         ///< a message in more than `max_fragments` frames (1009)
  unexpected_continuation,    ///< a continuation frame with no message started (1002)
  expected_continuation,      ///< a new text/binary frame inside a fragmented message (1002)
  invalid_utf8,               ///< a text message that is not UTF-8 (1007)
  bad_close_payload,          ///< a close frame with a 1-byte payload (1002)
  bad_close_code,             ///< a close code that may not appear on the wire (1002)
  bad_close_reason,           ///< a close reason that is not UTF-8 (1007)
  compression_error,          ///< a compressed message that does not inflate (1007)
  message_timeout,            ///< a message left incomplete: no data for it within `message_timeout` (1008)
  memory_budget,              ///< the process-wide `max_total_buffered` was passed and this connection held the most
                              ///< (1009 when it was a message being received, 1008 when it was unsent output)
};

/// A call that the connection's state or the arguments do not allow
/// (nothing was sent). Category: `usage_category()` ("parley.usage").
enum class UsageError {
  not_open = 1,               ///< the connection is closing or closed: nothing more may be sent
  bad_fragment_sequence,      ///< a whole message or a new fragmented message while one is being sent
  bad_opcode,                 ///< a data send with an opcode other than text or binary
  bad_close_code,             ///< a close code that may not be sent (1005, 1006, 1015, < 1000, ...)
  close_reason_too_long,      ///< a close reason over 123 bytes
  control_too_long,           ///< a ping or pong payload over 125 bytes
  invalid_utf8,               ///< text that must be UTF-8 and is not (a close reason, an on_topic_message result)
  buffer_full,                ///< the connection's unsent output is over `max_buffered_amount`
  callback_exception,         ///< a callback of the application threw (its what() is in the message): the
                              ///< connection was closed with 1011, or its handshake answered 500
};

/// A failed opening handshake. Category: `handshake_category()`
/// ("parley.handshake"). On the server side `http_status_for()` gives the
/// HTTP status the request is refused with.
enum class HandshakeError {
  malformed = 1,              ///< not a well-formed HTTP/1.1 head (400)
  head_too_large,             ///< the head exceeds `max_head_size` (431)
  line_too_long,              ///< a request line or header line exceeds `max_line_size` (431; 414 for the request line)
  too_many_headers,           ///< more header fields than `max_headers` (431)
  bad_method,                 ///< a method other than GET (405)
  bad_http_version,           ///< HTTP/1.0 or older, or not HTTP (505)
  missing_host,               ///< no Host header (400)
  not_upgrade,                ///< no `Upgrade: websocket` token (426)
  missing_connection_upgrade, ///< no `upgrade` token in Connection (400)
  bad_key,                    ///< Sec-WebSocket-Key absent or not base64 of 16 bytes (400)
  unsupported_version,        ///< Sec-WebSocket-Version not 13, 8 or 7 (426, with `Sec-WebSocket-Version: 13, 8, 7`)
  forbidden_origin,           ///< the Origin is not allowed (403)
  bad_extension_header,       ///< an unparsable Sec-WebSocket-Extensions / -Protocol header (400)
  rejected,                   ///< refused by the application's handshake hook (its status)
  bad_status,                 ///< (client) the server answered with a status other than 101
  bad_accept,                 ///< (client) Sec-WebSocket-Accept does not match the key
  unrequested_subprotocol,    ///< (client) the server chose a subprotocol the client did not offer
  unrequested_extension,      ///< (client) the server answered with an extension the client did not offer
  bad_uri,                    ///< a URI that cannot be parsed or has the wrong scheme
  timeout,                    ///< the opening handshake did not complete in time (408)
  closed,                     ///< the peer closed the connection during the opening handshake
  too_many_redirects,         ///< (client) more 3xx redirects than `max_redirects`
};

/// A failed TLS connection or TLS setting. Category: `tls_category()`
/// ("parley.tls"). Where a close code is reported for it (`on_close` of a
/// connection that never opened, the `parley` command), it is 1015
/// (`WS_TLS_HANDSHAKE_FAIL`, RFC 6455 §7.4.1: never sent on the wire).
enum class TlsError {
  handshake_failed = 1,       ///< the TLS handshake failed (protocol error, alert, no shared cipher or version)
  not_tls,                    ///< the peer does not speak TLS (e.g. plain HTTP to a TLS port, or a plain server)
  closed,                     ///< the peer closed (or reset) the connection during the TLS handshake
  certificate_expired,        ///< (verification) the peer's certificate has expired
  certificate_not_yet_valid,  ///< (verification) the peer's certificate is not valid yet
  certificate_untrusted,      ///< (verification) the chain does not end at a trusted CA (unknown CA, self-signed)
  certificate_name_mismatch,  ///< (verification) the certificate is not for the host name or IP connected to
  certificate_invalid,        ///< (verification) any other reason the peer's certificate was refused
  certificate_required,       ///< (server, mTLS) the client sent no certificate and one is required
  bad_configuration,          ///< a certificate, key or CA file that cannot be loaded, a key that does not match, a bad cipher list
  protocol_error,             ///< a TLS record that cannot be decrypted or parsed after the handshake
  timeout,                    ///< (server) the TLS handshake did not complete within TlsServerOptions::handshake_timeout
};

}  // namespace parley

namespace std {
template <>
struct is_error_code_enum<parley::ProtocolError> : true_type {};
template <>
struct is_error_code_enum<parley::HandshakeError> : true_type {};
template <>
struct is_error_code_enum<parley::UsageError> : true_type {};
template <>
struct is_error_code_enum<parley::TlsError> : true_type {};
}  // namespace std

namespace parley {

/// The category of ProtocolError codes.
PARLEY_EXPORT const std::error_category& protocol_category() noexcept;
/// The category of HandshakeError codes.
PARLEY_EXPORT const std::error_category& handshake_category() noexcept;

/// The category of UsageError codes.
PARLEY_EXPORT const std::error_category& usage_category() noexcept;
/// The category of TlsError codes.
PARLEY_EXPORT const std::error_category& tls_category() noexcept;

/// Makes a `std::error_code` of parley's protocol category.
PARLEY_EXPORT std::error_code make_error_code(ProtocolError e) noexcept;
/// Makes a `std::error_code` of parley's handshake category.
PARLEY_EXPORT std::error_code make_error_code(HandshakeError e) noexcept;
/// Makes a `std::error_code` of parley's usage category.
PARLEY_EXPORT std::error_code make_error_code(UsageError e) noexcept;
/// Makes a `std::error_code` of parley's TLS category.
PARLEY_EXPORT std::error_code make_error_code(TlsError e) noexcept;

/// The close code a connection is failed with for a protocol error
/// (RFC 6455 §7.4.1): 1002, 1007, 1008 (message_timeout) or 1009
/// (memory_budget: a connection closed for its unsent output is given 1008).
PARLEY_EXPORT CloseCode close_code_for(ProtocolError e) noexcept;
/// The close code reported for a TLS failure: 1015 (`WS_TLS_HANDSHAKE_FAIL`,
/// reserved by RFC 6455 §7.4.1 for this and never sent on the wire).
PARLEY_EXPORT CloseCode close_code_for(TlsError e) noexcept;
/// The HTTP status a server refuses a handshake with for this error
/// (400, 403, 405, 414, 426, 431, 505; 400 for client-side errors).
PARLEY_EXPORT int http_status_for(HandshakeError e) noexcept;

/// What went wrong: a `std::error_code` and a message for humans. A
/// default-constructed Error means "no error" and converts to false.
/// `[[nodiscard]]`: a function returning an Error reports a failure
/// nowhere else, so ignoring one is a compiler warning (cast to void to
/// say it is deliberate).
///
/// "No error" is made without asking libstdc++ for a category (a default
/// `std::error_code` calls `std::system_category()`, out of line): every
/// send returns an Error, so success costs no call.
class [[nodiscard]] PARLEY_EXPORT Error {
 public:
  /// No error.
  Error() = default;
  /// An error with the category's default message for `code` (value 0: no error).
  explicit Error(std::error_code code) : value_(code.value()), category_(&code.category()) {}
  /// An error with a specific message (e.g. "frame payload of 200 bytes exceeds max_frame_size 100").
  Error(std::error_code code, std::string message)
      : value_(code.value()), category_(&code.category()), message_(std::move(message)) {}
  /// A protocol error (the peer broke RFC 6455 or a limit), with an optional specific message.
  Error(ProtocolError e, std::string message = {}) : Error(make_error_code(e), std::move(message)) {}
  /// An opening-handshake error, with an optional specific message.
  Error(HandshakeError e, std::string message = {}) : Error(make_error_code(e), std::move(message)) {}
  /// A misuse of the API, with an optional specific message.
  Error(UsageError e, std::string message = {}) : Error(make_error_code(e), std::move(message)) {}
  /// A TLS error, with an optional specific message.
  Error(TlsError e, std::string message = {}) : Error(make_error_code(e), std::move(message)) {}

  /// The code; `code().category()` tells which layer failed. For no error,
  /// `std::error_code()` (value 0, the system category).
  std::error_code code() const noexcept { return category_ ? std::error_code(value_, *category_) : std::error_code(); }
  /// The specific message if there is one, else the code's message; "" for no error.
  std::string message() const;
  /// True when this is an error.
  explicit operator bool() const noexcept { return value_ != 0; }

  /// Same code (the messages are not compared).
  friend bool operator==(const Error& a, const Error& b) noexcept { return a.code() == b.code(); }
  /// The code is `b`, e.g. `if (e == ProtocolError::message_too_big)`.
  friend bool operator==(const Error& a, ProtocolError b) noexcept { return a.code() == make_error_code(b); }
  /// The code is `b`.
  friend bool operator==(const Error& a, HandshakeError b) noexcept { return a.code() == make_error_code(b); }
  /// The code is `b`.
  friend bool operator==(const Error& a, UsageError b) noexcept { return a.code() == make_error_code(b); }
  /// The code is `b`.
  friend bool operator==(const Error& a, TlsError b) noexcept { return a.code() == make_error_code(b); }

 private:
  // The code as std::error_code holds it, with no category (null) standing
  // for a default std::error_code: no error.
  int value_ = 0;
  const std::error_category* category_ = nullptr;
  std::string message_;
};

/// Thrown instead of returning an Error when the user sets `fatal = true`,
/// and by `Result::value()` when the Result holds an error.
class PARLEY_EXPORT Exception : public std::system_error {
 public:
  /// An exception carrying `e` (its code and message are what() and code()).
  explicit Exception(const Error& e) : std::system_error(e.code(), e.message()), error_(e) {}
  /// The Error this exception carries.
  const Error& error() const noexcept { return error_; }

 private:
  Error error_;
};

/// A value of type T or an Error (like C++23 `std::expected<T, Error>`).
template <class T>
class [[nodiscard]] Result {
 public:
  /// A value.
  Result(const T& v) : v_(std::in_place_index<0>, v) {}
  /// A value.
  Result(T&& v) : v_(std::in_place_index<0>, std::move(v)) {}
  /// An error (must not be empty).
  Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}
  /// An error with the code's default message.
  Result(ProtocolError e) : Result(Error(e)) {}
  /// An error with the code's default message.
  Result(HandshakeError e) : Result(Error(e)) {}
  /// An error with the code's default message.
  Result(UsageError e) : Result(Error(e)) {}
  /// An error with the code's default message.
  Result(TlsError e) : Result(Error(e)) {}

  /// True when a value is held.
  bool has_value() const noexcept { return v_.index() == 0; }
  /// True when a value is held.
  explicit operator bool() const noexcept { return has_value(); }

  /// The value; throws `Exception` when an error is held.
  T& value() & { check(); return *std::get_if<0>(&v_); }
  /// The value; throws `Exception` when an error is held.
  const T& value() const& { check(); return *std::get_if<0>(&v_); }
  /// The value, moved out; throws `Exception` when an error is held.
  T&& value() && { check(); return std::move(*std::get_if<0>(&v_)); }
  /// The value without checking (undefined when an error is held).
  T& operator*() noexcept { return *std::get_if<0>(&v_); }
  /// The value without checking (undefined when an error is held).
  const T& operator*() const noexcept { return *std::get_if<0>(&v_); }
  /// Member access to the value without checking (undefined when an error is held).
  T* operator->() noexcept { return std::get_if<0>(&v_); }
  /// Member access to the value without checking (undefined when an error is held).
  const T* operator->() const noexcept { return std::get_if<0>(&v_); }
  /// The error; an empty Error when a value is held.
  Error error() const { return has_value() ? Error{} : *std::get_if<1>(&v_); }

 private:
  void check() const {
    if (!has_value()) throw Exception(*std::get_if<1>(&v_));
  }
  std::variant<T, Error> v_;
};

}  // namespace parley
