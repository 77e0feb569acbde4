// parley/protocol/deflate.hpp — the permessage-deflate extension (RFC 7692):
// negotiation of its four parameters, and per-message compression with
// zlib. Sans-I/O: the Engine calls it; it can also be used on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/error.hpp"
#include "parley/export.hpp"
#include "parley/protocol/headers.hpp"

namespace parley::protocol {

/// The extension's registered name.
inline constexpr std::string_view permessage_deflate = "permessage-deflate";

/// What an endpoint wants from permessage-deflate, and how it compresses.
///
/// Window sizes are in bits (a window of 2^bits bytes), 8 to 15. zlib
/// cannot compress with an 8-bit window (it would use 9, which a peer
/// promised 8 may not decode), so when parley's own side is limited to 8
/// bits it accepts the limit and sends its messages uncompressed — always
/// allowed by RFC 7692 — while still decompressing what the peer sends.
struct DeflateOptions {
  /// Offer / accept the extension at all. Default false (the Server and
  /// Client options switch it on).
  bool enabled = false;
  /// The server resets its compression context after each message (it
  /// uses less memory between messages; compresses repetitive streams
  /// less). Requested by a client, granted or imposed by a server. Default false.
  bool server_no_context_takeover = false;
  /// The client resets its compression context after each message.
  /// Default false.
  bool client_no_context_takeover = false;
  /// Largest window the server may compress with, 8-15. A client offers
  /// `server_max_window_bits` when this is below 15; a server uses at most
  /// this and says so when below 15. Default 15 (32 KiB).
  std::uint8_t server_max_window_bits = 15;
  /// Largest window the client may compress with, 8-15. A client offers
  /// `client_max_window_bits` (with this value when below 15); a server
  /// asks for this limit when below 15 and the client allows it. Default 15.
  std::uint8_t client_max_window_bits = 15;
  /// zlib compression level, 1 (fastest) to 9 (smallest). Default 6 (zlib's).
  int level = 6;
  /// zlib memLevel, 1-9: memory for the compressor's hash tables
  /// (2^(memLevel+9) bytes x 2 or so); lower saves memory, costs ratio. Default 8.
  int mem_level = 8;
  /// Messages smaller than this many bytes are sent uncompressed; 0 compresses every
  /// message. Default (unset): 256 bytes when this side's compressor keeps
  /// its context between messages, 512 bytes when the agreement resets it
  /// after each one (no context takeover in the direction this side sends)
  /// — where each starts to save more than about half the bytes for the
  /// CPU it costs (measured in docs/compression.md).
  std::optional<std::size_t> compression_threshold;

  /// An Error (`std::errc::invalid_argument`) for out-of-range values.
  Error validate() const;
};

/// The parameters both sides agreed on.
struct DeflateParams {
  bool server_no_context_takeover = false;   ///< the server resets its compressor after each message
  bool client_no_context_takeover = false;   ///< the client resets its compressor after each message
  std::uint8_t server_max_window_bits = 15;  ///< the server compresses with at most 2^this bytes of window (8-15)
  std::uint8_t client_max_window_bits = 15;  ///< the client compresses with at most 2^this bytes of window (8-15)
  /// Equal when every field is equal.
  friend bool operator==(const DeflateParams&, const DeflateParams&) = default;
};

/// The client's offer: one `permessage-deflate` extension with the options'
/// parameters (`client_max_window_bits` always present, so that a server
/// may limit it).
PARLEY_EXPORT Extension make_deflate_offer(const DeflateOptions& options);

/// What a server agreed to, as negotiate_deflate() returns it.
struct DeflateAgreement {
  DeflateParams params;  ///< what both sides agreed on
  Extension response;    ///< the Sec-WebSocket-Extensions element to answer with
};
/// The server's choice among a client's offers (Sec-WebSocket-Extensions,
/// in the client's order): the first permessage-deflate offer it can
/// accept. An offer with an unknown or repeated parameter, or a bad value,
/// is declined and the next one considered (RFC 7692 §5). Returns the
/// agreed parameters and the extension to answer with, or nullopt when no
/// offer is acceptable (the handshake goes on without compression).
PARLEY_EXPORT std::optional<DeflateAgreement> negotiate_deflate(const std::vector<Extension>& offers,
                                                               const DeflateOptions& options);

/// The client's check of the server's permessage-deflate answer against
/// what it offered (RFC 7692 §7.1): every parameter known, at most once,
/// valid, `server_max_window_bits` within what was asked, and
/// `client_max_window_bits` only when offered and within its value. Error:
/// `HandshakeError::unrequested_extension` with a message saying which rule.
PARLEY_EXPORT Result<DeflateParams> accept_deflate_response(const Extension& response, const DeflateOptions& offered);

/// The compression state of one connection, for one role: compresses what
/// it sends, decompresses what it receives. zlib streams are allocated
/// when first used, and released after each message when that direction
/// has no context takeover.
class PARLEY_EXPORT MessageDeflate {
 public:
  /// `role_is_server`: which side of `params` this endpoint is.
  MessageDeflate(const DeflateParams& params, const DeflateOptions& options, bool role_is_server);
  ~MessageDeflate();
  MessageDeflate(const MessageDeflate&) = delete;
  MessageDeflate& operator=(const MessageDeflate&) = delete;

  /// True when this side may compress at all (its window limit is not 8).
  bool can_compress() const noexcept { return send_bits_ >= 9; }
  /// The threshold in bytes: `compression_threshold` when set, else 256,
  /// or 512 when this side's context is reset after each message.
  std::size_t threshold() const noexcept { return threshold_; }
  /// True when what this side sends does not depend on earlier messages (no
  /// context takeover): a message compressed once can then be sent as is
  /// to every connection with the same `send_config()` (broadcast).
  bool stateless_send() const noexcept { return send_reset_; }
  /// The compression settings of what this side sends, as one number:
  /// connections with equal values produce equal bytes when stateless.
  std::uint32_t send_config() const noexcept {
    return static_cast<std::uint32_t>(send_bits_) << 16 | static_cast<std::uint32_t>(level_) << 8 |
           static_cast<std::uint32_t>(mem_level_);
  }

  /// Compresses a piece of an outgoing message (a whole message is one
  /// piece with `fin`), appending the compressed bytes to `out`: the
  /// `00 00 ff ff` tail of the final piece is removed (RFC 7692 §7.2.1).
  /// Without context takeover, a whole message is compressed by a
  /// compressor shared by the thread (so an idle connection holds no
  /// compressor at all). Errors only if zlib fails (out of memory).
  Error compress(std::string_view piece, bool fin, std::string& out);

  /// Decompresses a piece of an incoming compressed message, appending to
  /// `out`; with `fin`, the tail `00 00 ff ff` is added first and the
  /// message ends. Stops with `ProtocolError::message_too_big` as soon as
  /// `out` would exceed `limit` bytes (0 = no limit) — a compression bomb
  /// is never inflated past it — and `ProtocolError::compression_error` for
  /// data that is not a deflate stream.
  Error decompress(std::string_view piece, bool fin, std::string& out, std::uint64_t limit);

  /// Bytes of zlib state currently allocated (0 when released).
  std::size_t memory() const noexcept;

 private:
  struct Stream;
  std::unique_ptr<Stream> deflater_;
  std::unique_ptr<Stream> inflater_;
  int level_;
  int mem_level_;
  std::size_t threshold_;
  std::uint8_t send_bits_;
  std::uint8_t receive_bits_;
  bool send_reset_;     // no context takeover on what we send (whole messages use the thread's shared compressor)
  bool mid_message_ = false;  // a streamed message is being compressed
  bool receive_reset_;  // no context takeover on what we receive
};

}  // namespace parley::protocol
