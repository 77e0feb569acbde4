// parley/protocol/printable.hpp — bytes from a peer made safe for a log line,
// an error message or a response body: escaped and bounded.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "parley/export.hpp"

namespace parley::protocol {

/// A printable, bounded copy of `data`, for putting bytes that came from
/// outside (a peer's request line, header values, reason phrase, body, close
/// reason, Location, ...) into a log line, an `Error` message or a response
/// body, where a terminal control sequence (ESC, BEL, CSI, ...) must not get
/// through raw. parley uses it wherever peer bytes reach a message.
///
/// Escaping, byte by byte:
/// - a backslash becomes `\\`; LF, CR and HTAB become `\n`, `\r`, `\t`;
/// - every other control byte (0x00-0x1F) and DEL (0x7F) becomes `\xNN`
///   (two lower-case hex digits);
/// - printable ASCII (0x20-0x7E) is kept as is;
/// - a byte of 0x80 or above becomes `\xNN`, unless `utf8` is true: then a
///   valid UTF-8 sequence (RFC 3629: no overlong form, no surrogate, nothing
///   above U+10FFFF) is kept as is, except the C1 controls U+0080-U+009F,
///   which some terminals obey and which are escaped as their two bytes
///   (`\xc2\x9b`); a byte that does not begin a valid sequence is escaped as
///   `\xNN`, so `utf8 = true` is safe on data that is not valid UTF-8.
///
/// The bound: at most `max_bytes` bytes of `data` (of the input, not of the
/// output) are rendered, 200 unless told. When `data` is longer the result
/// ends with `...` (three dots, after the last byte rendered); a shorter
/// `data` never gets them. With `utf8` the cut never falls inside a UTF-8
/// sequence kept as is (it comes before it). The result is therefore at most
/// 4 * `max_bytes` + 3 bytes long.
PARLEY_EXPORT std::string printable(std::string_view data, std::size_t max_bytes = 200, bool utf8 = false);

}  // namespace parley::protocol
