// parley::BlockingClient over real loopback sockets: connect, send,
// receive with a timeout, closes from either side, refusals, two threads,
// `fatal`, and the destructor. Fixtures and recorders: client_support.hpp.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "client_support.hpp"
#include "parley/parley.hpp"
#include "raw_ws_server.hpp"

namespace parley {
namespace {

TEST(ClientBlocking, ConnectSendReceiveClose) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  BlockingClient bc;
  ASSERT_FALSE(bc.connect(srv.url("/blocking")));
  EXPECT_TRUE(bc.is_open());
  ASSERT_TRUE(bc.handshake_response());
  EXPECT_EQ(bc.handshake_response()->status, 101);
  EXPECT_EQ(bc.subprotocol(), "");
  EXPECT_EQ(bc.connect(srv.url()).code(), std::errc::already_connected);

  ASSERT_FALSE(bc.send_text("hello"));
  ASSERT_FALSE(bc.send_binary(std::string("\x00\xff", 2)));
  ASSERT_FALSE(bc.ping("are you there"));
  ASSERT_FALSE(bc.send_text(""));
  auto m1 = bc.receive(kWait);
  ASSERT_TRUE(m1) << m1.error().message();
  EXPECT_EQ(m1->type, MessageType::text);
  EXPECT_EQ(m1->data, "hello");
  auto m2 = bc.receive(kWait);
  ASSERT_TRUE(m2) << m2.error().message();
  EXPECT_EQ(m2->type, MessageType::binary);
  EXPECT_EQ(m2->data, std::string("\x00\xff", 2));
  auto m3 = bc.receive(kWait);  // the pong was not queued
  ASSERT_TRUE(m3) << m3.error().message();
  EXPECT_EQ(m3->data, "");

  EXPECT_FALSE(bc.close(CloseCode{4003}, "bye"));
  EXPECT_FALSE(bc.is_open());
  EXPECT_EQ(bc.close_code(), CloseCode{4003});
  EXPECT_EQ(bc.send_text("late"), UsageError::not_open);
  auto after = bc.receive(100ms);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error(), UsageError::not_open);
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.closes.empty(); }));
  srv.ev.read([&] {
    EXPECT_EQ(srv.ev.closes[0].code, 4003);
    EXPECT_EQ(srv.ev.closes[0].reason, "bye");
    EXPECT_EQ(srv.ev.requests[0].path(), "/blocking");
  });
}

TEST(ClientBlocking, ReceiveTimesOutAndStaysOpen) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  BlockingClient bc;
  ASSERT_FALSE(bc.connect(srv.url()));
  const auto start = Clock::now();
  auto r = bc.receive(150ms);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().code() == std::errc::timed_out) << r.error().message();
  EXPECT_GE(since(start), 140ms);
  EXPECT_TRUE(bc.is_open());
  ASSERT_FALSE(bc.send_text("still here"));
  auto m = bc.receive(kWait);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->data, "still here");
}

TEST(ClientBlocking, ReceiveAfterTheServerClosed) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  BlockingClient bc;
  ASSERT_FALSE(bc.connect(srv.url()));
  ASSERT_FALSE(bc.send_text("cmd:last"));
  auto m = bc.receive(kWait);  // queued before the close: still returned
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->data, "last");
  auto r = bc.receive(kWait);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), UsageError::not_open) << r.error().message();
  EXPECT_NE(r.error().message().find("4002"), std::string::npos) << r.error().message();
  EXPECT_FALSE(bc.is_open());
  EXPECT_EQ(bc.close_code(), CloseCode{4002});
  EXPECT_EQ(bc.close_reason(), "done");
  EXPECT_EQ(bc.close(), UsageError::not_open);
}

TEST(ClientBlocking, ConnectRefused) {
  ClosedPort closed;
  BlockingClient bc;
  Error e = bc.connect(closed.url());
  EXPECT_TRUE(e.code() == std::errc::connection_refused) << e.message();
  EXPECT_FALSE(bc.is_open());
  EXPECT_FALSE(bc.handshake_response());
  EXPECT_EQ(bc.send_text("x"), UsageError::not_open);
  auto r = bc.receive(10ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), UsageError::not_open);
}

TEST(ClientBlocking, ConnectToARefusingServer) {
  CommandServer srv;
  srv.ev.handshake_hook = [](Connection&, const Request&) {
    protocol::Headers h;
    h.add("X-Reason", "no-cookie");
    return HandshakeReply::reject(403, "you shall not pass", h);
  };
  ASSERT_TRUE(srv.start());
  BlockingClient bc;
  Error e = bc.connect(srv.url());
  EXPECT_EQ(e, HandshakeError::bad_status) << e.message();
  EXPECT_NE(e.message().find("403"), std::string::npos) << e.message();
  const auto r = bc.handshake_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->headers.get("X-Reason").value_or(""), "no-cookie");
  EXPECT_EQ(r->body, "you shall not pass\n");
  EXPECT_FALSE(bc.is_open());
}

TEST(ClientBlocking, ConnectTimesOutOnASilentServer) {
  RawWsServer raw([](RawPeer& p) {
    if (!p.read_request()) return;
    p.wait_eof(5000ms);
  });
  ASSERT_TRUE(raw.ok());
  ClientOptions co;
  co.handshake_timeout = 200ms;
  BlockingClient bc(co);
  const auto start = Clock::now();
  Error e = bc.connect(raw.url());
  EXPECT_EQ(e, HandshakeError::timeout) << e.message();
  EXPECT_GE(since(start), 190ms);
  EXPECT_LT(since(start), 3000ms);
}

TEST(ClientBlocking, ReceiveAndSendFromTwoThreads) {
  constexpr int n = 200;
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  BlockingClient bc;
  ASSERT_FALSE(bc.connect(srv.url()));
  std::vector<std::string> got;
  std::thread receiver([&] {
    for (int i = 0; i < n; ++i) {
      auto m = bc.receive(kWait);
      if (!m) break;
      got.push_back(m->data);
    }
  });
  std::thread sender([&] {
    for (int i = 0; i < n; ++i) EXPECT_FALSE(bc.send_text("m" + std::to_string(i)));
  });
  sender.join();
  receiver.join();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], "m" + std::to_string(i));
  EXPECT_FALSE(bc.close());
}

TEST(ClientBlocking, FatalThrowsOnARefusedConnect) {
  ClosedPort closed;
  ClientOptions co;
  co.fatal = true;
  BlockingClient bc(co);
  try {
    (void)bc.connect(closed.url());
    ADD_FAILURE() << "no exception";
  } catch (const Exception& e) {
    EXPECT_TRUE(e.code() == std::errc::connection_refused) << e.what();
    EXPECT_TRUE(e.error().code() == std::errc::connection_refused);
  }
}

TEST(ClientBlocking, DestructorClosesAnOpenConnection) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  {
    BlockingClient bc;
    ASSERT_FALSE(bc.connect(srv.url()));
  }
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.closes.empty(); }));
  srv.ev.read([&] { EXPECT_EQ(srv.ev.closes[0].code, 1000); });
}

}  // namespace
}  // namespace parley
