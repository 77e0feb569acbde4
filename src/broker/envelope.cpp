// broker/envelope.cpp — see envelope.hpp.
#include "broker/envelope.hpp"

#include <algorithm>

#include "parley/protocol/utf8.hpp"

namespace parley::broker {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void put_origin(std::string& out, std::uint64_t origin) {
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kHex[(origin >> shift) & 0xf]);
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is refused: one spelling per id
}

// A decimal number of 1-20 digits that fits in 64 bits.
std::optional<std::uint64_t> parse_u64(std::string_view s) noexcept {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

}  // namespace

void encode_envelope_head(std::string& out, MessageType type, std::uint64_t origin) {
  out.append("P1");
  out.push_back(type == MessageType::text ? 'T' : 'B');
  put_origin(out, origin);
}

void encode_envelope(std::string& out, MessageType type, std::uint64_t origin, std::string_view id,
                     std::string_view payload) {
  out.reserve(out.size() + kEnvelopeFixed + id.size() + 1 + payload.size());
  encode_envelope_head(out, type, origin);
  out.append(id);
  out.push_back('|');
  out.append(payload);
}

void encode_marker(std::string& out, std::uint64_t origin, std::string_view token) {
  out.append("P1M");
  put_origin(out, origin);
  out.push_back('|');
  out.append(token);
}

std::optional<Envelope> decode_envelope(std::string_view bytes) noexcept {
  if (bytes.size() < kEnvelopeFixed + 1 || bytes[0] != 'P' || bytes[1] != '1') return std::nullopt;
  Envelope e;
  if (bytes[2] == 'T') {
    e.type = MessageType::text;
  } else if (bytes[2] == 'B') {
    e.type = MessageType::binary;
  } else if (bytes[2] == 'M') {
    e.marker = true;
  } else {
    return std::nullopt;
  }
  for (std::size_t i = 3; i < kEnvelopeFixed; ++i) {
    const int v = hex_value(bytes[i]);
    if (v < 0) return std::nullopt;
    e.origin = (e.origin << 4) | static_cast<std::uint64_t>(v);
  }
  const std::size_t limit = std::min(bytes.size(), kEnvelopeFixed + kMaxStreamIdSize + 1);
  std::size_t bar = kEnvelopeFixed;
  while (bar < limit && bytes[bar] != '|') ++bar;
  if (bar == limit) return std::nullopt;
  e.id = bytes.substr(kEnvelopeFixed, bar - kEnvelopeFixed);
  if (!e.id.empty() && (e.marker || !is_stream_id(e.id))) return std::nullopt;
  e.payload = bytes.substr(bar + 1);
  if (e.type == MessageType::text && !protocol::is_valid_utf8(e.payload)) return std::nullopt;
  return e;
}

std::optional<StreamId> parse_stream_id(std::string_view s, bool allow_short) noexcept {
  const auto dash = s.find('-');
  if (dash == std::string_view::npos) {
    if (!allow_short) return std::nullopt;
    auto ms = parse_u64(s);
    if (!ms) return std::nullopt;
    return StreamId{*ms, 0};
  }
  auto ms = parse_u64(s.substr(0, dash));
  auto seq = parse_u64(s.substr(dash + 1));
  if (!ms || !seq) return std::nullopt;
  return StreamId{*ms, *seq};
}

std::string node_id_hex(std::uint64_t id) {
  std::string s;
  s.reserve(16);
  put_origin(s, id);
  return s;
}

}  // namespace parley::broker
