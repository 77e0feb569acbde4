// Client: outgoing connections, and the client side of Connection's handshake.
#include "parley/client.hpp"

#include <mutex>

#include "hub.hpp"
#include "parley/protocol/uri.hpp"

namespace parley {
namespace detail {

struct ClientState {
  ClientOptions options;
  Shared shared;
  LoopGroup group{shared};
  std::mutex mutex;  // start/stop transitions
  bool started = false;
  bool stopped = false;
  std::atomic<std::size_t> next_hub{0};
};

namespace {

Settings settings_from(const ClientOptions& o) {
  Settings s;
  s.engine.role = Role::client;
  s.engine.max_message_size = o.max_message_size;
  s.engine.max_frame_size = o.max_frame_size;
  s.engine.max_fragments = o.max_fragments;
  s.engine.close_timeout = o.close_timeout;
  s.http_limits = o.http_limits;
  s.handshake_timeout = o.handshake_timeout;
  s.ping_interval = o.ping_interval;
  s.pong_timeout = o.pong_timeout;
  s.close_timeout = o.close_timeout;
  s.max_buffered_amount = o.max_buffered_amount;
  s.backpressure_policy = o.backpressure_policy;
  s.fatal = o.fatal;
  s.nodelay = o.nodelay;
  return s;
}

Error validate(const ClientOptions& o) {
  auto invalid = [](const char* m) { return Error(std::make_error_code(std::errc::invalid_argument), m); };
  if (o.threads == 0 || o.threads > 1024) return invalid("threads must be 1-1024");
  for (auto t : {o.connect_timeout, o.handshake_timeout, o.close_timeout, o.ping_interval, o.pong_timeout}) {
    if (t.count() < 0) return invalid("timeouts must not be negative");
  }
  if (o.connect_timeout.count() == 0 || o.handshake_timeout.count() == 0) {
    return invalid("connect_timeout and handshake_timeout must be positive");
  }
  if (o.ping_interval.count() > 0 && o.pong_timeout.count() == 0) return invalid("ping_interval needs a pong_timeout");
  if (o.max_buffered_amount == 0) return invalid("max_buffered_amount must be positive");
  return {};
}

}  // namespace
}  // namespace detail

// ---- the client side of a connection ---------------------------------------

void Connection::start_client(const protocol::Uri& uri, protocol::ClientHandshake handshake,
                              net::Millis connect_timeout) {
  auto made = protocol::make_request(handshake);
  if (!made) return fail_handshake(made.error());
  pending_->key = made->key;
  pending_->offered_subprotocols = std::move(handshake.subprotocols);
  pending_->offered_extensions = std::move(handshake.extensions);
  request_ = std::move(made->request);
  pending_->connecting = net::connect(
      hub_.loop(), uri.host(), uri.port(), connect_timeout,
      [this](Result<std::unique_ptr<net::TcpSocket>> r) {
        if (!r) return fail_handshake(r.error());
        connected(std::move(*r), request_);
      },
      hub_.settings().nodelay);
}

void Connection::connected(std::unique_ptr<net::TcpSocket> socket, const Request& request) {
  attach(std::move(socket));
  started_ = hub_.loop().now();
  socket_->write(request.serialize());
}

void Connection::response_data(std::span<std::uint8_t> data) {
  Pending& p = *pending_;
  const std::string_view bytes(reinterpret_cast<const char*>(data.data()), data.size());
  const auto progress = p.parser.feed(bytes);
  if (progress.status == protocol::HeadParser::Status::need_more) return;
  if (progress.status == protocol::HeadParser::Status::error) return fail_handshake(p.parser.error());
  auto ok = protocol::validate_response(p.parser.response(), p.key, p.offered_subprotocols, p.offered_extensions);
  if (!ok) {
    const auto& r = p.parser.response();
    Error e = ok.error();
    if (e == HandshakeError::bad_status) {
      e = Error(HandshakeError::bad_status,
                "server answered " + std::to_string(r.status) + " " + r.reason + " instead of 101");
    }
    return fail_handshake(e);
  }
  subprotocol_ = std::move(ok->subprotocol);
  extensions_ = std::move(ok->extensions);
  std::string early(bytes.substr(progress.consumed));
  pending_.reset();
  state_ = ConnectionState::open;
  last_receive_ = hub_.loop().now();
  const auto& cb = hub_.callbacks();
  if (cb.open) cb.open(*this);
  if (state_ == ConnectionState::open && !early.empty()) {
    receive(reinterpret_cast<std::uint8_t*>(early.data()), early.size());
  }
}

void Connection::fail_handshake(const Error& error) {
  const auto& cb = hub_.callbacks();
  if (cb.error) cb.error(this, error);
  if (socket_) socket_->close();
  state_ = ConnectionState::closed;
  pending_.reset();
  hub_.retire(*this);
}

// ---- Client ----------------------------------------------------------------

Client::Client(ClientOptions options) : state_(std::make_shared<detail::ClientState>()) {
  state_->options = std::move(options);
}

Client::~Client() { stop(); }

void Client::on_open(std::function<void(Connection&)> fn) { state_->shared.callbacks.open = std::move(fn); }
void Client::on_text(std::function<void(Connection&, std::string_view)> fn) { state_->shared.callbacks.text = std::move(fn); }
void Client::on_binary(std::function<void(Connection&, std::string_view)> fn) {
  state_->shared.callbacks.binary = std::move(fn);
}
void Client::on_ping(std::function<bool(Connection&, std::string_view)> fn) { state_->shared.callbacks.ping = std::move(fn); }
void Client::on_pong(std::function<void(Connection&, std::string_view)> fn) { state_->shared.callbacks.pong = std::move(fn); }
void Client::on_close(std::function<void(Connection&, CloseCode, std::string_view)> fn) {
  state_->shared.callbacks.close = std::move(fn);
}
void Client::on_error(std::function<void(Connection&, const Error&)> fn) {
  // Every client error concerns a connection; loop-level failures (which
  // have none) are not reported to this callback.
  state_->shared.callbacks.error = [fn = std::move(fn)](Connection* c, const Error& e) {
    if (c != nullptr && fn) fn(*c, e);
  };
}
void Client::on_drain(std::function<void(Connection&)> fn) { state_->shared.callbacks.drain = std::move(fn); }

const ClientOptions& Client::options() const noexcept { return state_->options; }

Error Client::start() {
  detail::ClientState& st = *state_;
  std::lock_guard lock(st.mutex);
  auto fail = [&](Error e) {
    if (st.options.fatal) throw Exception(e);
    return e;
  };
  if (st.stopped) return fail(Error(std::make_error_code(std::errc::operation_canceled), "client stopped"));
  if (st.started) return {};
  if (Error e = detail::validate(st.options)) return fail(e);
  st.shared.settings = detail::settings_from(st.options);
  if (Error e = st.group.create(st.options.threads)) {
    st.group.hubs.clear();
    return fail(e);
  }
  st.started = true;
  st.group.launch();
  return {};
}

Result<ConnectionHandle> Client::connect(std::string_view uri_text) {
  detail::ClientState& st = *state_;
  auto fail = [&](Error e) -> Result<ConnectionHandle> {
    if (st.options.fatal) throw Exception(e);
    return e;
  };
  if (Error e = start()) return e;
  auto uri = protocol::Uri::parse(uri_text);
  if (!uri) return fail(uri.error());
  if (uri->secure()) {
    return fail(Error(HandshakeError::bad_uri, "wss:// needs TLS, which this build of parley does not have yet"));
  }
  if (uri->scheme() != "ws") return fail(Error(HandshakeError::bad_uri, "the scheme must be ws:// or wss://"));
  protocol::ClientHandshake hs;
  hs.uri = *uri;
  hs.origin = st.options.origin;
  hs.subprotocols = st.options.subprotocols;
  hs.cookie = st.options.cookie;
  hs.headers = st.options.headers;
  // Options that make_request would refuse are refused here, synchronously.
  if (auto check = protocol::make_request(hs); !check) return fail(check.error());

  auto& hubs = st.group.hubs;
  std::shared_ptr<detail::Hub> hub = hubs[st.next_hub.fetch_add(1, std::memory_order_relaxed) % hubs.size()];
  const std::uint64_t id = st.shared.next_id.fetch_add(1, std::memory_order_relaxed);
  const net::Millis connect_timeout = st.options.connect_timeout;
  hub->loop().post([hub, id, hs = std::move(hs), connect_timeout]() mutable {
    hub->open_client(id, std::move(hs), connect_timeout);
  });
  return hub->handle_for(id);
}

void Client::stop() {
  detail::ClientState& st = *state_;
  {
    std::lock_guard lock(st.mutex);
    if (st.stopped) return;
    st.stopped = true;
  }
  st.group.stop();
}

}  // namespace parley
