// parley/protocol/frame.hpp — WebSocket frames (RFC 6455 §5): the header
// codec, an incremental in-place parser, and an owning `Frame` value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "parley/error.hpp"
#include "parley/export.hpp"

/// The sans-I/O protocol layer, usable on its own: frames, masking, UTF-8,
/// the connection engine (messages, ping/pong, close), permessage-deflate,
/// HTTP heads, headers, URIs and the opening handshake of both roles. No
/// sockets, threads or clocks: bytes in, events out.
namespace parley::protocol {

/// Frame opcodes (RFC 6455 §5.2). 3-7 and 11-15 are reserved and rejected.
enum class Opcode : std::uint8_t {
  continuation = 0x0,  ///< the next frame of a fragmented message
  text = 0x1,          ///< the first frame of a text message (UTF-8)
  binary = 0x2,        ///< the first frame of a binary message
  close = 0x8,         ///< a close frame (control)
  ping = 0x9,          ///< a ping (control)
  pong = 0xA,          ///< a pong (control)
};

/// True for close, ping and pong (opcodes with the high bit set).
constexpr bool is_control(Opcode op) noexcept { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

/// Which end of the connection this is. A client masks every frame it sends
/// and requires unmasked frames; a server the reverse (RFC 6455 §5.1).
enum class Role : std::uint8_t {
  client,  ///< opened the connection; masks what it sends
  server,  ///< accepted the connection; sends unmasked
};

/// The RSV bits of the first header byte, as a mask (RFC 6455 §5.2).
inline constexpr std::uint8_t rsv1 = 0x40;  ///< used by permessage-deflate (RFC 7692)
inline constexpr std::uint8_t rsv2 = 0x20;  ///< no registered use
inline constexpr std::uint8_t rsv3 = 0x10;  ///< no registered use

/// The largest frame header: 2 bytes + 8 bytes of length + 4 bytes of mask.
inline constexpr std::size_t max_frame_header_size = 14;
/// The largest payload of a control frame (RFC 6455 §5.5).
inline constexpr std::size_t max_control_payload = 125;

/// A decoded frame header.
struct FrameHeader {
  bool fin = true;                       ///< last frame of its message
  std::uint8_t rsv = 0;                  ///< RSV bits, as `rsv1 | rsv2 | rsv3` flags
  Opcode opcode = Opcode::text;          ///< what the payload is
  bool masked = false;                   ///< a masking key follows the length
  std::uint8_t mask[4] = {};             ///< the masking key, when `masked`
  std::uint64_t payload_length = 0;      ///< payload size in bytes
};

/// Writes `h` to `out`, which must have room for `max_frame_header_size`
/// bytes, using the shortest length encoding. Returns the header size (2-14).
/// Inline: every frame sent is headed by it.
inline std::size_t write_frame_header(std::uint8_t* out, const FrameHeader& h) noexcept {
  out[0] = static_cast<std::uint8_t>((h.fin ? 0x80 : 0) | (h.rsv & 0x70) | static_cast<std::uint8_t>(h.opcode));
  const std::uint8_t mask_bit = h.masked ? 0x80 : 0;
  std::size_t at;
  if (h.payload_length < 126) {
    out[1] = static_cast<std::uint8_t>(mask_bit | h.payload_length);
    at = 2;
  } else if (h.payload_length <= 0xffff) {
    out[1] = mask_bit | 126;
    out[2] = static_cast<std::uint8_t>(h.payload_length >> 8);
    out[3] = static_cast<std::uint8_t>(h.payload_length);
    at = 4;
  } else {
    out[1] = mask_bit | 127;
    for (std::size_t i = 0; i < 8; ++i) out[2 + i] = static_cast<std::uint8_t>(h.payload_length >> (56 - 8 * i));
    at = 10;
  }
  if (h.masked) {
    std::memcpy(out + at, h.mask, 4);
    at += 4;
  }
  return at;
}

/// Reads the header at the front of `bytes` (an encoded frame, as
/// write_frame_header or append_frame made it), unchecked: nullopt when
/// `bytes` is shorter than the header.
PARLEY_EXPORT std::optional<FrameHeader> read_frame_header(std::string_view bytes) noexcept;

/// Appends one whole frame to `out`: header, then `payload`, masked with
/// `mask` when `mask` is not null (a client's frames), in place in `out`.
PARLEY_EXPORT void append_frame(std::string& out, Opcode op, std::string_view payload, bool fin = true,
                                std::uint8_t rsv = 0, const std::uint8_t* mask = nullptr);

/// Limits and expectations that the parser checks on every header.
struct FrameParserOptions {
  /// This end's role: a server requires masked frames, a client unmasked ones.
  Role role = Role::server;
  /// RSV bits that a negotiated extension gives meaning to (e.g. `rsv1` for
  /// permessage-deflate); a frame with any other RSV bit set is rejected
  /// with 1002. Default: none.
  std::uint8_t allowed_rsv = 0;
  /// Largest payload of one frame in bytes; a larger frame is rejected with
  /// 1009 as soon as its header is read. 0 means no limit. Default 0 (the
  /// message limit of the engine bounds what is buffered).
  std::uint64_t max_frame_size = 0;
};

/// An incremental frame parser. Feed it any slice of the byte stream (one
/// byte, or many frames at once); it returns the stream as chunks of frame
/// payload, unmasked in place in the caller's buffer — a payload that
/// arrived whole is returned as one chunk and never copied. Only a header
/// split across slices is staged (at most 14 bytes).
class PARLEY_EXPORT FrameParser {
 public:
  /// What `next()` found.
  struct Chunk {
    /// What the chunk is.
    enum class Kind : std::uint8_t {
      need_more,  ///< the slice is used up; feed the next one
      payload,    ///< `data`/`size` is (part of) the current frame's payload
      error,      ///< the stream is invalid (see `error()`); stop feeding
    } kind = Kind::need_more;      ///< what this chunk is
    std::uint8_t* data = nullptr;  ///< payload bytes, unmasked, inside the caller's slice
    std::size_t size = 0;          ///< how many (may be 0 for an empty frame)
    bool frame_start = false;      ///< a new frame begins with this chunk: see `header()`
    bool frame_end = false;        ///< the current frame's payload ends with this chunk
  };

  /// A parser with the default options (server role, no RSV bits, no frame limit).
  FrameParser() = default;
  /// A parser with `options` (role, RSV bits allowed, frame limit).
  explicit FrameParser(const FrameParserOptions& options)
      : max_frame_size_(options.max_frame_size), role_(options.role), allowed_rsv_(options.allowed_rsv) {}

  /// Parses from the front of [`*data`, `*data + *size`), advancing both
  /// past what it used. Call until it returns `need_more` (slice used up) or
  /// `error`. Every frame yields at least one `payload` chunk (with
  /// `frame_start`), and its last chunk has `frame_end`.
  Chunk next(std::uint8_t*& data, std::size_t& size);

  /// True between frames with nothing staged and no error: the next byte
  /// fed starts a frame header, so a caller may take a whole frame at the
  /// front of its slice itself (the engine's path for small messages) and
  /// feed the parser what follows.
  bool at_frame_start() const noexcept { return !in_payload_ && staged_len_ == 0 && !error_; }
  /// The header of the current (last started) frame.
  const FrameHeader& header() const noexcept { return header_; }
  /// Payload bytes of the current frame not yet returned.
  std::uint64_t remaining() const noexcept { return remaining_; }
  /// Why the stream is invalid, after an `error` chunk.
  const Error& error() const noexcept;
  /// Changes the RSV bits accepted from now on (after extension negotiation).
  void set_allowed_rsv(std::uint8_t rsv) noexcept { allowed_rsv_ = rsv; }
  /// Changes the per-frame limit in bytes (0 = none) from the next header on.
  void set_max_frame_size(std::uint64_t bytes) noexcept { max_frame_size_ = bytes; }

 private:
  Chunk fail(ProtocolError e, std::string message);
  bool validate_header();

  // (The options are kept as separate fields so that the small ones share
  // the staged header's padding: one parser per connection.)
  std::uint64_t max_frame_size_ = 0;
  FrameHeader header_;
  std::uint64_t remaining_ = 0;
  std::uint8_t staged_[max_frame_header_size] = {};
  std::uint8_t staged_len_ = 0;
  std::uint8_t mask_phase_ = 0;
  bool in_payload_ = false;
  Role role_ = Role::server;
  std::uint8_t allowed_rsv_ = 0;
  std::unique_ptr<Error> error_;  // set once the stream is invalid (kept off the idle footprint)
};

/// One whole frame as a value: for building
/// frames by hand, tests and tools. The connection engine does not use it on
/// its hot path.
struct PARLEY_EXPORT Frame {
  bool fin = true;                    ///< last frame of its message
  std::uint8_t rsv = 0;               ///< RSV bits (`rsv1 | rsv2 | rsv3`)
  Opcode opcode = Opcode::text;       ///< the frame type
  bool masked = false;                ///< mask when serializing (client frames)
  std::uint8_t mask[4] = {};          ///< the masking key used when `masked`
  std::string payload;                ///< the unmasked payload

  /// The frame on the wire.
  std::string serialize() const;

  /// Parses one whole frame from the front of `bytes`, checked as the
  /// parser checks it under `options`. Returns the frame and sets `consumed`
  /// to its size on the wire; returns an empty optional (and `consumed` 0)
  /// when `bytes` holds only part of a frame; an Error when it is invalid.
  static Result<std::optional<Frame>> parse(std::string_view bytes, const FrameParserOptions& options,
                                           std::size_t& consumed);
};

}  // namespace parley::protocol
