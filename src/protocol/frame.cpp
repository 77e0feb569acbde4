// WebSocket frames (RFC 6455 §5.2): header codec and the incremental parser.
#include "parley/protocol/frame.hpp"

#include <algorithm>
#include <cstring>

#include "parley/protocol/mask.hpp"

namespace parley::protocol {
namespace {

// The size of a header whose second byte is `b1`.
constexpr std::size_t header_size(std::uint8_t b1) noexcept {
  const std::uint8_t len7 = b1 & 0x7f;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((b1 & 0x80) ? 4 : 0);
}

bool is_reserved(std::uint8_t opcode) noexcept {
  return (opcode >= 0x3 && opcode <= 0x7) || opcode >= 0xB;
}

void decode_header(const std::uint8_t* p, FrameHeader& h) noexcept {
  h.fin = (p[0] & 0x80) != 0;
  h.rsv = p[0] & 0x70;
  h.opcode = static_cast<Opcode>(p[0] & 0x0f);
  h.masked = (p[1] & 0x80) != 0;
  const std::uint8_t len7 = p[1] & 0x7f;
  std::size_t at = 2;
  if (len7 < 126) {
    h.payload_length = len7;
  } else if (len7 == 126) {
    h.payload_length = static_cast<std::uint64_t>(p[2]) << 8 | p[3];
    at = 4;
  } else {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) v = v << 8 | p[2 + i];
    h.payload_length = v;
    at = 10;
  }
  if (h.masked) std::memcpy(h.mask, p + at, 4);
}

}  // namespace

std::optional<FrameHeader> read_frame_header(std::string_view bytes) noexcept {
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  if (bytes.size() < 2 || bytes.size() < header_size(p[1])) return std::nullopt;
  FrameHeader h;
  decode_header(p, h);
  return h;
}

void append_frame(std::string& out, Opcode op, std::string_view payload, bool fin, std::uint8_t rsv,
                  const std::uint8_t* mask) {
  FrameHeader h;
  h.fin = fin;
  h.rsv = rsv;
  h.opcode = op;
  h.payload_length = payload.size();
  h.masked = mask != nullptr;
  if (mask != nullptr) std::memcpy(h.mask, mask, 4);
  const std::size_t start = out.size();
  out.resize(start + max_frame_header_size + payload.size());
  auto* p = reinterpret_cast<std::uint8_t*>(out.data()) + start;
  const std::size_t hs = write_frame_header(p, h);
  if (!payload.empty()) std::memcpy(p + hs, payload.data(), payload.size());
  if (mask != nullptr) apply_mask(p + hs, payload.size(), mask);
  out.resize(start + hs + payload.size());
}

const Error& FrameParser::error() const noexcept {
  static const Error none;
  return error_ ? *error_ : none;
}

FrameParser::Chunk FrameParser::fail(ProtocolError e, std::string message) {
  error_ = std::make_unique<Error>(e, std::move(message));
  return Chunk{Chunk::Kind::error};
}

bool FrameParser::validate_header() {
  const auto op = static_cast<std::uint8_t>(header_.opcode);
  if (is_reserved(op)) {
    fail(ProtocolError::reserved_opcode, "reserved opcode " + std::to_string(op));
  } else if ((header_.rsv & ~allowed_rsv_) != 0) {
    fail(ProtocolError::reserved_bits, "RSV bits 0x" + std::to_string(header_.rsv >> 4) +
                                           " set without a negotiated extension (opcode " + std::to_string(op) + ")");
  } else if (is_control(header_.opcode) && !header_.fin) {
    fail(ProtocolError::fragmented_control, "control frame (opcode " + std::to_string(op) + ") without FIN");
  } else if (is_control(header_.opcode) && header_.payload_length > max_control_payload) {
    fail(ProtocolError::control_too_long,
         "control frame payload of " + std::to_string(header_.payload_length) + " bytes (limit 125)");
  } else if (role_ == Role::server && !header_.masked) {
    fail(ProtocolError::unmasked_frame, "client frame is not masked");
  } else if (role_ == Role::client && header_.masked) {
    fail(ProtocolError::masked_frame, "server frame is masked");
  } else if ((header_.payload_length >> 63) != 0) {
    fail(ProtocolError::bad_length, "64-bit payload length has its most significant bit set");
  } else if (max_frame_size_ != 0 && header_.payload_length > max_frame_size_) {
    fail(ProtocolError::frame_too_big, "frame payload of " + std::to_string(header_.payload_length) +
                                           " bytes exceeds max_frame_size " + std::to_string(max_frame_size_));
  } else {
    return true;
  }
  return false;
}

FrameParser::Chunk FrameParser::next(std::uint8_t*& data, std::size_t& size) {
  if (error_) return Chunk{Chunk::Kind::error};
  Chunk c;
  if (!in_payload_) {
    if (size == 0) return c;
    if (staged_len_ == 0 && size >= 2 && size >= header_size(data[1])) {
      // The whole header is in the slice: decode it where it is.
      decode_header(data, header_);
      const std::size_t hs = header_size(data[1]);
      data += hs;
      size -= hs;
    } else {
      // Stage the header: first its two fixed bytes, then the rest.
      while (size != 0) {
        const std::size_t need = staged_len_ < 2 ? 2 : header_size(staged_[1]);
        if (staged_len_ == need) break;
        const std::size_t take = std::min(need - staged_len_, size);
        std::memcpy(staged_ + staged_len_, data, take);
        staged_len_ = static_cast<std::uint8_t>(staged_len_ + take);
        data += take;
        size -= take;
      }
      if (staged_len_ < 2 || staged_len_ < header_size(staged_[1])) return c;
      decode_header(staged_, header_);
      staged_len_ = 0;
    }
    if (!validate_header()) return Chunk{Chunk::Kind::error};
    remaining_ = header_.payload_length;
    mask_phase_ = 0;
    in_payload_ = true;
    c.frame_start = true;
  } else if (size == 0) {
    return c;
  }
  const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, size));
  if (header_.masked && take != 0) {
    mask_phase_ = static_cast<std::uint8_t>(apply_mask(data, take, header_.mask, mask_phase_));
  }
  c.kind = Chunk::Kind::payload;
  c.data = data;
  c.size = take;
  data += take;
  size -= take;
  remaining_ -= take;
  if (remaining_ == 0) {
    c.frame_end = true;
    in_payload_ = false;
  }
  return c;
}

std::string Frame::serialize() const {
  std::string out;
  append_frame(out, opcode, payload, fin, rsv, masked ? mask : nullptr);
  return out;
}

Result<std::optional<Frame>> Frame::parse(std::string_view bytes, const FrameParserOptions& options,
                                          std::size_t& consumed) {
  consumed = 0;
  std::string copy(bytes);
  FrameParser parser(options);
  auto* data = reinterpret_cast<std::uint8_t*>(copy.data());
  std::size_t size = copy.size();
  Frame f;
  for (;;) {
    const auto c = parser.next(data, size);
    if (c.kind == FrameParser::Chunk::Kind::error) return parser.error();
    if (c.kind == FrameParser::Chunk::Kind::need_more) return std::optional<Frame>{};
    f.payload.append(reinterpret_cast<const char*>(c.data), c.size);
    if (c.frame_end) break;
  }
  const FrameHeader& h = parser.header();
  f.fin = h.fin;
  f.rsv = h.rsv;
  f.opcode = h.opcode;
  f.masked = h.masked;
  std::memcpy(f.mask, h.mask, 4);
  consumed = copy.size() - size;
  return std::optional<Frame>(std::move(f));
}

}  // namespace parley::protocol
