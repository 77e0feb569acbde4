// permessage-deflate: compression ratio and throughput of
// protocol::MessageDeflate on JSON-like text (arrays of objects with the
// same keys, numbers, short strings), per zlib level, window bits and
// context takeover, for messages of ~200 B, 2 KiB and 64 KiB; memcpy of the
// same bytes for scale; and, for the compression_threshold, the size at
// which compressing starts to pay. Counters: `ratio` = compressed bytes /
// original bytes (smaller is better; the frame header is not counted),
// `saved_B` = bytes saved per message, bytes_per_second = original bytes.
//
// A stream of different messages (at least 256 KiB of them) is sent in
// turn, as on a real connection, so that context takeover can use what
// earlier messages held — similar keys and values, never the same message.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "parley/protocol/deflate.hpp"

namespace {

using namespace parley::protocol;

const char* const kNames[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"};
const char* const kStatus[] = {"active", "idle", "away", "banned"};

// One JSON object, values drawn from `seed`.
std::string json_object(std::uint64_t& seed) {
  auto next = [&seed] {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return seed >> 33;
  };
  std::string s = "{\"id\":" + std::to_string(next() % 1000000);
  s += ",\"user\":\"" + std::string(kNames[next() % 8]) + std::to_string(next() % 100) + "\"";
  s += ",\"status\":\"" + std::string(kStatus[next() % 4]) + "\"";
  s += ",\"price\":" + std::to_string(next() % 100000 / 100) + "." + std::to_string(10 + next() % 90);
  s += ",\"qty\":" + std::to_string(next() % 50);
  s += ",\"ts\":17000" + std::to_string(10000000 + next() % 90000000);
  s += ",\"tags\":[\"t" + std::to_string(next() % 20) + "\",\"g" + std::to_string(next() % 5) + "\"]}";
  return s;
}

// A JSON message of about `size` bytes: {"type":"update","seq":N,"items":[...]},
// or for sizes too small for one item, a flat object with as many fields as fit.
std::string json_message(std::size_t size, std::uint64_t seed) {
  std::string s = "{\"type\":\"update\",\"seq\":" + std::to_string(seed % 100000) + ",\"items\":[";
  bool first = true;
  while (s.size() + 2 < size) {
    std::string o = json_object(seed);
    if (!first && s.size() + o.size() + 3 > size) break;
    if (!first) s += ',';
    s += o;
    first = false;
  }
  s += "]}";
  if (s.size() <= size) return s;
  std::string flat = "{\"type\":\"ack\"";
  const std::string fields[] = {",\"seq\":" + std::to_string(seed % 100000),
                                ",\"ok\":true",
                                ",\"ts\":17000" + std::to_string(10000000 + seed % 90000000),
                                ",\"user\":\"" + std::string(kNames[seed % 8]) + std::to_string(seed % 100) + "\"",
                                ",\"status\":\"" + std::string(kStatus[seed / 8 % 4]) + "\"",
                                ",\"qty\":" + std::to_string(seed % 50),
                                ",\"price\":" + std::to_string(seed % 1000) + "." + std::to_string(10 + seed % 90)};
  for (const std::string& f : fields) {
    if (flat.size() + f.size() + 1 <= size) flat += f;
  }
  return flat + "}";
}

// Different messages in turn, enough that a 32 KiB window never holds an
// earlier copy of the message being compressed (at least 256 KiB of them).
std::vector<std::string> json_stream(std::size_t size) {
  const std::size_t count = std::max<std::size_t>(32, (256 * 1024) / size);
  std::vector<std::string> v;
  for (std::size_t i = 0; i < count; ++i) v.push_back(json_message(size, 1000 + i * 7919));
  return v;
}

struct Setting {
  DeflateParams params;
  DeflateOptions options;
};

// args: message size, level, window bits, context takeover (1) or not (0), memLevel
Setting setting(const benchmark::State& state) {
  Setting s;
  s.options.enabled = true;
  s.options.level = static_cast<int>(state.range(1));
  s.options.mem_level = static_cast<int>(state.range(4));
  s.params.server_max_window_bits = s.params.client_max_window_bits = static_cast<std::uint8_t>(state.range(2));
  s.params.server_no_context_takeover = s.params.client_no_context_takeover = state.range(3) == 0;
  return s;
}

void BM_DeflateCompress(benchmark::State& state) {
  const auto msgs = json_stream(static_cast<std::size_t>(state.range(0)));
  const Setting s = setting(state);
  MessageDeflate sender(s.params, s.options, true);
  std::string out;
  std::size_t i = 0, in_bytes = 0, out_bytes = 0;
  for (auto _ : state) {
    const std::string& m = msgs[i++ % msgs.size()];
    out.clear();
    if (sender.compress(m, true, out)) state.SkipWithError("compress failed");
    in_bytes += m.size();
    out_bytes += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(in_bytes));
  state.counters["ratio"] = static_cast<double>(out_bytes) / static_cast<double>(in_bytes);
  state.counters["saved_B"] =
      (static_cast<double>(in_bytes) - static_cast<double>(out_bytes)) / static_cast<double>(state.iterations());
}

void BM_DeflateInflate(benchmark::State& state) {
  const auto msgs = json_stream(static_cast<std::size_t>(state.range(0)));
  const Setting s = setting(state);
  // The stream compressed once, in order; inflated in the same order by a
  // receiver that starts afresh whenever the stream starts again.
  std::vector<std::string> wire(msgs.size());
  {
    MessageDeflate sender(s.params, s.options, true);
    for (std::size_t k = 0; k < msgs.size(); ++k) {
      if (sender.compress(msgs[k], true, wire[k])) state.SkipWithError("compress failed");
    }
  }
  auto receiver = std::make_unique<MessageDeflate>(s.params, s.options, false);
  std::string out;
  std::size_t i = 0, out_bytes = 0, in_bytes = 0;
  for (auto _ : state) {
    if (i == wire.size()) {
      state.PauseTiming();
      receiver = std::make_unique<MessageDeflate>(s.params, s.options, false);
      i = 0;
      state.ResumeTiming();
    }
    out.clear();
    if (receiver->decompress(wire[i], true, out, 0)) state.SkipWithError("decompress failed");
    in_bytes += wire[i].size();
    out_bytes += out.size();
    ++i;
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(out_bytes));
  state.counters["ratio"] = static_cast<double>(in_bytes) / static_cast<double>(out_bytes);
}

// Levels 1, 3, 6 x windows of 9, 12, 15 bits (memLevel 8, zlib's default),
// then the small-memory settings of bench/deflate_figures.sh: 10 bits with
// memLevel 4 and 9 bits with memLevel 1 (a small window with memLevel 8 is
// slow: zlib slides its whole 64 KiB hash table every half window).
void DeflateArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"size", "level", "bits", "takeover", "mem"});
  for (std::int64_t size : {200, 2048, 65536}) {
    for (std::int64_t level : {1, 3, 6}) {
      for (std::int64_t bits : {9, 12, 15}) {
        for (std::int64_t takeover : {1, 0}) b->Args({size, level, bits, takeover, 8});
      }
    }
    for (std::int64_t level : {1, 6}) {
      for (std::int64_t takeover : {1, 0}) {
        b->Args({size, level, 10, takeover, 4});
        b->Args({size, level, 9, takeover, 1});
      }
    }
  }
}
BENCHMARK(BM_DeflateCompress)->Apply(DeflateArgs);
BENCHMARK(BM_DeflateInflate)->Apply(DeflateArgs);

// For scale: copying the same messages.
void BM_DeflateMemcpy(benchmark::State& state) {
  const auto msgs = json_stream(static_cast<std::size_t>(state.range(0)));
  std::string out(msgs[0].size() + 64 * 1024, '\0');
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const std::string& m = msgs[i++ % msgs.size()];
    std::memcpy(out.data(), m.data(), m.size());
    bytes += m.size();
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_DeflateMemcpy)->ArgName("size")->Arg(200)->Arg(2048)->Arg(65536);

// Where compression starts to pay: small messages with the library's
// defaults (level 6, 15-bit windows), with and without context takeover.
// `saved_B` > 0 means the compressed message is smaller; compare the time
// per message with what the saved bytes are worth.
void BM_DeflateThreshold(benchmark::State& state) {
  const auto msgs = json_stream(static_cast<std::size_t>(state.range(0)));
  DeflateParams params;
  params.server_no_context_takeover = params.client_no_context_takeover = state.range(1) == 0;
  DeflateOptions options;
  options.enabled = true;
  MessageDeflate sender(params, options, true);
  std::string out;
  std::size_t i = 0, in_bytes = 0, out_bytes = 0;
  for (auto _ : state) {
    const std::string& m = msgs[i++ % msgs.size()];
    out.clear();
    if (sender.compress(m, true, out)) state.SkipWithError("compress failed");
    in_bytes += m.size();
    out_bytes += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(in_bytes));
  state.counters["ratio"] = static_cast<double>(out_bytes) / static_cast<double>(in_bytes);
  state.counters["saved_B"] =
      (static_cast<double>(in_bytes) - static_cast<double>(out_bytes)) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_DeflateThreshold)
    ->ArgNames({"size", "takeover"})
    ->ArgsProduct({{32, 64, 128, 192, 256, 384, 512, 1024}, {1, 0}});

}  // namespace
