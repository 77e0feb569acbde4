// parley/protocol/handshake.hpp — the opening handshake (RFC 6455 §4).
#pragma once

#include <string>
#include <string_view>

#include "parley/export.hpp"

namespace parley::protocol {

/// The GUID RFC 6455 §1.3 appends to the key before hashing.
inline constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
/// accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
PARLEY_EXPORT std::string accept_key(std::string_view key);

/// A fresh `Sec-WebSocket-Key`: base64 of 16 bytes from OpenSSL's CSPRNG.
PARLEY_EXPORT std::string generate_key();

/// Standard base64 (RFC 4648 §4) with padding.
PARLEY_EXPORT std::string base64_encode(std::string_view bytes);

/// Decodes standard padded base64; false (and `out` unspecified) on any
/// character outside the alphabet, bad padding or a length not a multiple of 4.
PARLEY_EXPORT bool base64_decode(std::string_view text, std::string& out);

}  // namespace parley::protocol
