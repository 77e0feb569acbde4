// The client side of a Connection: connecting, the opening handshake's
// request and response, redirects, refusals and reconnection.
#include <algorithm>
#include <cstdlib>
#include <random>

#include "connection_state.hpp"
#include "context.hpp"
#include "parley/connection.hpp"
#include "parley/protocol/handshake.hpp"
#include "parley/protocol/printable.hpp"
#include "parley/protocol/uri.hpp"

namespace parley {

namespace {

std::chrono::milliseconds backoff(const ReconnectOptions& rc, unsigned attempt) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  double delay = static_cast<double>(rc.initial_delay.count());
  for (unsigned i = 1; i < attempt && delay < static_cast<double>(rc.max_delay.count()); ++i) delay *= rc.multiplier;
  delay = std::min(delay, static_cast<double>(rc.max_delay.count()));
  std::uniform_real_distribution<double> spread(-rc.jitter, rc.jitter);
  delay *= 1.0 + spread(rng);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(delay, 0.0)));
}

}  // namespace

void Connection::start_client(protocol::ClientHandshake handshake) {
  extra().side = std::make_unique<ClientSide>(std::move(handshake));
  begin_attempt();
}

void Connection::begin_attempt() {
  state_ = ConnectionState::handshake;
  engine_.reset();
  account_input();
  close_reported_ = draining_ = ping_outstanding_ = over_limit_ = false;
  last_close_ = CloseCode::abnormal;
  socket_.reset();
  extra_->side->response.reset();
  extra_->subprotocol.clear();  // (a reconnect negotiates afresh)
  extra_->extensions.clear();
  started_ = last_receive_ = last_message_ = ctx_.loop().now();
  const detail::Settings& s = ctx_.settings();
  pending_ = std::make_unique<Pending>(extra_->side->handshake, s.http_limits, s.deflate_offers, s.max_redirects != 0);
  protocol::ClientOpening& h = pending_->client();
  if (h.stage() == protocol::ClientOpening::Stage::failed) {
    user_closed_ = true;  // retrying cannot help
    return fail_handshake(h.error());
  }
  extra_->request = std::make_unique<Request>(h.request());
  // An HTTP proxy: ClientOptions::proxy, else (when asked) the environment's.
  const protocol::Uri& uri = extra_->side->handshake.uri;
  if (s.proxy) {
    pending_->proxy = s.proxy;
  } else if (s.proxy_from_environment) {
    if (auto env = protocol::proxy_from_environment(uri, [](const char* name) { return std::getenv(name); })) {
      auto parsed = protocol::ProxyUrl::parse(env->value);
      if (!parsed) {
        user_closed_ = true;  // retrying cannot help
        return fail_handshake(Error(parsed.error().code(), env->variable + ": " + parsed.error().message()));
      }
      pending_->proxy = std::move(*parsed);
    }
  }
  const std::string& host = pending_->proxy ? pending_->proxy->host() : uri.host();
  const std::uint16_t port = pending_->proxy ? pending_->proxy->port() : uri.port();
  pending_->connecting = net::connect(
      ctx_.loop(), host, port, s.connect_timeout,
      [this](Result<std::unique_ptr<net::TcpSocket>> r) {
        if (!r && pending_->proxy) {
          return fail_handshake(Error(r.error().code(), "proxy " + pending_->proxy->to_string() + ": " + r.error().message()));
        }
        if (!r) return fail_handshake(r.error());
        connected(std::move(*r));
      },
      s.nodelay);
}

Error Connection::start_client_tls(net::TcpSocket& socket) {
  auto tls = ctx_.shared().client_tls_context();
  if (!tls) {
    user_closed_ = true;  // retrying cannot help
    return tls.error();
  }
  return socket.start_tls(**tls, extra_->side->handshake.uri.host());
}

void Connection::connected(std::unique_ptr<net::TcpSocket> socket) {
  const protocol::Uri& uri = extra_->side->handshake.uri;
  if (pending_->proxy) {
    // CONNECT first; TLS and the handshake once the tunnel is open. The
    // connect timeout, counted from the attempt's start, covers the answer.
    auto connect = protocol::connect_request(*pending_->proxy, uri.host(), uri.port());
    if (!connect) {
      user_closed_ = true;  // retrying cannot help
      return fail_handshake(connect.error());
    }
    const std::string target = (uri.host().find(':') != std::string::npos ? "[" + uri.host() + "]" : uri.host()) +
                               ":" + std::to_string(uri.port());
    pending_->tunnel = std::make_unique<protocol::ConnectReply>(pending_->proxy->to_string(), target,
                                                                ctx_.settings().http_limits);
    attach(std::move(socket));
    socket_->write(*connect);
    return;
  }
  if (uri.secure()) {
    if (Error e = start_client_tls(*socket)) return fail_handshake(e);
  }
  attach(std::move(socket));
  started_ = ctx_.loop().now();  // the handshake timeout counts from here
  socket_->write(extra_->request->serialize());
}

// The proxy answered 2xx: the tunnel is open. TLS (wss://) runs inside it,
// verified against the target's name, then the opening handshake.
void Connection::tunnel_open() {
  std::string rest = std::move(pending_->tunnel->rest());
  pending_->tunnel.reset();
  if (extra_->side->handshake.uri.secure()) {
    if (!rest.empty()) {
      return fail_handshake(Error(HandshakeError::malformed, "proxy " + pending_->proxy->to_string() +
                                                                 " sent data through the tunnel before TLS started"));
    }
    if (Error e = start_client_tls(*socket_)) return fail_handshake(e);
  }
  started_ = ctx_.loop().now();  // the handshake timeout counts from here
  socket_->write(extra_->request->serialize());
  if (rest.empty()) return;
  pending_->client().feed(rest);  // (the server's first bytes came with the proxy's answer)
  after_response();
}

// protocol::ClientOpening reads and judges the answer; this acts on it.
void Connection::response_data(std::span<std::uint8_t> data) {
  const std::string_view bytes(reinterpret_cast<const char*>(data.data()), data.size());
  if (pending_->tunnel) {
    switch (pending_->tunnel->feed(bytes)) {
      case protocol::ConnectReply::Status::reading:
        return;
      case protocol::ConnectReply::Status::failed:
        return fail_handshake(pending_->tunnel->error());
      case protocol::ConnectReply::Status::open:
        return tunnel_open();
    }
  }
  pending_->client().feed(bytes);
  after_response();
}

void Connection::after_response() {
  using Stage = protocol::ClientOpening::Stage;
  protocol::ClientOpening& h = pending_->client();
  switch (h.stage()) {
    case Stage::reading:
    case Stage::body:
      return;
    case Stage::redirect:
      if (++extra_->side->redirects > ctx_.settings().max_redirects) {
        user_closed_ = true;
        return fail_handshake(Error(HandshakeError::too_many_redirects,
                                    "more than " + std::to_string(ctx_.settings().max_redirects) + " redirects"));
      }
      extra_->side->handshake.uri = h.redirect_uri();
      return begin_attempt();
    case Stage::failed:
      if (h.answered()) extra_->side->response = std::make_unique<Response>(std::move(h.response()));
      if (h.error() == HandshakeError::bad_uri) user_closed_ = true;  // a bad redirect: retrying cannot help
      return fail_handshake(h.error());
    case Stage::open:
      break;
  }
  extra_->side->response = std::make_unique<Response>(std::move(h.response()));
  if (h.deflate()) engine_.set_deflate(std::make_unique<protocol::MessageDeflate>(*h.deflate(), *h.deflate_offer(), false));
  extra_->subprotocol = std::move(h.negotiated().subprotocol);
  extra_->extensions = std::move(h.negotiated().extensions);
  extra_->side->attempts = 0;
  extra_->side->redirects = 0;
  become_open(std::move(h.early()));
}

void Connection::fail_handshake(const Error& error) {
  ctx_.callbacks().report(this, error);
  finished();
}

void Connection::schedule_reconnect() {
  const ReconnectOptions& rc = ctx_.settings().reconnect;
  const auto& cb = ctx_.callbacks();
  ++extra_->side->attempts;
  if (rc.max_attempts != 0 && extra_->side->attempts > rc.max_attempts) {
    state_ = ConnectionState::closed;
    cb.report(this, Error(std::make_error_code(std::errc::operation_canceled),
                          "gave up reconnecting after " + std::to_string(rc.max_attempts) + " attempts"));
    ctx_.retire(*this);
    return;
  }
  const std::chrono::milliseconds delay = backoff(rc, extra_->side->attempts);
  if (cb.logs(LogLevel::info)) {
    cb.write_log(LogLevel::info, this,
                 "reconnecting in " + std::to_string(delay.count()) + " ms (attempt " +
                     std::to_string(extra_->side->attempts) + ")");
  }
  state_ = ConnectionState::handshake;
  extra_->side->redirects = 0;
  try {
    if (cb.reconnect) cb.reconnect(*this, extra_->side->attempts, delay);
  } catch (...) {
    callback_threw("on_reconnect");  // (reported; the attempt goes ahead)
  }
  extra_->side->retry_timer = ctx_.loop().add_timer(delay, [this] {
    extra_->side->retry_timer = {};
    begin_attempt();
  });
}

}  // namespace parley
