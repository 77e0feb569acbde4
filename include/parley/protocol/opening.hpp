// parley/protocol/opening.hpp — the opening handshake of each role as a
// state machine, without I/O (RFC 6455 §4): bytes in, the checks in their
// order, the answer out. A server's machine reads the upgrade request and
// sequences origin → extension → subprotocol → the application's decision
// → 101 or a refusal, each decision deferrable (the machine just waits); a
// request without `Upgrade: websocket` has its Content-Length body read
// first (bounded by HttpLimits::max_body_size) and goes to the application; a
// client's machine reads the server's answer and says: open, redirect, or
// refused (with the refusal's body, Content-Length or chunked or until
// EOF), or failed. The runtime (parley::Connection) only moves bytes and
// calls the application's hooks; tests drive these with bytes alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/error.hpp"
#include "parley/export.hpp"
#include "parley/protocol/deflate.hpp"
#include "parley/protocol/handshake.hpp"
#include "parley/protocol/headers.hpp"
#include "parley/protocol/http.hpp"
#include "parley/protocol/uri.hpp"

namespace parley::protocol {

// ---- server side -------------------------------------------------------------

/// What a server accepts in an opening handshake. A machine keeps a
/// reference to it: it must outlive the machine (one per server).
struct ServerPolicy {
  /// Limits on the request head; also bounds the frames a client may send
  /// before its handshake is answered (`max_head_size` bytes: 413 past it).
  HttpLimits limits;
  /// Origins allowed (exact, ASCII case-insensitive); empty: any, and no
  /// Origin at all. See ServerOpening::origin_allowed().
  std::vector<std::string> allowed_origins;
  /// The server's subprotocols, in its order of preference.
  std::vector<std::string> subprotocols;
  /// permessage-deflate, when `deflate.enabled`.
  DeflateOptions deflate;
};

/// The server's side of one opening handshake.
class PARLEY_EXPORT ServerOpening {
 public:
  /// Where the handshake stands; each stage says what the caller does next.
  enum class Stage : std::uint8_t {
    /// The request is incomplete: its head, or the body of a plain request
    /// (see `http`): feed() more bytes.
    reading,
    /// A complete request without `Upgrade: websocket` (a page, a health
    /// check, a form post), its body in `request().body`: answer it with
    /// respond(), or call upgrade() to refuse it as a WebSocket endpoint
    /// does (426). The body is read in `reading` when the head has a
    /// `Content-Length`: over `max_body_size` it is refused with 413 at
    /// once, unread; a head with `Transfer-Encoding` is refused with 411
    /// (only Content-Length bodies are read), an invalid or conflicting
    /// Content-Length with 400.
    http,
    /// A valid upgrade request: decide on its Origin with allow_origin()
    /// or refuse(); origin_allowed() is the allow-list's verdict.
    origin,
    /// The origin is accepted, permessage-deflate agreed (or not) and a
    /// subprotocol chosen by the server's list (subprotocol(); change it
    /// with choose_subprotocol()): the application's last word, accept()
    /// or refuse().
    decide,
    /// The answer is ready: send response(); then the connection opens if
    /// accepted(), else closes once it is sent (error() says why).
    respond,
  };

  /// A machine waiting for the request (`reading`), under `policy`, which
  /// must outlive it.
  explicit ServerOpening(const ServerPolicy& policy);

  /// Takes bytes from the client. While `reading`, the request head, then a
  /// plain request's body (and on completion: the stage it leads to);
  /// afterwards, the frames a client
  /// sends before its answer, kept for early() — past `max_head_size` of
  /// them the request is refused with 413.
  Stage feed(std::string_view bytes);
  /// Where the handshake stands.
  Stage stage() const noexcept { return stage_; }
  /// The request, complete from `http` on (a plain request's body in
  /// `body`).
  Request& request() noexcept { return parser_.request(); }
  /// The request, complete from `http` on (read-only).
  const Request& request() const noexcept { return parser_.request(); }

  /// (`http`) Answers a plain request with `response` (moved out again by
  /// take_response()).
  Stage respond(Response response);
  /// (`http`) Treats the request as an upgrade request after all: checks
  /// it (RFC 6455 §4.2.1), which refuses it (426 without Upgrade).
  Stage upgrade();

  /// (`origin`) True when the Origin passes `allowed_origins` (always
  /// with an empty list).
  bool origin_allowed() const noexcept;
  /// (`origin`) Accepts the origin: `headers` go into the 101, and a
  /// non-empty `subprotocol` replaces the server's choice. Goes on to
  /// permessage-deflate and the subprotocol: `decide`.
  Stage allow_origin(const Headers& headers = {}, std::string subprotocol = {});

  /// (`decide`) The client's subprotocol offers, in its order.
  const std::vector<std::string>& offered_subprotocols() const noexcept { return offered_subprotocols_; }
  /// (`decide`) The subprotocol the answer will carry ("" for none).
  const std::string& subprotocol() const noexcept { return subprotocol_; }
  /// (`decide`) Replaces the chosen subprotocol ("" for none).
  void choose_subprotocol(std::string subprotocol) { subprotocol_ = std::move(subprotocol); }
  /// The extensions agreed (permessage-deflate's answer), from `decide` on.
  const std::vector<Extension>& extensions() const noexcept { return extensions_; }
  /// (`decide`) Accepts: the 101 with `headers` added and `subprotocol`
  /// when not empty (else subprotocol()). A subprotocol the client did not
  /// offer is a server bug, not an answer: refused with 500
  /// (HandshakeError::unrequested_subprotocol).
  Stage accept(std::string subprotocol = {}, const Headers& headers = {});

  /// (Any stage but `respond`) Refuses with `status` (300-599; else 403),
  /// `message` as a text/plain body and `headers`; `why` is what error()
  /// reports.
  Stage refuse(int status, std::string_view message, const Headers& headers, Error why);
  /// (Any stage but `respond`) The request or a deferred decision took too
  /// long: refuses with 408.
  Stage time_out(std::string_view message);

  /// (`respond`) True when the answer is the 101: the connection opens.
  bool accepted() const noexcept { return accepted_; }
  /// (`respond`) The answer to send.
  const Response& response() const noexcept { return response_; }
  /// (`respond`) The answer, moved out (a body_stream goes with it).
  Response take_response() { return std::move(response_); }
  /// (`respond`, refused) Why: a parse or validation error, or the `why`
  /// given to refuse(). Empty when a plain request was answered.
  const Error& error() const noexcept { return error_; }
  /// (`respond`, accepted) permessage-deflate's agreed parameters, if any.
  const std::optional<DeflateParams>& deflate() const noexcept { return deflate_; }
  /// Frames that came after the request head (after a plain request's
  /// body: whatever followed it), in order.
  std::string& early() noexcept { return early_; }

 private:
  Stage validate();
  Stage plain(std::string_view rest);
  Stage read_body(std::string_view bytes);
  Stage keep_early(std::string_view bytes);
  Stage answer(Response response, Error why);

  const ServerPolicy& policy_;
  HeadParser parser_;
  std::string key_;  // Sec-WebSocket-Key
  std::string early_;
  std::vector<std::string> offered_subprotocols_;
  std::vector<Extension> offered_extensions_;
  std::vector<Extension> extensions_;
  std::string subprotocol_;
  Headers headers_;  // added to the 101 (by allow_origin)
  std::optional<DeflateParams> deflate_;
  Response response_;
  Error error_;
  std::size_t body_left_ = 0;  // bytes of a plain request's body still to read
  Stage stage_ = Stage::reading;
  bool accepted_ = false;
  bool reading_body_ = false;  // (`reading`) the head is done; its body is being read
};

// ---- client side -------------------------------------------------------------

/// The client's side of one opening handshake attempt.
class PARLEY_EXPORT ClientOpening {
 public:
  /// Where the attempt stands.
  enum class Stage : std::uint8_t {
    /// Waiting for (more of) the answer: feed().
    reading,
    /// A refusal's body is being read: feed(), or eof() when the server
    /// closes.
    body,
    /// The server accepted: the connection opens (negotiated(), deflate(),
    /// early()).
    open,
    /// A redirect to redirect_uri() (3xx with Location, when redirects are
    /// followed).
    redirect,
    /// Refused or failed: error() says why; response() holds a refusal.
    failed,
  };

  /// `handshake`: what to ask for; `offers`: the permessage-deflate offers
  /// in the request, in order (their settings apply to the answer);
  /// `follow_redirects`: whether a 3xx with a Location is a `redirect`
  /// (else a refusal). Errors of the request (a bad option) are error()
  /// at once: stage() is then `failed`.
  ClientOpening(const ClientHandshake& handshake, const HttpLimits& limits,
                const std::vector<DeflateOptions>& offers, bool follow_redirects);

  /// The request to send (empty when it could not be made).
  const Request& request() const noexcept { return request_; }
  /// Takes bytes of the server's answer.
  Stage feed(std::string_view bytes);
  /// The server closed: a refusal whose body runs until EOF is complete;
  /// otherwise the handshake failed (HandshakeError::closed).
  Stage eof();
  /// The handshake took too long: a refusal with its body so far, or
  /// HandshakeError::timeout.
  Stage time_out(std::string_view message);
  /// Where the attempt stands.
  Stage stage() const noexcept { return stage_; }

  /// True once the server's answer head arrived (whatever it said).
  bool answered() const noexcept { return parser_.status() == HeadParser::Status::done; }
  /// The server's answer, once answered() (head; for a refusal with its
  /// body, at most `max_head_size` bytes of it).
  Response& response() noexcept { return parser_.response(); }
  /// (`failed`) Why.
  const Error& error() const noexcept { return error_; }
  /// (`redirect`) Where to.
  const Uri& redirect_uri() const noexcept { return redirect_; }
  /// (`open`) The subprotocol and extensions agreed.
  Negotiated& negotiated() noexcept { return negotiated_; }
  /// (`open`) permessage-deflate's agreed parameters; nullopt when the
  /// server agreed to none.
  const std::optional<DeflateParams>& deflate() const noexcept { return deflate_; }
  /// (`open`) The offer (one of the constructor's `offers`) whose settings
  /// apply to the agreed permessage-deflate; nullptr when none was agreed.
  const DeflateOptions* deflate_offer() const noexcept { return deflate_offer_; }
  /// (`open`) Frames that came with the answer.
  std::string& early() noexcept { return early_; }

 private:
  Stage answered(std::string_view rest);
  Stage body(std::string_view bytes);
  Stage fail(Error e);

  const ClientHandshake& handshake_;
  const std::vector<DeflateOptions>& offers_;
  HeadParser parser_;
  Request request_;
  std::string key_;
  std::string early_;
  std::string chunked_;  // a chunked refusal body as received
  Negotiated negotiated_;
  std::optional<DeflateParams> deflate_;
  const DeflateOptions* deflate_offer_ = nullptr;
  Uri redirect_;
  Error error_;
  std::size_t body_limit_;  // bytes of a refusal's body to read: max_head_size, or its smaller Content-Length
  Stage stage_ = Stage::reading;
  bool follow_redirects_;
  bool is_chunked_ = false;
};

/// Where a redirect's `Location` leads from `current`: an absolute ws://,
/// wss://, http:// or https:// URI (http and https are taken as ws and
/// wss), or a path on the same host. A redirect from wss:// to ws:// is
/// refused. Error: HandshakeError::bad_uri, with the (escaped) location.
PARLEY_EXPORT Result<Uri> resolve_location(const Uri& current, std::string_view location);

/// Decodes a chunked body (RFC 7230 §4.1) from the start of `raw` into
/// `out` (replaced): true once the last chunk (size 0) arrived, or at a
/// malformed chunk size (then `out` keeps what was decoded); false while
/// more is needed (`out` has the chunks so far, the last one possibly
/// partial). Chunk extensions and trailers are ignored.
PARLEY_EXPORT bool decode_chunked(std::string_view raw, std::string& out);

}  // namespace parley::protocol
