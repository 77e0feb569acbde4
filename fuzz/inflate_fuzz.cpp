// Fuzzes permessage-deflate: arbitrary bytes inflated under a limit must
// give data or an Error, never a crash or more than limit + 1 bytes; and
// whatever parley compresses (split into pieces as the input says) must
// inflate back to itself, with and without context takeover.
#include <cstddef>
#include <cstdint>
#include <string>

#include "parley/protocol/deflate.hpp"

using namespace parley::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  DeflateOptions options;
  options.enabled = true;
  DeflateParams params;
  params.server_no_context_takeover = params.client_no_context_takeover = (data[0] & 1) != 0;
  params.server_max_window_bits = params.client_max_window_bits = static_cast<std::uint8_t>(9 + (data[0] >> 1) % 7);
  const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::size_t limit = 1 + data[1] * 64u;

  // 1. Untrusted input, inflated in two pieces.
  MessageDeflate receiver(params, options, true);
  std::string out;
  const std::size_t cut = input.size() / 2;
  if (!receiver.decompress(input.substr(0, cut), false, out, limit)) {
    (void)receiver.decompress(input.substr(cut), true, out, limit);
  }
  if (out.size() > limit + 1) __builtin_trap();

  // 2. Round trip of the input as a message, compressed in pieces, twice
  //    (the second message may refer back to the first).
  MessageDeflate sender(params, options, false), peer(params, options, true);
  for (int round = 0; round < 2; ++round) {
    std::string packed;
    std::size_t at = 0, step = 1 + data[1] % 97;
    while (at < input.size()) {
      const std::string_view piece = input.substr(at, step);
      at += piece.size();
      if (sender.compress(piece, at >= input.size(), packed)) __builtin_trap();
    }
    if (input.empty() && sender.compress({}, true, packed)) __builtin_trap();
    std::string plain;
    if (peer.decompress(packed, true, plain, 0)) __builtin_trap();
    if (plain != input) __builtin_trap();
  }
  return 0;
}
