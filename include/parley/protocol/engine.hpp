// parley/protocol/engine.hpp — one WebSocket connection as a sans-I/O state
// machine (RFC 6455 §5-§7): bytes in, events out; commands in, bytes out.
//
// The engine knows nothing of sockets, threads or clocks. The runtime feeds
// it what it reads (`receive`), and writes out what it produces (`output()`);
// time is passed in where a timeout needs it. Tests drive it without sockets.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "parley/close_code.hpp"
#include "parley/error.hpp"
#include "parley/export.hpp"
#include "parley/protocol/deflate.hpp"
#include "parley/protocol/frame.hpp"
#include "parley/protocol/utf8.hpp"

namespace parley::protocol {

/// The monotonic clock whose time points the engine is given.
using Clock = std::chrono::steady_clock;

/// Limits and behaviour of one connection. Plain values with defaults;
/// `validate()` checks them once.
struct EngineOptions {
  /// Largest message in bytes, after reassembly of its fragments; a larger
  /// one fails the connection with 1009 as soon as a frame header shows it
  /// (before its payload is read). 0 = no limit. Default 64 MiB.
  std::uint64_t max_message_size = 64ull << 20;
  /// Largest frame payload in bytes (1009 past it); 0 = no limit other than
  /// `max_message_size`. Default 0.
  std::uint64_t max_frame_size = 0;
  /// How long to wait for the peer's close frame after sending ours before
  /// `close_timed_out()` says to drop the connection. Default 3000 ms.
  std::chrono::milliseconds close_timeout{3000};
  /// Most frames in one message (1009 past it); 0 = no limit. Default 0:
  /// memory is bounded by `max_message_size`, and a conforming peer may send
  /// a large message in many small fragments.
  std::uint32_t max_fragments = 0;
  /// This end's role: decides masking and which frames are accepted.
  Role role = Role::server;
  /// Report every frame received and sent to `EngineHandler::on_frame`
  /// (for logging and debugging: `parley serve --verbose`). Default false:
  /// no call per frame.
  bool report_frames = false;

  // (Fields ordered by size: one engine per connection.)

  /// An Error (`std::errc::invalid_argument`) naming the first bad field,
  /// or no error: a negative `close_timeout`.
  Error validate() const;
};

/// Whether a frame came from the peer or goes to it.
enum class FrameDirection : std::uint8_t {
  received,  ///< read from the peer
  sent,      ///< appended to the engine's output for the peer
};

/// What the engine reports. The runtime (or a test) implements it. Every
/// call is made from inside `Engine::receive`, except `on_frame` for a
/// frame sent, which comes from the send function that appended it (once
/// the engine's state reflects that frame: after a close frame, sends fail
/// with `UsageError::not_open`). Handlers may call the engine's send
/// functions and `close()` from inside a callback, but must not destroy
/// the engine there.
class PARLEY_EXPORT EngineHandler {
 public:
  /// A whole message: `type` is Opcode::text (already validated as UTF-8)
  /// or Opcode::binary. `payload` is valid only during the call: it points
  /// into the receive buffer when the message arrived in one piece, else into
  /// the engine's reassembly buffer.
  virtual void on_message(Opcode type, std::string_view payload) = 0;
  /// A ping. Return true to have the engine answer it with a pong carrying
  /// the same payload (the default), false to suppress the automatic pong.
  virtual bool on_ping(std::string_view payload);
  /// A pong (solicited or not).
  virtual void on_pong(std::string_view payload);
  /// The peer's close frame, validated: its code (1005 `no_status` when the
  /// frame had no payload) and UTF-8 reason. When we had not closed yet, the
  /// engine has already queued the echoing close frame.
  virtual void on_close(CloseCode code, std::string_view reason);
  /// The peer broke the protocol or a limit. The engine has queued a close
  /// frame with `close_code_for(error)` and is now closed: flush the output
  /// and close the transport.
  virtual void on_protocol_error(const Error& error);
  /// A frame's header, with `EngineOptions::report_frames` only: a frame
  /// received, as soon as the frame parser accepts its header (before its
  /// payload; a header the parser rejects goes straight to
  /// on_protocol_error), or a frame sent, when the engine appends it to its
  /// output (`header.mask` is the key it was masked with). Default: nothing.
  virtual void on_frame(FrameDirection direction, const FrameHeader& header);

 protected:
  ~EngineHandler() = default;
};

/// Fills `key` with 4 bytes from OpenSSL's CSPRNG, drawn in batches from a
/// per-thread pool (one RAND_bytes call per 1024 keys).
PARLEY_EXPORT void random_mask_key(std::uint8_t key[4]) noexcept;

/// Whether a message is compressed when permessage-deflate is in use.
enum class Compression : std::uint8_t {
  automatic,  ///< when it is at least `compression_threshold` bytes (or streamed)
  always,     ///< whatever its size
  never,      ///< sent as is
};

/// Where the close handshake stands.
enum class EngineState : std::uint8_t {
  open,        ///< messages flow both ways
  close_sent,  ///< we sent a close frame and wait for the peer's (we still receive)
  closed,      ///< both close frames exchanged, or the connection failed: close the transport
};

/// One connection's protocol state: frame parsing, message reassembly,
/// UTF-8 validation, ping/pong and the close handshake, for either role.
class PARLEY_EXPORT Engine {
 public:
  /// `options` and `handler` must outlive the engine: it keeps a reference
  /// to `options` (one EngineOptions serves every connection of a server, so
  /// an idle connection carries no copy of them), read again on each use.
  /// Options are assumed valid (see `EngineOptions::validate`).
  Engine(const EngineOptions& options, EngineHandler& handler);
  /// Not from a temporary: the engine keeps a reference to its options.
  Engine(EngineOptions&& options, EngineHandler& handler) = delete;

  /// Feeds bytes read from the transport. They are parsed, and unmasked, in
  /// place: the buffer is modified. Events are reported to the handler
  /// before this returns. Bytes after the peer's close frame, and anything
  /// once the engine is closed, are ignored.
  void receive(std::uint8_t* data, std::size_t size);

  /// Queues a whole text (`Opcode::text`) or binary (`Opcode::binary`)
  /// message as one frame. Text is not validated (sending valid UTF-8 is the
  /// caller's contract). Errors: UsageError::not_open, bad_opcode,
  /// bad_fragment_sequence (a fragmented send is in progress).
  Error send(Opcode type, std::string_view payload, Compression compression = Compression::automatic);
  /// As `send`, but appends the frame to `out` instead of the engine's
  /// output (the engine's state is the same as after `send`). A server's
  /// frames are unmasked, so when compression is stateless (see
  /// `MessageDeflate::stateless_send`) the bytes can be shared by every
  /// connection with the same settings: a broadcast encodes once. No
  /// `on_frame` report is made for it: whoever queues the bytes reports.
  Error encode(Opcode type, std::string_view payload, Compression compression, std::string& out);
  /// True when a whole message of `type` and `size` bytes can go out now
  /// through the one-copy send (`plain_header`): the engine is open,
  /// `type` is text or binary, no fragmented send is in progress, and
  /// `compression` (with the negotiated permessage-deflate, if any) leaves
  /// it uncompressed. Otherwise use `send`, which compresses it or says why
  /// it cannot be sent. Inline: the small-message send path's one check.
  bool sends_plain(Opcode type, std::size_t size, Compression compression = Compression::automatic) const noexcept {
    return state_ == EngineState::open && (type == Opcode::text || type == Opcode::binary) &&
           sending_type_ == Opcode::continuation && (!deflate_ || !compress_next(size, compression));
  }
  /// The one-copy send of a whole message that `sends_plain` allowed: the
  /// header of its one frame (FIN, no RSV bit) for a payload of `size`
  /// bytes, masked with a fresh key in the client role. The caller writes
  /// the header (`write_frame_header`) and the payload straight into its
  /// output, masking its copy of the payload with `header.mask` when
  /// `header.masked`, with no engine buffer in between. The engine's state
  /// afterwards is as after `send`; no `on_frame` report is made (the
  /// caller reports the frame once it is written, so that a handler that
  /// closes sees it in order). Whatever the engine queued before
  /// (`output()`) must be written first.
  FrameHeader plain_header(Opcode type, std::size_t size) const noexcept {
    FrameHeader h;
    h.opcode = type;
    h.payload_length = size;
    if (options_->role == Role::client) {
      h.masked = true;
      random_mask_key(h.mask);
    }
    return h;
  }
  /// Queues one fragment of a message that is streamed in parts: the first
  /// call's `type` (text or binary) starts the message, later calls continue
  /// it (their `type` must be the same), and `fin = true` ends it. Control
  /// frames may be sent between fragments. Errors as `send`.
  Error send_fragment(Opcode type, std::string_view payload, bool fin,
                      Compression compression = Compression::automatic);
  /// Queues a ping (payload at most 125 bytes: else UsageError::control_too_long).
  Error ping(std::string_view payload = {});
  /// Queues an unsolicited pong (a heartbeat), at most 125 bytes.
  Error pong(std::string_view payload = {});
  /// Starts the close handshake: queues a close frame with `code` and
  /// `reason` (at most 123 bytes of UTF-8) and stops sending; the peer's
  /// close frame completes it. `now` starts the close timeout. Errors:
  /// UsageError::not_open (already closing), bad_close_code (a code that may
  /// not be sent; `CloseCode::no_status` sends a close frame without a code),
  /// close_reason_too_long, invalid_utf8.
  Error close(CloseCode code, std::string_view reason, Clock::time_point now);

  /// Forgets the connection: back to `open` with empty buffers and no
  /// message in progress, same options (a client reconnecting).
  void reset();

  /// True when the close timeout started by `close()` has passed: the peer
  /// never answered and the transport should be dropped.
  bool close_timed_out(Clock::time_point now) const noexcept;

  /// Bytes to write to the transport, in order. The caller writes what it
  /// can and erases that prefix (or calls `clear_output()`): the engine
  /// only appends. (The buffer lives in the part of the engine allocated on
  /// first use: this call allocates that part when there is none; the
  /// const overload does not.)
  std::string& output() { return active().out; }
  /// Bytes to write to the transport (read-only; empty when there are none).
  const std::string& output() const noexcept { return active_ ? active_->out : kNoOutput; }
  /// `output().size()`, as a runtime checks it after every call: inline,
  /// a load and a test when the engine holds nothing.
  std::size_t output_size() const noexcept { return active_ ? active_->out.size() : 0; }
  /// Empties `output()` once it has been handed to the transport, and frees
  /// its memory when a large message made it grow past 4 KiB (an idle
  /// connection keeps no copy of its largest send). When the engine then
  /// holds nothing else (no message in progress, no owed pong, not waiting
  /// for the peer's close frame, no buffer memory), the part of it that
  /// only an active connection needs is freed too.
  void clear_output() noexcept {
    if (!active_) return;
    std::string& out = active_->out;
    out.clear();
    if (out.capacity() > kKeepCapacity) std::string().swap(out);
    release_idle();
  }

  /// While held (`hold = true`), a ping is not answered at once: only the
  /// latest ping's payload is kept (at most 125 bytes), and its pong is
  /// queued when the hold is lifted (RFC 6455 §5.5.3 allows answering only
  /// the most recent ping). The runtime holds pongs while the peer is not
  /// reading its output, so that a flood of pings cannot grow it.
  /// Default: not held.
  void hold_pongs(bool hold) {
    if (hold || !pong_owed_) {
      pongs_held_ = hold;
      return;
    }
    answer_owed_pong();
  }

  /// Fails the connection from outside the frame parser (a limit of the
  /// runtime's, such as a memory budget or a stalled message): as a
  /// protocol error by the peer, the engine queues a close frame with
  /// `close_code_for(error)` (`error` must be a ProtocolError), frees the
  /// message being reassembled, is closed, and reports `on_protocol_error`.
  /// Does nothing once closed.
  void fail(const Error& error);

  /// Where the close handshake stands.
  EngineState state() const noexcept { return state_; }
  /// True when the connection failed (a protocol error by the peer).
  bool failed() const noexcept { return failed_; }
  /// This end's role.
  Role role() const noexcept { return options_->role; }
  /// True while a message sent with `send_fragment` is unfinished.
  bool sending_fragmented() const noexcept { return sending_type_ != Opcode::continuation; }
  /// Bytes of the message being reassembled (0 between messages).
  std::uint64_t message_bytes() const noexcept { return active_ ? active_->message_size : 0; }
  /// True between the first frame of a message and its last.
  bool receiving_message() const noexcept { return message_type_ != Opcode::continuation; }
  /// Bytes held for input: a message split across reads or fragments, or
  /// being inflated, counted from its first byte: the bytes received or
  /// inflated so far, or the buffer's whole capacity when it is over
  /// kKeepCapacity (a spare buffer taken, or room reserved for the frame's
  /// announced length).
  std::size_t input_held() const noexcept {
    if (!active_) return 0;
    const std::string& m = active_->message;
    // A large buffer counts whole (a spare taken, or room reserved ahead of
    // the data): it is memory held for the peer.
    return (m.capacity() > kKeepCapacity ? m.capacity() : m.size()) + active_->control.size();
  }

  /// A buffer (output or reassembly) larger than this many bytes is freed
  /// once its message is done, so an idle connection keeps no memory from
  /// a large or a compressed message. 4 KiB. (A reassembly buffer of up to
  /// kSpareCapacity is handed to the thread's spare instead: see there.)
  static constexpr std::size_t kKeepCapacity = 4 * 1024;
  /// Each thread keeps spare reassembly buffers, up to this many bytes in
  /// all: those connections let go after a message over kKeepCapacity
  /// (the smallest dropped first past the bound), taken by the next
  /// connections of the thread that receive a frame over kKeepCapacity in
  /// pieces (one that fits its announced length, if any). A stream of large messages
  /// then neither regrows its buffer nor faults in fresh pages for each
  /// (the allocator gives large freed blocks back to the kernel). At most
  /// this much memory per thread (one per event loop), whatever the number
  /// of connections. 16 MiB.
  static constexpr std::size_t kSpareCapacity = 16 * 1024 * 1024;
  /// Turns permessage-deflate on (after the handshake negotiated it):
  /// RSV1 marks compressed messages from then on. Messages are compressed
  /// as `send`'s `compression` says; received ones are inflated, bounded by
  /// `max_message_size`.
  void set_deflate(std::unique_ptr<MessageDeflate> deflate);
  /// The compression state, when negotiated (else nullptr).
  const MessageDeflate* deflate() const noexcept { return deflate_.get(); }

 private:
  bool receive_whole(std::uint8_t*& data, std::size_t& size);
  bool valid_whole_text(std::string_view message);
  void on_frame_start(const FrameHeader& h);
  void on_data(const FrameParser::Chunk& c);
  void on_control(const FrameParser::Chunk& c);
  void on_close_frame(std::string_view payload);
  void deliver(std::string_view message);
  void fail(ProtocolError e, std::string message);
  void answer_owed_pong();
  void append(Opcode op, std::string_view payload, bool fin, std::uint8_t rsv = 0);
  void frame_into(std::string& out, Opcode op, std::string_view payload, bool fin, std::uint8_t rsv) const;
  bool compress_next(std::size_t size, Compression compression) const noexcept;
  Error check_whole_send(Opcode type) const noexcept;

  void release_idle() noexcept;

  const EngineOptions* options_;  // shared (see the constructor)
  EngineHandler& handler_;
  FrameParser parser_;
  // What only an active connection needs: the output, buffers for what did
  // not arrive in one piece, the message and close state. An idle
  // connection holds none of it (one pointer): it is allocated on first
  // use and freed by release_idle() once it holds nothing again.
  struct Active {
    std::string out;                      // frames to write
    std::string message;                  // a message that did not arrive in one piece
    std::string control;                  // a control payload split across reads
    std::string pong;                     // the payload of the ping owed a pong while pongs are held
    std::uint64_t message_size = 0;       // bytes of the message being received (0 between messages)
    Clock::time_point close_deadline{};   // (close_sent) when close_timed_out() turns true
  };
  Active& active();
  static const std::string kNoOutput;  // output() without an Active part

  std::unique_ptr<Active> active_;
  std::unique_ptr<MessageDeflate> deflate_;  // permessage-deflate, when negotiated
  std::uint32_t fragments_ = 0;
  Opcode message_type_ = Opcode::continuation;  // continuation = no message in progress
  Opcode sending_type_ = Opcode::continuation;  // continuation = no fragmented send in progress
  EngineState state_ = EngineState::open;
  // (The validator's 7 bytes and bit-fields fill the tail: one engine per connection.)
  Utf8Validator utf8_;
  bool failed_ : 1 = false;
  bool compressed_ : 1 = false;          // the message being received is compressed
  bool sending_compressed_ : 1 = false;  // the fragmented message being sent is compressed
  bool pongs_held_ : 1 = false;          // see hold_pongs()
  bool pong_owed_ : 1 = false;           // a ping came while pongs were held: active_->pong answers it
  bool receiving_ : 1 = false;           // inside receive(): active_ stays (what was handed out may point into it)
};

}  // namespace parley::protocol
