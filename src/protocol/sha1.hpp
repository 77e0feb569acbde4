// SHA-1 (FIPS 180-4), internal: for Sec-WebSocket-Accept only.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "parley/export.hpp"

namespace parley::protocol::detail {

/// The SHA-1 digest of `bytes`. Here rather than OpenSSL's SHA1(): that one
/// initialises OpenSSL's providers and configuration on first use, and so
/// a plain ws:// server paged in about 2.3 MiB of libcrypto for its first
/// handshake (docs/performance.md, "Idle connections"). Not for security:
/// the handshake's key proves only that the peer speaks WebSocket.
PARLEY_EXPORT std::array<std::uint8_t, 20> sha1(std::string_view bytes) noexcept;

}  // namespace parley::protocol::detail
