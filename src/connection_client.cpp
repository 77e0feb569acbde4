// The client side of a Connection: connecting, the opening handshake's
// request and response, redirects, refusals and reconnection.
#include <algorithm>
#include <random>

#include "connection_state.hpp"
#include "context.hpp"
#include "parley/connection.hpp"
#include "parley/protocol/handshake.hpp"
#include "parley/protocol/printable.hpp"
#include "parley/protocol/uri.hpp"

namespace parley {

namespace {

bool is_redirect(int status) noexcept {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// A redirect target as a ws/wss URI: absolute (ws, wss, http, https) or a
// path relative to the current URI.
Result<protocol::Uri> resolve_location(const protocol::Uri& current, std::string_view location) {
  std::string target(location);
  if (!target.empty() && target.front() == '/') {
    target = (current.secure() ? "wss://" : "ws://") + current.host_header() + target;
  }
  auto uri = protocol::Uri::parse(target);
  if (!uri) return Error(HandshakeError::bad_uri, "bad redirect location '" + protocol::printable(location) + "'");
  if (uri->scheme() == "http" || uri->scheme() == "https") {
    const std::size_t colon = target.find(':');
    uri = protocol::Uri::parse((uri->secure() ? "wss" : "ws") + target.substr(colon));
    if (!uri) return Error(HandshakeError::bad_uri, "bad redirect location '" + protocol::printable(location) + "'");
  }
  if (current.secure() && !uri->secure()) {
    return Error(HandshakeError::bad_uri, "refusing to follow a redirect from wss:// to ws:// (" + protocol::printable(target) + ")");
  }
  return uri;
}

// Decodes a chunked body (RFC 7230 §4.1) from the start of `raw` into
// `out`, which receives every chunk (the last one possibly partial): true
// once the last chunk (size 0) arrived, or on a malformed chunk (then `out`
// keeps what was decoded). Chunk extensions and trailers are ignored.
bool decode_chunked(std::string_view raw, std::string& out) {
  out.clear();
  for (;;) {
    const std::size_t eol = raw.find("\r\n");
    if (eol == std::string_view::npos) return false;
    std::size_t size = 0;
    std::size_t i = 0;
    for (; i < eol && size <= raw.size(); ++i) {
      const char ch = raw[i];
      const int digit = (ch >= '0' && ch <= '9')   ? ch - '0'
                        : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
                        : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10
                                                   : -1;
      if (digit < 0) break;
      size = size * 16 + static_cast<std::size_t>(digit);
    }
    if (i == 0 || size == 0) return true;  // malformed, or the last chunk
    raw.remove_prefix(eol + 2);
    out.append(raw.substr(0, size));
    if (raw.size() < size + 2) return false;
    raw.remove_prefix(size + 2);
  }
}

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
  client_ = std::make_unique<ClientSide>(std::move(handshake));
  begin_attempt();
}

void Connection::begin_attempt() {
  state_ = ConnectionState::handshake;
  engine_.reset();
  account_input();
  close_reported_ = draining_ = reading_body_ = ping_outstanding_ = over_limit_ = false;
  last_close_ = CloseCode::abnormal;
  socket_.reset();
  client_->response.reset();
  started_ = last_receive_ = last_message_ = ctx_.loop().now();
  pending_ = std::make_unique<Pending>(protocol::HeadParser::Kind::response, ctx_.settings().http_limits);
  auto made = protocol::make_request(client_->handshake);
  if (!made) {
    user_closed_ = true;  // retrying cannot help
    return fail_handshake(made.error());
  }
  pending_->key = std::move(made->key);
  pending_->offered_subprotocols = client_->handshake.subprotocols;
  pending_->offered_extensions = client_->handshake.extensions;
  request_ = std::make_unique<Request>(std::move(made->request));
  pending_->connecting = net::connect(
      ctx_.loop(), client_->handshake.uri.host(), client_->handshake.uri.port(), ctx_.settings().connect_timeout,
      [this](Result<std::unique_ptr<net::TcpSocket>> r) {
        if (!r) return fail_handshake(r.error());
        connected(std::move(*r));
      },
      ctx_.settings().nodelay);
}

void Connection::connected(std::unique_ptr<net::TcpSocket> socket) {
  if (client_->handshake.uri.secure()) {
    auto tls = ctx_.shared().client_tls_context();
    if (!tls) {
      user_closed_ = true;  // retrying cannot help
      return fail_handshake(tls.error());
    }
    if (Error e = socket->start_tls(**tls, client_->handshake.uri.host())) return fail_handshake(e);
  }
  attach(std::move(socket));
  started_ = ctx_.loop().now();  // the handshake timeout counts from here
  socket_->write(request_->serialize());
}

void Connection::response_data(std::span<std::uint8_t> data) {
  Pending& p = *pending_;
  std::string_view bytes(reinterpret_cast<const char*>(data.data()), data.size());
  if (!reading_body_) {
    const auto progress = p.parser.feed(bytes);
    if (progress.status == protocol::HeadParser::Status::need_more) return;
    if (progress.status == protocol::HeadParser::Status::error) return fail_handshake(p.parser.error());
    bytes.remove_prefix(progress.consumed);
    Response& head = p.parser.response();
    if (head.status != 101) {
      if (is_redirect(head.status) && head.headers.has("Location") && ctx_.settings().max_redirects != 0 && redirect()) {
        return;
      }
      // A refusal: keep its body (bounded) for the application.
      client_->response = std::make_unique<Response>(std::move(head));
      p.body_expected = ctx_.settings().http_limits.max_head_size;
      if (client_->response->headers.has_token("Transfer-Encoding", "chunked")) {
        p.is_chunked = true;  // ends with its last chunk (the connection may stay open)
      } else if (auto length = client_->response->headers.get("Content-Length")) {
        std::size_t n = 0;
        for (char ch : *length) n = (ch >= '0' && ch <= '9' && n < p.body_expected) ? n * 10 + static_cast<std::size_t>(ch - '0') : n;
        p.body_expected = std::min(n, p.body_expected);
      }
      reading_body_ = true;
    }
  }
  if (reading_body_) {
    if (p.is_chunked) {
      p.chunked.append(bytes.substr(0, p.body_expected - p.chunked.size()));
      if (decode_chunked(p.chunked, client_->response->body) || p.chunked.size() >= p.body_expected) finish_refusal();
      return;
    }
    client_->response->body.append(bytes.substr(0, p.body_expected - client_->response->body.size()));
    if (client_->response->body.size() >= p.body_expected) finish_refusal();
    return;
  }
  Response& head = p.parser.response();
  auto ok = protocol::validate_response(head, p.key, p.offered_subprotocols, p.offered_extensions);
  client_->response = std::make_unique<Response>(std::move(head));
  if (!ok) return fail_handshake(ok.error());
  for (const Extension& e : ok->extensions) {
    // validate_response admitted only offered extensions: permessage-deflate,
    // answering one of our offers — the first the answer is valid for.
    Result<protocol::DeflateParams> params = Error(HandshakeError::unrequested_extension);
    const protocol::DeflateOptions* chosen = nullptr;
    for (const protocol::DeflateOptions& offer : ctx_.settings().deflate_offers) {
      params = protocol::accept_deflate_response(e, offer);
      if (params) {
        chosen = &offer;
        break;
      }
    }
    if (!params) return fail_handshake(params.error());
    engine_.set_deflate(std::make_unique<protocol::MessageDeflate>(*params, *chosen, false));
  }
  negotiated_.reset();  // (a reconnect negotiates afresh)
  if (!ok->subprotocol.empty()) negotiated().subprotocol = std::move(ok->subprotocol);
  if (!ok->extensions.empty()) negotiated().extensions = std::move(ok->extensions);
  client_->attempts = 0;
  client_->redirects = 0;
  become_open(std::string(bytes));
}

void Connection::finish_refusal() {
  reading_body_ = false;
  fail_handshake(protocol::refusal_error(*client_->response));
}

bool Connection::redirect() {
  const Response& head = pending_->parser.response();
  if (++client_->redirects > ctx_.settings().max_redirects) {
    user_closed_ = true;
    fail_handshake(Error(HandshakeError::too_many_redirects,
                         "more than " + std::to_string(ctx_.settings().max_redirects) + " redirects"));
    return true;
  }
  auto uri = resolve_location(client_->handshake.uri, *head.headers.get("Location"));
  if (!uri) {
    user_closed_ = true;
    fail_handshake(uri.error());
    return true;
  }
  client_->handshake.uri = std::move(*uri);
  begin_attempt();
  return true;
}

void Connection::fail_handshake(const Error& error) {
  ctx_.callbacks().report(this, error);
  finished();
}

void Connection::schedule_reconnect() {
  const ReconnectOptions& rc = ctx_.settings().reconnect;
  const auto& cb = ctx_.callbacks();
  ++client_->attempts;
  if (rc.max_attempts != 0 && client_->attempts > rc.max_attempts) {
    state_ = ConnectionState::closed;
    cb.report(this, Error(std::make_error_code(std::errc::operation_canceled),
                          "gave up reconnecting after " + std::to_string(rc.max_attempts) + " attempts"));
    ctx_.retire(*this);
    return;
  }
  const std::chrono::milliseconds delay = backoff(rc, client_->attempts);
  state_ = ConnectionState::handshake;
  client_->redirects = 0;
  try {
    if (cb.reconnect) cb.reconnect(*this, client_->attempts, delay);
  } catch (...) {
    callback_threw("on_reconnect");  // (reported; the attempt goes ahead)
  }
  client_->retry_timer = ctx_.loop().add_timer(delay, [this] {
    client_->retry_timer = {};
    begin_attempt();
  });
}

}  // namespace parley
