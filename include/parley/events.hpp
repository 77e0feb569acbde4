// parley/events.hpp — the events every connection reports, set the same way
// on a Server and on a Client (both derive from ConnectionEvents).
#pragma once

#include <functional>
#include <string_view>

#include "parley/close_code.hpp"
#include "parley/connection.hpp"
#include "parley/error.hpp"
#include "parley/export.hpp"
#include "parley/protocol/frame.hpp"

namespace parley {

namespace detail {
struct Callbacks;
}  // namespace detail

/// The callbacks of the connections on one path of a Server, given to
/// `Server::route()` (the same events as `ConnectionEvents`, with the same
/// rules: loop thread, views valid during the call only, exceptions caught).
/// Each is optional; an unset one does the default: `on_handshake`
/// accepts, `on_ping` pongs, the others do nothing. Designated
/// initializers name only what a route needs, e.g.
///
///     server.route("/chat/*", {.on_open = join, .on_text = say, .on_close = leave});
struct Route {
  /// The upgrade request passed validation, the origin check and
  /// subprotocol selection: accept, reject or defer (as `Server::on_handshake`).
  std::function<HandshakeReply(Connection&, const Request&)> on_handshake{};
  /// The handshake completed: the connection is open.
  std::function<void(Connection&)> on_open{};
  /// A text message, valid UTF-8.
  std::function<void(Connection&, std::string_view)> on_text{};
  /// A binary message.
  std::function<void(Connection&, std::string_view)> on_binary{};
  /// A ping; return false to suppress the automatic pong.
  std::function<bool(Connection&, std::string_view)> on_ping{};
  /// A pong.
  std::function<void(Connection&, std::string_view)> on_pong{};
  /// The connection ended (as `ConnectionEvents::on_close`); fires once per opened connection.
  std::function<void(Connection&, CloseCode, std::string_view reason)> on_close{};
  /// The unsent output fell back under `max_buffered_amount` after a send
  /// reported `SendStatus::backpressure`.
  std::function<void(Connection&)> on_drain{};
};

/// The events of every connection, whichever end opened it. Set them
/// before `start()` (a Client: before the first `connect()`); each is
/// optional. Every one runs on the connection's loop thread; what is passed
/// by reference or view is valid during the call only. An exception
/// escaping one is caught where parley called it (the connection closes
/// with 1011, or its handshake is answered 500; see docs/security.md).
class PARLEY_EXPORT ConnectionEvents {
 public:
  /// The handshake completed: the connection is open.
  void on_open(std::function<void(Connection&)> fn);
  /// A text message, valid UTF-8.
  void on_text(std::function<void(Connection&, std::string_view)> fn);
  /// A binary message.
  void on_binary(std::function<void(Connection&, std::string_view)> fn);
  /// A ping; return false to suppress the automatic pong. Default: pong.
  void on_ping(std::function<bool(Connection&, std::string_view)> fn);
  /// A pong (an answer to a ping, or a heartbeat).
  void on_pong(std::function<void(Connection&, std::string_view)> fn);
  /// The connection ended: the peer's close code and reason (1005 when its
  /// close frame had none), the code parley failed it with (1002, 1007,
  /// 1008, 1009, 1011, ...), or 1006 when the TCP connection was lost or
  /// the peer never answered. Fires exactly once per opened connection.
  void on_close(std::function<void(Connection&, CloseCode, std::string_view reason)> fn);
  /// Something went wrong, with the connection it concerns:
  /// - during the handshake: a server refused or could not complete one
  ///   (bad request, origin, hook, timeout, TLS); a client could not
  ///   connect or was refused (DNS, refused, timeout, a non-101 answer with
  ///   its status and body, a bad accept key, ...) or gave up reconnecting;
  /// - once open: the peer broke the protocol or a limit (on_close follows
  ///   with the code), or a callback threw (`UsageError::callback_exception`);
  /// - `nullptr`: nothing connection-specific (a server's listener failed,
  ///   a function posted to a loop threw).
  /// What it throws is dropped.
  void on_error(std::function<void(Connection*, const Error&)> fn);
  /// A connection's unsent output fell back under `max_buffered_amount`
  /// after a send reported `SendStatus::backpressure`.
  void on_drain(std::function<void(Connection&)> fn);
  /// Every frame of every open connection, received (once its header is
  /// parsed, before its payload) or sent (when it is queued, broadcasts
  /// included): opcode, FIN, RSV bits, mask, payload length in bytes. For
  /// logging and debugging (`parley serve --verbose`); costs one call per
  /// frame. Default: none.
  void on_frame(std::function<void(Connection&, protocol::FrameDirection, const protocol::FrameHeader&)> fn);
  /// A line for a log, of `level` or more severe than
  /// `ConnectionOptions::log_level`: why a handshake was refused or
  /// failed, a connection dropped or timed out, a limit was hit, TLS
  /// failed, a reconnect is scheduled, and (debug) every connection opened
  /// and closed. Messages about a connection start with `#<id> <address>:`;
  /// peer bytes in them are escaped (`protocol::printable`). Everything
  /// reported to `on_error` is logged too (error level without a
  /// connection or for a callback's exception, warning otherwise). Runs on
  /// the loop thread where it happened (or the thread calling start()/stop());
  /// it must be quick and thread-safe when several loops run. What it
  /// throws is dropped. Default: none (nothing is formatted).
  void on_log(std::function<void(LogLevel, std::string_view message)> fn);

 protected:
  /// \private (made by Server and Client)
  explicit ConnectionEvents(detail::Callbacks& callbacks) noexcept : callbacks_(&callbacks) {}
  ~ConnectionEvents() = default;
  ConnectionEvents(const ConnectionEvents&) = delete;
  ConnectionEvents& operator=(const ConnectionEvents&) = delete;

 private:
  detail::Callbacks* callbacks_;
};

}  // namespace parley
