// Connection: binds a protocol::Engine to a net::TcpSocket, on one loop.
#include "parley/connection.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "connection_state.hpp"
#include "context.hpp"
#include "parley/protocol/handshake.hpp"
#include "parley/protocol/mask.hpp"
#include "parley/protocol/printable.hpp"
#include "parley/protocol/utf8.hpp"
#include "protocol/http_text.hpp"

namespace parley {

using protocol::EngineState;
using protocol::Opcode;

namespace {

protocol::Opcode opcode_of(MessageType t) noexcept {
  return t == MessageType::text ? Opcode::text : Opcode::binary;
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

HandshakeReply HandshakeReply::reject_json(int status, int code, std::string_view message,
                                           protocol::Headers headers) {
  HandshakeReply r = reject(status, {}, std::move(headers));
  std::string body = "{\"code\":" + std::to_string(code) + ",\"message\":";
  protocol::text::append_json_string(body, message, protocol::is_valid_utf8(message));
  body += ",\"status\":" + std::to_string(r.status_) + "}";
  r.text_ = std::move(body);
  r.headers_.set("Content-Type", "application/json");
  r.headers_.set("X-Content-Type-Options", "nosniff");
  return r;
}

HandshakeReply HandshakeReply::defer() {
  HandshakeReply r;
  r.kind_ = Kind::defer;
  return r;
}

// ---- ConnectionHandle ----------------------------------------------------

bool ConnectionHandle::post(std::function<void(Connection&)> fn) const {
  return loop_.post([context = context_, id = id_, fn = std::move(fn)] {
    if (auto h = context.lock()) {
      if (Connection* c = h->find(id)) {
        try {
          fn(*c);
        } catch (...) {
          c->callback_threw("a function posted to the connection");
        }
      }
    }
  });
}

bool ConnectionHandle::subscribe(std::string topic) const {
  // On the connection's own loop at once, so that a publish made next from
  // this thread (which is queued at once on this loop) reaches it.
  if (auto ctx = context_.lock(); ctx && ctx->loop().in_loop_thread()) {
    if (Connection* c = ctx->find(id_)) (void)c->subscribe(topic);
    return true;
  }
  return post([topic = std::move(topic)](Connection& c) { (void)c.subscribe(topic); });
}

bool ConnectionHandle::subscribe(std::string topic, std::string since) const {
  return post([topic = std::move(topic), since = std::move(since)](Connection& c) { (void)c.subscribe(topic, since); });
}

bool ConnectionHandle::unsubscribe(std::string topic) const {
  if (auto ctx = context_.lock(); ctx && ctx->loop().in_loop_thread()) {
    if (Connection* c = ctx->find(id_)) (void)c->unsubscribe(topic);
    return true;
  }
  return post([topic = std::move(topic)](Connection& c) { (void)c.unsubscribe(topic); });
}

bool ConnectionHandle::send_text(std::string text, std::function<void(const SendResult&)> done) const {
  return loop_.post([context = context_, id = id_, text = std::move(text), done = std::move(done)] {
    auto h = context.lock();
    Connection* c = h ? h->find(id) : nullptr;
    SendResult r = c ? c->send_text(text) : SendResult{SendStatus::dropped, Error(UsageError::not_open)};
    if (done) done(r);
  });
}

bool ConnectionHandle::send_binary(std::string bytes, std::function<void(const SendResult&)> done) const {
  return loop_.post([context = context_, id = id_, bytes = std::move(bytes), done = std::move(done)] {
    auto h = context.lock();
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
      c.decide_origin(reply);
    } else {
      c.decide_handshake(reply);
    }
    c.advance_handshake();
  });
}

bool ConnectionHandle::finish_origin(HandshakeReply reply) const { return answer_deferred(true, std::move(reply)); }

bool ConnectionHandle::finish_handshake(HandshakeReply reply) const { return answer_deferred(false, std::move(reply)); }

// ---- Connection ----------------------------------------------------------

void detail::ConnectionDeleter::operator()(Connection* c) const noexcept {
  detail::ConnectionContext& ctx = c->ctx_;
  c->~Connection();
  ctx.release(c);  // (made by ConnectionContext::add_connection)
}

Connection::Connection(detail::ConnectionContext& ctx, std::uint64_t id, std::unique_ptr<net::TcpSocket> socket)
    : ctx_(ctx), engine_(ctx.settings().engine, *this), id_(id) {
  started_ = last_receive_ = last_message_ = ctx_.loop().now();
  // (A client's Pending is made per attempt, by begin_attempt.)
  if (role() == Role::server) pending_ = std::make_unique<Pending>(ctx_.settings().policy);
  if (socket) attach(std::move(socket));
}

void Connection::attach(std::unique_ptr<net::TcpSocket> socket) {
  socket_ = std::move(socket);
  if (auto r = socket_->remote_endpoint()) remote_ = *r;
  socket_->set_handler(this);
}

Connection::~Connection() {
  ctx_.add_input_held(-static_cast<std::ptrdiff_t>(input_counted_));
  ctx_.forget_subscriptions(id_);  // (dropped at a stop's deadline: counts only, no callbacks)
  if (ClientSide* c = side(); c && c->retry_timer) ctx_.loop().cancel_timer(c->retry_timer);
  if (socket_) socket_->set_handler(nullptr);
  ctx_.shared().connections.fetch_sub(1, std::memory_order_relaxed);
}

ConnectionHandle Connection::handle() const { return ConnectionHandle(ctx_.loop().handle(), ctx_.weak_from_this(), id_); }

std::size_t Connection::buffered_amount() const noexcept {
  return (socket_ ? socket_->buffered_amount() : 0) + engine_.output_size();
}

ConnectionState Connection::state() const noexcept { return state_; }

const Request* Connection::request() const noexcept {
  if (extra_ && extra_->request) return extra_->request.get();
  // (Server) during the handshake: the request being decided on.
  if (role() == Role::server && pending_) return &std::get<protocol::ServerOpening>(pending_->opening).request();
  return nullptr;
}

Timer Connection::after(std::chrono::milliseconds delay, std::function<void(Connection&)> fn) {
  if (state_ == ConnectionState::closed) return {};
  auto state = std::make_shared<detail::TimerState>();
  net::Loop& loop = ctx_.loop();
  const net::TimerId timer = loop.add_timer(delay, [state, ctx = &ctx_, id = id_, fn = std::move(fn)] {
    if (state->done.exchange(true)) return;
    Connection* c = ctx->find(id);
    if (!c || c->state() == ConnectionState::closed) return;
    try {
      fn(*c);
    } catch (...) {
      c->callback_threw("Connection::after");
    }
  });
  {
    std::lock_guard lock(state->m);
    state->loop = &loop;
    state->handle = loop.handle();
    state->id = timer;
  }
  ctx_.add_connection_timer(id_, state);
  return Timer(std::move(state));
}

std::string_view Connection::route() const noexcept { return ctx_.callbacks().routes[route_].pattern; }

const Response* Connection::handshake_response() const noexcept {
  const ClientSide* c = side();
  return c ? c->response.get() : nullptr;
}

const std::string& Connection::subprotocol() const noexcept {
  static const std::string none;
  // (An empty one is the static: a reference kept from on_open outlives the
  // Extra part, which is freed after on_open when it holds nothing.)
  return extra_ && !extra_->subprotocol.empty() ? extra_->subprotocol : none;
}

const std::vector<Extension>& Connection::extensions() const noexcept {
  static const std::vector<Extension> none;
  return extra_ && !extra_->extensions.empty() ? extra_->extensions : none;
}

Connection::Extra& Connection::extra() {
  if (!extra_) extra_ = std::make_unique<Extra>();
  return *extra_;
}

// -- sending --

// (Connections live on loop threads, where nothing throws, `fatal` or
// not: a failed send is always a value. See docs/guide.md, "errors".)
SendResult Connection::checked(Error e) {
  if (e) return {SendStatus::dropped, std::move(e)};
  return queued();
}

// After a send that queued its frame: whatever the engine queued goes out
// too, and the output is held against the limit.
SendResult Connection::queued() {
  flush_engine();
  if (buffered_amount() > ctx_.settings().max_buffered_amount) {
    note_over_limit();
    return {SendStatus::backpressure, {}};
  }
  return {SendStatus::queued, {}};
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
  if (buffered_amount() > ctx_.settings().max_buffered_amount) {
    if (ctx_.settings().backpressure_policy == BackpressurePolicy::close) {
      (void)close(CloseCode::policy_violation, "send buffer full");
    }
    return checked(Error(UsageError::buffer_full));
  }
  if (ctx_.over_budget()) {
    ctx_.loop().defer([ctx = &ctx_] { ctx->enforce_budget(); });
    return checked(Error(UsageError::buffer_full, "the memory budget (max_total_buffered) is exhausted"));
  }
  const Opcode op = opcode_of(type);
  if (fragment) return checked(engine_.send_fragment(op, data, fin, compression));
  // Compressed, or not to be sent (the engine says why): through the engine.
  if (!engine_.sends_plain(op, data.size(), compression)) return checked(engine_.send(op, data, compression));
  send_whole(op, data);
  return queued();
}

// A whole uncompressed message, framed with one copy straight into the
// socket's queue (none when a large frame goes out at once).
void Connection::send_whole(protocol::Opcode type, std::string_view data) {
  flush_engine();  // what the engine queued before goes first
  const protocol::FrameHeader h = engine_.plain_header(type, data.size());
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(data.data());
  if (!h.masked && data.size() >= net::TcpSocket::kDirectWriteSize) {
    std::uint8_t head[protocol::max_frame_header_size];
    (void)socket_->write({head, protocol::write_frame_header(head, h)}, {bytes, data.size()});
  } else {
    const std::span<std::uint8_t> room = socket_->prepare(protocol::max_frame_header_size + data.size());
    if (room.empty()) return;  // a closed socket (as write() would drop it; reported from the loop)
    const std::size_t hs = protocol::write_frame_header(room.data(), h);
    if (!data.empty()) std::memcpy(room.data() + hs, bytes, data.size());
    if (h.masked) protocol::apply_mask(room.data() + hs, data.size(), h.mask);
    socket_->commit(hs + data.size());
  }
  // Reported once written: a handler that closes (or throws, which
  // closes) puts its close frame after this one.
  if (ctx_.settings().engine.report_frames) on_frame(protocol::FrameDirection::sent, h);
}

bool Connection::subscribe(std::string_view topic) {
  if (role() != Role::server) return false;
  if (state_ != ConnectionState::handshake && state_ != ConnectionState::open) return false;
  (void)ctx_.subscribe(*this, topic);
  return true;
}

bool Connection::subscribe(std::string_view topic, std::string_view since) {
  // (Open only: a recovery ends by queueing messages, which a connection
  // still in its handshake could not take.)
  if (role() != Role::server || state_ != ConnectionState::open) return false;
  if (ctx_.topics().contains(id_, topic)) return true;
  const std::uint64_t token = ctx_.shared().next_token.fetch_add(1, std::memory_order_relaxed);
  (void)ctx_.subscribe(*this, topic, token);
  if (const auto& recover = ctx_.shared().recover) {
    recover(ctx_, id_, token, topic, since);
  } else {
    // Told on the next turn of the loop, as a recovery with history is.
    ctx_.loop().post([ctx = ctx_.weak_from_this(), id = id_, token, t = std::string(topic), s = std::string(since)] {
      if (auto c = ctx.lock()) {
        c->finish_recovery(id, token, t, s, {}, RecoveryOutcome::unavailable,
                           "no history (RedisOptions::history_length is 0)");
      }
    });
  }
  return true;
}

bool Connection::unsubscribe(std::string_view topic) { return ctx_.unsubscribe(id_, topic); }

bool Connection::subscribed(std::string_view topic) const { return ctx_.topics().contains(id_, topic); }

std::vector<std::string> Connection::topics() const { return ctx_.topics().topics_of(id_); }

SendResult Connection::ping(std::string_view payload) {
  if (state_ != ConnectionState::open) return checked(Error(UsageError::not_open));
  return checked(engine_.ping(payload));
}

SendResult Connection::pong(std::string_view payload) {
  if (state_ != ConnectionState::open) return checked(Error(UsageError::not_open));
  return checked(engine_.pong(payload));
}

bool Connection::send_broadcast(const detail::Broadcast& message, detail::CompressedFrames& compressed) {
  if (state_ != ConnectionState::open || engine_.sending_fragmented()) return false;
  // The frame to queue: the plain one, one compressed once for every
  // connection with the same stateless compression, or (a compressor
  // with context takeover, which only this connection can use) none yet.
  const protocol::MessageDeflate* d = engine_.deflate();
  std::string_view shared = message.plain;
  if (d != nullptr && d->can_compress() && message.data.size() >= d->threshold()) {
    shared = {};
    if (d->stateless_send()) {
      auto it = std::find_if(compressed.begin(), compressed.end(),
                             [&](const auto& f) { return f.first == d->send_config(); });
      if (it == compressed.end()) {
        std::string frame;
        if (engine_.encode(opcode_of(message.type), message.data, protocol::Compression::automatic, frame)) return false;
        it = compressed.insert(compressed.end(), {d->send_config(), std::move(frame)});
      }
      shared = it->second;
    }
  }
  // A recipient takes the message only if it stays within its limit (a
  // frame still to be compressed counts at its uncompressed size), so a
  // broadcast holds at most recipients x max_buffered_amount; the others
  // get the backpressure policy: skipped (counted), or closed with 1008.
  const std::size_t size = shared.empty() ? message.data.size() : shared.size();
  if (buffered_amount() + size > ctx_.settings().max_buffered_amount || ctx_.over_budget()) {
    ctx_.shared().skipped_deliveries.fetch_add(1, std::memory_order_relaxed);
    if (ctx_.settings().backpressure_policy == BackpressurePolicy::close) {
      (void)close(CloseCode::policy_violation, "send buffer full");
    }
    return false;
  }
  if (shared.empty()) {
    if (engine_.send(opcode_of(message.type), message.data)) return false;
    flush_engine();
  } else {
    socket_->write(shared);
    if (ctx_.settings().engine.report_frames) on_frame(protocol::FrameDirection::sent, *protocol::read_frame_header(shared));
  }
  if (buffered_amount() > ctx_.settings().max_buffered_amount) note_over_limit();
  return true;
}

void Connection::note_over_limit() {
  if (over_limit_) return;
  over_limit_ = true;
  // The socket reports a drain only after the kernel refused some output. If
  // this iteration's flush takes everything, nothing else would end the
  // episode: look again once the flush has run (a 0 ms timer fires in the
  // next iteration, after this one's flush).
  ctx_.loop().add_timer(net::Millis{0}, [ctx = &ctx_, id = id_] {
    if (Connection* c = ctx->find(id)) c->check_drain();
  });
}

void Connection::flush_engine() {
  if (engine_.output_size() == 0) return;
  // (const: asking the engine for its output does not allocate its Active part.)
  if (socket_ && socket_->is_open()) socket_->write(std::as_const(engine_).output());
  engine_.clear_output();  // (also frees the engine's Active part once it holds nothing)
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
    default:
      return UsageError::not_open;
  }
  if (Error e = engine_.close(code, reason, ctx_.loop().now())) return e;
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
  ctx_.loop().add_timer(net::Millis{0}, [ctx = &ctx_, id = id_] {
    if (Connection* c = ctx->find(id)) c->finished();
  });
}

// -- events from the engine --

// The application's callbacks are called inside try blocks: an exception
// escaping one fails this connection only (callback_threw), never the
// loop or the process. (No cost when nothing throws.)

void Connection::on_message(Opcode type, std::string_view payload) {
  last_message_ = ctx_.loop().now();
  const Route& r = ctx_.callbacks().route(route_);
  try {
    if (type == Opcode::text) {
      if (r.on_text) r.on_text(*this, payload);
    } else if (r.on_binary) {
      r.on_binary(*this, payload);
    }
  } catch (...) {
    callback_threw(type == Opcode::text ? "on_text" : "on_binary");
  }
}

bool Connection::on_ping(std::string_view payload) {
  last_message_ = ctx_.loop().now();  // the peer's own keep-alive counts as activity
  const Route& r = ctx_.callbacks().route(route_);
  try {
    return r.on_ping ? r.on_ping(*this, payload) : true;
  } catch (...) {
    callback_threw("on_ping");
    return false;
  }
}

void Connection::on_pong(std::string_view payload) {
  const Route& r = ctx_.callbacks().route(route_);
  try {
    if (r.on_pong) r.on_pong(*this, payload);
  } catch (...) {
    callback_threw("on_pong");
  }
}

void Connection::on_close(CloseCode code, std::string_view reason) { report_close(code, reason); }

void Connection::on_frame(protocol::FrameDirection direction, const protocol::FrameHeader& header) {
  const auto& cb = ctx_.callbacks();
  try {
    if (cb.frame) cb.frame(*this, direction, header);
  } catch (...) {
    callback_threw("on_frame");
  }
}

void Connection::on_protocol_error(const Error& error) {
  ctx_.callbacks().report(this, error);
  report_close(close_code_for(static_cast<ProtocolError>(error.code().value())), error.message());
}

void Connection::report_close(CloseCode code, std::string_view reason) {
  if (close_reported_) return;
  close_reported_ = true;
  last_close_ = code;
  state_ = ConnectionState::closed;
  ctx_.cancel_connection_timers(id_);
  ctx_.unsubscribe_all(id_);
  const auto& cb = ctx_.callbacks();
  const auto n = static_cast<std::uint16_t>(code);
  const LogLevel level = (n == 1000 || n == 1001 || n == 1005) ? LogLevel::debug : LogLevel::info;
  if (cb.logs(level)) {
    cb.write_log(level, this, "closed " + std::to_string(n) + (reason.empty() ? "" : " " + protocol::printable(reason, 123, true)));
  }
  const Route& r = ctx_.callbacks().route(route_);
  try {
    if (r.on_close) r.on_close(*this, code, reason);
  } catch (...) {
    callback_threw("on_close");  // (closed already: reported only)
  }
}

void Connection::callback_threw(std::string_view name) {
  ctx_.shared().callback_exceptions.fetch_add(1, std::memory_order_relaxed);
  ctx_.callbacks().report(this, detail::callback_exception(name, std::current_exception()));
  switch (state_) {
    case ConnectionState::handshake:
      // (Server) a hook of the handshake or on_http: the client is told
      // 500, not the exception's text.
      // (A client's on_reconnect: the attempt goes ahead.)
      if (role() == Role::server && socket_ && pending_) {
        pending_->body_stream = nullptr;
        return respond_and_close(protocol::make_error_response(500, "internal server error"));
      }
      break;
    case ConnectionState::open:
      (void)close(CloseCode::internal_error, "internal error");
      break;
    default:
      break;
  }
}

// -- events from the socket --

void Connection::on_data(net::TcpSocket&, std::span<std::uint8_t> data) {
  last_receive_ = ctx_.loop().now();
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
  const std::size_t limit = ctx_.settings().max_buffered_amount;
  // A peer that does not read its output gets no more pongs than the last
  // ping's (answered once the output drains): pings cannot grow it.
  // (over_limit_: the output passed the limit and has not drained since.)
  engine_.hold_pongs(over_limit_);
  const bool was_receiving = engine_.receiving_message();
  const std::uint64_t before = engine_.message_bytes();
  engine_.receive(data, size);
  if (engine_.receiving_message() && (!was_receiving || engine_.message_bytes() != before)) {
    message_progress_ = ctx_.loop().now();
  }
  account_input();
  flush_engine();
  if (engine_.state() == EngineState::closed) return teardown();
  if (buffered_amount() > limit) {
    engine_.hold_pongs(true);
    note_over_limit();
    if (ctx_.settings().backpressure_policy == BackpressurePolicy::close) {
      (void)close(CloseCode::policy_violation, "send buffer full");
    }
  }
  if (ctx_.over_budget()) ctx_.enforce_budget();
}

void Connection::account_input() noexcept {
  const std::size_t now = engine_.input_held();
  ctx_.add_input_held(static_cast<std::ptrdiff_t>(now - input_counted_));
  input_counted_ = now;
}

std::size_t Connection::held_bytes() const noexcept {
  return (socket_ ? socket_->buffered_amount() : 0) + engine_.output_size() + engine_.input_held();
}

void Connection::shed_for_budget() {
  ctx_.shared().budget_closes.fetch_add(1, std::memory_order_relaxed);
  const std::string budget = std::to_string(ctx_.settings().max_total_buffered);
  const std::size_t output = socket_ ? socket_->buffered_amount() : 0;
  if (engine_.input_held() > output && engine_.state() != EngineState::closed) {
    // Mostly a message being received: dropped, and the peer told 1009.
    engine_.fail(Error(ProtocolError::memory_budget,
                       "message of " + std::to_string(engine_.message_bytes()) +
                           " bytes so far dropped: the memory budget (max_total_buffered " + budget +
                           " bytes) is exhausted"));
    account_input();
    flush_engine();
    return teardown();
  }
  // Mostly unsent output: it cannot be cut short for a close frame (the
  // peer is mid-frame), so the TCP connection is dropped with it.
  ctx_.callbacks().report(this, Error(ProtocolError::memory_budget,
                                      "unsent output of " + std::to_string(output) +
                                          " bytes dropped with the connection: the memory budget "
                                          "(max_total_buffered " +
                                          budget + " bytes) is exhausted"));
  if (state_ == ConnectionState::open || state_ == ConnectionState::closing) {
    report_close(CloseCode::policy_violation, "memory budget exhausted");
  }
  if (socket_) socket_->close();
  finished();
}

void Connection::on_eof(net::TcpSocket&) {
  if (state_ == ConnectionState::handshake && role() == Role::client) {
    if (pending_->tunnel) {  // the proxy closed before opening the tunnel
      (void)pending_->tunnel->closed();
      return fail_handshake(pending_->tunnel->error());
    }
    pending_->client().eof();  // (a refusal's body may run until EOF)
    return after_response();
  }
  if (state_ == ConnectionState::open || state_ == ConnectionState::closing) {
    report_close(CloseCode::abnormal, "connection lost");
  }
  teardown();
}

net::Endpoint Connection::local_endpoint() const {
  if (!socket_) return {};
  auto local = socket_->local_endpoint();
  return local ? *local : net::Endpoint{};
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
    ctx_.callbacks().report(this, error);
  }
  if (state_ == ConnectionState::open || state_ == ConnectionState::closing) {
    report_close(CloseCode::abnormal, "connection lost");
  }
  teardown();
}

void Connection::on_drain(net::TcpSocket&) {
  if (pending_ && pending_->body_stream) return pump_body();
  check_drain();
}

void Connection::check_drain() {
  if (!over_limit_ || buffered_amount() > ctx_.settings().max_buffered_amount) return;
  over_limit_ = false;
  engine_.hold_pongs(false);  // the owed pong, if a ping came meanwhile
  flush_engine();
  const Route& r = ctx_.callbacks().route(route_);
  try {
    if (r.on_drain && state_ == ConnectionState::open) r.on_drain(*this);
  } catch (...) {
    callback_threw("on_drain");
  }
}

void Connection::teardown() {
  // Whatever is queued (a close frame, an HTTP error) goes out first; then
  // FIN. The socket is closed when the peer's EOF arrives or close_timeout
  // passes (sweep), whichever is first.
  if (state_ == ConnectionState::open || state_ == ConnectionState::closing) state_ = ConnectionState::closed;
  if (state_ == ConnectionState::handshake) state_ = ConnectionState::closed;
  ctx_.unsubscribe_all(id_);  // (a subscription made in a handshake hook that was then refused)
  pending_.reset();
  if (!socket_ || !socket_->is_open() || socket_->eof_seen()) return finished();
  if (!draining_) {
    draining_ = true;
    started_ = ctx_.loop().now();  // the drain deadline counts from here
    socket_->shutdown_write();
  }
}

void Connection::finished() {
  if (socket_) socket_->close();
  pending_.reset();
  const detail::Settings& s = ctx_.settings();
  if (side() && s.reconnect.enabled && !user_closed_ && !ctx_.shutting_down() && last_close_ != CloseCode::normal) {
    return schedule_reconnect();
  }
  state_ = ConnectionState::closed;
  ctx_.retire(*this);
}

// While the last output is written (draining, or a streamed HTTP body),
// the peer must keep reading: it is dropped once `close_timeout` passes
// with none of the output taken, however long the whole takes.
bool Connection::output_stalled(net::Clock::time_point now) {
  const auto left = static_cast<std::uint32_t>(buffered_amount());
  if (left != output_seen_) {
    output_seen_ = left;
    started_ = now;
  }
  return now - started_ >= ctx_.settings().close_timeout;
}

void Connection::sweep(net::Clock::time_point now) {
  const detail::Settings& s = ctx_.settings();
  if (draining_) {
    if (output_stalled(now)) finished();
    return;
  }
  switch (state_) {
    case ConnectionState::handshake:
      if (pending_ && pending_->body_stream) {
        if (output_stalled(now)) finished();
        return;
      }
      if (socket_ && s.tls_handshake_timeout.count() > 0 && socket_->is_tls() && !socket_->tls_established() &&
          now - started_ >= s.tls_handshake_timeout) {
        // (Server) a client stalled in the TLS handshake.
        ctx_.callbacks().report(this, Error(TlsError::timeout, "TLS handshake not completed within " +
                                                                   std::to_string(s.tls_handshake_timeout.count()) +
                                                                   " ms"));
        return finished();
      }
      // (A client still connecting is bounded by its connect timeout, and
      // so is its HTTP proxy's answer to CONNECT.)
      if (socket_ && pending_ && pending_->tunnel) {
        if (now - started_ < s.connect_timeout) return;
        return fail_handshake(Error(std::make_error_code(std::errc::timed_out),
                                    "proxy " + pending_->proxy->to_string() + " did not open a tunnel within " +
                                        std::to_string(s.connect_timeout.count()) + " ms"));
      }
      if (socket_ && pending_ && s.handshake_timeout.count() > 0 && now - started_ >= s.handshake_timeout) {
        const std::string limit = std::to_string(s.handshake_timeout.count()) + " ms";
        if (role() == Role::client) {
          pending_->client().time_out("no answer to the opening handshake within " + limit);
          return after_response();
        }
        // (Server) a request, or a deferred decision, that took too long.
        pending_->server().time_out("opening handshake not completed within " + limit);
        return answer_handshake();
      }
      break;
    case ConnectionState::open:
      if (s.message_timeout.count() > 0 && engine_.receiving_message() && now - message_progress_ >= s.message_timeout) {
        // Pings do not keep a half-sent message (and its memory) alive.
        engine_.fail(Error(ProtocolError::message_timeout,
                           "message incomplete: no data for it within " + std::to_string(s.message_timeout.count()) +
                               " ms"));
        account_input();
        flush_engine();
        teardown();
      } else if (ping_outstanding_ && s.pong_timeout.count() > 0 && now - started_ >= s.pong_timeout) {
        report_close(CloseCode::abnormal, "keep-alive ping unanswered");
        finished();
      } else if (s.idle_timeout.count() > 0 && now - last_message_ >= s.idle_timeout) {
        if (ctx_.callbacks().logs(LogLevel::info)) {
          ctx_.callbacks().write_log(LogLevel::info, this,
                                     "idle for " + std::to_string(s.idle_timeout.count()) + " ms: closing with 1001");
        }
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
// protocol::ServerOpening sequences and decides; this moves the bytes and
// asks the application's hooks, any of which may defer its answer.

void Connection::handshake_data(std::span<std::uint8_t> data) {
  protocol::ServerOpening& h = pending_->server();
  const auto before = h.stage();
  const auto after = h.feed(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
  if (after != before) advance_handshake();
}

void Connection::advance_handshake() {
  using Stage = protocol::ServerOpening::Stage;
  const auto& cb = ctx_.callbacks();
  // Each hook may close or terminate the connection: pending_ is gone then.
  while (pending_ && pending_->deferred == Pending::Deferred::no) {
    protocol::ServerOpening& h = pending_->server();
    switch (h.stage()) {
      case Stage::reading:
        return;
      case Stage::http: {
        if (!cb.http) {
          h.upgrade();
          break;
        }
        Response response;
        try {
          response = cb.http(h.request());
        } catch (...) {
          return callback_threw("on_http");
        }
        if (pending_) h.respond(std::move(response));
        break;
      }
      case Stage::origin: {
        // The route and the client's address are fixed once, before any
        // hook sees the connection.
        route_ = cb.match(h.request().path());
        derive_client(h.request());
        if (!cb.origin) {
          decide_origin(h.origin_allowed() ? HandshakeReply::accept() : HandshakeReply::reject(403, "origin not allowed"));
          break;
        }
        HandshakeReply reply;
        try {
          reply = cb.origin(*this, h.request().origin().value_or(""), h.request());
        } catch (...) {
          return callback_threw("on_origin");
        }
        if (pending_) decide_origin(reply);
        break;
      }
      case Stage::decide: {
        // The hook sees what was negotiated so far.
        if (!h.subprotocol().empty()) extra().subprotocol = h.subprotocol();
        if (!h.extensions().empty()) extra().extensions = h.extensions();
        const auto& hook = cb.route(route_).on_handshake;
        if (!hook) {
          h.accept();
          break;
        }
        HandshakeReply reply;
        try {
          reply = hook(*this, h.request());
        } catch (...) {
          return callback_threw("on_handshake");
        }
        if (pending_) decide_handshake(reply);
        break;
      }
      case Stage::respond:
        return answer_handshake();
    }
  }
}

void Connection::decide_origin(const HandshakeReply& reply) {
  protocol::ServerOpening& h = pending_->server();
  switch (reply.kind()) {
    case HandshakeReply::Kind::defer:
      pending_->deferred = Pending::Deferred::origin;
      return;
    case HandshakeReply::Kind::reject:
      h.refuse(reply.status(), reply.text(), reply.headers(),
               Error(HandshakeError::forbidden_origin,
                     "origin '" + protocol::printable(h.request().origin().value_or("")) + "' refused with " +
                         std::to_string(reply.status()) + (reply.text().empty() ? "" : ": " + reply.text())));
      return;
    case HandshakeReply::Kind::accept:
      break;
  }
  h.allow_origin(reply.headers(), reply.text());
  const auto& cb = ctx_.callbacks();
  if (!reply.text().empty() || !cb.select_subprotocol) return;
  try {
    h.choose_subprotocol(cb.select_subprotocol(h.offered_subprotocols()));
  } catch (...) {
    callback_threw("on_select_subprotocol");
  }
}

void Connection::decide_handshake(const HandshakeReply& reply) {
  protocol::ServerOpening& h = pending_->server();
  switch (reply.kind()) {
    case HandshakeReply::Kind::defer:
      pending_->deferred = Pending::Deferred::handshake;
      return;
    case HandshakeReply::Kind::reject:
      h.refuse(reply.status(), reply.text(), reply.headers(),
               Error(HandshakeError::rejected,
                     "handshake rejected with " + std::to_string(reply.status()) + ": " + reply.text()));
      return;
    case HandshakeReply::Kind::accept:
      h.accept(reply.text(), reply.headers());
      return;
  }
}

void Connection::answer_handshake() {
  protocol::ServerOpening& h = pending_->server();
  if (!h.accepted()) {
    if (h.error()) ctx_.callbacks().report(this, h.error());
    return respond_and_close(h.take_response());
  }
  Extra& x = extra();  // (for the request, below)
  x.subprotocol = h.subprotocol();  // (the client's address stays)
  x.extensions = h.extensions();
  socket_->write(h.response().serialize());
  if (h.deflate()) engine_.set_deflate(std::make_unique<protocol::MessageDeflate>(*h.deflate(), ctx_.settings().deflate, true));
  x.request = std::make_unique<Request>(std::move(h.request()));
  become_open(std::move(h.early()));
}

// The client as the trusted proxies describe it (ServerOptions::
// trusted_proxies). Costs nothing when it is the peer: only another address
// is kept, in the lazily allocated Extra.
void Connection::derive_client(const Request& request) {
  const detail::Settings& s = ctx_.settings();
  client_https_ = static_cast<bool>(s.tls);
  if (s.trusted_proxies.empty() || remote_.family == net::Endpoint::Family::none) return;
  const protocol::IpAddress peer = remote_.family == net::Endpoint::Family::v4
                                       ? protocol::IpAddress::v4({remote_.address[0], remote_.address[1],
                                                                  remote_.address[2], remote_.address[3]})
                                       : protocol::IpAddress::v6(remote_.address);
  const protocol::ClientOrigin origin = protocol::client_origin(s.trusted_proxies, peer, client_https_, request.headers);
  client_https_ = origin.https;
  if (!origin.note.empty()) {
    const auto& cb = ctx_.callbacks();
    if (cb.logs(LogLevel::warning)) cb.write_log(LogLevel::warning, this, "forwarding header ignored: " + origin.note);
  }
  if (origin.source == protocol::OriginSource::peer || origin.address == peer) return;
  net::Endpoint client;
  client.family = origin.address.is_v4() ? net::Endpoint::Family::v4 : net::Endpoint::Family::v6;
  client.address = origin.address.bytes();
  client.port = origin.port.value_or(0);
  extra().client = client;
}

const net::Endpoint& Connection::client_address() const noexcept {
  return extra_ && extra_->client.family != net::Endpoint::Family::none ? extra_->client : remote_;
}

void Connection::become_open(std::string early) {
  pending_.reset();
  state_ = ConnectionState::open;
  last_receive_ = last_message_ = ctx_.loop().now();
  const auto& cb = ctx_.callbacks();
  if (cb.logs(LogLevel::debug)) log_open();
  const Route& r = cb.route(route_);
  try {
    if (r.on_open) r.on_open(*this);
  } catch (...) {
    callback_threw("on_open");
  }
  // (Server) The request's head is most of an idle connection's memory:
  // unless the application asked to keep it, it is gone once on_open has
  // seen it.
  if (role() == Role::server && !ctx_.settings().keep_request && extra_) {
    // (and the Extra with it, when it holds nothing else: most connections)
    Extra& x = *extra_;
    x.request.reset();
    if (x.subprotocol.empty() && x.extensions.empty() && x.client.family == net::Endpoint::Family::none) extra_.reset();
  }
  // Frames that came with the end of the handshake.
  if (state_ == ConnectionState::open && !early.empty()) {
    receive(reinterpret_cast<std::uint8_t*>(early.data()), early.size());
  }
}

void Connection::log_open() const {
  std::string line = "open";
  if (const Request* req = request()) line += " " + protocol::printable(req->target);
  if (!route().empty()) line += " (route " + protocol::printable(route()) + ")";
  if (!subprotocol().empty()) line += ", subprotocol " + protocol::printable(subprotocol());
  if (!extensions().empty()) line += ", " + protocol::printable(Extension::join(extensions()));
  ctx_.callbacks().write_log(LogLevel::debug, this, line);
}

void Connection::respond_and_close(Response response) {
  // The connection closes after this answer: say so, or an HTTP client
  // that keeps connections alive sends its next request into a closing
  // socket.
  if (!response.headers.has_token("Connection", "close")) {
    const auto given = response.headers.get("Connection");
    response.headers.set("Connection", given ? std::string(*given) + ", close" : std::string("close"));
  }
  socket_->write(response.serialize());
  if (!response.body_stream || !pending_) return teardown();
  // A body streamed from the application (e.g. a file): read as the peer
  // takes it, never more than kStreamAhead bytes queued at a time.
  pending_->body_stream = std::move(response.body_stream);
  started_ = ctx_.loop().now();
  pump_body();
}

void Connection::pump_body() {
  auto& stream = pending_->body_stream;
  while (socket_->buffered_amount() < kStreamAhead) {
    const std::span<std::uint8_t> room = socket_->prepare(kPiece);
    std::ptrdiff_t n = -1;
    if (!room.empty()) {
      try {
        n = stream(reinterpret_cast<char*>(room.data()), std::min(room.size(), kPiece));
      } catch (...) {
        socket_->commit(0);
        ctx_.shared().callback_exceptions.fetch_add(1, std::memory_order_relaxed);
        ctx_.callbacks().report(this, detail::callback_exception("an HTTP body stream", std::current_exception()));
      }
    }
    if (n < 0) {
      // Cut short: closing without the rest tells the client (its
      // Content-Length is not met).
      stream = nullptr;
      return finished();
    }
    socket_->commit(static_cast<std::size_t>(n));
    if (n == 0) {
      stream = nullptr;
      return teardown();
    }
    // A refill is progress: the peer took what was queued (a producer
    // slower than the peer leaves nothing queued for the sweep to see move).
    started_ = ctx_.loop().now();
  }
  // More once some is written: on_drain calls back when the kernel had
  // refused some of it; this timer looks in the next iteration (after the
  // flush), then every 10 ms, and refills once half is gone.
  if (!pending_->stream_timer) arm_stream_timer(net::Millis{0});
}

void Connection::arm_stream_timer(net::Millis delay) {
  pending_->stream_timer = ctx_.loop().add_timer(delay, [ctx = &ctx_, id = id_] {
    Connection* c = ctx->find(id);
    if (!c || !c->pending_ || !c->pending_->body_stream) return;
    c->pending_->stream_timer = {};
    if (c->socket_->buffered_amount() <= kStreamAhead / 2) return c->pump_body();
    c->arm_stream_timer(net::Millis{10});
  });
}

}  // namespace parley
