// parley::Client's close paths over real loopback sockets: closes by the client
// and by the server, a dropped connection, stop(), a peer that never answers
// the close, and a close during the handshake. Fixtures and recorders:
// client_support.hpp.
#include <gtest/gtest.h>


#include "client_support.hpp"
#include "parley/parley.hpp"
#include "raw_ws_server.hpp"

namespace parley {
namespace {

TEST(ClientClose, ClientClosesWithCodeAndReason) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  TestClient cli;
  cli.ev.open_hook = [](Connection& c) {
    EXPECT_FALSE(c.close(CloseCode{4000}, "client done"));
    EXPECT_EQ(c.state(), ConnectionState::closing);
    EXPECT_EQ(c.send_text("too late").error, UsageError::not_open);
    EXPECT_EQ(c.close(), UsageError::not_open);
  };
  ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.closes.empty(); }));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  srv.ev.read([&] {
    EXPECT_EQ(srv.ev.closes[0].code, 4000);
    EXPECT_EQ(srv.ev.closes[0].reason, "client done");
    EXPECT_TRUE(srv.ev.texts.empty());
  });
  const Closed c = cli.ev.close_at(0);
  EXPECT_EQ(c.code, 4000);  // the server echoes the code
  cli.ev.read([&] { EXPECT_TRUE(cli.ev.errors.empty()); });
}

TEST(ClientClose, ServerClosesWithCodeAndReason) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  TestClient cli;
  cli.ev.open_hook = [](Connection& c) { c.send_text("cmd:close 4001 server done"); };
  ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  const Closed c = cli.ev.close_at(0);
  EXPECT_EQ(c.code, 4001);
  EXPECT_EQ(c.reason, "server done");
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.closes.empty(); }));
  srv.ev.read([&] { EXPECT_EQ(srv.ev.closes[0].code, 4001); });
}

TEST(ClientClose, ServerDropsTheConnection) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  TestClient cli;
  cli.ev.open_hook = [](Connection& c) { c.send_text("cmd:drop"); };
  ASSERT_TRUE(cli.client.connect(srv.url()));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  const Closed c = cli.ev.close_at(0);
  EXPECT_EQ(c.code, 1006);
  EXPECT_FALSE(c.reason.empty());
  cli.ev.read([&] { EXPECT_TRUE(cli.ev.reconnects.empty()); });
}

TEST(ClientClose, StopClosesWithGoingAway) {
  CommandServer srv;
  ASSERT_TRUE(srv.start());
  {
    TestClient cli;
    ASSERT_TRUE(cli.client.connect(srv.url()));
    ASSERT_TRUE(cli.ev.wait_open(1));
    cli.client.stop();  // returns once the close handshake is done
    cli.ev.read([&] {
      ASSERT_EQ(cli.ev.closes.size(), 1u);
      EXPECT_EQ(cli.ev.closes[0].code, 1001);
    });
    EXPECT_FALSE(cli.client.connect(srv.url())) << "connect after stop";
  }
  ASSERT_TRUE(srv.ev.wait([&] { return !srv.ev.closes.empty(); }));
  srv.ev.read([&] {
    EXPECT_EQ(srv.ev.closes[0].code, 1001);
    EXPECT_EQ(srv.ev.closes[0].reason, "client shutting down");
  });
}

TEST(ClientClose, CloseTimeoutWhenThePeerNeverAnswers) {
  Recorder seen;
  RawPeer::ClientFrame close_frame;
  bool eof = false;
  RawWsServer raw([&](RawPeer& p) {
    if (!p.read_request()) return;
    p.send(p.accept_response());
    RawPeer::ClientFrame f = p.read_frame();
    seen.update([&] { close_frame = f; });
    const bool e = p.wait_eof(5000ms);  // never answer the close
    seen.update([&] { eof = e; });
  });
  ASSERT_TRUE(raw.ok());
  ClientOptions co;
  co.close_timeout = 200ms;
  Clock::time_point closed_at{};
  TestClient cli(co);
  cli.ev.open_hook = [&](Connection& c) {
    closed_at = Clock::now();
    EXPECT_FALSE(c.close(CloseCode::normal, "bye"));
  };
  ASSERT_TRUE(cli.client.connect(raw.url()));
  ASSERT_TRUE(cli.ev.wait_closed(1));
  const Closed c = cli.ev.close_at(0);
  EXPECT_EQ(c.code, 1006);
  EXPECT_EQ(c.reason, "close handshake timed out");
  cli.ev.read([&] { EXPECT_GE(since(closed_at), 190ms); });
  ASSERT_TRUE(seen.wait([&] { return eof; })) << "the client did not close the socket";
  seen.read([&] {
    ASSERT_TRUE(close_frame.ok);
    EXPECT_TRUE(close_frame.masked);
    EXPECT_EQ(close_frame.opcode, Opcode::close);
    EXPECT_EQ(close_frame.close_code(), 1000);
    EXPECT_EQ(close_frame.close_reason(), "bye");
  });
}

TEST(ClientClose, CloseDuringTheHandshakeReportsCancellation) {
  Recorder seen;
  bool got_request = false;
  bool eof = false;
  RawWsServer raw([&](RawPeer& p) {
    const bool r = p.read_request().has_value();
    seen.update([&] { got_request = r; });
    const bool e = p.wait_eof(5000ms);  // never answer
    seen.update([&] { eof = e; });
  });
  ASSERT_TRUE(raw.ok());
  TestClient cli;
  auto h = cli.client.connect(raw.url());
  ASSERT_TRUE(h);
  ASSERT_TRUE(seen.wait([&] { return got_request; }));
  ASSERT_TRUE(h->close());
  ASSERT_TRUE(seen.wait([&] { return eof; })) << "the client kept the socket open";
  cli.client.stop();
  cli.ev.read([&] {
    EXPECT_TRUE(cli.ev.opened.empty());
    EXPECT_TRUE(cli.ev.closes.empty());
    // The application's own cancellation (so a caller waiting for on_open
    // or on_error is told), never a network error.
    ASSERT_EQ(cli.ev.errors.size(), 1u);
    EXPECT_TRUE(cli.ev.errors[0].error.code() == std::errc::operation_canceled) << cli.ev.errors[0].error.message();
  });
}

}  // namespace
}  // namespace parley
