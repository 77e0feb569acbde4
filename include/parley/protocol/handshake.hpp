// parley/protocol/handshake.hpp — the opening handshake (RFC 6455 §4).
//
// Sans-I/O: the client builds a Request and checks the server's Response;
// the server checks the client's Request and builds a Response. Reading and
// writing the heads is the caller's (see HeadParser in http.hpp).
//
// Versions: parley speaks RFC 6455 (Sec-WebSocket-Version 13) and the drafts
// hybi-07/-08 (versions 7 and 8), which share its framing. The pre-RFC
// drafts hixie-75 and hixie-76 (hybi-00) are
// refused with 426: they are obsolete and insecure (no masking, a
// handshake a cross-protocol attack can forge, hixie-76's MD5 challenge
// sent as a body that proxies mangle).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/error.hpp"
#include "parley/export.hpp"
#include "parley/protocol/headers.hpp"
#include "parley/protocol/http.hpp"
#include "parley/protocol/uri.hpp"

namespace parley::protocol {

/// The GUID RFC 6455 §1.3 appends to the key before hashing.
inline constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
/// accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
PARLEY_EXPORT std::string accept_key(std::string_view key);

/// A fresh `Sec-WebSocket-Key`: base64 of 16 bytes from OpenSSL's CSPRNG.
PARLEY_EXPORT std::string generate_key();

/// Standard base64 (RFC 4648 §4) with padding.
PARLEY_EXPORT std::string base64_encode(std::string_view bytes);

/// Decodes standard padded base64; false (and `out` unspecified) on any
/// character outside the alphabet, bad padding or a length not a multiple of 4.
PARLEY_EXPORT bool base64_decode(std::string_view text, std::string& out);

/// The value of `Sec-WebSocket-Version` that a server refusing an
/// unsupported version sends with its 426: the versions it accepts.
inline constexpr std::string_view supported_versions = "13, 8, 7";

// ---- client side -------------------------------------------------------------

/// What a client asks for in its opening handshake.
struct ClientHandshake {
  /// Where to connect: gives the request target (`resource()`) and the Host
  /// header (`host_header()`). Must be a parsed URI (a default Uri has no
  /// host and is refused with `bad_uri`).
  Uri uri;
  /// The Origin header; empty: none is sent (browsers always send one).
  std::string origin;
  /// Subprotocols (tokens) in the client's order of preference; none: no
  /// Sec-WebSocket-Protocol header.
  std::vector<std::string> subprotocols;
  /// Extensions offered, in order of preference (Sec-WebSocket-Extensions).
  std::vector<Extension> extensions;
  /// Sec-WebSocket-Version to send: 13 (RFC 6455), or 8 or 7 (the late
  /// hybi drafts, same framing) for old servers; anything else is refused
  /// with `unsupported_version`. Default 13.
  int version = 13;
  /// The raw Cookie header value, already formatted (`a=1; b=2`); empty:
  /// none.
  std::string cookie;
  /// More header fields, added after the handshake's own. A field named
  /// Host, Origin or Cookie replaces the one made from the options above;
  /// Upgrade, Connection and Sec-WebSocket-* fields are refused (they belong
  /// to the handshake).
  Headers headers;
};

/// A client's request and the key it carries (needed to check the answer).
struct ClientRequest {
  Request request;  ///< the upgrade request head, ready to serialize()
  std::string key;  ///< the Sec-WebSocket-Key sent
};

/// Builds the client's upgrade request with a fresh random key. Errors:
/// `bad_uri` (no host), `bad_extension_header` (a subprotocol that is not a
/// token or is repeated, an extension that is not valid()), `malformed` (a
/// bad or reserved extra header, an Origin or Cookie with control characters).
PARLEY_EXPORT Result<ClientRequest> make_request(const ClientHandshake& options);
/// Same, with a given key (base64 of 16 bytes, else `bad_key`) — for tests
/// and reproducible output.
PARLEY_EXPORT Result<ClientRequest> make_request(const ClientHandshake& options, std::string_view key);

/// What a successful handshake agreed on.
struct Negotiated {
  std::string subprotocol;           ///< the chosen subprotocol; "" when none
  std::vector<Extension> extensions;  ///< the extensions in use, in the server's order
};

/// The client's check of the server's answer (RFC 6455 §4.1): status 101
/// (else `bad_status`), `Upgrade: websocket` (else `not_upgrade`),
/// `Connection: upgrade` (else `missing_connection_upgrade`), exactly one
/// Sec-WebSocket-Accept equal to accept_key(key) (else `bad_accept`), at most
/// one subprotocol, one of `offered_subprotocols` compared exactly (else
/// `unrequested_subprotocol`), and extensions each named (case-insensitively)
/// in `offered_extensions`, none twice (else `unrequested_extension`;
/// `bad_extension_header` when unparsable). Parameters of the accepted
/// extensions are returned for the extension itself to check.
PARLEY_EXPORT Result<Negotiated> validate_response(const Response& response, std::string_view key,
                                                   const std::vector<std::string>& offered_subprotocols,
                                                   const std::vector<Extension>& offered_extensions);

/// The `bad_status` Error for a server's answer other than 101 (a refusal
/// such as 403, or a redirect not followed): "server answered 403 Forbidden
/// instead of 101 Switching Protocols: <body>". The reason phrase (up to 64
/// bytes) and the body (up to 200 bytes, read as UTF-8, trailing CR and LF
/// left out) are escaped with printable(), so that a server cannot put
/// terminal control sequences into a log line. validate_response() returns
/// it for a status other than 101.
PARLEY_EXPORT Error refusal_error(const Response& response);

// ---- server side -------------------------------------------------------------

/// What a valid upgrade request offers.
struct ClientOffer {
  std::string key;                     ///< Sec-WebSocket-Key (base64 of 16 bytes)
  int version = 13;                    ///< Sec-WebSocket-Version: 13, 8 or 7
  std::vector<std::string> subprotocols;  ///< Sec-WebSocket-Protocol, in the client's order
  std::vector<Extension> extensions;   ///< Sec-WebSocket-Extensions, in the client's order
  std::optional<std::string> origin;   ///< Origin (or Sec-WebSocket-Origin), if sent
};

/// The server's check of an upgrade request (RFC 6455 §4.2.1), in this
/// order, each failure with the HTTP status `http_status_for()` gives:
/// method GET (`bad_method`, 405); HTTP/1.1 or later (`bad_http_version`,
/// 505); exactly one non-empty Host (`missing_host`, 400; two Hosts:
/// `malformed`, 400); an `Upgrade` list with `websocket` (`not_upgrade`,
/// 426); a `Connection` list with `upgrade` (`missing_connection_upgrade`,
/// 400); exactly one Sec-WebSocket-Version that is 13, 8 or 7
/// (`unsupported_version`, 426 — also for hixie-75/76 requests, which send
/// none); exactly one Sec-WebSocket-Key that is base64 of 16 bytes
/// (`bad_key`, 400); no body — a Content-Length other than 0 or any
/// Transfer-Encoding is `malformed` (400); parsable Sec-WebSocket-Protocol
/// (tokens, no parameters) and Sec-WebSocket-Extensions
/// (`bad_extension_header`, 400).
PARLEY_EXPORT Result<ClientOffer> validate_request(const Request& request);

/// Chooses a subprotocol: the first of the client's offers, in the client's
/// order of preference, that the server supports (compared exactly, as
/// browsers do); nullopt when there is none — the handshake then goes on
/// without a subprotocol, and the application may refuse it.
PARLEY_EXPORT std::optional<std::string> select_subprotocol(const std::vector<std::string>& offered,
                                                            const std::vector<std::string>& supported);

/// The server's 101 answer: `Upgrade: websocket`, `Connection: Upgrade`,
/// `Sec-WebSocket-Accept: accept_key(key)`, then `Sec-WebSocket-Protocol`
/// when `subprotocol` is not empty and `Sec-WebSocket-Extensions` when
/// `extensions` is not empty.
PARLEY_EXPORT Response make_accept_response(std::string_view key, std::string_view subprotocol = {},
                                            const std::vector<Extension>& extensions = {});

/// A refusal: `status` (outside 100-599: 500) with
/// its standard reason, a text/plain body of `message` (the reason phrase
/// when empty) and a newline, `Content-Type: text/plain; charset=utf-8` and
/// `Connection: close`. For 405 it adds `Allow: GET`; for 426 `Upgrade:
/// websocket`, `Sec-WebSocket-Version: 13, 8, 7` and `Connection: Upgrade,
/// close` (RFC 7230 §6.7: who sends Upgrade lists it in Connection). Fields
/// of `extra` replace generated fields of the same name; extra fields with
/// an invalid name or value (e.g. a CR or LF) are dropped, so no header can
/// be injected. The caller closes the connection after sending it.
PARLEY_EXPORT Response make_error_response(int status, std::string_view message = {}, const Headers& extra = {});
/// A refusal for an Error: its message, with `status`, or when `status` is 0
/// `http_status_for()` of a handshake error (500 for other errors). Pass
/// `HeadParser::error_status()` for parse errors to answer 414 to a request
/// line that is too long.
PARLEY_EXPORT Response make_error_response(const Error& error, int status = 0);

}  // namespace parley::protocol
