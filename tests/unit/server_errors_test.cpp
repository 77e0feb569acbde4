// parley::Server's backpressure and errors over real loopback sockets:
// buffered output past its limit (drop or close), on_drain, `fatal` on a
// loop thread, refused arguments, handles that outlive the server, bad
// options. Fixture and recorder: server_support.hpp.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "parley/parley.hpp"
#include "raw_ws_client.hpp"
#include "server_support.hpp"

namespace parley {
namespace {

TEST(ServerBackpressure, DropsOverTheLimitAndDrainsWhenTheClientReads) {
  ServerOptions o = loopback();
  o.max_buffered_amount = 64 * 1024;
  struct Outcome {
    int queued = 0;
    bool backpressure = false;
    SendResult after;
    std::size_t buffered = 0;
    bool done = false;
  } out;
  const std::string chunk(64 * 1024, 'z');
  TestServer srv(o, Attach::record);
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", srv.port(), 16 * 1024));
  ASSERT_EQ(c.handshake().status, 101);
  ASSERT_TRUE(srv.ev.wait_opened(1));
  ASSERT_TRUE(srv.ev.handle_at(0).post([&](Connection& conn) {
    // The client reads nothing: the kernel's buffers fill, then ours.
    for (int i = 0; i < 4096; ++i) {
      SendResult r = conn.send_binary(chunk);
      if (r.status == SendStatus::queued) {
        ++out.queued;
        continue;
      }
      out.backpressure = r.status == SendStatus::backpressure;
      out.after = conn.send_binary(chunk);
      break;
    }
    out.buffered = conn.buffered_amount();
    srv.ev.update([&] { out.done = true; });
  }));
  ASSERT_TRUE(srv.ev.wait([&] { return out.done; }, 20s));
  EXPECT_TRUE(out.backpressure);
  EXPECT_EQ(out.after.status, SendStatus::dropped);
  EXPECT_EQ(out.after.error, UsageError::buffer_full);
  EXPECT_GT(out.buffered, o.max_buffered_amount);
  {
    std::lock_guard l(srv.ev.m);
    EXPECT_EQ(srv.ev.drains, 0);
  }
  // The client reads everything that was not dropped; then on_drain fires.
  for (int i = 0; i < out.queued + 1; ++i) {
    ReadResult r = c.read_frame();
    ASSERT_TRUE(r.is_frame()) << i;
    ASSERT_EQ(r.frame.payload.size(), chunk.size());
  }
  EXPECT_TRUE(srv.ev.wait([&] { return srv.ev.drains == 1; }));
  // And sending works again.
  ASSERT_TRUE(srv.ev.handle_at(0).send_text("again"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, "again");
}

TEST(ServerBackpressure, DrainFollowsBackpressureEvenWhenTheKernelTakesEverything) {
  // A send that passes the limit only while corked (the kernel then takes
  // it all at once) still owes the on_drain its `backpressure` status promised.
  ServerOptions o = loopback();
  o.max_buffered_amount = 1024;
  std::vector<SendStatus> statuses;
  TestServer srv(o, Attach::record);
  srv.server.on_text([&](Connection& c, std::string_view) {
    SendStatus s = c.send_text(std::string(2000, 'q')).status;
    srv.ev.update([&] { statuses.push_back(s); });
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(c.send_text("go"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload.size(), 2000u);
  ASSERT_TRUE(srv.ev.wait([&] { return statuses.size() == 1; }));
  EXPECT_EQ(statuses[0], SendStatus::backpressure);
  EXPECT_TRUE(srv.ev.wait([&] { return srv.ev.drains == 1; })) << "on_drain never came after a backpressure status";
}

TEST(ServerBackpressure, ClosePolicyCuts1008) {
  ServerOptions o = loopback();
  o.max_buffered_amount = 1024;
  o.backpressure_policy = BackpressurePolicy::close;
  std::vector<SendStatus> statuses;
  TestServer srv(o, Attach::record);
  srv.server.on_text([&](Connection& c, std::string_view) {
    SendStatus a = c.send_text(std::string(2000, 'q')).status;  // over the limit: backpressure
    SendStatus b = c.send_text("more").status;                  // past it: dropped, and closed
    srv.ev.update([&] { statuses = {a, b}; });
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(c.send_text("go"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload.size(), 2000u);
  r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kClose);
  EXPECT_EQ(r.frame.close_code(), 1008);
  ASSERT_TRUE(srv.ev.wait([&] { return statuses.size() == 2; }));
  EXPECT_EQ(statuses[0], SendStatus::backpressure);
  EXPECT_EQ(statuses[1], SendStatus::dropped);
}

// ---- errors -----------------------------------------------------------------

TEST(ServerErrors, FatalNeverThrowsOnALoopThread) {
  // `fatal` throws on the caller's own thread only: inside a callback (and
  // through a ConnectionHandle) a dropped send is a value, as without it.
  ServerOptions o = loopback();
  o.fatal = true;
  struct Seen {
    bool threw = false;
    SendResult direct;
    SendResult via_handle;
    bool done = false;
  } seen;
  TestServer srv(o, Attach::record);
  srv.server.on_text([&](Connection& c, std::string_view) {
    (void)c.close(CloseCode::normal, "done");
    Seen s;
    try {
      s.direct = c.send_text("after close");
      EXPECT_EQ(c.close(), UsageError::not_open);
    } catch (const Exception&) {
      s.threw = true;
    }
    srv.ev.update([&] { seen.threw = s.threw, seen.direct = s.direct; });
    c.handle().send_text("later", [&](const SendResult& r) {
      srv.ev.update([&] { seen.via_handle = r, seen.done = true; });
    });
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(c.send_text("x"));
  ASSERT_TRUE(srv.ev.wait([&] { return seen.done; }));
  EXPECT_FALSE(seen.threw);
  EXPECT_EQ(seen.direct.status, SendStatus::dropped);
  EXPECT_EQ(seen.direct.error, UsageError::not_open);
  EXPECT_EQ(seen.via_handle.status, SendStatus::dropped);
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.close_code(), 1000);
  // The process and the server are still there: a new connection works.
  RawWsClient d;
  EXPECT_TRUE(open_ws(d, srv.port()));
}

TEST(ServerErrors, WithoutFatalADroppedSendReturnsTheError) {
  SendResult seen;
  bool done = false;
  TestServer srv(Attach::record);
  srv.server.on_text([&](Connection& c, std::string_view) {
    (void)c.close();
    SendResult r = c.send_text("after close");
    srv.ev.update([&] {
      seen = r;
      done = true;
    });
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(c.send_text("x"));
  ASSERT_TRUE(srv.ev.wait([&] { return done; }));
  EXPECT_EQ(seen.status, SendStatus::dropped);
  EXPECT_FALSE(seen);
  EXPECT_EQ(seen.error, UsageError::not_open);
}

TEST(ServerErrors, BadArgumentsAreRefusedAndTheConnectionStaysOpen) {
  struct Seen {
    Error long_reason, code_1006, code_1005_with_reason, long_ping, long_pong;
    std::size_t listed_inside = 0;
    bool done = false;
  } seen;
  TestServer srv;
  srv.server.on_text([&](Connection& c, std::string_view t) {
    if (t != "check") return (void)c.send_text(t);
    Seen s;
    s.long_reason = c.close(CloseCode::normal, std::string(124, 'r'));
    s.code_1006 = c.close(CloseCode::abnormal);
    s.code_1005_with_reason = c.close(CloseCode::no_status, "why");
    s.long_ping = c.ping(std::string(126, 'p')).error;
    s.long_pong = c.pong(std::string(126, 'p')).error;
    s.listed_inside = srv.server.connections().size();  // from a loop thread
    s.done = true;
    srv.ev.update([&] { seen = s; });
  });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(c.send_text("check"));
  ASSERT_TRUE(srv.ev.wait([&] { return seen.done; }));
  EXPECT_EQ(seen.long_reason, UsageError::close_reason_too_long);
  EXPECT_EQ(seen.code_1006, UsageError::bad_close_code);
  EXPECT_EQ(seen.code_1005_with_reason, UsageError::bad_close_code);
  EXPECT_EQ(seen.long_ping, UsageError::control_too_long);
  EXPECT_EQ(seen.long_pong, UsageError::control_too_long);
  EXPECT_EQ(seen.listed_inside, 1u);
  // Still open.
  ASSERT_TRUE(c.send_text("still open"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.payload, "still open");
}

TEST(ServerErrors, HandlesOutliveTheServer) {
  ConnectionHandle kept;
  EXPECT_FALSE(kept);
  EXPECT_FALSE(kept.send_text("to nobody"));
  EXPECT_FALSE(kept.close());
  {
    TestServer srv;
    ASSERT_TRUE(srv.start());
    RawWsClient c;
    ASSERT_TRUE(open_ws(c, srv.port()));
    ASSERT_TRUE(srv.ev.wait_opened(1));
    kept = srv.ev.handle_at(0);
    EXPECT_TRUE(kept);
  }
  // The server and its loops are gone: the handle fails cleanly.
  EXPECT_FALSE(kept.send_text("too late"));
  EXPECT_FALSE(kept.finish_handshake(HandshakeReply::accept()));
  EXPECT_FALSE(kept.post([](Connection&) { ADD_FAILURE() << "ran on a destroyed server"; }));
}

TEST(ServerOptionsCheck, ZeroThreadsIsAnError) {
  ServerOptions o = loopback();
  o.threads = 0;
  Server server(o);
  Error e = server.start();
  ASSERT_TRUE(e);
  EXPECT_EQ(e.code(), std::make_error_code(std::errc::invalid_argument));
  EXPECT_EQ(server.port(), 0);
  server.stop();  // harmless on a server that never started

  o.fatal = true;
  Server throwing(o);
  EXPECT_THROW((void)throwing.start(), Exception);
}

TEST(ServerOptionsCheck, PortInUseIsAnError) {
  TestServer first(Attach::none);
  ASSERT_TRUE(first.start());
  ServerOptions o = loopback();
  o.port = first.port();
  Server second(o);
  Error e = second.start();
  EXPECT_TRUE(e);
}

}  // namespace
}  // namespace parley
