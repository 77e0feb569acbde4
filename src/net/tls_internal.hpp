// src/net/tls_internal.hpp — helpers shared by the TLS sources (internal).
#pragma once

#include <string>

namespace parley::net::detail {

/// The reason of the newest error on OpenSSL's error queue (e.g.
/// "certificate verify failed"), then clears the queue.
std::string openssl_reason();

}  // namespace parley::net::detail
