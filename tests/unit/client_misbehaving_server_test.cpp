// parley::Client against a raw test server that misbehaves on purpose
// (raw_ws_server.hpp): bad handshake answers, refusals with bodies, silence,
// closes mid-head and mid-frame, masked frames, and the client's own frames and
// keys as the raw server sees them. Fixtures and recorders: client_support.hpp.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "client_support.hpp"
#include "parley/parley.hpp"
#include "raw_ws_server.hpp"

namespace parley {
namespace {

TEST(ClientMisbehavingServer, WrongAcceptKey) {
  auto f = first_error([](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response({}, protocol::accept_key("AAAAAAAAAAAAAAAAAAAAAA==")));
    p.wait_eof(2000ms);
  });
  EXPECT_EQ(f.error, HandshakeError::bad_accept) << f.error.message();
  EXPECT_NE(f.error.message().find("Accept"), std::string::npos) << f.error.message();
  ASSERT_TRUE(f.response);
  EXPECT_EQ(f.response->status, 101);
}

TEST(ClientMisbehavingServer, UnrequestedSubprotocol) {
  ClientOptions co;
  co.subprotocols = {"chat"};
  auto f = first_error(
      [](RawPeer& p) {
        if (!p.read_request()) return;
        p.send(p.accept_response({"Sec-WebSocket-Protocol: superchat"}));
        p.wait_eof(2000ms);
      },
      co);
  EXPECT_EQ(f.error, HandshakeError::unrequested_subprotocol) << f.error.message();
  EXPECT_NE(f.error.message().find("superchat"), std::string::npos) << f.error.message();

  auto none = first_error([](RawPeer& p) {  // none offered at all
    if (!p.read_request()) return;
    p.send(p.accept_response({"Sec-WebSocket-Protocol: chat"}));
    p.wait_eof(2000ms);
  });
  EXPECT_EQ(none.error, HandshakeError::unrequested_subprotocol) << none.error.message();
}

TEST(ClientMisbehavingServer, UnrequestedExtension) {
  auto f = first_error([](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response({"Sec-WebSocket-Extensions: permessage-deflate"}));
    p.wait_eof(2000ms);
  });
  EXPECT_EQ(f.error, HandshakeError::unrequested_extension) << f.error.message();
  EXPECT_NE(f.error.message().find("permessage-deflate"), std::string::npos) << f.error.message();
}

TEST(ClientMisbehavingServer, RefusalWithABody) {
  auto f = first_error([](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Why: no-token\r\nContent-Length: 17\r\n\r\n"
        "token is missing\n");
    p.wait_eof(2000ms);
  });
  EXPECT_EQ(f.error, HandshakeError::bad_status) << f.error.message();
  EXPECT_NE(f.error.message().find("403"), std::string::npos) << f.error.message();
  EXPECT_NE(f.error.message().find("token is missing"), std::string::npos) << f.error.message();
  ASSERT_TRUE(f.response);
  EXPECT_EQ(f.response->status, 403);
  EXPECT_EQ(f.response->reason, "Forbidden");
  EXPECT_EQ(f.response->headers.get("X-Why").value_or(""), "no-token");
  EXPECT_EQ(f.response->body, "token is missing\n");
}

TEST(ClientMisbehavingServer, RefusalWithABodyUntilEof) {
  auto f = first_error([](RawPeer& p) {
    if (!p.read_request()) return;
    p.send("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\nback soon");
    p.send(", really");
  });  // the script returns: FIN ends the body
  EXPECT_EQ(f.error, HandshakeError::bad_status) << f.error.message();
  ASSERT_TRUE(f.response);
  EXPECT_EQ(f.response->status, 503);
  EXPECT_EQ(f.response->headers.get("Retry-After").value_or(""), "5");
  EXPECT_EQ(f.response->body, "back soon, really");
}

TEST(ClientMisbehavingServer, ChunkedRefusalOnAKeptAliveConnection) {
  // A refusal with a chunked body, the connection kept open (HTTP keep-alive):
  // the body ends with the last chunk, not with EOF.
  const auto start = Clock::now();
  auto f = first_error([](RawPeer& p) {
    if (!p.read_request()) return;
    p.send("HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\nWWW-Authenticate: Bearer\r\n\r\n");
    p.send("6\r\nlog in\r\n");
    p.send("a;ext=1\r\n, then try\r\n0\r\n\r\n");
    p.wait_eof(5000ms);
  });
  EXPECT_LT(since(start), 3000ms) << "the client waited for EOF or the handshake timeout";
  EXPECT_EQ(f.error, HandshakeError::bad_status) << f.error.message();
  ASSERT_TRUE(f.response);
  EXPECT_EQ(f.response->status, 401);
  EXPECT_EQ(f.response->headers.get("WWW-Authenticate").value_or(""), "Bearer");
  EXPECT_EQ(f.response->body, "log in, then try");
}

TEST(ClientMisbehavingServer, RefusalWithAShortBodyTimesOutAsARefusal) {
  // Content-Length promises more than is sent, and the connection stays
  // open: at the handshake timeout the refusal is reported with what came.
  ClientOptions co;
  co.handshake_timeout = 300ms;
  auto f = first_error(
      [](RawPeer& p) {
        if (!p.read_request()) return;
        p.send("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 100\r\n\r\nslow down");
        p.wait_eof(5000ms);
      },
      co);
  EXPECT_EQ(f.error, HandshakeError::bad_status) << f.error.message();
  ASSERT_TRUE(f.response);
  EXPECT_EQ(f.response->status, 429);
  EXPECT_EQ(f.response->body, "slow down");
}

TEST(ClientMisbehavingServer, NeverAnswers) {
  ClientOptions co;
  co.handshake_timeout = 300ms;
  const auto start = Clock::now();
  auto f = first_error(
      [](RawPeer& p) {
        if (!p.read_request()) return;
        p.wait_eof(5000ms);
      },
      co);
  EXPECT_EQ(f.error, HandshakeError::timeout) << f.error.message();
  EXPECT_NE(f.error.message().find("300 ms"), std::string::npos) << f.error.message();
  EXPECT_GE(since(start), 290ms);
  EXPECT_FALSE(f.response);
}

TEST(ClientMisbehavingServer, ClosesDuringTheHandshake) {
  auto f = first_error([](RawPeer& p) { (void)p.read_request(); });
  EXPECT_EQ(f.error, HandshakeError::closed) << f.error.message();

  auto half = first_error([](RawPeer& p) {  // half a head, then FIN
    if (!p.read_request()) return;
    p.send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n");
  });
  EXPECT_EQ(half.error, HandshakeError::closed) << half.error.message();

  auto reset = first_error([](RawPeer& p) {  // a reset instead of FIN
    if (!p.read_request()) return;
    p.reset();
  });
  EXPECT_TRUE(reset.error == HandshakeError::closed || reset.error.code() == std::errc::connection_reset)
      << reset.error.message();
}

TEST(ClientMisbehavingServer, MalformedResponse) {
  auto f = first_error([](RawPeer& p) {
    if (!p.read_request()) return;
    p.send("SSH-2.0-OpenSSH_9.6\r\n\r\n");
    p.wait_eof(2000ms);
  });
  EXPECT_EQ(f.error, HandshakeError::malformed) << f.error.message();
}

TEST(ClientMisbehavingServer, ClosesMidFrame) {
  RawWsServer raw([](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response() + RawPeer::frame(Opcode::text, "whole") + std::string("\x81\x0a" "half", 6));
  });
  ASSERT_TRUE(raw.ok());
  TestClient cli;
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  EXPECT_EQ(cli.ev.close_at(0).code, 1006);
  cli.ev.read([&] {
    EXPECT_EQ(cli.ev.opened.size(), 1u);
    EXPECT_EQ(cli.ev.texts, std::vector<std::string>{"whole"});  // the frame that came with the 101
  });
}

TEST(ClientMisbehavingServer, MaskedFrameFromTheServer) {
  Recorder seen;
  RawPeer::ClientFrame reply;
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response());
    p.send(RawPeer::frame(Opcode::text, "masked!", true, /*masked=*/true));
    RawPeer::ClientFrame f = p.read_frame();
    seen.update([&] { reply = f; });
    p.wait_eof(2000ms);
  });
  ASSERT_TRUE(raw.ok());
  TestClient cli;
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  EXPECT_EQ(cli.ev.close_at(0).code, 1002);
  ASSERT_TRUE(cli.ev.wait_errors(1));
  EXPECT_EQ(cli.ev.error_at(0).error, ProtocolError::masked_frame) << cli.ev.error_at(0).error.message();
  ASSERT_TRUE(seen.wait([&] { return reply.ok; }));
  seen.read([&] {
    EXPECT_EQ(reply.opcode, Opcode::close);
    EXPECT_EQ(reply.close_code(), 1002);
  });
  cli.ev.read([&] { EXPECT_TRUE(cli.ev.texts.empty()); });
}

// ---- what the raw server sees -----------------------------------------------

TEST(ClientRawServer, CloseWithoutACode) {
  Recorder seen;
  RawPeer::ClientFrame reply;
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response() + RawPeer::frame(Opcode::close, ""));
    RawPeer::ClientFrame f = p.read_frame();
    seen.update([&] { reply = f; });
  });
  ASSERT_TRUE(raw.ok());
  TestClient cli;
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  EXPECT_EQ(cli.ev.close_at(0).code, 1005);
  EXPECT_EQ(cli.ev.close_at(0).reason, "");
  ASSERT_TRUE(seen.wait([&] { return reply.ok; }));
  seen.read([&] {
    EXPECT_EQ(reply.opcode, Opcode::close);
    EXPECT_EQ(reply.payload, "");  // no code in, no code out
  });
}

TEST(ClientRawServer, ResponseHeadByteByByte) {
  RawWsServer raw([](RawPeer& p) {
    if (!p.read_request()) return;
    const std::string head = p.accept_response({"X-Slow: yes"}) + RawPeer::frame(Opcode::text, "hi");
    for (char ch : head) {
      if (!p.send(std::string_view(&ch, 1))) return;
    }
    p.answer_close();
  });
  ASSERT_TRUE(raw.ok());
  TestClient cli;
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_texts(1));
  cli.ev.read([&] {
    EXPECT_EQ(cli.ev.texts[0], "hi");
    EXPECT_EQ(cli.ev.responses[0].headers.get("X-Slow").value_or(""), "yes");
  });
}

TEST(ClientRawServer, FreshKeysForEveryHandshakeAndFrame) {
  Recorder seen;
  std::vector<RawPeer::ClientFrame> frames;
  int accepted = 0;  // used on the raw server's thread only
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response());
    if (++accepted > 1) return;  // the second connection only needs to open
    for (int i = 0; i < 4; ++i) {
      RawPeer::ClientFrame f = p.read_frame();
      seen.update([&] { frames.push_back(f); });
      if (!f.ok) return;
    }
  });
  ASSERT_TRUE(raw.ok());
  TestClient cli;
  cli.ev.open_hook = [](Connection& c) {
    c.send_text("one");
    c.send_text("two");
    c.send_binary("three");
    c.ping("four");
  };
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(seen.wait([&] { return frames.size() >= 4; }));
  seen.read([&] {
    std::set<std::string> keys;
    const char* payloads[] = {"one", "two", "three", "four"};
    for (std::size_t i = 0; i < 4; ++i) {
      ASSERT_TRUE(frames[i].ok) << i;
      EXPECT_TRUE(frames[i].masked) << i;
      EXPECT_EQ(frames[i].payload, payloads[i]);
      keys.insert(std::string(reinterpret_cast<const char*>(frames[i].mask), 4));
    }
    EXPECT_EQ(keys.size(), 4u) << "a masking key was reused";
  });
  // A second connection: another Sec-WebSocket-Key, 16 random bytes.
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_open(2));
  const auto reqs = raw.requests();
  ASSERT_EQ(reqs.size(), 2u);
  const std::string k1(reqs[0].headers.get("Sec-WebSocket-Key").value_or(""));
  const std::string k2(reqs[1].headers.get("Sec-WebSocket-Key").value_or(""));
  EXPECT_NE(k1, k2);
  std::string raw_key;
  ASSERT_TRUE(protocol::base64_decode(k1, raw_key));
  EXPECT_EQ(raw_key.size(), 16u);
}

}  // namespace
}  // namespace parley
