// TLS (wss://): parley's Server and clients over real loopback sockets with
// certificates made at test time (test_certs.hpp), and TcpSocket's TLS
// layer on its own. Every wait is bounded.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "net/tcp.hpp"
#include "parley/parley.hpp"
#include "test_certs.hpp"
#include "test_support.hpp"

namespace parley {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using parley::testing::TestPki;

TestPki& pki() {
  static TestPki p;
  return p;
}

ServerOptions tls_server_options(const std::string& cert = "server-chain.pem", const std::string& key = "server.key") {
  ServerOptions o = loopback();
  o.tls.cert_file = pki().path(cert);
  o.tls.key_file = pki().path(key);
  return o;
}

ClientOptions verifying_client(const std::string& ca = "ca.pem") {
  ClientOptions o;
  o.tls.ca_file = pki().path(ca);
  o.connect_timeout = 5s;
  o.handshake_timeout = 5s;
  o.close_timeout = 2s;
  return o;
}

/// What the TLS echo server saw: its errors, and what TLS told on_handshake.
struct TlsEvents : Recorder {
  std::vector<Error> errors;
  std::optional<net::TlsInfo> tls_seen;
};

/// An echo server that records its errors and what TLS told on_handshake
/// (`ASSERT_TRUE(s.start())`; stopped when the test ends).
struct EchoServer : BasicTestServer<TlsEvents> {
  explicit EchoServer(ServerOptions o) : BasicTestServer<TlsEvents>(std::move(o)) {
    server.on_handshake([this](Connection& c, const Request&) {
      ev.update([&] { ev.tls_seen = c.tls(); });
      return HandshakeReply::accept();
    });
    server.on_text([](Connection& c, std::string_view t) { c.send_text(t); });
    server.on_binary([](Connection& c, std::string_view b) { c.send_binary(b); });
    server.on_error([this](Connection*, const Error& e) { ev.update([&] { ev.errors.push_back(e); }); });
  }
  std::string url(const std::string& host = "localhost") const {
    return "wss://" + host + ":" + std::to_string(server.port()) + "/echo";
  }
  bool wait_error(std::size_t n = 1) {
    return ev.wait([&] { return ev.errors.size() >= n; }, 10s);
  }
  Error error_at(std::size_t i) {
    return ev.read([&] { return ev.errors.at(i); });
  }
  std::optional<net::TlsInfo> seen() {
    return ev.read([&] { return ev.tls_seen; });
  }
};

/// Connects, sends `text`, and returns the echo (or the error).
Result<std::string> echo_once(const std::string& url, ClientOptions co, const std::string& text = "hello") {
  BlockingClient c(std::move(co));
  if (Error e = c.connect(url)) return e;
  if (Error e = c.send_text(text)) return e;
  auto m = c.receive(5s);
  if (!m) return m.error();
  (void)c.close();
  return m->data;
}

/// A raw TCP connection to 127.0.0.1:port (plain bytes, no TLS).
struct RawTcp {
  int fd = -1;
  explicit RawTcp(std::uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ~RawTcp() {
    if (fd >= 0) ::close(fd);
  }
  void send(std::string_view s) const { (void)!::send(fd, s.data(), s.size(), MSG_NOSIGNAL); }
  /// Everything until EOF (or `limit`); nullopt if EOF did not come in time.
  std::optional<std::string> read_to_eof(std::chrono::milliseconds limit = 10s) const {
    std::string out;
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return std::nullopt;
  }
};

// ---- Server + clients ------------------------------------------------------------

TEST(Tls, EchoesOverWssWithTheCertificateVerified) {
  EchoServer s(tls_server_options());
  ASSERT_TRUE(s.start());
  BlockingClient c(verifying_client());
  ASSERT_FALSE(c.connect(s.url())) << "wss to localhost";
  const std::string small = "hello over TLS";
  const std::string big = pattern(3u << 20, false, 1);  // 3 MiB: many records, both ways
  ASSERT_FALSE(c.send_text(small));
  ASSERT_FALSE(c.send_binary(big));
  for (int i = 0; i < 100; ++i) ASSERT_FALSE(c.send_text(std::to_string(i)));
  auto m1 = c.receive(10s);
  ASSERT_TRUE(m1);
  EXPECT_EQ(m1->data, small);
  auto m2 = c.receive(30s);
  ASSERT_TRUE(m2);
  EXPECT_EQ(m2->type, MessageType::binary);
  EXPECT_TRUE(m2->data == big);
  for (int i = 0; i < 100; ++i) {
    auto m = c.receive(10s);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->data, std::to_string(i));
  }
  EXPECT_FALSE(c.close());
  EXPECT_EQ(c.close_code(), CloseCode::normal);

  auto info = s.seen();
  ASSERT_TRUE(info);
  EXPECT_EQ(info->version, "TLSv1.3");
  EXPECT_EQ(info->alpn, "http/1.1");
  EXPECT_EQ(info->server_name, "localhost");
  EXPECT_TRUE(info->peer_subject.empty());  // no client certificate
  EXPECT_FALSE(info->peer_verified);
}

TEST(Tls, VerifiesAnIpAddressAgainstTheCertificate) {
  EchoServer s(tls_server_options());
  ASSERT_TRUE(s.start());
  auto r = echo_once(s.url("127.0.0.1"), verifying_client());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, "hello");
}

TEST(Tls, ExpiredCertificateIsRefused) {
  EchoServer s(tls_server_options("expired.pem", "expired.key"));
  ASSERT_TRUE(s.start());
  auto r = echo_once(s.url(), verifying_client());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), TlsError::certificate_expired) << r.error().message();
  EXPECT_NE(r.error().message().find("expired"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("localhost"), std::string::npos) << r.error().message();
  // The server hears of the failed handshake (the client's alert).
  ASSERT_TRUE(s.wait_error());
  EXPECT_EQ(s.error_at(0).code().category(), tls_category());
}

TEST(Tls, WrongHostIsRefused) {
  EchoServer s(tls_server_options("other-host.pem", "other-host.key"));
  ASSERT_TRUE(s.start());
  auto r = echo_once(s.url(), verifying_client());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), TlsError::certificate_name_mismatch) << r.error().message();
}

TEST(Tls, UnknownCaIsRefused) {
  EchoServer s(tls_server_options());
  ASSERT_TRUE(s.start());
  auto r = echo_once(s.url(), verifying_client("other-ca.pem"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), TlsError::certificate_untrusted) << r.error().message();
  // The system trust store does not know the test CA either: verification
  // is on by default.
  ClientOptions system;
  system.connect_timeout = system.handshake_timeout = 5s;
  auto r2 = echo_once(s.url(), system);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error(), TlsError::certificate_untrusted) << r2.error().message();
}

TEST(Tls, InsecureClientAcceptsAnyCertificate) {
  EchoServer s(tls_server_options("expired.pem", "expired.key"));
  ASSERT_TRUE(s.start());
  ClientOptions co;
  co.tls.insecure = true;
  auto r = echo_once(s.url(), co);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, "hello");
}

TEST(Tls, PlainHttpToTheTlsPortGetsA400AndTheServerGoesOn) {
  EchoServer s(tls_server_options());
  ASSERT_TRUE(s.start());
  RawTcp raw(s.port());
  ASSERT_GE(raw.fd, 0);
  raw.send("GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\n");
  auto reply = raw.read_to_eof();
  ASSERT_TRUE(reply) << "the server must close the connection";
  EXPECT_EQ(reply->rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << *reply;
  EXPECT_NE(reply->find("TLS"), std::string::npos) << *reply;
  ASSERT_TRUE(s.wait_error());
  EXPECT_EQ(s.error_at(0), TlsError::not_tls) << s.error_at(0).message();
  // Still serving.
  auto r = echo_once(s.url(), verifying_client());
  ASSERT_TRUE(r) << r.error().message();
}

TEST(Tls, PlainWebSocketClientToTheTlsPortIsRefused) {
  EchoServer s(tls_server_options());
  ASSERT_TRUE(s.start());
  ClientOptions co;
  co.connect_timeout = co.handshake_timeout = 5s;
  auto r = echo_once("ws://127.0.0.1:" + std::to_string(s.port()) + "/", co);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), HandshakeError::bad_status) << r.error().message();
  EXPECT_NE(r.error().message().find("400"), std::string::npos) << r.error().message();
}

TEST(Tls, TlsClientToAPlainServerFailsClearly) {
  Server plain([] {
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    return o;
  }());
  ASSERT_FALSE(plain.start());
  const auto t0 = Clock::now();
  auto r = echo_once("wss://127.0.0.1:" + std::to_string(plain.port()) + "/", verifying_client());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), TlsError::not_tls) << r.error().message();
  EXPECT_LT(Clock::now() - t0, 5s) << "must fail at once, not by a timeout";
}

TEST(Tls, SilentTcpClientIsDroppedByTheHandshakeTimeout) {
  ServerOptions o = tls_server_options();
  o.handshake_timeout = 300ms;
  EchoServer s(o);
  ASSERT_TRUE(s.start());
  RawTcp raw(s.port());
  ASSERT_GE(raw.fd, 0);
  auto rest = raw.read_to_eof(10s);
  ASSERT_TRUE(rest) << "the server must drop a client that never starts TLS";
  EXPECT_TRUE(rest->empty());
}

TEST(Tls, TlsHandshakeHasItsOwnTimeout) {
  ServerOptions o = tls_server_options();
  o.handshake_timeout = 30s;
  o.tls.handshake_timeout = 300ms;
  EchoServer s(o);
  ASSERT_TRUE(s.start());
  RawTcp raw(s.port());
  ASSERT_GE(raw.fd, 0);
  raw.send("\x16\x03\x01");  // the first bytes of a ClientHello, then nothing
  const auto t0 = Clock::now();
  auto rest = raw.read_to_eof(20s);
  ASSERT_TRUE(rest) << "the server must drop a client stalled in the TLS handshake";
  EXPECT_LT(Clock::now() - t0, 20s);
  ASSERT_TRUE(s.wait_error());
  EXPECT_EQ(s.error_at(0), TlsError::timeout) << s.error_at(0).message();
  // A client that completes TLS in time is served.
  auto r = echo_once(s.url(), verifying_client());
  ASSERT_TRUE(r) << r.error().message();
}

TEST(Tls, ServerClosesDuringTheHandshake) {
  // A TCP server that accepts and closes at once: the client reports that
  // the TLS handshake was cut, quickly.
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(lfd, 4), 0);
  ASSERT_EQ(::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  std::thread closer([lfd] {
    pollfd p{lfd, POLLIN, 0};
    if (::poll(&p, 1, 10000) == 1) {
      int c = ::accept(lfd, nullptr, nullptr);
      if (c >= 0) ::close(c);
    }
  });
  auto r = echo_once("wss://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/", verifying_client());
  closer.join();
  ::close(lfd);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), TlsError::closed) << r.error().message();
}

TEST(Tls, MutualTlsShowsTheClientCertificateToTheHandshakeHook) {
  ServerOptions o = tls_server_options();
  o.tls.client_ca_file = pki().path("ca.pem");
  EchoServer s(o);
  ASSERT_TRUE(s.start());
  ClientOptions co = verifying_client();
  co.tls.cert_file = pki().path("client.pem");
  co.tls.key_file = pki().path("client.key");
  auto r = echo_once(s.url(), co);
  ASSERT_TRUE(r) << r.error().message();
  auto info = s.seen();
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->peer_verified);
  EXPECT_NE(info->peer_subject.find("CN=parley-test-client"), std::string::npos) << info->peer_subject;
  EXPECT_NE(info->peer_issuer.find("parley test CA"), std::string::npos) << info->peer_issuer;
  EXPECT_EQ(info->peer_certificate_pem.rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
}

TEST(Tls, MutualTlsRefusesAClientWithoutACertificate) {
  ServerOptions o = tls_server_options();
  o.tls.client_ca_file = pki().path("ca.pem");
  EchoServer s(o);
  ASSERT_TRUE(s.start());
  auto r = echo_once(s.url(), verifying_client());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), TlsError::certificate_required) << r.error().message();
  ASSERT_TRUE(s.wait_error());
  EXPECT_EQ(s.error_at(0), TlsError::certificate_required) << s.error_at(0).message();
}

TEST(Tls, OptionalClientCertificate) {
  ServerOptions o = tls_server_options();
  o.tls.client_ca_file = pki().path("ca.pem");
  o.tls.require_client_certificate = false;
  EchoServer s(o);
  ASSERT_TRUE(s.start());
  auto r = echo_once(s.url(), verifying_client());
  ASSERT_TRUE(r) << r.error().message();
  auto info = s.seen();
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->peer_subject.empty());
}

TEST(Tls, ReloadTakesNewCertificatesWithoutARestart) {
  namespace fs = std::filesystem;
  const std::string dir = pki().dir();
  const fs::path cert = fs::path(dir) / "live.pem", key = fs::path(dir) / "live.key";
  fs::copy_file(pki().path("expired.pem"), cert, fs::copy_options::overwrite_existing);
  fs::copy_file(pki().path("expired.key"), key, fs::copy_options::overwrite_existing);
  EchoServer s(tls_server_options("live.pem", "live.key"));
  ASSERT_TRUE(s.start());
  auto before = echo_once(s.url(), verifying_client());
  ASSERT_FALSE(before);
  EXPECT_EQ(before.error(), TlsError::certificate_expired) << before.error().message();

  fs::copy_file(pki().path("server-chain.pem"), cert, fs::copy_options::overwrite_existing);
  fs::copy_file(pki().path("server.key"), key, fs::copy_options::overwrite_existing);
  ASSERT_FALSE(s.server.reload_tls());
  auto after = echo_once(s.url(), verifying_client());
  ASSERT_TRUE(after) << after.error().message();

  // A broken file: reload fails and the working certificate stays.
  { std::ofstream(key) << "not a key"; }
  Error e = s.server.reload_tls();
  EXPECT_EQ(e, TlsError::bad_configuration) << e.message();
  auto still = echo_once(s.url(), verifying_client());
  ASSERT_TRUE(still) << still.error().message();
  fs::remove(cert);
  fs::remove(key);
}

TEST(Tls, RedirectFromWssToWsIsRefused) {
  ServerOptions o = tls_server_options();
  Server s(o);
  s.on_handshake([](Connection&, const Request&) {
    protocol::Headers h;
    h.add("Location", "ws://127.0.0.1:1/plain");
    return HandshakeReply::reject(302, "moved", h);
  });
  ASSERT_FALSE(s.start());
  auto r = echo_once("wss://localhost:" + std::to_string(s.port()) + "/", verifying_client());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), HandshakeError::bad_uri) << r.error().message();
  EXPECT_NE(r.error().message().find("wss:// to ws://"), std::string::npos) << r.error().message();
}

TEST(Tls, ReloadWithoutTlsIsAnError) {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  Server plain(o);
  ASSERT_FALSE(plain.start());
  EXPECT_TRUE(plain.reload_tls().code() == std::errc::invalid_argument);
}

TEST(Tls, EncryptedKeyWithItsPassword) {
  ServerOptions o = tls_server_options("server-chain.pem", "encrypted.key");
  o.tls.password = [] { return std::string(TestPki::kKeyPassword); };
  EchoServer s(o);
  ASSERT_TRUE(s.start());
  auto r = echo_once(s.url(), verifying_client());
  ASSERT_TRUE(r) << r.error().message();

  ServerOptions wrong = tls_server_options("server-chain.pem", "encrypted.key");
  wrong.tls.password = [] { return std::string("not it"); };
  Server bad(wrong);
  Error e = bad.start();
  EXPECT_EQ(e, TlsError::bad_configuration) << e.message();
  EXPECT_NE(e.message().find("encrypted.key"), std::string::npos) << e.message();
}

TEST(Tls, BadConfigurationIsAnErrorFromStart) {
  ServerOptions missing = tls_server_options("no-such.pem", "server.key");
  Server s1(missing);
  Error e1 = s1.start();
  EXPECT_EQ(e1, TlsError::bad_configuration) << e1.message();
  EXPECT_NE(e1.message().find("no-such.pem"), std::string::npos) << e1.message();

  ServerOptions mismatch = tls_server_options("server-chain.pem", "client.key");
  Server s2(mismatch);
  Error e2 = s2.start();
  EXPECT_EQ(e2, TlsError::bad_configuration) << e2.message();
  EXPECT_NE(e2.message().find("mismatch"), std::string::npos) << e2.message();

  ServerOptions ciphers = tls_server_options();
  ciphers.tls.ciphers = "NO-SUCH-CIPHER";
  Server s3(ciphers);
  EXPECT_EQ(s3.start(), TlsError::bad_configuration);

  ClientOptions co;
  co.tls.ca_file = pki().path("no-such-ca.pem");
  Client client(co);
  EXPECT_FALSE(client.start()) << "TLS files are read at the first wss:// connect";
  auto r4 = client.connect("wss://localhost:1/");
  ASSERT_FALSE(r4);
  EXPECT_EQ(r4.error(), TlsError::bad_configuration) << r4.error().message();
  EXPECT_NE(r4.error().message().find("no-such-ca.pem"), std::string::npos) << r4.error().message();
  EXPECT_TRUE(client.connect("ws://localhost:1/")) << "ws:// needs no TLS files";
}

TEST(Tls, ErrorsMapToTheirCategory) {
  EXPECT_STREQ(tls_category().name(), "parley.tls");
  const Error e(TlsError::certificate_expired);
  EXPECT_EQ(e.code().category(), tls_category());
  EXPECT_NE(e.message().find("expired"), std::string::npos);
}

// ---- the net layer on its own ----------------------------------------------------

/// A server TlsContext and a listener that records accepted sockets'
/// data, all on one Loop run by the test thread.
net::TlsServerOptions server_tls();
std::shared_ptr<net::TlsContext> client_ctx(const std::string& ca = "ca.pem");

struct NetPair : net::TcpSocket::Handler {
  net::Loop loop;
  std::shared_ptr<net::TlsContext> server_context, client_context;  // (outlive the sockets)
  std::unique_ptr<net::TcpListener> listener;
  std::vector<std::unique_ptr<net::TcpSocket>> accepted;
  std::unique_ptr<net::TcpSocket> client;
  std::string server_got, client_got;
  std::vector<Error> errors;
  bool client_eof = false;

  void on_data(net::TcpSocket& s, std::span<std::uint8_t> d) override {
    (s.is_tls() && &s == client.get() ? client_got : server_got).append(reinterpret_cast<char*>(d.data()), d.size());
  }
  void on_eof(net::TcpSocket& s) override {
    if (&s == client.get()) client_eof = true;
    s.close();
  }
  void on_error(net::TcpSocket&, const Error& e) override { errors.push_back(e); }

  bool connect(const net::TlsContext& server_ctx, const net::TlsContext& client_ctx, const std::string& name) {
    net::ListenOptions lo;
    lo.host = "127.0.0.1";
    auto l = net::TcpListener::listen(loop, lo, [&](std::unique_ptr<net::TcpSocket> s) {
      if (s->start_tls(server_ctx)) return;
      s->set_handler(this);
      accepted.push_back(std::move(s));
    });
    if (!l) return false;
    listener = std::move(*l);
    bool done = false;
    auto h = net::connect(loop, "127.0.0.1", listener->local_port(), 5s, [&](Result<std::unique_ptr<net::TcpSocket>> r) {
      done = true;
      if (!r) return;
      client = std::move(*r);
      if (!client->start_tls(client_ctx, name)) client->set_handler(this);
    });
    return run_until([&] { return done; });
  }
  template <class P>
  bool run_until(P pred, std::chrono::milliseconds limit = 10s) {
    const auto deadline = Clock::now() + limit;
    while (!pred() && Clock::now() < deadline) (void)loop.run_once(10ms);
    return pred();
  }
  // Connects with the test PKI's server certificate, verified against its CA as "localhost".
  bool connect_localhost() {
    auto s = net::TlsContext::server(server_tls());
    if (!s) return false;
    server_context = *s;
    client_context = client_ctx();
    return connect(*server_context, *client_context, "localhost") && client;
  }
};

net::TlsServerOptions server_tls() {
  net::TlsServerOptions o;
  o.cert_file = pki().path("server-chain.pem");
  o.key_file = pki().path("server.key");
  return o;
}

std::shared_ptr<net::TlsContext> client_ctx(const std::string& ca) {
  net::TlsClientOptions o;
  o.ca_file = pki().path(ca);
  return *net::TlsContext::client(o);
}

TEST(TlsSocket, CorkedWritesArriveInOrderAndBuffersAreGivenBack) {
  NetPair p;
  ASSERT_TRUE(p.connect_localhost());
  EXPECT_FALSE(p.client->tls_info()) << "no info before the handshake";
  // Written before the handshake completes: sent after it, in order.
  std::string expected;
  for (int i = 0; i < 5000; ++i) {
    const std::string piece = std::to_string(i) + ",";
    ASSERT_TRUE(p.client->write(piece));
    expected += piece;
  }
  const std::string big = pattern(1u << 20, false, 7);
  ASSERT_TRUE(p.client->write(big));
  expected += big;
  EXPECT_GE(p.client->buffered_amount(), expected.size());
  ASSERT_TRUE(p.run_until([&] { return p.server_got.size() >= expected.size(); })) << p.server_got.size();
  EXPECT_TRUE(p.server_got == expected);
  EXPECT_TRUE(p.client->tls_established());
  EXPECT_TRUE(p.run_until([&] { return p.client->buffered_amount() == 0; }));
  // Corked: 5000 small writes in one iteration become a few full records
  // (a record costs 22 bytes with TLS 1.3 AES-GCM: a record per write would
  // add about 110 KB to the 24 KB).
  const std::uint64_t sent_before = p.loop.stats().bytes_sent;
  const std::size_t got_before = p.server_got.size();
  std::size_t plain = 0;
  for (int i = 0; i < 5000; ++i) {
    const std::string piece = std::to_string(i) + ";";
    ASSERT_TRUE(p.client->write(piece));
    plain += piece.size();
  }
  ASSERT_TRUE(p.run_until([&] { return p.server_got.size() >= got_before + plain; }));
  const std::uint64_t wire = p.loop.stats().bytes_sent - sent_before;
  EXPECT_LE(wire, plain + 22 * (plain / 16384 + 1) + 64) << "plaintext " << plain << " bytes";
  // The zero-copy path: prepare/commit carries plaintext too.
  ASSERT_EQ(p.accepted.size(), 1u);
  auto room = p.accepted[0]->prepare(5);
  ASSERT_GE(room.size(), 5u);
  std::memcpy(room.data(), "reply", 5);
  p.accepted[0]->commit(5);
  ASSERT_TRUE(p.run_until([&] { return p.client_got == "reply"; })) << p.client_got;
  auto info = p.client->tls_info();
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->peer_verified);
  EXPECT_NE(info->peer_subject.find("CN=localhost"), std::string::npos) << info->peer_subject;
  EXPECT_EQ(info->server_name, "localhost");
  EXPECT_TRUE(p.errors.empty());
}

TEST(TlsSocket, SmallAndLargeWritesMakeFullRecordsInOrder) {
  // Once the handshake is done, one iteration of mixed writes (small ones,
  // header + body pairs cut across records, a body of exactly one record)
  // arrives in order as full 16 KiB records plus one partial at the end: a
  // record per write, or a partial one at each large write, would cost 22
  // bytes more each.
  NetPair p;
  ASSERT_TRUE(p.connect_localhost());
  ASSERT_TRUE(p.client->write(std::string_view("hello")));
  ASSERT_TRUE(p.run_until([&] { return p.server_got == "hello"; }));
  const std::uint64_t sent_before = p.loop.stats().bytes_sent;
  std::string expected = "hello";
  // A full record is sealed and handed to the kernel at once (as a plain
  // write of 16 KiB or more is sent at once), not queued until the flush.
  const std::string first = pattern(48 * 1024, false, 9);
  ASSERT_TRUE(p.client->write(first));
  EXPECT_LT(p.client->buffered_amount(), first.size());
  expected += first;
  std::size_t writes = 1;
  const auto write = [&](const std::string& head, const std::string& body) {
    ASSERT_TRUE(p.client->write({reinterpret_cast<const std::uint8_t*>(head.data()), head.size()},
                                {reinterpret_cast<const std::uint8_t*>(body.data()), body.size()}));
    expected += head + body;
    ++writes;
  };
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 40; ++i) write("h" + std::to_string(i), pattern(static_cast<std::size_t>(i * 37), false, i));
    write("head", pattern(40000, false, 1));
    write("", pattern(16384, false, 2));
    write("x", pattern(16383, false, 3));
    write("0123456789", pattern(100000 + static_cast<std::size_t>(round), false, 4));
  }
  const std::size_t plain = expected.size() - 5;
  ASSERT_TRUE(p.run_until([&] { return p.server_got.size() >= expected.size(); })) << p.server_got.size();
  EXPECT_TRUE(p.server_got == expected);
  const std::uint64_t wire = p.loop.stats().bytes_sent - sent_before;
  EXPECT_LE(wire, plain + 22 * (plain / 16384 + 1)) << writes << " writes, plaintext " << plain << " bytes";
  EXPECT_TRUE(p.run_until([&] { return p.client->buffered_amount() == 0; }));
  EXPECT_TRUE(p.errors.empty());
}

TEST(TlsSocket, LargeWriteUnderBackpressureArrivesWhole) {
  // 8 MiB while the peer reads nothing: the kernel's buffers fill, the rest
  // waits (encrypted a few records at a time as the output drains).
  NetPair p;
  ASSERT_TRUE(p.connect_localhost());
  ASSERT_TRUE(p.client->write(std::string_view("hello")));
  ASSERT_TRUE(p.run_until([&] { return p.server_got == "hello"; }));
  ASSERT_EQ(p.accepted.size(), 1u);
  p.accepted[0]->pause_reading();
  const std::string big = pattern(8u << 20, false, 3);
  ASSERT_TRUE(p.client->write(big));
  const auto until = Clock::now() + 300ms;
  while (Clock::now() < until) (void)p.loop.run_once(10ms);
  EXPECT_GT(p.client->buffered_amount(), 0u) << "the peer reads nothing: some must wait";
  p.accepted[0]->resume_reading();
  ASSERT_TRUE(p.run_until([&] { return p.server_got.size() >= 5 + big.size(); }, 30s)) << p.server_got.size();
  EXPECT_TRUE(p.server_got.substr(5) == big);
  EXPECT_TRUE(p.run_until([&] { return p.client->buffered_amount() == 0; }));
  EXPECT_TRUE(p.errors.empty());
}

TEST(TlsSocket, ShutdownSendsCloseNotifyThenEof) {
  NetPair p;
  ASSERT_TRUE(p.connect_localhost());
  ASSERT_TRUE(p.client->write(std::string_view("last words")));
  ASSERT_TRUE(p.run_until([&] { return p.accepted.size() == 1 && p.server_got == "last words"; }));
  ASSERT_TRUE(p.accepted[0]->write(std::string_view("bye")));
  p.accepted[0]->shutdown_write();
  EXPECT_FALSE(p.accepted[0]->write(std::string_view("refused after shutdown")));
  ASSERT_TRUE(p.run_until([&] { return p.client_eof; }));
  EXPECT_EQ(p.client_got, "bye");
  EXPECT_TRUE(p.errors.empty());
}

TEST(TlsSocket, SniChoosesTheCertificate) {
  net::TlsServerOptions so = server_tls();
  so.sni_certificates.push_back({pki().path("sni.pem"), pki().path("sni.key")});
  auto sctx = net::TlsContext::server(so);
  ASSERT_TRUE(sctx) << sctx.error().message();
  auto cctx = client_ctx();
  for (const std::string name : {"sni.example.test", "localhost"}) {
    NetPair p;
    ASSERT_TRUE(p.connect(**sctx, *cctx, name));
    ASSERT_TRUE(p.client->write(std::string_view("x")));
    ASSERT_TRUE(p.run_until([&] { return p.server_got == "x" || !p.errors.empty(); })) << name;
    ASSERT_TRUE(p.errors.empty()) << name << ": " << p.errors[0].message();
    auto info = p.client->tls_info();
    ASSERT_TRUE(info);
    EXPECT_TRUE(info->peer_verified) << name;
    auto server_info = p.accepted.at(0)->tls_info();
    ASSERT_TRUE(server_info);
    EXPECT_EQ(server_info->server_name, name);
  }
}

TEST(TlsSocket, StartTlsTwiceOrClosedIsAnError) {
  auto cctx = client_ctx();
  net::Loop loop;
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  auto s = net::TcpSocket::adopt(loop, sv[0]);
  ASSERT_TRUE(s);
  EXPECT_FALSE((*s)->start_tls(*cctx, "localhost"));
  EXPECT_TRUE((*s)->is_tls());
  EXPECT_TRUE((*s)->start_tls(*cctx, "localhost"));
  (*s)->close();
  EXPECT_FALSE((*s)->is_tls());
  EXPECT_TRUE((*s)->start_tls(*cctx, "localhost"));
  ::close(sv[1]);
}

}  // namespace
}  // namespace parley
