// src/net/sys.hpp — helpers for system errors (internal to the net layer).
#pragma once

#include <cerrno>
#include <string>
#include <system_error>

#include "parley/error.hpp"

namespace parley::net::detail {

/// An Error of the system category for `err`, with the message
/// "<what>: <strerror(err)>".
inline Error sys_error(int err, const std::string& what) {
  std::error_code code(err, std::system_category());
  return Error(code, what + ": " + code.message());
}

}  // namespace parley::net::detail
