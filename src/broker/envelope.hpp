// broker/envelope.hpp (internal) — the bytes parley puts in a Redis pub/sub
// message, without I/O: encode and decode, nothing else.
//
// Layout (ASCII header, then the payload bytes as they are):
//
//   "P1" TYPE ORIGIN ID "|" PAYLOAD
//
//   "P1"    magic and format version (2 bytes)
//   TYPE    'T' (text: PAYLOAD is UTF-8), 'B' (binary) or 'M' (a marker:
//           no message, PAYLOAD is a history read's token, see redis.hpp)
//                                                            (1 byte)
//   ORIGIN  the publishing node's id, 16 lowercase hex digits (16 bytes)
//   ID      the message's Redis Stream id when the topic keeps a history
//           ("<ms>-<seq>", decimal, each part 1 to 20 digits, no sign, at
//           most UINT64_MAX), or nothing
//   "|"     end of the header
//   PAYLOAD the message (0 or more bytes)
//
// So a message without history has a 20-byte header. The format is
// versioned by its magic: a node that meets another version counts the
// message as malformed and drops it.
//
// decode() is total: any input gives either an Envelope (views into the
// input) or nullopt, without reading past the end or allocating; a text
// payload that is not valid UTF-8 is malformed (it would otherwise be sent
// to WebSocket clients as an invalid text frame).
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "parley/connection.hpp"

namespace parley::broker {

/// Length of the fixed part of the header ("P1", type, origin).
inline constexpr std::size_t kEnvelopeFixed = 19;
/// Longest stream id accepted: two 20-digit numbers and a '-'.
inline constexpr std::size_t kMaxStreamIdSize = 41;

/// A decoded envelope: views into the decoded bytes.
struct Envelope {
  MessageType type = MessageType::binary;  ///< text or binary
  std::uint64_t origin = 0;                ///< the publishing node
  std::string_view id;                     ///< stream id, or empty without history
  std::string_view payload;                ///< the message (a marker's token)
  bool marker = false;                     ///< TYPE 'M': a history read's place in the live order
};

/// Appends the encoded envelope to `out` (which is not cleared). `id` must
/// be empty or a valid stream id (see is_stream_id()).
void encode_envelope(std::string& out, MessageType type, std::uint64_t origin, std::string_view id,
                     std::string_view payload);
/// The header alone, without ID and "|": what a Lua script completes with
/// the id it gets from XADD and the payload.
void encode_envelope_head(std::string& out, MessageType type, std::uint64_t origin);
/// Appends a marker envelope (no id) carrying `token` as its payload.
void encode_marker(std::string& out, std::uint64_t origin, std::string_view token);
/// Decodes `bytes`; nullopt when they are not a valid envelope.
std::optional<Envelope> decode_envelope(std::string_view bytes) noexcept;

/// A parsed stream id, ordered as Redis orders them.
struct StreamId {
  std::uint64_t ms = 0;   ///< the milliseconds part
  std::uint64_t seq = 0;  ///< the sequence part
  friend auto operator<=>(const StreamId&, const StreamId&) = default;
};
/// Parses "<ms>-<seq>" (or "<ms>" alone when `allow_short`, meaning seq 0):
/// decimal digits only, each part at most UINT64_MAX and 20 digits.
std::optional<StreamId> parse_stream_id(std::string_view s, bool allow_short = false) noexcept;
/// True when `s` is a complete "<ms>-<seq>" stream id.
inline bool is_stream_id(std::string_view s) noexcept { return parse_stream_id(s).has_value(); }

/// Sixteen lowercase hex digits.
std::string node_id_hex(std::uint64_t id);

}  // namespace parley::broker
