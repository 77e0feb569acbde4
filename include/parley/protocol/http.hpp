// parley/protocol/http.hpp — the HTTP/1.1 heads of the opening handshake:
// `Request`, `Response`, and an incremental, strict head parser.
//
// The parser follows RFC 7230 strictly (see HeadParser). It never reads a
// body: after the head of a WebSocket upgrade come WebSocket frames, which
// the caller keeps (HeadParser reports how many bytes the head used). A
// server reads a plain request's body (Request::body) in ServerOpening.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/error.hpp"
#include "parley/export.hpp"
#include "parley/protocol/headers.hpp"
#include "parley/protocol/uri.hpp"

namespace parley::protocol {

/// Limits on an HTTP head, checked as bytes arrive (so an oversized head is
/// refused before it is buffered).
struct HttpLimits {
  /// The whole head in bytes: start line, header lines, their CRLFs and the
  /// final empty line. Over it: `HandshakeError::head_too_large` (431).
  std::size_t max_head_size = 20480;
  /// One line in bytes, not counting its CRLF. Over it:
  /// `HandshakeError::line_too_long` (414 for a request line, else 431).
  std::size_t max_line_size = 8192;
  /// The number of header fields. Over it: `HandshakeError::too_many_headers` (431).
  std::size_t max_headers = 100;
  /// (Server) The body of a plain HTTP request (one without `Upgrade:
  /// websocket`, answered by `on_http`), in bytes: a `Content-Length` over
  /// it is refused with 413 Payload Too Large before any of the body is
  /// read (`HandshakeError::head_too_large`). 0: no body at all. A body is
  /// read whole into `Request::body` before `on_http` is called, within
  /// `handshake_timeout` (408 past it). Only `Content-Length` bodies are
  /// read: a request with `Transfer-Encoding` (chunked) is refused with
  /// 411 Length Required. `Expect: 100-continue` is not answered: such a
  /// client sends its body after its own wait (curl: 1 s). A WebSocket
  /// upgrade request may not have a body at all (RFC 6455 §4.1: 400).
  /// Default 64 KiB.
  std::size_t max_body_size = 64 * 1024;
};

/// One cookie from a `Cookie` header (RFC 6265 §4.2).
struct Cookie {
  std::string name;   ///< as sent (case-sensitive)
  std::string value;  ///< without surrounding double quotes; not percent-decoded

  /// Equal when every field is equal.
  friend bool operator==(const Cookie&, const Cookie&) = default;
};

/// Parses a `Cookie` header value, `name=value; name2="value2"`, in order.
/// Pieces are split on `;` and trimmed of whitespace; a piece without `=`
/// or with an empty name is skipped; one pair of double quotes around a
/// value is removed.
PARLEY_EXPORT std::vector<Cookie> parse_cookies(std::string_view header);

/// The standard reason phrase of an HTTP status (e.g. 101 → "Switching
/// Protocols", 426 → "Upgrade Required"); "" for an unknown status.
PARLEY_EXPORT std::string_view reason_phrase(int status) noexcept;

/// An HTTP request head.
struct PARLEY_EXPORT Request {
  std::string method = "GET";  ///< a token, case-sensitive ("GET")
  std::string target = "/";    ///< the request target as sent: origin-form `/path?query` or absolute-form
  int version_major = 1;       ///< 1 for HTTP/1.1
  int version_minor = 1;       ///< 1 for HTTP/1.1
  Headers headers;             ///< the header fields, in the order received or to be sent
  /// (Server) The body of a plain HTTP request, read by the server before
  /// `on_http` (a form post, say: percent-decode it with parse_query()).
  /// Bounded by HttpLimits::max_body_size; empty for a WebSocket upgrade
  /// and for a request without one. serialize() writes it after the head.
  std::string body;

  /// The path of the target, still percent-encoded (decode it with
  /// percent_decode() if needed); "/" for an absolute-form target without one.
  std::string_view path() const noexcept;
  /// The raw query of the target (after `?`), "" when there is none.
  std::string_view query() const noexcept;
  /// The decoded query parameters, in order (see parse_query()).
  std::vector<QueryParam> query_params() const { return parse_query(query()); }
  /// The value of the first query parameter named `name` (case-sensitive).
  std::optional<std::string> query_param(std::string_view name) const;
  /// The cookies of every Cookie header, in order (see parse_cookies()).
  std::vector<Cookie> cookies() const;
  /// The value of the first cookie named `name` (case-sensitive).
  std::optional<std::string> cookie(std::string_view name) const;
  /// The `Origin` header, else `Sec-WebSocket-Origin` (sent by clients of
  /// protocol versions 7 and 8).
  std::optional<std::string_view> origin() const noexcept;
  /// The `Host` header.
  std::optional<std::string_view> host() const noexcept { return headers.get("Host"); }
  /// The subprotocols the client offers (every Sec-WebSocket-Protocol
  /// field, in its order); empty when none. Error: a field that is not a
  /// list of tokens (`HandshakeError::bad_extension_header`).
  Result<std::vector<std::string>> subprotocols() const;
  /// The extensions the client offers with their parameters (every
  /// Sec-WebSocket-Extensions field, in its order); empty when none. Error:
  /// an unparsable field (`HandshakeError::bad_extension_header`).
  Result<std::vector<Extension>> extensions() const;

  /// The request on the wire: `METHOD target HTTP/x.y\r\n`, the fields,
  /// `\r\n`, the body. When the body is not empty a `Content-Length` with
  /// its size is written in place of any Content-Length field in `headers`.
  std::string serialize() const;
  /// Parses one complete request head (bytes after it, a body included,
  /// are ignored: `body` stays empty); an incomplete head is
  /// `HandshakeError::malformed`.
  static Result<Request> parse(std::string_view head, const HttpLimits& limits = {});
};

/// An HTTP response head and body.
struct PARLEY_EXPORT Response {
  int version_major = 1;  ///< 1 for HTTP/1.1
  int version_minor = 1;  ///< 1 for HTTP/1.1
  int status = 101;       ///< 100-599
  std::string reason = "Switching Protocols";  ///< may be empty
  Headers headers;    ///< the header fields, in the order received or to be sent
  std::string body;  ///< sent after the head; never filled by the parser
  /// A body too large to hold in memory (a file, say), produced in pieces
  /// instead of `body`; only for a server's `on_http` answers. Called with
  /// room for at most `size` bytes (64 KiB), it writes some into `data`
  /// and returns how many: 0 once the body is complete, a negative value
  /// if it failed (the connection is then closed without the rest). Set
  /// `Content-Length` in `headers` yourself. The server calls it as the
  /// client takes what was sent, so at most 256 KiB of the body is queued
  /// at a time; a client that takes none of it for `close_timeout` is
  /// dropped. Default: none. `serialize()` writes only the head for it.
  std::function<std::ptrdiff_t(char* data, std::size_t size)> body_stream;

  /// The response on the wire: status line, the fields, `\r\n`, the body.
  /// When the body is not empty a `Content-Length` with its size is written
  /// in place of any Content-Length field in `headers`.
  std::string serialize() const;
  /// Parses one complete response head (bytes after it are ignored); an
  /// incomplete head is `HandshakeError::malformed`.
  static Result<Response> parse(std::string_view head, const HttpLimits& limits = {});
};

/// An incremental, strict HTTP/1.1 head parser for requests or responses.
///
/// Feed it bytes in pieces of any size (a byte at a time works); it keeps
/// only the unfinished line. Rules (RFC 7230), all errors final:
/// - lines end with CRLF; a bare LF line ending, a bare CR inside a line, or
///   empty lines before the start line are rejected (400);
/// - request line `token SP target SP HTTP/d.d` with single spaces; the
///   target is origin-form (`/...`) or absolute-form (`scheme://...`) of
///   visible ASCII without `#`; a version not of the form `HTTP/d.d` is
///   `bad_http_version` (505) — which versions are acceptable is the
///   handshake's decision, not the parser's;
/// - status line `HTTP/d.d SP 3DIGIT SP reason` (status 100-599; the reason
///   may be empty, and the SP before an empty reason may be missing);
/// - header lines `name: value`: the name a token with no whitespace before
///   the colon, OWS trimmed around the value, no control characters but
///   HTAB in it; a line starting with SP or HTAB (obs-fold) is rejected;
/// - HttpLimits as documented there.
class PARLEY_EXPORT HeadParser {
 public:
  /// Which head is expected.
  enum class Kind : std::uint8_t {
    request,   ///< a client's request head (server side)
    response,  ///< a server's response head (client side)
  };
  /// Where the parser is.
  enum class Status : std::uint8_t {
    need_more,  ///< the head is not complete: feed more bytes
    done,       ///< the head is complete: request() / response() hold it
    error,      ///< the head is invalid: error() and error_status() say why
  };
  /// What one feed() did.
  struct Progress {
    Status status;  ///< the parser's status after this input
    /// Bytes of this input that belong to the head. With `done`, the bytes
    /// from `consumed` on follow the head (e.g. early WebSocket frames) and
    /// are the caller's; with `need_more` it is the whole input.
    std::size_t consumed;
  };

  /// A parser for one head of `kind`, refusing heads over `limits`.
  explicit HeadParser(Kind kind, HttpLimits limits = {}) : kind_(kind), limits_(limits) {}

  /// Parses more bytes. Once done or failed, returns that status again with
  /// `consumed` 0 until reset().
  Progress feed(std::string_view data);

  /// Where the parser is.
  Status status() const noexcept { return status_; }
  /// Which head it parses.
  Kind kind() const noexcept { return kind_; }
  /// The error once `status() == Status::error`.
  const Error& error() const noexcept { return error_; }
  /// The HTTP status to refuse a request with once failed: 400, 414
  /// (request line too long), 431 or 505.
  int error_status() const noexcept { return error_status_; }
  /// The parsed request (Kind::request), complete once done.
  Request& request() noexcept { return request_; }
  /// The parsed request (read-only).
  const Request& request() const noexcept { return request_; }
  /// The parsed response head (Kind::response), complete once done.
  Response& response() noexcept { return response_; }
  /// The parsed response head (read-only).
  const Response& response() const noexcept { return response_; }

  /// Forgets everything and starts over (same kind and limits).
  void reset();

 private:
  Error line(std::string_view line);
  Error start_line(std::string_view line);
  Error header_line(std::string_view line);
  Progress fail(Error e, int status, std::size_t consumed);

  Kind kind_;
  Status status_ = Status::need_more;
  HttpLimits limits_;
  std::string partial_;       // the unfinished line, CR/LF included
  std::size_t head_size_ = 0;  // bytes of completed lines
  std::size_t header_count_ = 0;
  bool started_ = false;       // the start line has been parsed
  Error error_;
  int error_status_ = 0;
  Request request_;
  Response response_;
};

}  // namespace parley::protocol
