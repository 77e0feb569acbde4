// libFuzzer target for the broker's envelope (src/broker/envelope.hpp): the
// bytes of a Redis pub/sub message, which any client of that Redis can send.
//
// Input: the message. Checks, trapping on any failure:
//  - decode_envelope() never reads outside the input (ASan) and, when it
//    accepts, gives views inside the input, a text payload that is valid
//    UTF-8 and an id that is empty or a stream id;
//  - re-encoding what was decoded gives the input back byte for byte (one
//    spelling per envelope);
//  - parse_stream_id() on the input agrees with a simple reference, and a
//    parsed id prints back to the input when the input has no leading zeros.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "broker/envelope.hpp"
#include "parley/protocol/utf8.hpp"

namespace {

using namespace parley::broker;

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

// Reference: "<digits>-<digits>", each 1-20 digits and <= UINT64_MAX.
bool ref_part(std::string_view s) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return s.size() < 20 || s <= "18446744073709551615";
}
bool ref_id(std::string_view s) {
  const auto dash = s.find('-');
  return dash != std::string_view::npos && ref_part(s.substr(0, dash)) && ref_part(s.substr(dash + 1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto e = decode_envelope(in)) {
    if (!inside(e->id, in) || !inside(e->payload, in)) __builtin_trap();
    if (!e->id.empty() && !is_stream_id(e->id)) __builtin_trap();
    if (e->type == parley::MessageType::text && !parley::protocol::is_valid_utf8(e->payload)) __builtin_trap();
    if (e->marker && !e->id.empty()) __builtin_trap();
    std::string again;
    if (e->marker) {
      encode_marker(again, e->origin, e->payload);
    } else {
      encode_envelope(again, e->type, e->origin, e->id, e->payload);
    }
    if (again != in) __builtin_trap();
  }
  const bool ok = parse_stream_id(in).has_value();
  if (ok != ref_id(in)) __builtin_trap();
  if (ok) {
    const auto id = *parse_stream_id(in);
    const std::string printed = std::to_string(id.ms) + "-" + std::to_string(id.seq);
    const auto dash = in.find('-');
    const bool leading_zero = (dash > 1 && in[0] == '0') || (in.size() - dash > 2 && in[dash + 1] == '0');
    if (!leading_zero && printed != in) __builtin_trap();
  }
  return 0;
}
