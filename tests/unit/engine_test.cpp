// The connection engine: reassembly, UTF-8, ping/pong, close handshake,
// limits, both roles — all without sockets.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "parley/protocol/deflate.hpp"
#include "parley/protocol/engine.hpp"
#include "parley/protocol/mask.hpp"

using namespace parley;
using namespace parley::protocol;
using namespace std::chrono_literals;

namespace {

struct Event {
  std::string kind;  // text, binary, ping, pong, close, error
  std::string data;
  int code = 0;
  bool operator==(const Event&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Event& e) {
  return os << e.kind << "(" << e.code << ", " << e.data.size() << " bytes)";
}

class Recorder final : public EngineHandler {
 public:
  std::vector<Event> events;
  std::vector<const char*> message_pointers;
  bool answer_pings = true;
  Engine* echo_into = nullptr;

  void on_message(Opcode type, std::string_view payload) override {
    events.push_back({type == Opcode::text ? "text" : "binary", std::string(payload)});
    message_pointers.push_back(payload.data());
    if (echo_into != nullptr) (void)echo_into->send(type, payload);
  }
  bool on_ping(std::string_view p) override {
    events.push_back({"ping", std::string(p)});
    return answer_pings;
  }
  void on_pong(std::string_view p) override { events.push_back({"pong", std::string(p)}); }
  void on_close(CloseCode code, std::string_view reason) override {
    events.push_back({"close", std::string(reason), static_cast<int>(code)});
  }
  void on_protocol_error(const Error& e) override {
    events.push_back({"error", e.message(), static_cast<int>(close_code_for(static_cast<ProtocolError>(e.code().value())))});
  }
};

// Frames as a client would send them to a server (masked).
std::string cframe(Opcode op, std::string_view payload, bool fin = true, std::uint8_t rsv = 0) {
  std::string out;
  const std::uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};
  append_frame(out, op, payload, fin, rsv, key);
  return out;
}

std::string close_payload(int code, std::string_view reason = {}) {
  std::string p;
  p += static_cast<char>(code >> 8);
  p += static_cast<char>(code & 0xff);
  p += reason;
  return p;
}

// Parses what a server engine wrote (unmasked frames).
std::vector<Frame> written(Engine& e, Role writer = Role::server) {
  std::vector<Frame> frames;
  std::string_view out = e.output();
  while (!out.empty()) {
    std::size_t used = 0;
    auto r = Frame::parse(out, {writer == Role::server ? Role::client : Role::server, 0, 0}, used);
    EXPECT_TRUE(r && r->has_value());
    if (!r || !r->has_value()) break;
    frames.push_back(**r);
    out.remove_prefix(used);
  }
  return frames;
}

struct Fixture {
  Recorder rec;
  EngineOptions options;  // (the engine keeps a reference)
  Engine engine;
  explicit Fixture(EngineOptions o = {}) : options(o), engine(options, rec) {}
  void feed(std::string wire) { engine.receive(reinterpret_cast<std::uint8_t*>(wire.data()), wire.size()); }
};

const Clock::time_point t0{};

}  // namespace

TEST(Engine, DeliversTextAndBinary) {
  Fixture f;
  f.feed(cframe(Opcode::text, "Hello") + cframe(Opcode::binary, std::string("\0\1\2", 3)) + cframe(Opcode::text, ""));
  EXPECT_EQ(f.rec.events, (std::vector<Event>{{"text", "Hello"}, {"binary", std::string("\0\1\2", 3)}, {"text", ""}}));
  EXPECT_TRUE(f.engine.output().empty());
  EXPECT_EQ(f.engine.state(), EngineState::open);
}

TEST(Engine, WholeMessageIsDeliveredInPlace) {
  Fixture f;
  std::string wire = cframe(Opcode::binary, std::string(1000, 'x'));
  f.engine.receive(reinterpret_cast<std::uint8_t*>(wire.data()), wire.size());
  ASSERT_EQ(f.rec.message_pointers.size(), 1u);
  EXPECT_EQ(f.rec.message_pointers[0], wire.data() + 8);  // 2 + 2 length + 4 mask
}

TEST(Engine, WholeFramesTakeTheFastPathWithTheParsersResults) {
  // Each stream is fed whole (whole frames: the engine's own path, without
  // the parser) and a byte at a time (the parser's path): the events, and
  // the errors' codes and messages, are the same; a whole message is
  // delivered in place.
  const std::string utf8 = "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
  std::vector<std::pair<EngineOptions, std::string>> cases;
  EngineOptions limited;
  limited.max_message_size = 300;
  EngineOptions framed;
  framed.max_frame_size = 100;
  for (std::size_t n : {0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 64, 125, 126, 127, 1000, 1024, 1025, 5000, 65535}) {
    std::string text(n, 'a');
    for (std::size_t i = 0; i < n; ++i) text[i] = static_cast<char>('a' + i % 26);
    cases.push_back({{}, cframe(Opcode::text, text) + cframe(Opcode::binary, text + "\x80\xff")});
    if (n >= utf8.size()) cases.push_back({{}, cframe(Opcode::text, text.replace(n / 2, utf8.size(), utf8))});
    cases.push_back({limited, cframe(Opcode::binary, std::string(n, 'b'))});
    cases.push_back({framed, cframe(Opcode::binary, std::string(n, 'b'))});
  }
  for (const std::string& bad : {std::string("ab\xff"), std::string(40, 'a') + "\xc3", std::string(2000, 'a') + "\xed\xa0\x80",
                                 std::string("\xe2\x82")}) {
    cases.push_back({{}, cframe(Opcode::text, "ok") + cframe(Opcode::text, bad) + cframe(Opcode::text, "never")});
  }
  // Not taken by the fast path: a fragment, a control frame, RSV bits, an
  // unmasked frame, a 64-bit length.
  const std::string fragmented = cframe(Opcode::text, "a", false) + cframe(Opcode::continuation, "b") + cframe(Opcode::text, "c");
  cases.push_back({{}, fragmented});
  cases.push_back({{}, cframe(Opcode::ping, "p") + cframe(Opcode::text, "t", true, rsv1)});
  cases.push_back({{}, "\x81\x01x"});
  cases.push_back({{}, cframe(Opcode::binary, std::string(70000, 'z'))});
  for (const auto& [options, stream] : cases) {
    Fixture whole(options);
    std::string wire = stream;
    whole.engine.receive(reinterpret_cast<std::uint8_t*>(wire.data()), wire.size());
    Fixture bytes(options);
    for (char c : stream) bytes.feed(std::string(1, c));
    EXPECT_EQ(whole.rec.events, bytes.rec.events) << stream.size();
    EXPECT_EQ(whole.engine.output(), bytes.engine.output());
    if (stream == fragmented) continue;  // (reassembled: not in place)
    for (const char* p : whole.rec.message_pointers) {
      EXPECT_TRUE(p >= wire.data() && p <= wire.data() + wire.size());  // in place
    }
  }
}

TEST(Engine, ReassemblesFragmentsWithControlFramesBetween) {
  Fixture f;
  f.feed(cframe(Opcode::text, "Hel", false) + cframe(Opcode::ping, "p1") + cframe(Opcode::continuation, "lo ", false) +
         cframe(Opcode::pong, "unsolicited") + cframe(Opcode::continuation, "world", true));
  EXPECT_EQ(f.rec.events, (std::vector<Event>{{"ping", "p1"}, {"pong", "unsolicited"}, {"text", "Hello world"}}));
  auto out = written(f.engine);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].opcode, Opcode::pong);
  EXPECT_EQ(out[0].payload, "p1");
}

TEST(Engine, PingAnswerCanBeSuppressed) {
  Fixture f;
  f.rec.answer_pings = false;
  f.feed(cframe(Opcode::ping, "x"));
  EXPECT_TRUE(f.engine.output().empty());
  EXPECT_EQ(f.rec.events.size(), 1u);
}

TEST(Engine, SequencingErrorsFailWith1002) {
  {
    Fixture f;
    f.feed(cframe(Opcode::continuation, "x"));
    ASSERT_EQ(f.rec.events.size(), 1u);
    EXPECT_EQ(f.rec.events[0].kind, "error");
    EXPECT_EQ(f.rec.events[0].code, 1002);
    EXPECT_TRUE(f.engine.failed());
    EXPECT_EQ(f.engine.state(), EngineState::closed);
    auto out = written(f.engine);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].opcode, Opcode::close);
    EXPECT_EQ(out[0].payload.substr(0, 2), close_payload(1002));
  }
  {
    Fixture f;
    f.feed(cframe(Opcode::text, "a", false) + cframe(Opcode::binary, "b") + cframe(Opcode::text, "never"));
    ASSERT_EQ(f.rec.events.size(), 1u);
    EXPECT_EQ(f.rec.events[0].code, 1002);
  }
}

TEST(Engine, InvalidUtf8FailsFastBeforeMessageEnds) {
  Fixture f;
  // First fragment is valid, the second has an invalid byte; the message
  // never finishes, yet the connection fails at the second fragment.
  f.feed(cframe(Opcode::text, "caf\xc3\xa9", false));
  EXPECT_TRUE(f.rec.events.empty());
  f.feed(cframe(Opcode::continuation, "ok\xff", false));
  ASSERT_EQ(f.rec.events.size(), 1u);
  EXPECT_EQ(f.rec.events[0].kind, "error");
  EXPECT_EQ(f.rec.events[0].code, 1007);
  auto out = written(f.engine);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload.substr(0, 2), close_payload(1007));
}

TEST(Engine, CodePointSplitAcrossFragmentsIsValid) {
  Fixture f;
  const std::string euro = "\xe2\x82\xac";  // U+20AC
  f.feed(cframe(Opcode::text, euro.substr(0, 1), false) + cframe(Opcode::continuation, euro.substr(1, 1), false) +
         cframe(Opcode::continuation, euro.substr(2), true));
  EXPECT_EQ(f.rec.events, (std::vector<Event>{{"text", euro}}));
}

TEST(Engine, TruncatedCodePointAtMessageEndFails) {
  Fixture f;
  f.feed(cframe(Opcode::text, "\xe2\x82"));
  ASSERT_EQ(f.rec.events.size(), 1u);
  EXPECT_EQ(f.rec.events[0].code, 1007);
}

TEST(Engine, BinaryIsNotValidated) {
  Fixture f;
  f.feed(cframe(Opcode::binary, "\xff\xfe"));
  EXPECT_EQ(f.rec.events, (std::vector<Event>{{"binary", "\xff\xfe"}}));
}

TEST(Engine, PeerCloseIsEchoed) {
  Fixture f;
  f.feed(cframe(Opcode::close, close_payload(1000, "bye")) + cframe(Opcode::text, "after close"));
  EXPECT_EQ(f.rec.events, (std::vector<Event>{{"close", "bye", 1000}}));
  EXPECT_EQ(f.engine.state(), EngineState::closed);
  EXPECT_FALSE(f.engine.failed());
  auto out = written(f.engine);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].opcode, Opcode::close);
  EXPECT_EQ(out[0].payload, close_payload(1000));
  EXPECT_EQ(f.engine.send(Opcode::text, "x"), UsageError::not_open);
}

TEST(Engine, EmptyCloseIsReportedAs1005AndAnsweredEmpty) {
  Fixture f;
  f.feed(cframe(Opcode::close, ""));
  EXPECT_EQ(f.rec.events, (std::vector<Event>{{"close", "", 1005}}));
  auto out = written(f.engine);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, "");
}

TEST(Engine, CloseCodeValidation) {
  for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}) {
    Fixture f;
    f.feed(cframe(Opcode::close, close_payload(code)));
    ASSERT_EQ(f.rec.events.size(), 1u) << code;
    EXPECT_EQ(f.rec.events[0], (Event{"close", "", code}));
  }
  for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    Fixture f;
    f.feed(cframe(Opcode::close, close_payload(code)));
    ASSERT_EQ(f.rec.events.size(), 1u) << code;
    EXPECT_EQ(f.rec.events[0].kind, "error") << code;
    EXPECT_EQ(f.rec.events[0].code, 1002) << code;
  }
}

TEST(Engine, BadClosePayloads) {
  {
    Fixture f;
    f.feed(cframe(Opcode::close, "\x03"));
    ASSERT_EQ(f.rec.events.size(), 1u);
    EXPECT_EQ(f.rec.events[0].code, 1002);
  }
  {
    Fixture f;
    f.feed(cframe(Opcode::close, close_payload(1000, "bad \xc0\xaf")));
    ASSERT_EQ(f.rec.events.size(), 1u);
    EXPECT_EQ(f.rec.events[0].code, 1007);
  }
}

TEST(Engine, InitiatedCloseWaitsForPeerAndTimesOut) {
  Fixture f;
  ASSERT_FALSE(f.engine.close(CloseCode::going_away, "restart", t0));
  EXPECT_EQ(f.engine.state(), EngineState::close_sent);
  auto out = written(f.engine);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, close_payload(1001, "restart"));
  f.engine.output().clear();
  EXPECT_EQ(f.engine.send(Opcode::text, "x"), UsageError::not_open);
  EXPECT_EQ(f.engine.close(CloseCode::normal, "", t0), UsageError::not_open);
  // Still receives until the peer's close arrives.
  f.feed(cframe(Opcode::text, "late"));
  EXPECT_FALSE(f.engine.close_timed_out(t0 + 2999ms));
  EXPECT_TRUE(f.engine.close_timed_out(t0 + 3000ms));
  f.feed(cframe(Opcode::close, close_payload(1001)));
  EXPECT_EQ(f.rec.events, (std::vector<Event>{{"text", "late"}, {"close", "", 1001}}));
  EXPECT_EQ(f.engine.state(), EngineState::closed);
  EXPECT_TRUE(f.engine.output().empty());  // no second close frame
  EXPECT_FALSE(f.engine.close_timed_out(t0 + 10s));
}

TEST(Engine, CloseArgumentsAreChecked) {
  Fixture f;
  for (int code : {1004, 1006, 1015, 999, 2000, 5000}) {
    EXPECT_EQ(f.engine.close(CloseCode(static_cast<std::uint16_t>(code)), "", t0), UsageError::bad_close_code) << code;
  }
  EXPECT_EQ(f.engine.close(CloseCode::normal, std::string(124, 'r'), t0), UsageError::close_reason_too_long);
  EXPECT_EQ(f.engine.close(CloseCode::normal, "\xff", t0), UsageError::invalid_utf8);
  EXPECT_EQ(f.engine.close(CloseCode::no_status, "reason", t0), UsageError::bad_close_code);
  EXPECT_TRUE(f.engine.output().empty());
  EXPECT_FALSE(f.engine.close(CloseCode::no_status, "", t0));
  auto out = written(f.engine);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, "");
}

TEST(Engine, MessageSizeLimitFailsAtHeaderTime) {
  EngineOptions o;
  o.max_message_size = 100;
  {
    Fixture f(o);
    // Only the header of a 101-byte frame: refused before the payload.
    std::string wire = cframe(Opcode::binary, std::string(101, 'a')).substr(0, 8);
    f.feed(wire);
    ASSERT_EQ(f.rec.events.size(), 1u);
    EXPECT_EQ(f.rec.events[0].code, 1009);
  }
  {
    Fixture f(o);
    f.feed(cframe(Opcode::text, std::string(60, 'a'), false) + cframe(Opcode::continuation, std::string(41, 'b'), true));
    ASSERT_EQ(f.rec.events.size(), 1u);
    EXPECT_EQ(f.rec.events[0].code, 1009);
  }
  {
    Fixture f(o);
    f.feed(cframe(Opcode::text, std::string(60, 'a'), false) + cframe(Opcode::continuation, std::string(40, 'b'), true) +
           cframe(Opcode::binary, std::string(100, 'c')));
    ASSERT_EQ(f.rec.events.size(), 2u);
    EXPECT_EQ(f.rec.events[0].data.size(), 100u);
    EXPECT_EQ(f.rec.events[1].data.size(), 100u);
  }
}

TEST(Engine, FrameAndFragmentLimits) {
  EngineOptions o;
  o.max_frame_size = 10;
  o.max_fragments = 3;
  Fixture f(o);
  f.feed(cframe(Opcode::text, "0123456789", false) + cframe(Opcode::continuation, "a", false) +
         cframe(Opcode::continuation, "b", true));
  ASSERT_EQ(f.rec.events.size(), 1u);
  EXPECT_EQ(f.rec.events[0].data, "0123456789ab");
  f.feed(cframe(Opcode::text, "01234567890"));
  EXPECT_EQ(f.rec.events.back().code, 1009);
  Fixture g(o);
  g.feed(cframe(Opcode::text, "a", false) + cframe(Opcode::continuation, "b", false) +
         cframe(Opcode::continuation, "c", false) + cframe(Opcode::continuation, "d", true));
  ASSERT_EQ(g.rec.events.size(), 1u);
  EXPECT_EQ(g.rec.events[0].kind, "error");
  EXPECT_EQ(g.rec.events[0].code, 1009);
}

TEST(Engine, FramingErrorsFromTheParserCloseWithTheirCode) {
  Fixture f;
  std::string unmasked;
  append_frame(unmasked, Opcode::text, "hi");
  f.feed(unmasked);
  ASSERT_EQ(f.rec.events.size(), 1u);
  EXPECT_EQ(f.rec.events[0].code, 1002);
  EXPECT_NE(f.rec.events[0].data.find("not masked"), std::string::npos);
  auto out = written(f.engine);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, close_payload(1002, "client frame is not masked"));
}

TEST(Engine, ClientMasksEveryFrameWithAFreshKey) {
  Recorder rec;
  EngineOptions o;
  o.role = Role::client;
  Engine e(o, rec);
  ASSERT_FALSE(e.send(Opcode::text, "one"));
  ASSERT_FALSE(e.send(Opcode::binary, "two"));
  ASSERT_FALSE(e.ping("p"));
  auto frames = written(e, Role::client);
  ASSERT_EQ(frames.size(), 3u);
  for (auto& fr : frames) EXPECT_TRUE(fr.masked);
  EXPECT_EQ(frames[0].payload, "one");
  EXPECT_EQ(frames[1].payload, "two");
  EXPECT_NE(std::string(reinterpret_cast<char*>(frames[0].mask), 4), std::string(reinterpret_cast<char*>(frames[1].mask), 4));
  // A client refuses masked frames from the server.
  e.receive(nullptr, 0);
  std::string masked = cframe(Opcode::text, "x");
  e.receive(reinterpret_cast<std::uint8_t*>(masked.data()), masked.size());
  ASSERT_EQ(rec.events.size(), 1u);
  EXPECT_EQ(rec.events[0].code, 1002);
}

TEST(Engine, StreamingSendFragments) {
  Fixture f;
  ASSERT_FALSE(f.engine.send_fragment(Opcode::binary, "ab", false));
  EXPECT_EQ(f.engine.send(Opcode::text, "no"), UsageError::bad_fragment_sequence);
  EXPECT_EQ(f.engine.send_fragment(Opcode::text, "no", false), UsageError::bad_fragment_sequence);
  ASSERT_FALSE(f.engine.ping("between"));
  ASSERT_FALSE(f.engine.send_fragment(Opcode::binary, "cd", true));
  ASSERT_FALSE(f.engine.send(Opcode::text, "next"));
  EXPECT_EQ(f.engine.send(Opcode::ping, "x"), UsageError::bad_opcode);
  EXPECT_EQ(f.engine.ping(std::string(126, 'p')), UsageError::control_too_long);
  auto out = written(f.engine);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].opcode, Opcode::binary);
  EXPECT_FALSE(out[0].fin);
  EXPECT_EQ(out[1].opcode, Opcode::ping);
  EXPECT_EQ(out[2].opcode, Opcode::continuation);
  EXPECT_TRUE(out[2].fin);
  EXPECT_EQ(out[3].opcode, Opcode::text);
  EXPECT_FALSE(out[0].masked);
}

TEST(Engine, EchoFromInsideTheCallback) {
  Fixture f;
  f.rec.echo_into = &f.engine;
  f.feed(cframe(Opcode::text, "a") + cframe(Opcode::binary, "b", false) + cframe(Opcode::continuation, "c"));
  auto out = written(f.engine);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].payload, "a");
  EXPECT_EQ(out[1].payload, "bc");
  EXPECT_EQ(out[1].opcode, Opcode::binary);
}

// The same stream, fed at every split point and in random chunk sizes,
// gives the same events and the same output.
TEST(Engine, SameEventsAtEverySplit) {
  std::mt19937 rng(1234);
  std::string wire;
  wire += cframe(Opcode::text, "first");
  wire += cframe(Opcode::text, "fr\xc3", false);
  wire += cframe(Opcode::ping, "ping-in-the-middle");
  wire += cframe(Opcode::continuation, "\xa9gment\xf0\x9f", false);
  wire += cframe(Opcode::continuation, "\x98\x80 done", true);
  wire += cframe(Opcode::binary, std::string(300, '\x7f'));
  wire += cframe(Opcode::pong, "");
  wire += cframe(Opcode::binary, std::string(70000, 'z'), false);
  wire += cframe(Opcode::continuation, "", true);
  wire += cframe(Opcode::close, close_payload(4001, "done \xe2\x9c\x93"));
  wire += cframe(Opcode::text, "ignored after close");

  Fixture whole;
  whole.feed(wire);
  ASSERT_EQ(whole.rec.events.size(), 7u);
  EXPECT_EQ(whole.rec.events[2].data, "fr\xc3\xa9gment\xf0\x9f\x98\x80 done");
  EXPECT_EQ(whole.rec.events.back(), (Event{"close", "done \xe2\x9c\x93", 4001}));
  const std::string expect_out = whole.engine.output();

  auto run = [&](const std::vector<std::size_t>& cuts) {
    Fixture f;
    std::string copy = wire;
    std::size_t at = 0;
    for (std::size_t cut : cuts) {
      cut = std::min(cut, copy.size());
      f.engine.receive(reinterpret_cast<std::uint8_t*>(copy.data()) + at, cut - at);
      at = cut;
    }
    f.engine.receive(reinterpret_cast<std::uint8_t*>(copy.data()) + at, copy.size() - at);
    EXPECT_EQ(f.rec.events, whole.rec.events);
    EXPECT_EQ(f.engine.output(), expect_out);
  };
  for (std::size_t split = 0; split <= 200; ++split) run({split});
  for (std::size_t split = wire.size() - 200; split <= wire.size(); ++split) run({split});
  for (int round = 0; round < 100; ++round) {
    std::vector<std::size_t> cuts;
    std::size_t at = 0;
    while (at < wire.size()) {
      at += 1 + rng() % (round % 2 ? 7 : 3000);
      cuts.push_back(at);
    }
    run(cuts);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(Engine, OptionsValidate) {
  EngineOptions o;
  EXPECT_FALSE(o.validate());
  o.close_timeout = -1ms;
  EXPECT_TRUE(o.validate());
}

TEST(Engine, ResetStartsOver) {
  Fixture f;
  f.feed(cframe(Opcode::text, "half", false));
  f.feed(cframe(Opcode::close, close_payload(1001)));
  ASSERT_EQ(f.engine.state(), EngineState::closed);
  f.engine.reset();
  EXPECT_EQ(f.engine.state(), EngineState::open);
  EXPECT_TRUE(f.engine.output().empty());
  f.feed(cframe(Opcode::text, "fresh"));
  EXPECT_EQ(f.rec.events.back(), (Event{"text", "fresh"}));
  EXPECT_FALSE(f.engine.send(Opcode::text, "x"));
}

namespace {
// Records the frames the engine reports, and what it delivers.
class FrameLog final : public EngineHandler {
 public:
  std::vector<std::pair<FrameDirection, FrameHeader>> frames;
  std::vector<std::string> messages;
  void on_message(Opcode, std::string_view payload) override { messages.emplace_back(payload); }
  void on_frame(FrameDirection d, const FrameHeader& h) override { frames.emplace_back(d, h); }
};
}  // namespace

TEST(Engine, ReportsEveryFrameOnceWhenAsked) {
  FrameLog log;
  EngineOptions o;
  o.report_frames = true;
  Engine e(o, log);
  std::string wire = cframe(Opcode::text, "Hel", false) + cframe(Opcode::ping, "p") +
                     cframe(Opcode::continuation, std::string(300, 'l'), true) + cframe(Opcode::binary, "");
  // One byte at a time: a frame is reported once, when its header is complete.
  for (char& ch : wire) e.receive(reinterpret_cast<std::uint8_t*>(&ch), 1);
  ASSERT_EQ(log.messages.size(), 2u);
  struct Want {
    FrameDirection d;
    Opcode op;
    bool fin;
    std::uint64_t len;
  };
  const std::vector<Want> received = {{FrameDirection::received, Opcode::text, false, 3},
                                      {FrameDirection::received, Opcode::ping, true, 1},
                                      {FrameDirection::sent, Opcode::pong, true, 1},
                                      {FrameDirection::received, Opcode::continuation, true, 300},
                                      {FrameDirection::received, Opcode::binary, true, 0}};
  ASSERT_EQ(log.frames.size(), received.size());
  for (std::size_t i = 0; i < received.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(log.frames[i].first, received[i].d);
    EXPECT_EQ(log.frames[i].second.opcode, received[i].op);
    EXPECT_EQ(log.frames[i].second.fin, received[i].fin);
    EXPECT_EQ(log.frames[i].second.payload_length, received[i].len);
    EXPECT_EQ(log.frames[i].second.masked, received[i].d == FrameDirection::received);
  }
  // What it sends is reported as it is written, header for header.
  log.frames.clear();
  ASSERT_FALSE(e.send(Opcode::binary, std::string(70000, 'b')));
  ASSERT_FALSE(e.send_fragment(Opcode::text, "a", false));
  ASSERT_FALSE(e.send_fragment(Opcode::text, "b", true));
  ASSERT_FALSE(e.ping("x"));
  ASSERT_FALSE(e.close(CloseCode::normal, "bye", t0));
  auto out = written(e);
  ASSERT_EQ(log.frames.size(), out.size() - 1);  // the pong above was sent before
  for (std::size_t i = 0; i < log.frames.size(); ++i) {
    SCOPED_TRACE(i);
    const Frame& f = out[i + 1];
    EXPECT_EQ(log.frames[i].first, FrameDirection::sent);
    EXPECT_EQ(log.frames[i].second.opcode, f.opcode);
    EXPECT_EQ(log.frames[i].second.fin, f.fin);
    EXPECT_EQ(log.frames[i].second.rsv, f.rsv);
    EXPECT_FALSE(log.frames[i].second.masked);
    EXPECT_EQ(log.frames[i].second.payload_length, f.payload.size());
  }
}

TEST(Engine, ReportsTheMaskKeyAClientUsed) {
  FrameLog log;
  EngineOptions o;
  o.role = Role::client;
  o.report_frames = true;
  Engine e(o, log);
  ASSERT_FALSE(e.send(Opcode::text, "masked"));
  ASSERT_FALSE(e.send(Opcode::text, "again"));
  auto out = written(e, Role::client);
  ASSERT_EQ(out.size(), 2u);
  ASSERT_EQ(log.frames.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(log.frames[i].second.masked);
    EXPECT_EQ(0, std::memcmp(log.frames[i].second.mask, out[i].mask, 4));
  }
}

TEST(Engine, ReportsNoFramesUnlessAsked) {
  FrameLog log;
  const EngineOptions o;
  Engine e(o, log);
  std::string wire = cframe(Opcode::text, "hi") + cframe(Opcode::ping, "");
  e.receive(reinterpret_cast<std::uint8_t*>(wire.data()), wire.size());
  ASSERT_FALSE(e.send(Opcode::text, "hi"));
  EXPECT_EQ(log.messages.size(), 1u);
  EXPECT_TRUE(log.frames.empty());
}

TEST(Engine, NothingCanBeSentAfterACloseFrameFromOnFrame) {
  // A handler that sends whenever a frame goes out: once a close frame is
  // appended (ours, the echo of the peer's, or a failure's), sends fail.
  class Chatty final : public EngineHandler {
   public:
    Engine* engine = nullptr;
    std::vector<Error> after_close;
    void on_message(Opcode, std::string_view) override {}
    void on_frame(FrameDirection d, const FrameHeader& h) override {
      if (d == FrameDirection::sent && h.opcode == Opcode::close) after_close.push_back(engine->send(Opcode::text, "late"));
    }
  };
  EngineOptions o;
  o.report_frames = true;
  auto check = [&](const std::function<void(Engine&)>& close_somehow) {
    Chatty h;
    Engine e(o, h);
    h.engine = &e;
    close_somehow(e);
    ASSERT_EQ(h.after_close.size(), 1u);
    EXPECT_EQ(h.after_close[0], UsageError::not_open);
    auto out = written(e);
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back().opcode, Opcode::close);
  };
  check([](Engine& e) { ASSERT_FALSE(e.close(CloseCode::normal, "bye", t0)); });
  auto feed = [](std::string wire) {
    return [wire](Engine& e) mutable { e.receive(reinterpret_cast<std::uint8_t*>(wire.data()), wire.size()); };
  };
  check(feed(cframe(Opcode::close, close_payload(1000))));  // the echo of the peer's close
  check(feed(cframe(Opcode::text, "\xff")));                // a failure's close
}

TEST(Engine, PlainHeaderIsTheOneCopySendOfAnUncompressedMessage) {
  for (Role role : {Role::server, Role::client}) {
    Recorder rec;
    EngineOptions o;
    o.role = role;
    o.report_frames = true;
    Engine e(o, rec);
    ASSERT_TRUE(e.sends_plain(Opcode::binary, 70000));
    const FrameHeader h = e.plain_header(Opcode::binary, 70000);
    EXPECT_EQ(h.opcode, Opcode::binary);
    EXPECT_TRUE(h.fin);
    EXPECT_EQ(h.rsv, 0);
    EXPECT_EQ(h.payload_length, 70000u);
    EXPECT_EQ(h.masked, role == Role::client);
    EXPECT_TRUE(e.output().empty());  // the caller writes the frame
    // The frame a caller makes from it parses back to the payload.
    std::string payload(70000, 'z');
    std::string wire(max_frame_header_size, '\0');
    wire.resize(write_frame_header(reinterpret_cast<std::uint8_t*>(wire.data()), h));
    const std::size_t hs = wire.size();
    wire += payload;
    if (h.masked) apply_mask(reinterpret_cast<std::uint8_t*>(wire.data()) + hs, payload.size(), h.mask);
    std::size_t used = 0;
    auto parsed = Frame::parse(wire, {role == Role::server ? Role::client : Role::server, 0, 0}, used);
    ASSERT_TRUE(parsed && parsed->has_value());
    EXPECT_EQ((*parsed)->payload, payload);
    EXPECT_EQ(used, wire.size());
    // Not what send() refuses: a control opcode, a fragmented send in
    // progress, a closing engine (send() says why).
    EXPECT_FALSE(e.sends_plain(Opcode::ping, 1));
    EXPECT_EQ(e.send(Opcode::ping, "x"), UsageError::bad_opcode);
    ASSERT_FALSE(e.send_fragment(Opcode::text, "a", false));
    EXPECT_FALSE(e.sends_plain(Opcode::text, 1));
    EXPECT_EQ(e.send(Opcode::text, "x"), UsageError::bad_fragment_sequence);
    ASSERT_FALSE(e.send_fragment(Opcode::text, "b", true));
    EXPECT_TRUE(e.sends_plain(Opcode::text, 1));
    ASSERT_FALSE(e.close(CloseCode::normal, {}, t0));
    EXPECT_FALSE(e.sends_plain(Opcode::text, 1));
    EXPECT_EQ(e.send(Opcode::text, "x"), UsageError::not_open);
  }
}

TEST(Engine, PayloadsInItsBuffersStayValidWhileTheHandlerFlushes) {
  // A message and a ping that arrived in pieces are handed out from the
  // engine's own buffers; a handler that sends and flushes the output
  // (clear_output, as the runtime does) while it holds them must not have
  // them freed (the engine frees its buffers once it holds nothing).
  struct Flusher final : EngineHandler {
    Engine* engine = nullptr;
    std::vector<std::string> seen;
    void flush_and_keep(std::string_view payload) {
      (void)engine->send(Opcode::text, "x");
      engine->clear_output();
      seen.emplace_back(payload);
    }
    void on_message(Opcode, std::string_view payload) override { flush_and_keep(payload); }
    bool on_ping(std::string_view payload) override {
      flush_and_keep(payload);
      return true;
    }
  } h;
  const EngineOptions o;
  Engine e(o, h);
  h.engine = &e;
  std::string wire = cframe(Opcode::text, "hel", false) + cframe(Opcode::continuation, "lo") + cframe(Opcode::ping, "pi");
  for (std::size_t i = 0; i < wire.size(); ++i) e.receive(reinterpret_cast<std::uint8_t*>(wire.data() + i), 1);
  EXPECT_EQ(h.seen, (std::vector<std::string>{"hello", "pi"}));
  const std::vector<Frame> out = written(e);  // the pong, queued after on_ping returned
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].opcode, Opcode::pong);
  EXPECT_EQ(out[0].payload, "pi");
}

TEST(Engine, AnOwedPongSurvivesAHandlerThatFlushesWhenItIsReported) {
  // The pong owed while pongs were held is queued when the hold is lifted;
  // a handler that flushes (takes the output, clear_output) as that frame
  // is reported leaves the engine holding nothing (an empty ping: no buffer
  // memory anywhere), so it frees its active part while the pong is still
  // being answered.
  struct Flusher final : EngineHandler {
    Engine* engine = nullptr;
    std::string flushed;
    void on_message(Opcode, std::string_view) override {}
    void on_frame(FrameDirection direction, const FrameHeader&) override {
      if (direction != FrameDirection::sent) return;
      flushed += engine->output();
      engine->clear_output();
    }
  } h;
  EngineOptions o;
  o.report_frames = true;
  Engine e(o, h);
  h.engine = &e;
  e.hold_pongs(true);
  std::string wire = cframe(Opcode::ping, "");
  e.receive(reinterpret_cast<std::uint8_t*>(wire.data()), wire.size());
  EXPECT_TRUE(e.output().empty());  // held
  e.hold_pongs(false);
  std::size_t used = 0;
  auto pong = Frame::parse(h.flushed, {Role::client, 0, 0}, used);
  ASSERT_TRUE(pong && pong->has_value());
  EXPECT_EQ((*pong)->opcode, Opcode::pong);
  EXPECT_EQ((*pong)->payload, "");
  EXPECT_EQ(used, h.flushed.size());
  // A later ping is answered as usual.
  e.receive(reinterpret_cast<std::uint8_t*>(wire.data()), wire.size());
  EXPECT_EQ(h.flushed.size(), 2 * used);
}

TEST(Engine, PlainHeaderDefersToSendWhenTheMessageIsCompressed) {
  Recorder rec;
  const EngineOptions o;
  Engine e(o, rec);
  EXPECT_TRUE(e.sends_plain(Opcode::text, 5000));
  DeflateOptions d;
  d.enabled = true;
  e.set_deflate(std::make_unique<MessageDeflate>(DeflateParams{}, d, true));
  EXPECT_FALSE(e.sends_plain(Opcode::text, 5000));  // over the compression threshold
  EXPECT_TRUE(e.sends_plain(Opcode::text, 10));
  EXPECT_TRUE(e.sends_plain(Opcode::text, 5000, Compression::never));
  EXPECT_FALSE(e.sends_plain(Opcode::text, 10, Compression::always));
}

TEST(Engine, LargeMessagesInPiecesReuseTheThreadsSpareBuffer) {
  // A 1 MiB message arriving in 64 KiB reads, twice: the second is
  // reassembled in the buffer the first one left to the thread.
  Fixture f;
  const std::string payload(1 << 20, 'q');
  std::vector<const char*> buffers;
  for (int round = 0; round < 2; ++round) {
    std::string wire = cframe(Opcode::binary, payload);
    for (std::size_t at = 0; at < wire.size(); at += 65536) {
      const std::size_t n = std::min<std::size_t>(65536, wire.size() - at);
      f.engine.receive(reinterpret_cast<std::uint8_t*>(wire.data() + at), n);
    }
    ASSERT_EQ(f.rec.events.size(), static_cast<std::size_t>(round + 1));
    EXPECT_EQ(f.rec.events.back().data, payload);
    buffers.push_back(f.rec.message_pointers.back());
    EXPECT_EQ(f.engine.input_held(), 0u);
  }
  EXPECT_EQ(buffers[0], buffers[1]);
}
