// Client and BlockingClient: outgoing connections on their own loops.
#include "parley/client.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <random>

#include "hub.hpp"
#include "parley/protocol/handshake.hpp"
#include "parley/protocol/printable.hpp"
#include "parley/protocol/uri.hpp"

namespace parley {
namespace detail {

struct ClientState {
  explicit ClientState(ClientOptions o) : options(std::move(o)) {}
  ClientOptions options;
  Shared shared;
  LoopGroup group{shared, options.threads};
  std::mutex mutex;  // start/stop transitions
  bool started = false;
  bool stopped = false;
  std::atomic<std::size_t> next_hub{0};
};

namespace {

Settings settings_from(const ClientOptions& o) {
  Settings s = connection_settings(o, Role::client);
  s.connect_timeout = o.connect_timeout;
  s.max_redirects = o.max_redirects;
  s.reconnect = o.reconnect;
  s.client_tls = o.tls;
  if (auto proxy = protocol::ProxyUrl::parse(o.proxy); !o.proxy.empty() && proxy) s.proxy = std::move(*proxy);
  s.proxy_from_environment = o.proxy_from_environment;
  if (o.deflate.enabled) {
    s.deflate_offers.push_back(o.deflate);
    s.deflate_offers.insert(s.deflate_offers.end(), o.deflate_fallbacks.begin(), o.deflate_fallbacks.end());
  }
  return s;
}

Error validate_client(const ClientOptions& o) {
  if (Error e = validate(static_cast<const ConnectionOptions&>(o))) return e;
  if (o.deflate.enabled) {
    for (const protocol::DeflateOptions& offer : o.deflate_fallbacks) {
      if (Error e = offer.validate()) return e;
    }
  }
  auto invalid = [](const char* m) { return Error(std::make_error_code(std::errc::invalid_argument), m); };
  if (o.connect_timeout.count() <= 0 || o.handshake_timeout.count() <= 0) {
    return invalid("connect_timeout and handshake_timeout must be positive");
  }
  if (!o.proxy.empty()) {
    if (auto proxy = protocol::ProxyUrl::parse(o.proxy); !proxy) {
      return Error(proxy.error().code(), "proxy: " + proxy.error().message());
    }
  }
  const ReconnectOptions& rc = o.reconnect;
  if (rc.enabled && (rc.initial_delay.count() < 0 || rc.max_delay < rc.initial_delay || rc.multiplier < 1.0 ||
                     rc.jitter < 0.0 || rc.jitter > 1.0)) {
    return invalid("reconnect: need 0 <= initial_delay <= max_delay, multiplier >= 1, 0 <= jitter <= 1");
  }
  return {};
}

}  // namespace
}  // namespace detail

// ---- Client ----------------------------------------------------------------

Client::Client(ClientOptions options) : Client(std::make_shared<detail::ClientState>(std::move(options))) {}

Client::Client(std::shared_ptr<detail::ClientState> state)
    : ConnectionEvents(state->shared.callbacks), LoopServices(state->group), state_(std::move(state)) {}

Client::~Client() { stop(); }

void Client::on_reconnect(std::function<void(Connection&, unsigned, std::chrono::milliseconds)> fn) {
  state_->shared.callbacks.reconnect = std::move(fn);
}

const ClientOptions& Client::options() const noexcept { return state_->options; }

Counters Client::counters() const noexcept { return state_->shared.counters(); }

Error Client::start() {
  detail::ClientState& st = *state_;
  std::lock_guard lock(st.mutex);
  auto fail = [&](Error e) {
    if (st.options.fatal) throw Exception(e);
    return e;
  };
  if (st.stopped) return fail(Error(std::make_error_code(std::errc::operation_canceled), "client stopped"));
  if (st.started) return {};
  if (Error e = detail::validate_client(st.options)) return fail(e);
  st.shared.settings = detail::settings_from(st.options);
  st.shared.callbacks.log_level = st.options.log_level;
  st.shared.settings.engine.report_frames = static_cast<bool>(st.shared.callbacks.frame);
  if (Error e = st.group.create(st.options.threads)) {
    st.group.clear();
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
  if (uri->scheme() != "ws" && uri->scheme() != "wss") {
    return fail(Error(HandshakeError::bad_uri, "the scheme must be ws:// or wss://"));
  }
  if (uri->secure()) {
    // Bad TLS files are refused here, synchronously.
    if (auto tls = st.shared.client_tls_context(); !tls) return fail(tls.error());
  }
  protocol::ClientHandshake hs;
  hs.uri = *uri;
  hs.origin = st.options.origin;
  hs.subprotocols = st.options.subprotocols;
  hs.cookie = st.options.cookie;
  hs.headers = st.options.headers;
  hs.version = st.options.version;
  for (const protocol::DeflateOptions& offer : st.shared.settings.deflate_offers) {
    hs.extensions.push_back(protocol::make_deflate_offer(offer));
  }
  // Options that make_request would refuse are refused here, synchronously.
  if (auto check = protocol::make_request(hs); !check) return fail(check.error());

  auto& hubs = st.group.hubs;
  std::shared_ptr<detail::Hub> hub = hubs[st.next_hub.fetch_add(1, std::memory_order_relaxed) % hubs.size()];
  const std::uint64_t id = st.shared.next_id.fetch_add(1, std::memory_order_relaxed);
  hub->loop().post([hub, id, hs = std::move(hs)]() mutable { hub->open_client(id, std::move(hs)); });
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

// ---- BlockingClient -----------------------------------------------------------

namespace parley {
namespace detail {

struct BlockingState {
  explicit BlockingState(ClientOptions options) : timeouts(options) { timeouts.threads = 1; }
  ClientOptions timeouts;  // the options (threads forced to 1)
  std::unique_ptr<Client> client;
  ConnectionHandle handle;
  mutable std::mutex mutex;
  std::condition_variable cv;
  std::deque<Message> inbox;
  enum class Phase { idle, connecting, open, closed } phase = Phase::idle;
  Error failure;  // why connect failed
  std::optional<CloseCode> close_code;
  std::string close_reason;
  std::optional<Response> response;
  std::string subprotocol;
  std::vector<Extension> extensions;
};

}  // namespace detail

BlockingClient::BlockingClient(ClientOptions options)
    : state_(std::make_shared<detail::BlockingState>(std::move(options))) {
  auto& st = *state_;
  st.client = std::make_unique<Client>(st.timeouts);
  // The callbacks run on the client's thread and only touch the shared
  // state under its mutex.
  detail::BlockingState* s = &st;
  st.client->on_open([s](Connection& c) {
    std::lock_guard l(s->mutex);
    s->phase = detail::BlockingState::Phase::open;
    if (const Response* r = c.handshake_response()) s->response = *r;
    s->subprotocol = c.subprotocol();
    s->extensions = c.extensions();
    s->cv.notify_all();
  });
  auto push = [s](MessageType type, std::string_view data) {
    std::lock_guard l(s->mutex);
    s->inbox.push_back(Message{type, std::string(data)});
    s->cv.notify_all();
  };
  st.client->on_text([push](Connection&, std::string_view d) { push(MessageType::text, d); });
  st.client->on_binary([push](Connection&, std::string_view d) { push(MessageType::binary, d); });
  st.client->on_close([s](Connection&, CloseCode code, std::string_view reason) {
    std::lock_guard l(s->mutex);
    s->phase = detail::BlockingState::Phase::closed;
    s->close_code = code;
    s->close_reason = reason;
    s->cv.notify_all();
  });
  st.client->on_error([s](Connection* c, const Error& e) {
    if (c == nullptr) return;  // (not about the connection)
    std::lock_guard l(s->mutex);
    if (s->phase == detail::BlockingState::Phase::connecting) {
      s->failure = e;
      if (const Response* r = c->handshake_response()) s->response = *r;
      s->phase = detail::BlockingState::Phase::closed;
    }
    s->cv.notify_all();
  });
}

BlockingClient::~BlockingClient() {
  if (is_open()) (void)close();
  state_->client->stop();
}

Error BlockingClient::connect(std::string_view uri) {
  auto& st = *state_;
  auto fail = [&](Error e) {
    if (st.timeouts.fatal) throw Exception(e);
    return e;
  };
  {
    std::lock_guard l(st.mutex);
    if (st.phase != detail::BlockingState::Phase::idle) {
      return fail(Error(std::make_error_code(std::errc::already_connected), "this BlockingClient has connected already"));
    }
    st.phase = detail::BlockingState::Phase::connecting;
  }
  auto handle = st.client->connect(uri);
  std::unique_lock l(st.mutex);
  if (!handle) {
    st.phase = detail::BlockingState::Phase::closed;
    return fail(handle.error());
  }
  st.handle = *handle;
  const auto limit = st.timeouts.connect_timeout + st.timeouts.handshake_timeout + std::chrono::seconds(1);
  if (!st.cv.wait_for(l, limit, [&] { return st.phase != detail::BlockingState::Phase::connecting; })) {
    st.phase = detail::BlockingState::Phase::closed;
    return fail(Error(HandshakeError::timeout, "no connection within " + std::to_string(limit.count()) + " ms"));
  }
  if (st.phase == detail::BlockingState::Phase::open) return {};
  return fail(st.failure ? st.failure : Error(HandshakeError::closed));
}

namespace {

// Runs `send` on the connection's loop and waits for its outcome.
Error blocking_send(detail::BlockingState& st, std::function<SendResult(Connection&)> send) {
  {
    std::lock_guard l(st.mutex);
    if (st.phase != detail::BlockingState::Phase::open) {
      Error e(UsageError::not_open);
      if (st.timeouts.fatal) throw Exception(e);
      return e;
    }
  }
  auto done = std::make_shared<std::promise<Error>>();
  auto outcome = done->get_future();
  const bool posted = st.handle.post([done, send = std::move(send)](Connection& c) {
    SendResult r;
    try {
      r = send(c);
    } catch (const Exception& e) {  // fatal: carried to the caller's thread
      r = SendResult{SendStatus::dropped, e.error()};
    }
    done->set_value(r.status == SendStatus::dropped ? r.error : Error{});
  });
  Error e = Error(UsageError::not_open);
  // A connection that is gone (closed meanwhile) drops the post, and with it
  // the promise: the future then holds broken_promise. The wait is bounded.
  if (posted && outcome.wait_for(std::chrono::seconds(10)) == std::future_status::ready) {
    try {
      e = outcome.get();
    } catch (const std::future_error&) {
      e = Error(UsageError::not_open);
    }
  }
  if (e && st.timeouts.fatal) throw Exception(e);
  return e;
}

}  // namespace

Error BlockingClient::send_text(std::string_view text) {
  return blocking_send(*state_, [t = std::string(text)](Connection& c) { return c.send_text(t); });
}

Error BlockingClient::send_binary(std::string_view bytes) {
  return blocking_send(*state_, [b = std::string(bytes)](Connection& c) { return c.send_binary(b); });
}

Error BlockingClient::ping(std::string_view payload) {
  return blocking_send(*state_, [p = std::string(payload)](Connection& c) { return c.ping(p); });
}

Result<Message> BlockingClient::receive(std::chrono::milliseconds timeout) {
  auto& st = *state_;
  std::unique_lock l(st.mutex);
  auto ready = [&] { return !st.inbox.empty() || st.phase != detail::BlockingState::Phase::open; };
  if (timeout.count() < 0) {
    st.cv.wait(l, ready);
  } else if (!st.cv.wait_for(l, timeout, ready)) {
    return Error(std::make_error_code(std::errc::timed_out), "no message within " + std::to_string(timeout.count()) + " ms");
  }
  if (!st.inbox.empty()) {
    Message m = std::move(st.inbox.front());
    st.inbox.pop_front();
    return m;
  }
  std::string why = "connection closed";
  if (st.close_code) why += " (" + std::to_string(static_cast<int>(*st.close_code)) + " " + protocol::printable(st.close_reason, 123) + ")";
  return Error(UsageError::not_open, why);
}

Error BlockingClient::close(CloseCode code, std::string_view reason) {
  auto& st = *state_;
  Error e = blocking_send(st, [code, r = std::string(reason)](Connection& c) {
    Error err = c.close(code, r);
    return err ? SendResult{SendStatus::dropped, err} : SendResult{};
  });
  if (e) return e;
  std::unique_lock l(st.mutex);
  const auto limit = st.timeouts.close_timeout + std::chrono::seconds(1);
  st.cv.wait_for(l, limit, [&] { return st.phase == detail::BlockingState::Phase::closed; });
  return {};
}

bool BlockingClient::is_open() const {
  std::lock_guard l(state_->mutex);
  return state_->phase == detail::BlockingState::Phase::open;
}

std::optional<CloseCode> BlockingClient::close_code() const {
  std::lock_guard l(state_->mutex);
  return state_->close_code;
}

std::string BlockingClient::close_reason() const {
  std::lock_guard l(state_->mutex);
  return state_->close_reason;
}

std::optional<Response> BlockingClient::handshake_response() const {
  std::lock_guard l(state_->mutex);
  return state_->response;
}

std::string BlockingClient::subprotocol() const {
  std::lock_guard l(state_->mutex);
  return state_->subprotocol;
}

std::vector<Extension> BlockingClient::extensions() const {
  std::lock_guard l(state_->mutex);
  return state_->extensions;
}

}  // namespace parley
