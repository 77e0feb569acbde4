// Connection: binds a protocol::Engine to a net::TcpSocket, on one loop.
#include "parley/connection.hpp"

#include <algorithm>

#include "hub.hpp"
#include "parley/protocol/handshake.hpp"

namespace parley {

using protocol::EngineState;
using protocol::Opcode;

namespace {

protocol::Opcode opcode_of(MessageType t) noexcept {
  return t == MessageType::text ? Opcode::text : Opcode::binary;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20) || x == y;
         });
}

}  // namespace

// ---- HandshakeReply ------------------------------------------------------

HandshakeReply HandshakeReply::accept(std::string subprotocol, protocol::Headers headers) {
  HandshakeReply r;
  r.kind_ = Kind::accept;
  r.text_ = std::move(subprotocol);
  r.headers_ = std::move(headers);
  return r;
}

HandshakeReply HandshakeReply::reject(int status, std::string message, protocol::Headers headers) {
  HandshakeReply r;
  r.kind_ = Kind::reject;
  r.status_ = (status >= 300 && status <= 599) ? status : 403;
  r.text_ = std::move(message);
  r.headers_ = std::move(headers);
  return r;
}

HandshakeReply HandshakeReply::defer() {
  HandshakeReply r;
  r.kind_ = Kind::defer;
  return r;
}

// ---- ConnectionHandle ----------------------------------------------------

bool ConnectionHandle::post(std::function<void(Connection&)> fn) const {
  return loop_.post([hub = hub_, id = id_, fn = std::move(fn)] {
    if (auto h = hub.lock()) {
      if (Connection* c = h->find(id)) fn(*c);
    }
  });
}

bool ConnectionHandle::send_text(std::string text, std::function<void(const SendResult&)> done) const {
  return loop_.post([hub = hub_, id = id_, text = std::move(text), done = std::move(done)] {
    auto h = hub.lock();
    Connection* c = h ? h->find(id) : nullptr;
    SendResult r = c ? c->send_text(text) : SendResult{SendStatus::dropped, Error(UsageError::not_open)};
    if (done) done(r);
  });
}

bool ConnectionHandle::send_binary(std::string bytes, std::function<void(const SendResult&)> done) const {
  return loop_.post([hub = hub_, id = id_, bytes = std::move(bytes), done = std::move(done)] {
    auto h = hub.lock();
    Connection* c = h ? h->find(id) : nullptr;
    SendResult r = c ? c->send_binary(bytes) : SendResult{SendStatus::dropped, Error(UsageError::not_open)};
    if (done) done(r);
  });
}

bool ConnectionHandle::close(CloseCode code, std::string reason) const {
  return post([code, reason = std::move(reason)](Connection& c) { (void)c.close(code, reason); });
}

// An answer to a deferred stage: ignored unless that stage is waiting (so a
// stray answer meant for on_origin cannot decide on_handshake); a defer()
// keeps it waiting.
bool ConnectionHandle::answer_deferred(bool origin_stage, HandshakeReply reply) const {
  return post([origin_stage, reply = std::move(reply)](Connection& c) mutable {
    using Deferred = Connection::Pending::Deferred;
    const Deferred stage = origin_stage ? Deferred::origin : Deferred::handshake;
    if (c.state() != ConnectionState::handshake || !c.pending_ || c.pending_->deferred != stage) return;
    if (reply.kind() == HandshakeReply::Kind::defer) return;
    c.pending_->deferred = Deferred::no;
    if (origin_stage) {
      c.origin_decided(std::move(reply));
    } else {
      c.finish_handshake(std::move(reply));
    }
  });
}

bool ConnectionHandle::finish_origin(HandshakeReply reply) const { return answer_deferred(true, std::move(reply)); }

bool ConnectionHandle::finish_handshake(HandshakeReply reply) const { return answer_deferred(false, std::move(reply)); }

// ---- Connection ----------------------------------------------------------

void detail::ConnectionDeleter::operator()(Connection* c) const noexcept { delete c; }

Connection::Connection(detail::Hub& hub, std::uint64_t id, std::unique_ptr<net::TcpSocket> socket)
    : hub_(hub), engine_(hub.settings().engine, *this), id_(id) {
  started_ = last_receive_ = last_message_ = hub_.loop().now();
  pending_ = std::make_unique<Pending>(role() == Role::server ? protocol::HeadParser::Kind::request
                                                              : protocol::HeadParser::Kind::response,
                                       hub_.settings().http_limits);
  if (socket) attach(std::move(socket));
}

void Connection::attach(std::unique_ptr<net::TcpSocket> socket) {
  socket_ = std::move(socket);
  if (auto r = socket_->remote_endpoint()) remote_ = *r;
  if (auto l = socket_->local_endpoint()) local_ = *l;
  socket_->set_handler(this);
}

Connection::~Connection() {
  if (client_ && client_->retry_timer) hub_.loop().cancel_timer(client_->retry_timer);
  if (socket_) socket_->set_handler(nullptr);
  hub_.shared().connections.fetch_sub(1, std::memory_order_relaxed);
}

ConnectionHandle Connection::handle() const { return ConnectionHandle(hub_.loop().handle(), hub_.weak_from_this(), id_); }

std::size_t Connection::buffered_amount() const noexcept {
  return (socket_ ? socket_->buffered_amount() : 0) + engine_.output().size();
}

ConnectionState Connection::state() const noexcept { return state_; }

const Request& Connection::request() const noexcept {
  static const Request none;
  return request_ ? *request_ : none;
}

const Response* Connection::handshake_response() const noexcept { return client_ ? client_->response.get() : nullptr; }

const std::string& Connection::subprotocol() const noexcept {
  static const std::string none;
  return negotiated_ ? negotiated_->subprotocol : none;
}

const std::vector<Extension>& Connection::extensions() const noexcept {
  static const std::vector<Extension> none;
  return negotiated_ ? negotiated_->extensions : none;
}

Connection::Negotiated& Connection::negotiated() {
  if (!negotiated_) negotiated_ = std::make_unique<Negotiated>();
  return *negotiated_;
}

// -- sending --

SendResult Connection::checked(Error e) {
  if (!e) {
    flush_engine();
    if (buffered_amount() > hub_.settings().max_buffered_amount) {
      note_over_limit();
      return {SendStatus::backpressure, {}};
    }
    return {SendStatus::queued, {}};
  }
  if (hub_.settings().fatal) throw Exception(e);
  return {SendStatus::dropped, std::move(e)};
}

SendResult Connection::send(MessageType type, std::string_view data, protocol::Compression compression) {
  return send_fragment_or_whole(type, data, true, false, compression);
}

SendResult Connection::send_text(std::string_view text, protocol::Compression compression) {
  return send(MessageType::text, text, compression);
}
SendResult Connection::send_binary(std::string_view bytes, protocol::Compression compression) {
  return send(MessageType::binary, bytes, compression);
}

SendResult Connection::send_fragment(MessageType type, std::string_view data, bool fin,
                                     protocol::Compression compression) {
  return send_fragment_or_whole(type, data, fin, true, compression);
}

SendResult Connection::send_fragment_or_whole(MessageType type, std::string_view data, bool fin, bool fragment,
                                              protocol::Compression compression) {
  if (state_ != ConnectionState::open) return checked(Error(UsageError::not_open));
  if (buffered_amount() > hub_.settings().max_buffered_amount) {
    if (hub_.settings().backpressure_policy == BackpressurePolicy::close) {
      (void)close(CloseCode::policy_violation, "send buffer full");
    }
    return checked(Error(UsageError::buffer_full));
  }
  return checked(fragment ? engine_.send_fragment(opcode_of(type), data, fin, compression)
                          : engine_.send(opcode_of(type), data, compression));
}

SendResult Connection::ping(std::string_view payload) {
  if (state_ != ConnectionState::open) return checked(Error(UsageError::not_open));
  return checked(engine_.ping(payload));
}

SendResult Connection::pong(std::string_view payload) {
  if (state_ != ConnectionState::open) return checked(Error(UsageError::not_open));
  return checked(engine_.pong(payload));
}

void Connection::send_broadcast(const detail::Broadcast& message, detail::CompressedFrames& compressed) {
  if (state_ != ConnectionState::open || engine_.sending_fragmented() ||
      buffered_amount() > hub_.settings().max_buffered_amount) {
    return;
  }
  const protocol::MessageDeflate* d = engine_.deflate();
  // A frame encoded for another connection is reported here; one this
  // connection's engine encodes reports itself.
  auto write_shared = [this](std::string_view frame) {
    socket_->write(frame);
    if (hub_.settings().engine.report_frames) on_frame(protocol::FrameDirection::sent, *protocol::read_frame_header(frame));
  };
  if (d == nullptr || !d->can_compress() || message.data.size() < d->threshold()) {
    write_shared(message.plain);
  } else if (!d->stateless_send()) {
    // Its compressor keeps context between messages: only it can encode.
    if (engine_.send(opcode_of(message.type), message.data)) return;
    flush_engine();
  } else {
    auto it = std::find_if(compressed.begin(), compressed.end(),
                           [&](const auto& f) { return f.first == d->send_config(); });
    if (it == compressed.end()) {
      std::string frame;
      if (engine_.encode(opcode_of(message.type), message.data, protocol::Compression::automatic, frame)) return;
      it = compressed.insert(compressed.end(), {d->send_config(), std::move(frame)});
      // encode() reported the frame: an on_frame handler may have closed us.
      if (state_ != ConnectionState::open) return;
      socket_->write(it->second);
    } else {
      write_shared(it->second);
    }
  }
  if (buffered_amount() > hub_.settings().max_buffered_amount) note_over_limit();
}

void Connection::note_over_limit() {
  if (over_limit_) return;
  over_limit_ = true;
  // The socket reports a drain only after the kernel refused some output. If
  // this iteration's flush takes everything, nothing else would end the
  // episode: look again once the flush has run (a 0 ms timer fires in the
  // next iteration, after this one's flush).
  hub_.loop().add_timer(net::Millis{0}, [hub = &hub_, id = id_] {
    if (Connection* c = hub->find(id)) c->check_drain();
  });
}

void Connection::flush_engine() {
  std::string& out = engine_.output();
  if (out.empty()) return;
  if (socket_ && socket_->is_open()) socket_->write(out);
  out.clear();
}

Error Connection::close(CloseCode code, std::string_view reason) {
  user_closed_ = true;
  switch (state_) {
    case ConnectionState::handshake:
      if (role() == Role::client) {
        // The application is waiting for on_open or on_error: it gets the latter.
        fail_handshake(Error(std::make_error_code(std::errc::operation_canceled),
                             "closed by the application before the handshake completed"));
      } else {
        teardown();
      }
      return {};
    case ConnectionState::open:
      break;
    default: {
      Error e(UsageError::not_open);
      if (hub_.settings().fatal) throw Exception(e);
      return e;
    }
  }
  Error e = engine_.close(code, reason, hub_.loop().now());
  if (e) {
    if (hub_.settings().fatal) throw Exception(e);
    return e;
  }
  state_ = ConnectionState::closing;
  flush_engine();
  return {};
}

void Connection::terminate() {
  user_closed_ = true;
  if (state_ == ConnectionState::open || state_ == ConnectionState::closing) {
    report_close(CloseCode::abnormal, "terminated");
  }
  state_ = ConnectionState::closed;
  pending_.reset();
  if (!socket_ || !socket_->is_open()) return finished();
  // At once, without a close handshake or waiting for the peer: what is
  // already queued (e.g. the 101 of a connection terminated in on_open)
  // goes out with this iteration's flush, and the socket closes in the next
  // iteration. Input meanwhile is ignored.
  draining_ = true;
  hub_.loop().add_timer(net::Millis{0}, [hub = &hub_, id = id_] {
    if (Connection* c = hub->find(id)) c->finished();
  });
}

// -- events from the engine --

void Connection::on_message(Opcode type, std::string_view payload) {
  last_message_ = hub_.loop().now();
  const auto& cb = hub_.callbacks();
  if (type == Opcode::text) {
    if (cb.text) cb.text(*this, payload);
  } else if (cb.binary) {
    cb.binary(*this, payload);
  }
}

bool Connection::on_ping(std::string_view payload) {
  last_message_ = hub_.loop().now();  // the peer's own keep-alive counts as activity
  const auto& cb = hub_.callbacks();
  return cb.ping ? cb.ping(*this, payload) : true;
}

void Connection::on_pong(std::string_view payload) {
  const auto& cb = hub_.callbacks();
  if (cb.pong) cb.pong(*this, payload);
}

void Connection::on_close(CloseCode code, std::string_view reason) { report_close(code, reason); }

void Connection::on_frame(protocol::FrameDirection direction, const protocol::FrameHeader& header) {
  const auto& cb = hub_.callbacks();
  if (cb.frame) cb.frame(*this, direction, header);
}

void Connection::on_protocol_error(const Error& error) {
  const auto& cb = hub_.callbacks();
  if (cb.error) cb.error(this, error);
  report_close(close_code_for(static_cast<ProtocolError>(error.code().value())), error.message());
}

void Connection::report_close(CloseCode code, std::string_view reason) {
  if (close_reported_) return;
  close_reported_ = true;
  last_close_ = code;
  state_ = ConnectionState::closed;
  const auto& cb = hub_.callbacks();
  if (cb.close) cb.close(*this, code, reason);
}

// -- events from the socket --

void Connection::on_data(net::TcpSocket&, std::span<std::uint8_t> data) {
  last_receive_ = hub_.loop().now();
  ping_outstanding_ = false;
  if (state_ == ConnectionState::handshake) {
    if (role() == Role::server) {
      handshake_data(data);
    } else {
      response_data(data);
    }
  } else {
    receive(data.data(), data.size());
  }
}

void Connection::receive(std::uint8_t* data, std::size_t size) {
  if (draining_ || size == 0) return;
  engine_.receive(data, size);
  flush_engine();
  if (engine_.state() == EngineState::closed) teardown();
}

void Connection::on_eof(net::TcpSocket&) {
  if (state_ == ConnectionState::handshake && role() == Role::client) {
    if (reading_body_) return finish_refusal();  // the body ran until EOF
    return fail_handshake(Error(HandshakeError::closed, "the server closed the connection before answering the handshake"));
  }
  if (state_ == ConnectionState::open || state_ == ConnectionState::closing) {
    report_close(CloseCode::abnormal, "connection lost");
  }
  teardown();
}

std::optional<net::TlsInfo> Connection::tls() const {
  if (!socket_) return std::nullopt;
  return socket_->tls_info();
}

void Connection::on_error(net::TcpSocket&, const Error& error) {
  if (state_ == ConnectionState::handshake && role() == Role::client) return fail_handshake(error);
  if (state_ == ConnectionState::handshake && error.code().category() == tls_category()) {
    // (Server) a TLS failure before the WebSocket handshake: the
    // application's error event hears of it (bad certificates, plain HTTP).
    const auto& cb = hub_.callbacks();
    if (cb.error) cb.error(this, error);
  }
  if (state_ == ConnectionState::open || state_ == ConnectionState::closing) {
    report_close(CloseCode::abnormal, "connection lost");
  }
  teardown();
}

void Connection::on_drain(net::TcpSocket&) { check_drain(); }

void Connection::check_drain() {
  if (!over_limit_ || buffered_amount() > hub_.settings().max_buffered_amount) return;
  over_limit_ = false;
  const auto& cb = hub_.callbacks();
  if (cb.drain && state_ == ConnectionState::open) cb.drain(*this);
}

void Connection::teardown() {
  // Whatever is queued (a close frame, an HTTP error) goes out first; then
  // FIN. The socket is closed when the peer's EOF arrives or close_timeout
  // passes (sweep), whichever is first.
  if (state_ == ConnectionState::open || state_ == ConnectionState::closing) state_ = ConnectionState::closed;
  if (state_ == ConnectionState::handshake) state_ = ConnectionState::closed;
  pending_.reset();
  if (!socket_ || !socket_->is_open() || socket_->eof_seen()) return finished();
  if (!draining_) {
    draining_ = true;
    started_ = hub_.loop().now();  // the drain deadline counts from here
    socket_->shutdown_write();
  }
}

void Connection::sweep(net::Clock::time_point now) {
  const detail::Settings& s = hub_.settings();
  if (draining_) {
    if (now - started_ >= s.close_timeout) finished();
    return;
  }
  switch (state_) {
    case ConnectionState::handshake:
      if (socket_ && s.tls_handshake_timeout.count() > 0 && socket_->is_tls() && !socket_->tls_established() &&
          now - started_ >= s.tls_handshake_timeout) {
        // (Server) a client stalled in the TLS handshake.
        const auto& cb = hub_.callbacks();
        if (cb.error) {
          cb.error(this, Error(TlsError::timeout, "TLS handshake not completed within " +
                                                      std::to_string(s.tls_handshake_timeout.count()) + " ms"));
        }
        return finished();
      }
      // (A client still connecting is bounded by its connect timeout.)
      if (socket_ && s.handshake_timeout.count() > 0 && now - started_ >= s.handshake_timeout) {
        // (Client) a refusal whose body never ended is still a refusal.
        if (reading_body_) return finish_refusal();
        const std::string limit = std::to_string(s.handshake_timeout.count()) + " ms";
        Error e(HandshakeError::timeout, role() == Role::client ? "no answer to the opening handshake within " + limit
                                                                 : "opening handshake not completed within " + limit);
        if (role() == Role::client) return fail_handshake(e);
        const auto& cb = hub_.callbacks();
        if (cb.error) cb.error(this, e);
        finished();
      }
      break;
    case ConnectionState::open:
      if (ping_outstanding_ && s.pong_timeout.count() > 0 && now - started_ >= s.pong_timeout) {
        report_close(CloseCode::abnormal, "keep-alive ping unanswered");
        finished();
      } else if (s.idle_timeout.count() > 0 && now - last_message_ >= s.idle_timeout) {
        (void)close(CloseCode::going_away, "idle timeout");
      } else if (!ping_outstanding_ && s.ping_interval.count() > 0 && now - last_receive_ >= s.ping_interval) {
        if (engine_.ping() == Error{}) {
          ping_outstanding_ = true;
          started_ = now;
          flush_engine();
        }
      }
      break;
    case ConnectionState::closing:
      if (engine_.close_timed_out(now)) {
        report_close(CloseCode::abnormal, "close handshake timed out");
        finished();
      }
      break;
    case ConnectionState::closed:
      break;
  }
}

// -- the server's opening handshake --

void Connection::handshake_data(std::span<std::uint8_t> data) {
  Pending& p = *pending_;
  const std::string_view bytes(reinterpret_cast<const char*>(data.data()), data.size());
  if (p.parser.status() == protocol::HeadParser::Status::done) {
    // Frames sent before a deferred handshake is answered: kept, bounded.
    if (p.early.size() + bytes.size() > hub_.settings().http_limits.max_head_size) {
      return respond_and_close(protocol::make_error_response(413, "too much data before the handshake completed"));
    }
    p.early.append(bytes);
    return;
  }
  const auto progress = p.parser.feed(bytes);
  switch (progress.status) {
    case protocol::HeadParser::Status::need_more:
      return;
    case protocol::HeadParser::Status::error: {
      const auto& cb = hub_.callbacks();
      if (cb.error) cb.error(this, p.parser.error());
      return respond_and_close(protocol::make_error_response(p.parser.error(), p.parser.error_status()));
    }
    case protocol::HeadParser::Status::done:
      p.early.assign(bytes.substr(progress.consumed));
      return handle_request();
  }
}

void Connection::handle_request() {
  Pending& p = *pending_;
  const auto& cb = hub_.callbacks();
  const detail::Settings& s = hub_.settings();
  Request& req = p.parser.request();

  if (!req.headers.has_token("Upgrade", "websocket")) {
    if (cb.http) return respond_and_close(cb.http(req));
  }
  auto valid = protocol::validate_request(req);
  if (!valid) {
    if (cb.error) cb.error(this, valid.error());
    return respond_and_close(protocol::make_error_response(valid.error()));
  }
  p.key = valid->key;
  request_ = std::make_unique<Request>(std::move(req));
  const std::string_view origin = request_->origin().value_or("");
  if (cb.origin) {
    HandshakeReply reply = cb.origin(*this, origin, *request_);
    // The hook may have closed or terminated the connection: `p` is gone then.
    if (!pending_) return;
    if (reply.kind() == HandshakeReply::Kind::defer) {
      p.deferred = Pending::Deferred::origin;
      return;
    }
    return origin_decided(std::move(reply));
  }
  if (!s.allowed_origins.empty() &&
      !(request_->origin() && std::any_of(s.allowed_origins.begin(), s.allowed_origins.end(),
                                          [&](const std::string& o) { return iequals(o, origin); }))) {
    return origin_decided(HandshakeReply::reject(403, "origin not allowed"));
  }
  origin_decided(HandshakeReply::accept());
}

void Connection::origin_decided(HandshakeReply reply) {
  Pending& p = *pending_;
  if (reply.kind() == HandshakeReply::Kind::reject) {
    return refuse(reply, Error(HandshakeError::forbidden_origin,
                               "origin '" + std::string(request_->origin().value_or("")) + "' refused with " +
                                   std::to_string(reply.status()) + (reply.text().empty() ? "" : ": " + reply.text())));
  }
  p.headers = reply.headers();
  // The offers were checked by validate_request: these parse.
  const detail::Settings& s = hub_.settings();
  const auto& cb = hub_.callbacks();
  const auto extensions = request_->extensions();
  const auto subprotocols = request_->subprotocols();
  if (auto agreed = protocol::negotiate_deflate(extensions ? *extensions : std::vector<Extension>{}, s.deflate)) {
    negotiated().extensions.push_back(std::move(agreed->response));
    p.deflate = agreed->params;
  }
  const std::vector<std::string> offered = subprotocols ? *subprotocols : std::vector<std::string>{};
  std::string chosen = !reply.text().empty() ? reply.text()
                       : cb.select_subprotocol ? cb.select_subprotocol(offered)
                                               : protocol::select_subprotocol(offered, s.subprotocols).value_or("");
  if (!chosen.empty()) negotiated().subprotocol = std::move(chosen);
  if (!cb.handshake) return finish_handshake(HandshakeReply::accept());
  reply = cb.handshake(*this, *request_);
  if (!pending_) return;
  if (reply.kind() == HandshakeReply::Kind::defer) {
    p.deferred = Pending::Deferred::handshake;
    return;
  }
  finish_handshake(std::move(reply));
}

void Connection::refuse(const HandshakeReply& reply, const Error& error) {
  const auto& cb = hub_.callbacks();
  if (cb.error) cb.error(this, error);
  respond_and_close(protocol::make_error_response(reply.status(), reply.text(), reply.headers()));
}

void Connection::finish_handshake(HandshakeReply reply) {
  Pending& p = *pending_;
  if (reply.kind() == HandshakeReply::Kind::reject) {
    return refuse(reply, Error(HandshakeError::rejected,
                               "handshake rejected with " + std::to_string(reply.status()) + ": " + reply.text()));
  }
  if (!reply.text().empty()) negotiated().subprotocol = reply.text();
  Response r = protocol::make_accept_response(p.key, subprotocol(), extensions());
  for (const auto& f : p.headers) r.headers.add(f.name, f.value);
  for (const auto& f : reply.headers()) r.headers.add(f.name, f.value);
  socket_->write(r.serialize());
  if (p.deflate) engine_.set_deflate(std::make_unique<protocol::MessageDeflate>(*p.deflate, hub_.settings().deflate, true));
  std::string early = std::move(p.early);
  pending_.reset();
  state_ = ConnectionState::open;
  last_receive_ = last_message_ = hub_.loop().now();
  const auto& cb = hub_.callbacks();
  if (cb.open) cb.open(*this);
  // The request's head is most of an idle connection's memory: unless the
  // application asked to keep it, it is gone once on_open has seen it.
  if (!hub_.settings().keep_request) request_.reset();
  if (state_ == ConnectionState::open && !early.empty()) {
    receive(reinterpret_cast<std::uint8_t*>(early.data()), early.size());
  }
}

void Connection::respond_and_close(const Response& response) {
  socket_->write(response.serialize());
  teardown();
}

}  // namespace parley
