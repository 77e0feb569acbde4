// One WebSocket connection as a sans-I/O state machine (RFC 6455 §5-§7).
#include "parley/protocol/engine.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "parley/protocol/close_payload.hpp"
#include "parley/protocol/mask.hpp"
#include "protocol/unmask_ascii.hpp"

namespace parley::protocol {
namespace {

std::string_view view(const FrameParser::Chunk& c) noexcept {
  return {reinterpret_cast<const char*>(c.data), c.size};
}

// (Engine::kKeepCapacity: inflating grows the reassembly buffer 16 KiB at
// a time; it was kept, 13-21 KB per idle connection, until the limit was
// lowered from 64 KiB.)

// The thread's spare reassembly buffers (Engine::kSpareCapacity in all).
struct Spares {
  std::vector<std::string> buffers;
  std::size_t bytes = 0;
};
Spares& spares() noexcept {
  thread_local Spares s;
  return s;
}

// Gives `m` (a reassembly buffer, empty) the spare that best holds `size`
// bytes: the smallest large enough, else the largest; without one, room
// for `size` (up to 1 MiB), so that it grows in few steps.
void take_spare(std::string& m, std::size_t size) {
  Spares& s = spares();
  std::size_t best = s.buffers.size();
  for (std::size_t i = 0; i < s.buffers.size(); ++i) {
    const std::size_t cap = s.buffers[i].capacity();
    if (best == s.buffers.size()) {
      best = i;
      continue;
    }
    const std::size_t had = s.buffers[best].capacity();
    if (cap >= size ? (had < size || cap < had) : (had < size && cap > had)) best = i;
  }
  if (best != s.buffers.size() && s.buffers[best].capacity() > m.capacity()) {
    s.bytes -= s.buffers[best].capacity();
    m.swap(s.buffers[best]);
    s.buffers[best].swap(s.buffers.back());
    s.buffers.pop_back();
  }
  // (At most 1 MiB ahead of the data: the length is only announced.)
  if (m.capacity() < size) m.reserve(std::min<std::size_t>(size, 1u << 20));
}

// Takes back a reassembly buffer (cleared) that grew past kKeepCapacity:
// kept among the spares while they stay within kSpareCapacity (the
// smallest dropped first), freed otherwise. `m` is left without memory.
void give_spare(std::string& m) {
  Spares& s = spares();
  if (m.capacity() <= Engine::kSpareCapacity) {
    s.bytes += m.capacity();
    s.buffers.emplace_back().swap(m);
    while (s.bytes > Engine::kSpareCapacity) {
      auto smallest = std::min_element(s.buffers.begin(), s.buffers.end(),
                                       [](const std::string& a, const std::string& b) { return a.capacity() < b.capacity(); });
      s.bytes -= smallest->capacity();
      smallest->swap(s.buffers.back());
      s.buffers.pop_back();
    }
  }
  std::string().swap(m);
}

}  // namespace

Error EngineOptions::validate() const {
  if (close_timeout.count() < 0) {
    return Error(std::make_error_code(std::errc::invalid_argument), "close_timeout must not be negative");
  }
  return {};
}

bool EngineHandler::on_ping(std::string_view) { return true; }
void EngineHandler::on_pong(std::string_view) {}
void EngineHandler::on_close(CloseCode, std::string_view) {}
void EngineHandler::on_protocol_error(const Error&) {}
void EngineHandler::on_frame(FrameDirection, const FrameHeader&) {}

void random_mask_key(std::uint8_t key[4]) noexcept {
  struct Pool {
    std::uint8_t bytes[4096];
    std::size_t used = sizeof(bytes);
  };
  thread_local Pool pool;
  if (pool.used == sizeof(pool.bytes)) {
    // OpenSSL's CSPRNG only fails without any entropy source; predictable
    // masks would defeat their purpose (RFC 6455 §10.3).
    if (RAND_bytes(pool.bytes, sizeof(pool.bytes)) != 1) std::abort();
    pool.used = 0;
  }
  std::memcpy(key, pool.bytes + pool.used, 4);
  pool.used += 4;
}

const std::string Engine::kNoOutput;

Engine::Engine(const EngineOptions& options, EngineHandler& handler)
    : options_(&options),
      handler_(handler),
      parser_(FrameParserOptions{options.role, 0, options.max_frame_size}) {}

void Engine::set_deflate(std::unique_ptr<MessageDeflate> deflate) {
  deflate_ = std::move(deflate);
  parser_.set_allowed_rsv(deflate_ ? rsv1 : 0);
}

void Engine::reset() {
  parser_ = FrameParser(FrameParserOptions{options_->role, 0, options_->max_frame_size});
  deflate_.reset();
  compressed_ = sending_compressed_ = false;
  utf8_.reset();
  active_.reset();
  pongs_held_ = pong_owed_ = false;
  fragments_ = 0;
  message_type_ = Opcode::continuation;
  sending_type_ = Opcode::continuation;
  state_ = EngineState::open;
  failed_ = false;
}

void Engine::receive(std::uint8_t* data, std::size_t size) {
  // The handler's calls may flush the output (clear_output) while a
  // payload it was given points into the Active part: it is kept until
  // receive returns.
  struct Receiving {
    Engine& e;
    explicit Receiving(Engine& engine) noexcept : e(engine) { e.receiving_ = true; }
    ~Receiving() { e.receiving_ = false; }
    Receiving(const Receiving&) = delete;
    Receiving& operator=(const Receiving&) = delete;
  } receiving(*this);
  while (state_ != EngineState::closed) {
    if (parser_.at_frame_start() && receive_whole(data, size)) continue;
    const FrameParser::Chunk c = parser_.next(data, size);
    if (c.kind == FrameParser::Chunk::Kind::need_more) return;
    if (c.kind == FrameParser::Chunk::Kind::error) {
      fail(parser_.error());
      return;
    }
    if (c.frame_start && options_->report_frames) {
      handler_.on_frame(FrameDirection::received, parser_.header());
      if (state_ == EngineState::closed) return;
    }
    if (is_control(parser_.header().opcode)) {
      if (c.frame_start && parser_.header().rsv != 0) {
        return fail(ProtocolError::reserved_bits, "RSV1 set on a control frame");
      }
      on_control(c);
    } else {
      if (c.frame_start) {
        on_frame_start(parser_.header());
        if (state_ == EngineState::closed) return;
      }
      on_data(c);
    }
  }
}

// The common case without the frame parser: a whole data frame at the
// front of the slice (FIN, text or binary, no RSV bit, masked as the role
// requires, at most 65535 bytes and within the limits), between frames,
// with no message in progress and no frame reports. It is unmasked and its
// text checked in one pass over the bytes and delivered in place, and
// `data`/`size` move past it. Anything else (nothing consumed: false) is
// the parser's, which checks and reports it as always.
bool Engine::receive_whole(std::uint8_t*& data, std::size_t& size) {
  const EngineOptions& options = *options_;
  if (size < 2 || message_type_ != Opcode::continuation || options.report_frames) return false;
  const std::uint8_t b0 = data[0];
  const std::uint8_t b1 = data[1];
  if (b0 != (0x80 | static_cast<std::uint8_t>(Opcode::text)) && b0 != (0x80 | static_cast<std::uint8_t>(Opcode::binary))) {
    return false;
  }
  const bool masked = (b1 & 0x80) != 0;
  if (masked != (options.role == Role::server)) return false;
  std::size_t length = b1 & 0x7f;
  std::size_t at = 2;
  if (length == 126) {
    if (size < 4) return false;
    length = static_cast<std::size_t>(data[2]) << 8 | data[3];
    at = 4;
  } else if (length == 127) {
    return false;
  }
  const std::uint8_t* key = data + at;
  if (masked) at += 4;
  if (size < at || size - at < length) return false;
  if ((options.max_message_size != 0 && length > options.max_message_size) ||
      (options.max_frame_size != 0 && length > options.max_frame_size)) {
    return false;
  }
  std::uint8_t* payload = data + at;
  const auto type = static_cast<Opcode>(b0 & 0x0f);
  bool ascii = false;
  if (masked) {
    if (length <= kFusedMax) {
      ascii = unmask_ascii(payload, length, key);
    } else {
      apply_mask(payload, length, key);
    }
  }
  data += at + length;
  size -= at + length;
  const std::string_view message(reinterpret_cast<const char*>(payload), length);
  if (type == Opcode::text && !ascii && !valid_whole_text(message)) return true;
  handler_.on_message(type, message);
  return true;
}

// Text that is not all ASCII, checked by the validator with the parser's
// path's errors. (Out of line: the ASCII path keeps a small frame.)
[[gnu::noinline]] bool Engine::valid_whole_text(std::string_view message) {
  utf8_.reset();
  if (!utf8_.feed(message)) {
    fail(ProtocolError::invalid_utf8, "invalid UTF-8 in text message");
    return false;
  }
  if (!utf8_.complete()) {
    fail(ProtocolError::invalid_utf8, "text message ends inside a UTF-8 sequence");
    return false;
  }
  return true;
}

void Engine::on_frame_start(const FrameHeader& h) {
  if (h.opcode == Opcode::continuation) {
    if (message_type_ == Opcode::continuation) {
      return fail(ProtocolError::unexpected_continuation, "continuation frame without a message in progress");
    }
    if (h.rsv != 0) return fail(ProtocolError::reserved_bits, "RSV1 set on a continuation frame");
  } else {
    compressed_ = (h.rsv & rsv1) != 0;
    if (message_type_ != Opcode::continuation) {
      return fail(ProtocolError::expected_continuation, "new data frame inside a fragmented message");
    }
    message_type_ = h.opcode;
    if (active_) active_->message_size = 0;
    fragments_ = 0;
    utf8_.reset();
  }
  ++fragments_;
  const EngineOptions& options = *options_;
  if (options.max_fragments != 0 && fragments_ > options.max_fragments) {
    return fail(ProtocolError::too_many_fragments,
                "message exceeds max_fragments " + std::to_string(options.max_fragments));
  }
  const std::uint64_t so_far = message_bytes();
  if (options.max_message_size != 0 && h.payload_length > options.max_message_size - so_far) {
    return fail(ProtocolError::message_too_big, "message of at least " + std::to_string(so_far + h.payload_length) +
                                                    " bytes exceeds max_message_size " +
                                                    std::to_string(options.max_message_size));
  }
}

void Engine::on_data(const FrameParser::Chunk& c) {
  const std::string_view piece = view(c);
  const FrameHeader& h = parser_.header();
  const bool last = c.frame_end && h.fin;
  if (compressed_) {
    // Inflated into the reassembly buffer, bounded by max_message_size;
    // text is validated as it inflates (fail fast).
    Active& a = active();
    std::string& message = a.message;
    const std::size_t before = message.size();
    if (Error e = deflate_->decompress(piece, last, message, options_->max_message_size)) return fail(e);
    if (message_type_ == Opcode::text && !utf8_.feed(std::string_view(message).substr(before))) {
      return fail(ProtocolError::invalid_utf8, "invalid UTF-8 in text message");
    }
    a.message_size += piece.size();
    if (last) deliver(message);
    return;
  }
  if (message_type_ == Opcode::text && !utf8_.feed(piece)) {
    return fail(ProtocolError::invalid_utf8, "invalid UTF-8 in text message");
  }
  if (last && c.frame_start && h.opcode != Opcode::continuation) {
    // The common case: a whole message in one chunk, never copied (and
    // never counted in message_bytes(): it is done at once).
    deliver(piece);
  } else {
    Active& a = active();
    a.message_size += piece.size();
    std::string& message = a.message;
    if (message.empty() && c.frame_start && h.payload_length > kKeepCapacity) take_spare(message, h.payload_length);
    message.append(piece);
    if (last) deliver(message);
  }
}

Engine::Active& Engine::active() {
  if (!active_) active_ = std::make_unique<Active>();
  return *active_;
}

namespace {
// True when `s` holds memory of its own (more than the string's inline room).
bool holds_memory(const std::string& s) noexcept { return s.capacity() > std::string().capacity(); }
}  // namespace

void Engine::release_idle() noexcept {
  // Kept while it holds state: a message or a control frame in progress
  // (mid-frame, the parser is not at a frame's start), an owed pong, the
  // close deadline, output, or buffer memory (kept to be reused).
  // (Not while receive() runs: see there.)
  if (receiving_ || message_type_ != Opcode::continuation || !parser_.at_frame_start() || pong_owed_ ||
      state_ == EngineState::close_sent) {
    return;
  }
  const Active& a = *active_;
  if (!a.out.empty() || holds_memory(a.out) || holds_memory(a.message) || holds_memory(a.control) ||
      holds_memory(a.pong)) {
    return;
  }
  active_.reset();
}

void Engine::deliver(std::string_view message) {
  if (message_type_ == Opcode::text && !utf8_.complete()) {
    return fail(ProtocolError::invalid_utf8, "text message ends inside a UTF-8 sequence");
  }
  const Opcode type = message_type_;
  message_type_ = Opcode::continuation;
  if (active_) active_->message_size = 0;
  fragments_ = 0;
  handler_.on_message(type, message);
  // (The handler may have reset the engine.)
  if (active_) {
    std::string& m = active_->message;
    m.clear();
    if (m.capacity() > kKeepCapacity) give_spare(m);
  }
}

void Engine::on_control(const FrameParser::Chunk& c) {
  std::string_view payload;
  if (c.frame_start && c.frame_end) {
    payload = view(c);
  } else {
    std::string& control = active().control;
    if (c.frame_start) control.clear();
    control.append(view(c));
    if (!c.frame_end) return;
    payload = control;
  }
  switch (parser_.header().opcode) {
    case Opcode::ping:
      if (!handler_.on_ping(payload) || state_ != EngineState::open) break;
      if (pongs_held_) {
        active().pong.assign(payload);  // (`payload` may be active().control: assign copes)
        pong_owed_ = true;
      } else {
        append(Opcode::pong, payload, true);
      }
      break;
    case Opcode::pong:
      handler_.on_pong(payload);
      break;
    default:
      on_close_frame(payload);
      break;
  }
}

void Engine::on_close_frame(std::string_view payload) {
  const Result<ClosePayload> received = ClosePayload::parse(payload);
  if (!received) return fail(received.error());
  const bool echo = state_ == EngineState::open;
  // Closed before the echo is appended: nothing can be sent after it (e.g.
  // by an on_frame handler).
  state_ = EngineState::closed;
  if (echo) {
    // Echo the code (RFC 6455 §5.5.1), without the reason.
    std::string wire;
    ClosePayload{received->code, {}}.append_to(wire);
    append(Opcode::close, wire, true);
  }
  handler_.on_close(received->code, received->reason);
}

void Engine::fail(ProtocolError e, std::string message) { fail(Error(e, std::move(message))); }

void Engine::fail(const Error& e) {
  if (state_ == EngineState::closed) return;
  const bool send_close = state_ == EngineState::open;
  state_ = EngineState::closed;  // before the close frame is appended (see on_close_frame)
  failed_ = true;
  // Nothing more is received: what was being reassembled is freed now (it
  // may be what a memory limit failed the connection for); the output stays.
  if (active_) {
    std::string().swap(active_->message);
    std::string().swap(active_->control);
    std::string().swap(active_->pong);
    active_->message_size = 0;
  }
  message_type_ = Opcode::continuation;
  pong_owed_ = false;
  if (send_close) {
    // The reason says why, cut to the 123 bytes a close frame allows
    // (parley's messages are ASCII, peer bytes escaped: any cut is UTF-8).
    const std::string message = e.message();
    std::string wire;
    ClosePayload{close_code_for(static_cast<ProtocolError>(e.code().value())),
                 std::string_view(message).substr(0, ClosePayload::max_reason)}
        .append_to(wire);
    append(Opcode::close, wire, true);
  }
  handler_.on_protocol_error(e);
}

void Engine::append(Opcode op, std::string_view payload, bool fin, std::uint8_t rsv) {
  frame_into(active().out, op, payload, fin, rsv);
}

void Engine::frame_into(std::string& out, Opcode op, std::string_view payload, bool fin, std::uint8_t rsv) const {
  FrameHeader h;
  h.fin = fin;
  h.rsv = rsv;
  h.opcode = op;
  h.payload_length = payload.size();
  if (options_->role == Role::client) {
    h.masked = true;
    random_mask_key(h.mask);
    append_frame(out, op, payload, fin, rsv, h.mask);
  } else {
    append_frame(out, op, payload, fin, rsv);
  }
  // (A frame encoded into another buffer is reported by whoever queues it.)
  if (options_->report_frames && active_ && &out == &active_->out) handler_.on_frame(FrameDirection::sent, h);
}

bool Engine::compress_next(std::size_t size, Compression compression) const noexcept {
  if (!deflate_ || !deflate_->can_compress() || compression == Compression::never) return false;
  return compression == Compression::always || size >= deflate_->threshold();
}

namespace {
// Compressed payloads are built in one buffer per thread, reused, so that
// compression allocates nothing per message in steady state; a buffer that
// grew past 1 MiB for a large message is freed as soon as that message is
// framed, so no thread keeps it.
class Scratch {
 public:
  Scratch() { buffer().clear(); }
  ~Scratch() {
    if (buffer().capacity() > (1u << 20)) std::string().swap(buffer());
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  std::string& get() { return buffer(); }

 private:
  static std::string& buffer() {
    thread_local std::string b;
    return b;
  }
};
}  // namespace

Error Engine::send(Opcode type, std::string_view payload, Compression compression) {
  return encode(type, payload, compression, active().out);
}

Error Engine::check_whole_send(Opcode type) const noexcept {
  if (state_ != EngineState::open) return UsageError::not_open;
  if (type != Opcode::text && type != Opcode::binary) return UsageError::bad_opcode;
  if (sending_type_ != Opcode::continuation) return UsageError::bad_fragment_sequence;
  return {};
}

Error Engine::encode(Opcode type, std::string_view payload, Compression compression, std::string& out) {
  if (Error e = check_whole_send(type)) return e;
  if (compress_next(payload.size(), compression)) {
    Scratch scratch;
    std::string& packed = scratch.get();
    if (Error e = deflate_->compress(payload, true, packed)) return e;
    frame_into(out, type, packed, true, rsv1);
  } else {
    frame_into(out, type, payload, true, 0);
  }
  return {};
}

Error Engine::send_fragment(Opcode type, std::string_view payload, bool fin, Compression compression) {
  if (state_ != EngineState::open) return UsageError::not_open;
  if (type != Opcode::text && type != Opcode::binary) return UsageError::bad_opcode;
  Opcode op = type;
  std::uint8_t rsv = 0;
  if (sending_type_ != Opcode::continuation) {
    if (type != sending_type_) return UsageError::bad_fragment_sequence;
    op = Opcode::continuation;
  } else {
    // A streamed message's size is unknown: `automatic` compresses it.
    sending_compressed_ = compress_next(SIZE_MAX, compression);
    if (sending_compressed_) rsv = rsv1;
  }
  sending_type_ = fin ? Opcode::continuation : type;
  if (sending_compressed_) {
    Scratch scratch;
    std::string& packed = scratch.get();
    if (Error e = deflate_->compress(payload, fin, packed)) return e;
    append(op, packed, fin, rsv);
  } else {
    append(op, payload, fin);
  }
  return {};
}

Error Engine::ping(std::string_view payload) {
  if (state_ != EngineState::open) return UsageError::not_open;
  if (payload.size() > max_control_payload) return UsageError::control_too_long;
  append(Opcode::ping, payload, true);
  return {};
}

Error Engine::pong(std::string_view payload) {
  if (state_ != EngineState::open) return UsageError::not_open;
  if (payload.size() > max_control_payload) return UsageError::control_too_long;
  append(Opcode::pong, payload, true);
  return {};
}

Error Engine::close(CloseCode code, std::string_view reason, Clock::time_point now) {
  if (state_ != EngineState::open) return UsageError::not_open;
  const ClosePayload close{code, reason};
  if (Error e = close.check()) return e;
  std::string payload;
  close.append_to(payload);
  state_ = EngineState::close_sent;  // before the close frame is appended (see on_close_frame)
  active().close_deadline = now + options_->close_timeout;
  append(Opcode::close, payload, true);
  return {};
}

void Engine::answer_owed_pong() {
  pongs_held_ = false;
  pong_owed_ = false;
  // Taken out first: append() reports the frame to the handler, which may
  // flush and so free an Active part that holds nothing more (release_idle).
  const std::string pong = std::exchange(active_->pong, {});
  if (state_ == EngineState::open) append(Opcode::pong, pong, true);
}

bool Engine::close_timed_out(Clock::time_point now) const noexcept {
  // (close_sent keeps the Active part: see release_idle.)
  return state_ == EngineState::close_sent && now >= active_->close_deadline;
}

}  // namespace parley::protocol
