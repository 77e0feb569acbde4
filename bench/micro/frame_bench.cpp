// Frame parsing throughput: a buffer of many small masked frames (what a
// server reads from a busy client) through the parser alone and through the
// whole engine (unmasking, UTF-8 validation, delivery to a handler).
#include <benchmark/benchmark.h>

#include <string>

#include "parley/protocol/engine.hpp"

namespace {

using namespace parley::protocol;

std::string small_frames(std::size_t payload, std::size_t count) {
  std::string wire;
  const std::string text(payload, 'a');
  const std::uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
  for (std::size_t i = 0; i < count; ++i) append_frame(wire, Opcode::text, text, true, 0, key);
  return wire;
}

class Sink final : public EngineHandler {
 public:
  std::size_t bytes = 0;
  void on_message(Opcode, std::string_view p) override { bytes += p.size(); }
};

void BM_ParseSmallFrames(benchmark::State& state) {
  const std::size_t count = 1000;
  const std::string wire = small_frames(static_cast<std::size_t>(state.range(0)), count);
  // Unmasking is in place, so each pass flips the payload between masked and
  // unmasked; with this key and 'a' both are ASCII, valid text either way.
  std::string buf = wire;
  for (auto _ : state) {
    FrameParser parser({Role::server, 0, 0});
    auto* data = reinterpret_cast<std::uint8_t*>(buf.data());
    std::size_t size = buf.size();
    std::size_t frames = 0;
    for (;;) {
      const auto c = parser.next(data, size);
      if (c.kind != FrameParser::Chunk::Kind::payload) break;
      frames += c.frame_end;
    }
    benchmark::DoNotOptimize(frames);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_ParseSmallFrames)->Arg(16)->Arg(128);

void BM_EngineSmallMessages(benchmark::State& state) {
  const std::size_t count = 1000;
  const std::string wire = small_frames(static_cast<std::size_t>(state.range(0)), count);
  std::string buf = wire;
  Sink sink;
  const EngineOptions options;
  Engine engine(options, sink);
  for (auto _ : state) {
    engine.receive(reinterpret_cast<std::uint8_t*>(buf.data()), buf.size());
  }
  benchmark::DoNotOptimize(sink.bytes);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_EngineSmallMessages)->Arg(16)->Arg(128);

}  // namespace
