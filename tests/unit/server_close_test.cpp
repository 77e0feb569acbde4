// parley::Server's close handshake over real loopback sockets: closes by
// the client and by the server, abrupt disconnects, terminate(), and a
// peer that never answers. Fixture and recorder: server_support.hpp.
#include <gtest/gtest.h>

#include <string>

#include "parley/parley.hpp"
#include "raw_ws_client.hpp"
#include "server_support.hpp"

namespace parley {
namespace {

TEST(ServerClose, ClientClosesWithCodeAndReason) {
  TestServer srv;
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(c.send_close(4001, "bye"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kClose);
  EXPECT_EQ(r.frame.close_code(), 4001);  // the echo
  EXPECT_TRUE(c.read_until_eof());
  ASSERT_TRUE(srv.ev.wait_closed(1));
  EXPECT_EQ(srv.ev.close_at(0).code, 4001);
  EXPECT_EQ(srv.ev.close_at(0).reason, "bye");
}

TEST(ServerClose, ClientClosesWithoutStatus) {
  TestServer srv;
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(c.send_close(0));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kClose);
  EXPECT_EQ(r.frame.payload, "");
  EXPECT_TRUE(c.read_until_eof());
  ASSERT_TRUE(srv.ev.wait_closed(1));
  EXPECT_EQ(srv.ev.close_at(0).code, 1005);
}

TEST(ServerClose, ServerClosesWithCodeAndReason) {
  TestServer srv(Attach::record);
  srv.server.on_text([](Connection& c, std::string_view) { EXPECT_FALSE(c.close(CloseCode::normal, "done")); });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(c.send_text("close please"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.opcode, kClose);
  EXPECT_EQ(r.frame.close_code(), 1000);
  EXPECT_EQ(r.frame.close_reason(), "done");
  EXPECT_EQ(srv.ev.close_count(), 0u) << "on_close fired before the peer answered";
  ASSERT_TRUE(c.send_close(1000, "ok"));
  EXPECT_TRUE(c.read_until_eof());
  ASSERT_TRUE(srv.ev.wait_closed(1));
  EXPECT_EQ(srv.ev.close_at(0).code, 1000);
  EXPECT_EQ(srv.ev.close_at(0).reason, "ok");
}

TEST(ServerClose, AbruptDisconnectReports1006) {
  TestServer srv;
  ASSERT_TRUE(srv.start());
  RawWsClient a, b;
  ASSERT_TRUE(open_ws(a, srv.port()));
  ASSERT_TRUE(open_ws(b, srv.port()));
  ASSERT_TRUE(srv.ev.wait_opened(2));
  a.close();  // FIN without a close frame
  ASSERT_TRUE(srv.ev.wait_closed(1));
  EXPECT_EQ(srv.ev.close_at(0).code, 1006);
  b.reset();  // RST
  ASSERT_TRUE(srv.ev.wait_closed(2));
  EXPECT_EQ(srv.ev.close_at(1).code, 1006);
  EXPECT_TRUE(eventually([&] { return srv.server.connection_count() == 0; }));
}

TEST(ServerClose, TerminateDropsWithout1000) {
  TestServer srv(Attach::record);
  srv.server.on_text([](Connection& c, std::string_view) { c.terminate(); });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(c.send_text("kill me"));
  ReadResult r = c.read_frame();
  EXPECT_NE(r.kind, ReadResult::Kind::timeout);
  EXPECT_FALSE(r.is_frame()) << "terminate() sent a frame";
  ASSERT_TRUE(srv.ev.wait_closed(1));
  EXPECT_EQ(srv.ev.close_at(0).code, 1006);
  // Dropped at once, while the client still holds its socket open.
  EXPECT_TRUE(eventually([&] { return srv.server.connection_count() == 0; }, 1000ms));
}

TEST(ServerClose, UnansweredServerCloseTimesOutWith1006) {
  ServerOptions o = loopback();
  o.close_timeout = 200ms;
  TestServer srv(o, Attach::record);
  srv.server.on_text([](Connection& c, std::string_view) { (void)c.close(CloseCode::normal, "bye"); });
  ASSERT_TRUE(srv.start());
  RawWsClient c;
  ASSERT_TRUE(open_ws(c, srv.port()));
  ASSERT_TRUE(c.send_text("x"));
  ReadResult r = c.read_frame();
  ASSERT_TRUE(r.is_frame());
  EXPECT_EQ(r.frame.close_code(), 1000);
  // The client never answers: the server gives up after close_timeout.
  EXPECT_TRUE(c.read_until_eof(3s));
  ASSERT_TRUE(srv.ev.wait_closed(1));
  EXPECT_EQ(srv.ev.close_at(0).code, 1006);
}

}  // namespace
}  // namespace parley
