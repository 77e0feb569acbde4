// parley::Client against parley's own Server over real loopback sockets:
// messages of every size and fragments both ways, pings and pongs, on_frame,
// what the handshake sends and receives (headers, cookies, origin,
// subprotocols). Fixtures and recorders: client_support.hpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "client_support.hpp"
#include "parley/parley.hpp"

namespace parley {
namespace {

TEST(ClientServer, EchoesTextAndBinaryOfEverySize) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  TestClient cli;
  auto h = cli.client.connect(srv.url());
  ASSERT_TRUE(h) << h.error().message();
  ASSERT_TRUE(cli.ev.wait_open(1));

  const std::vector<std::size_t> sizes = {0, 125, 126, 65536, 16u << 20};
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    ASSERT_TRUE(h->send_text(pattern(sizes[i], true, static_cast<unsigned>(i))));
    ASSERT_TRUE(h->send_binary(pattern(sizes[i], false, static_cast<unsigned>(i))));
  }
  ASSERT_TRUE(cli.ev.wait([&] { return cli.ev.texts.size() >= sizes.size() && cli.ev.binaries.size() >= sizes.size(); },
                          kLong));
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::string text = pattern(sizes[i], true, static_cast<unsigned>(i));
    const std::string bin = pattern(sizes[i], false, static_cast<unsigned>(i));
    // Both ways: what the server received, and what came back.
    srv.ev.read([&] {
      ASSERT_EQ(srv.ev.texts.size(), sizes.size());
      EXPECT_TRUE(srv.ev.texts[i] == text) << "server text of " << sizes[i] << " bytes differs";
      EXPECT_TRUE(srv.ev.binaries[i] == bin) << "server binary of " << sizes[i] << " bytes differs";
    });
    cli.ev.read([&] {
      EXPECT_EQ(cli.ev.texts[i].size(), sizes[i]);
      EXPECT_TRUE(cli.ev.texts[i] == text) << "client text of " << sizes[i] << " bytes differs";
      EXPECT_TRUE(cli.ev.binaries[i] == bin) << "client binary of " << sizes[i] << " bytes differs";
    });
  }
}

TEST(ClientServer, OnFrameSeesMaskedFramesBothWays) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  std::vector<std::string> frames;  // "<dir> <opcode> <masked> <length>" (outlives the client)
  TestClient cli;
  cli.client.on_frame([&](Connection&, protocol::FrameDirection d, const protocol::FrameHeader& h) {
    cli.ev.update([&] {
      frames.push_back(std::string(d == protocol::FrameDirection::received ? "in " : "out ") +
                       std::to_string(static_cast<int>(h.opcode)) + (h.masked ? " masked " : " plain ") +
                       std::to_string(h.payload_length));
    });
  });
  auto h = cli.client.connect(srv.url());
  ASSERT_TRUE(h) << h.error().message();
  ASSERT_TRUE(cli.ev.wait_open(1));
  ASSERT_TRUE(h->send_text("hello"));
  ASSERT_TRUE(cli.ev.wait([&] { return frames.size() >= 2; }));
  cli.ev.read([&] { EXPECT_EQ(frames, (std::vector<std::string>{"out 1 masked 5", "in 1 plain 5"})); });
}

TEST(ClientServer, FragmentedSendsBothWays) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  std::vector<SendResult> results;  // written on the loop thread before the text is sent
  TestClient cli;
  cli.ev.open_hook = [&](Connection& c) {
    results.push_back(c.send_fragment(MessageType::text, "Hel", false));
    results.push_back(c.ping("mid-message"));  // control frames may interleave
    results.push_back(c.send_text("not now"));  // a whole message may not
    results.push_back(c.send_fragment(MessageType::binary, "x", true));  // nor another type
    results.push_back(c.send_fragment(MessageType::text, "lo, ", false));
    results.push_back(c.send_fragment(MessageType::text, "world", true));
    results.push_back(c.send_fragment(MessageType::binary, std::string(300, 'b'), false));
    results.push_back(c.send_fragment(MessageType::binary, "", true));
    results.push_back(c.send_text("cmd:frag"));
  };
  ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(srv.ev.wait([&] { return srv.ev.texts.size() >= 2 && srv.ev.binaries.size() >= 1; }));
  srv.ev.read([&] {
    EXPECT_EQ(srv.ev.texts[0], "Hello, world");
    EXPECT_EQ(srv.ev.texts[1], "cmd:frag");
    EXPECT_EQ(srv.ev.binaries[0], std::string(300, 'b'));
  });
  ASSERT_TRUE(cli.ev.wait([&] { return cli.ev.texts.size() >= 2 && cli.ev.binaries.size() >= 2; }));
  cli.ev.read([&] {
    ASSERT_EQ(results.size(), 9u);
    EXPECT_EQ(results[0].status, SendStatus::queued);
    EXPECT_EQ(results[1].status, SendStatus::queued);
    EXPECT_EQ(results[2].status, SendStatus::dropped);
    EXPECT_EQ(results[2].error, UsageError::bad_fragment_sequence);
    EXPECT_EQ(results[3].error, UsageError::bad_fragment_sequence);
    for (std::size_t i : {4u, 5u, 6u, 7u, 8u}) EXPECT_EQ(results[i].status, SendStatus::queued) << i;
    // The server echoes the client's messages, and answers cmd:frag (not
    // echoed) with a fragmented text and a fragmented binary.
    EXPECT_EQ(cli.ev.texts[0], "Hello, world");
    EXPECT_TRUE(cli.ev.texts[1] == "part one, " + pattern(70000, true, 7) + ", the end")
        << cli.ev.texts[1].size() << " bytes";
    EXPECT_EQ(cli.ev.binaries[0], std::string(300, 'b'));
    EXPECT_EQ(cli.ev.binaries[1], std::string("\x00\x01", 2));
    EXPECT_EQ(cli.ev.pings, std::vector<std::string>{"between"});
  });
}

TEST(ClientServer, PingsAndPongs) {
  CommandServer srv;
  srv.ev.open_hook = [](Connection& c) {
    c.ping("s-ping");
    c.ping("quiet");
  };
  ASSERT_TRUE(srv.start());
  TestClient cli;
  cli.ev.open_hook = [](Connection& c) {
    EXPECT_TRUE(c.pong("unsolicited"));
    EXPECT_TRUE(c.ping("c-ping"));
    EXPECT_EQ(c.ping(std::string(126, 'p')).error, UsageError::control_too_long);
  };
  cli.ev.ping_hook = [](Connection& c, std::string_view p) {
    if (p != "quiet") return true;
    c.send_text("after-quiet");  // goes out after any pong this ping would have had
    return false;                // no automatic pong
  };
  ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(cli.ev.wait([&] { return !cli.ev.pongs.empty() && cli.ev.pings.size() >= 2; }));
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.texts.empty(); }));
  cli.ev.read([&] {
    EXPECT_EQ(cli.ev.pongs, std::vector<std::string>{"c-ping"});
    EXPECT_EQ(cli.ev.pings, (std::vector<std::string>{"s-ping", "quiet"}));
  });
  srv.ev.read([&] {
    EXPECT_EQ(srv.ev.texts[0], "after-quiet");
    EXPECT_EQ(srv.ev.pongs, (std::vector<std::string>{"unsolicited", "s-ping"}));
  });
}

TEST(ClientServer, HandshakeResponseInOnOpen) {
  CommandServer srv;
  srv.ev.handshake_hook = [](Connection&, const Request&) {
    protocol::Headers extra;
    extra.add("X-Server", "parley-test");
    extra.add("Set-Cookie", "token=xyz");
    return HandshakeReply::accept("", extra);
  };
  ASSERT_TRUE(srv.start());
  TestClient cli;
  ASSERT_TRUE(cli.client.connect(srv.url("/room")));
  ASSERT_TRUE(cli.ev.wait_open(1));
  cli.ev.read([&] {
    const Response& r = cli.ev.responses[0];
    EXPECT_EQ(r.status, 101);
    EXPECT_EQ(r.headers.get("X-Server").value_or(""), "parley-test");
    EXPECT_EQ(r.headers.get("Set-Cookie").value_or(""), "token=xyz");
    const Request& q = cli.ev.sent_requests[0];
    const auto key = q.headers.get("Sec-WebSocket-Key");
    ASSERT_TRUE(key);
    EXPECT_EQ(r.headers.get("Sec-WebSocket-Accept").value_or(""), protocol::accept_key(*key));
    EXPECT_EQ(q.target, "/room");
    EXPECT_EQ(cli.ev.subprotocols[0], "");
  });
}

TEST(ClientServer, NegotiatesSubprotocol) {
  ServerOptions so = quiet_loopback();
  so.subprotocols = {"v1.chat", "v2.chat"};
  CommandServer srv(so);
  ASSERT_TRUE(srv.start());
  ClientOptions co;
  co.subprotocols = {"v2.chat", "v1.chat"};
  TestClient cli(co);
  ASSERT_TRUE(cli.client.connect(srv.url()));
  ClientOptions none;
  none.subprotocols = {"mqtt"};
  TestClient other(none);
  ASSERT_TRUE(other.client.connect(srv.url()));
  ASSERT_TRUE(cli.ev.wait_open(1));
  ASSERT_TRUE(other.ev.wait_open(1));
  cli.ev.read([&] {
    EXPECT_EQ(cli.ev.subprotocols[0], "v2.chat");  // the client's preference among the server's
    EXPECT_EQ(cli.ev.responses[0].headers.get("Sec-WebSocket-Protocol").value_or(""), "v2.chat");
    EXPECT_EQ(cli.ev.sent_requests[0].headers.get("Sec-WebSocket-Protocol").value_or(""), "v2.chat, v1.chat");
  });
  other.ev.read([&] {
    EXPECT_EQ(other.ev.subprotocols[0], "");  // no common subprotocol: open without one
    EXPECT_FALSE(other.ev.responses[0].headers.has("Sec-WebSocket-Protocol"));
  });
}

TEST(ClientServer, SendsCookieOriginAndHeaders) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  ClientOptions co;
  co.origin = "https://example.com";
  co.cookie = "session=abc; theme=dark";
  co.headers.add("X-Token", "t-123");
  co.headers.add("User-Agent", "parley-test/1");
  TestClient cli(co);
  ASSERT_TRUE(cli.client.connect(srv.url("/chat/room?id=42&name=a%20b")));
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.requests.empty(); }));
  srv.ev.read([&] {
    const Request& r = srv.ev.requests[0];
    EXPECT_EQ(r.path(), "/chat/room");
    EXPECT_EQ(r.query_param("id").value_or(""), "42");
    EXPECT_EQ(r.query_param("name").value_or(""), "a b");
    EXPECT_EQ(r.origin().value_or(""), "https://example.com");
    EXPECT_EQ(r.cookie("session").value_or(""), "abc");
    EXPECT_EQ(r.cookie("theme").value_or(""), "dark");
    EXPECT_EQ(r.headers.get("X-Token").value_or(""), "t-123");
    EXPECT_EQ(r.headers.get("User-Agent").value_or(""), "parley-test/1");
    EXPECT_EQ(r.host().value_or(""), "127.0.0.1:" + std::to_string(srv.port()));
    EXPECT_EQ(r.headers.get("Sec-WebSocket-Version").value_or(""), "13");
  });
}

}  // namespace
}  // namespace parley
