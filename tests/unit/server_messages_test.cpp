// parley::Server's messages over real loopback sockets, driven by a raw
// test client (raw_ws_client.hpp): echo of every size, fragments both
// ways, pings and pongs, the client's protocol violations and the close
// codes they earn, and on_frame. Fixture and recorder: server_support.hpp.
#include <gtest/gtest.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "parley/parley.hpp"
#include "raw_ws_client.hpp"
#include "server_support.hpp"

namespace parley {
namespace {

TEST(ServerEcho, TextAndBinaryOfEverySize) {
  TestServer srv;
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  for (std::size_t size : {std::size_t{0}, std::size_t{125}, std::size_t{126}, std::size_t{64} << 10,
                           std::size_t{16} << 20}) {
    for (bool text : {true, false}) {
      SCOPED_TRACE(std::to_string(size) + (text ? " text" : " binary"));
      const std::string msg = pattern(size, text);
      ASSERT_TRUE(c.send_frame(text ? kText : kBinary, msg));
      ReadResult r = c.read_frame(10s);
      ASSERT_TRUE(r.is_frame());
      EXPECT_EQ(r.frame.opcode, text ? kText : kBinary);
      EXPECT_TRUE(r.frame.fin);
      EXPECT_FALSE(r.frame.masked);  // a server never masks
      EXPECT_EQ(r.frame.payload.size(), size);
      EXPECT_TRUE(r.frame.payload == msg);
    }
  }
  EXPECT_EQ(srv.ev.close_count(), 0u);
}

TEST(ServerFragments, ClientFragmentsAreReassembled) {
  TestServer srv;
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  // Text in three fragments with a ping in the middle (allowed between fragments).
  ASSERT_TRUE(c.send_frame(kText, "Hel", false));
  ASSERT_TRUE(c.send_frame(kPing, "mid"));
  ASSERT_TRUE(c.send_frame(kCont, "lo w", false));
  ASSERT_TRUE(c.send_frame(kCont, "orld", true));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kPong);
  EXPECT_EQ(r.frame.payload, "mid");
  r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kText);
  EXPECT_EQ(r.frame.payload, "Hello world");
  // Binary, one fragment per byte-ish, and an empty final fragment.
  const std::string bin = pattern(3000, false);
  ASSERT_TRUE(c.send_frame(kBinary, bin.substr(0, 1000), false));
  ASSERT_TRUE(c.send_frame(kCont, bin.substr(1000, 2000), false));
  ASSERT_TRUE(c.send_frame(kCont, "", true));
  r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kBinary);
  EXPECT_TRUE(r.frame.payload == bin);
  // A UTF-8 sequence split across fragments is still valid.
  ASSERT_TRUE(c.send_frame(kText, "caf\xc3", false));
  ASSERT_TRUE(c.send_frame(kCont, "\xa9", true));
  r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, "caf\xc3\xa9");
}

TEST(ServerFragments, SendFragmentStreamsToTheClient) {
  std::vector<SendStatus> statuses;
  Error interleaved;
  TestServer srv(Attach::record);
  srv.server.on_text([&](Connection& c, std::string_view) {
    std::vector<SendStatus> s;
    s.push_back(c.send_fragment(MessageType::text, "part1-", false).status);
    s.push_back(c.ping("p").status);  // control frames may interleave
    // A whole message cannot be sent in the middle of a fragmented one.
    Error e = c.send_text("not now").error;
    s.push_back(c.send_fragment(MessageType::text, "part2-", false).status);
    s.push_back(c.send_fragment(MessageType::text, "end", true).status);
    s.push_back(c.send_text("after").status);
    srv.ev.update([&] {
      statuses = s;
      interleaved = e;
    });
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(c.send_text("go"));
  struct Want {
    std::uint8_t op;
    bool fin;
    const char* payload;
  };
  for (const Want& w : {Want{kText, false, "part1-"}, Want{kPing, true, "p"}, Want{kCont, false, "part2-"},
                        Want{kCont, true, "end"}, Want{kText, true, "after"}}) {
    ReadResult r = c.read_frame();
    ASSERT_TRUE(r.is_frame());
    EXPECT_EQ(r.frame.opcode, w.op);
    EXPECT_EQ(r.frame.fin, w.fin);
    EXPECT_EQ(r.frame.payload, w.payload);
  }
  ASSERT_TRUE(srv.ev.wait([&] { return statuses.size() == 5; }));
  std::lock_guard l(srv.ev.m);
  for (SendStatus s : statuses) EXPECT_EQ(s, SendStatus::queued);
  EXPECT_EQ(interleaved, UsageError::bad_fragment_sequence);
}

// ---- ping / pong ------------------------------------------------------------

TEST(ServerPing, PingIsAnsweredWithPong) {
  TestServer srv;
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(c.send_frame(kPing, "are you there?"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kPong);
  EXPECT_EQ(r.frame.payload, "are you there?");
  ASSERT_TRUE(c.send_frame(kPing, ""));
  r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kPong);
  EXPECT_EQ(r.frame.payload, "");
  // A pong from the client reaches on_pong.
  ASSERT_TRUE(c.send_frame(kPong, "unsolicited"));
  ASSERT_TRUE(srv.ev.wait([&] { return srv.ev.pongs.size() == 1; }));
  std::lock_guard l(srv.ev.m);
  EXPECT_EQ(srv.ev.pongs[0], "unsolicited");
}

TEST(ServerPing, OnPingReturningFalseSuppressesThePong) {
  TestServer srv;
  srv.server.on_ping([&](Connection&, std::string_view p) {
    srv.ev.update([&] { srv.ev.pings.emplace_back(p); });
    return p != "quiet";
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(c.send_frame(kPing, "quiet"));
  ASSERT_TRUE(c.send_text("after the quiet ping"));
  ASSERT_TRUE(c.send_frame(kPing, "loud"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kText) << "a suppressed ping was answered";
  EXPECT_EQ(r.frame.payload, "after the quiet ping");
  r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kPong);
  EXPECT_EQ(r.frame.payload, "loud");
  std::lock_guard l(srv.ev.m);
  EXPECT_EQ(srv.ev.pings, (std::vector<std::string>{"quiet", "loud"}));
}

// ---- protocol errors by the client ------------------------------------------

struct ProtocolCase {
  const char* name;
  std::string frame;  // on the wire
  int code;
};

TEST(ServerProtocol, ClientViolationsCloseWithTheRightCode) {
  TestServer srv;
  ASSERT_TRUE(srv.start());
  const std::vector<ProtocolCase> cases = {
      {"unmasked frame", RawWsClient::encode(kText, "hi", true, 0, false), 1002},
      {"invalid UTF-8", RawWsClient::encode(kText, "ok \xff\xfe"), 1007},
      {"truncated UTF-8 at the end", RawWsClient::encode(kText, "ok \xc3"), 1007},
      {"reserved opcode 3", RawWsClient::encode(0x3, "x"), 1002},
      {"reserved control opcode 11", RawWsClient::encode(0xB, "x"), 1002},
      {"RSV1 without an extension", RawWsClient::encode(kText, "x", true, 0x40), 1002},
      {"fragmented ping", RawWsClient::encode(kPing, "x", false), 1002},
      {"ping over 125 bytes", RawWsClient::encode(kPing, std::string(126, 'p')), 1002},
      {"continuation without a message", RawWsClient::encode(kCont, "x"), 1002},
      {"close code 1005 on the wire", RawWsClient::encode(kClose, std::string("\x03\xed", 2)), 1002},
      {"close reason not UTF-8", RawWsClient::encode(kClose, std::string("\x03\xe8\xff", 3)), 1007},
  };
  std::size_t n = 0;
  for (const ProtocolCase& pc : cases) {
    SCOPED_TRACE(pc.name);
    RawWsClient c;
    ASSERT_TRUE(open_ws(c, srv.port()));
    ASSERT_TRUE(c.send_raw(pc.frame));
    expect_close_then_eof(c, pc.code);
    ASSERT_TRUE(srv.ev.wait_closed(++n));
    EXPECT_EQ(srv.ev.close_at(n - 1).code, pc.code);
  }
  // Each violation was also reported to on_error.
  std::lock_guard l(srv.ev.m);
  EXPECT_EQ(srv.ev.errors.size(), cases.size());
}

// ---- on_frame ---------------------------------------------------------------

TEST(ServerEvents, OnFrameSeesEveryFrameBothWaysBroadcastsIncluded) {
  std::vector<std::string> frames;  // "<dir> <opcode> <fin> <length>"
  TestServer srv;
  srv.server.on_frame([&](Connection&, protocol::FrameDirection d, const protocol::FrameHeader& h) {
    srv.ev.update([&] {
      frames.push_back(std::string(d == protocol::FrameDirection::received ? "in " : "out ") +
                       std::to_string(static_cast<int>(h.opcode)) + (h.fin ? " fin " : " more ") +
                       std::to_string(h.payload_length));
    });
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(1));
  ASSERT_TRUE(c.send_raw(RawWsClient::encode(kText, "ab", false) + RawWsClient::encode(0x9, "p") +
                         RawWsClient::encode(kCont, "c", true)));
  ASSERT_TRUE(c.read_frame().is_frame());  // pong
  ReadResult echo = c.read_frame();
  ASSERT_TRUE(echo.is_frame());
  EXPECT_EQ(echo.frame.payload, "abc");
  srv.server.broadcast(MessageType::binary, std::string(200, 'x'));
  ReadResult b = c.read_frame();
  ASSERT_TRUE(b.is_frame());
  EXPECT_EQ(b.frame.payload.size(), 200u);
  ASSERT_TRUE(srv.ev.wait([&] { return frames.size() >= 6; }));
  std::lock_guard l(srv.ev.m);
  EXPECT_EQ(frames, (std::vector<std::string>{"in 1 more 2", "in 9 fin 1", "out 10 fin 1", "in 0 fin 1",
                                              "out 1 fin 3", "out 2 fin 200"}));
}

}  // namespace
}  // namespace parley
