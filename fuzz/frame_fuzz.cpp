// Fuzzes the frame parser and the connection engine, both roles.
//
// Input: byte 0 picks the role and limits, byte 1 seeds the chunking; the
// rest is the stream. The engine is fed the stream whole and again in
// pieces; both runs must report the same events and write the same bytes
// (parsing is independent of how the stream is cut), and nothing may crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "parley/protocol/engine.hpp"

namespace {

using namespace parley::protocol;

class Log final : public EngineHandler {
 public:
  std::string events;
  void on_message(Opcode type, std::string_view p) override {
    events += type == Opcode::text ? 'T' : 'B';
    events += std::to_string(p.size());
    events.append(p);
  }
  bool on_ping(std::string_view p) override {
    events += 'P';
    events.append(p);
    return true;
  }
  void on_pong(std::string_view p) override {
    events += 'O';
    events.append(p);
  }
  void on_close(parley::CloseCode c, std::string_view r) override {
    events += 'C' + std::to_string(static_cast<int>(c));
    events.append(r);
  }
  void on_protocol_error(const parley::Error& e) override { events += 'E' + std::to_string(e.code().value()); }
};

std::string run(const EngineOptions& o, std::string stream, std::uint8_t seed, std::string& out) {
  Log log;
  Engine engine(o, log);
  std::size_t at = 0;
  std::uint32_t state = seed;
  while (at < stream.size()) {
    std::size_t n = stream.size() - at;
    if (seed != 0) {
      state = state * 1103515245u + 12345u;
      n = std::min<std::size_t>(n, 1 + (state >> 16) % 17);
    }
    engine.receive(reinterpret_cast<std::uint8_t*>(stream.data()) + at, n);
    at += n;
  }
  out = engine.output();
  return log.events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  EngineOptions o;
  o.role = (data[0] & 1) ? Role::client : Role::server;
  if (data[0] & 2) o.max_message_size = 300;
  if (data[0] & 4) o.max_frame_size = 100;
  if (data[0] & 8) o.max_fragments = 4;
  const std::uint8_t seed = static_cast<std::uint8_t>(data[1] | 1);
  const std::string stream(reinterpret_cast<const char*>(data) + 2, size - 2);
  std::string out_whole, out_pieces;
  const std::string whole = run(o, stream, 0, out_whole);
  const std::string pieces = run(o, stream, seed, out_pieces);
  if (whole != pieces) __builtin_trap();
  // A server's output is unmasked, so it is deterministic and must match.
  if (o.role == Role::server && out_whole != out_pieces) __builtin_trap();
  return 0;
}
