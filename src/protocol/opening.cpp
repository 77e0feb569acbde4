// The opening handshake of each role as a state machine (RFC 6455 §4).
#include "parley/protocol/opening.hpp"

#include <algorithm>
#include <optional>

#include "http_text.hpp"
#include "parley/protocol/printable.hpp"

namespace parley::protocol {

// ---- server side -------------------------------------------------------------

ServerOpening::ServerOpening(const ServerPolicy& policy)
    : policy_(policy), parser_(HeadParser::Kind::request, policy.limits) {}

ServerOpening::Stage ServerOpening::feed(std::string_view bytes) {
  if (stage_ == Stage::respond) return stage_;
  if (reading_body_) return read_body(bytes);
  if (stage_ != Stage::reading) return keep_early(bytes);
  const HeadParser::Progress progress = parser_.feed(bytes);
  switch (progress.status) {
    case HeadParser::Status::need_more:
      return stage_;
    case HeadParser::Status::error:
      return answer(make_error_response(parser_.error(), parser_.error_status()), parser_.error());
    case HeadParser::Status::done:
      break;
  }
  if (!request().headers.has_token("Upgrade", "websocket")) return plain(bytes.substr(progress.consumed));
  early_.assign(bytes.substr(progress.consumed));
  return validate();
}

// Frames sent before the answer: kept for the open connection, bounded.
ServerOpening::Stage ServerOpening::keep_early(std::string_view bytes) {
  if (early_.size() + bytes.size() > policy_.limits.max_head_size) {
    return refuse(413, "too much data before the handshake completed", {},
                  Error(HandshakeError::head_too_large, "more than " + std::to_string(policy_.limits.max_head_size) +
                                                            " bytes of frames before the handshake was answered"));
  }
  early_.append(bytes);
  return stage_;
}

namespace {

// The length a request's Content-Length fields give (RFC 7230 §3.3.2): every
// field, and every comma-separated element of one, a run of digits of the
// same value ("42, 42" is 42). nullopt: none. kBadLength: malformed or
// conflicting. A value too large for size_t saturates (it is over any limit).
constexpr std::size_t kBadLength = static_cast<std::size_t>(-1);
constexpr std::size_t kHugeLength = kBadLength - 1;

std::optional<std::size_t> content_length(const Headers& headers) {
  std::optional<std::size_t> length;
  for (std::string_view field : headers.get_all("Content-Length")) {
    for (;;) {
      const std::size_t comma = field.find(',');
      std::string_view element = field.substr(0, comma);
      while (!element.empty() && text::is_ows(element.front())) element.remove_prefix(1);
      while (!element.empty() && text::is_ows(element.back())) element.remove_suffix(1);
      if (element.empty()) return kBadLength;
      std::size_t n = 0;
      for (char ch : element) {
        if (ch < '0' || ch > '9') return kBadLength;
        const auto digit = static_cast<std::size_t>(ch - '0');
        n = n > (kHugeLength - digit) / 10 ? kHugeLength : n * 10 + digit;
      }
      if (length && *length != n) return kBadLength;
      length = n;
      if (comma == std::string_view::npos) break;
      field.remove_prefix(comma + 1);
    }
  }
  return length;
}

}  // namespace

// A request without `Upgrade: websocket`: its body (Content-Length only,
// bounded by max_body_size) is read before the application sees it.
ServerOpening::Stage ServerOpening::plain(std::string_view rest) {
  const Headers& headers = request().headers;
  if (auto coding = headers.get("Transfer-Encoding")) {
    return refuse(411, "a request body needs a Content-Length", {},
                  Error(HandshakeError::malformed, "a request with Transfer-Encoding '" + printable(*coding, 64) +
                                                       "' (only Content-Length bodies are read)"));
  }
  const std::optional<std::size_t> length = content_length(headers);
  if (length == kBadLength) {
    return refuse(400, "bad Content-Length", {},
                  Error(HandshakeError::malformed,
                        "invalid or conflicting Content-Length '" +
                            printable(headers.get("Content-Length").value_or(""), 64) + "'"));
  }
  const std::size_t limit = policy_.limits.max_body_size;
  if (length && *length > limit) {
    return refuse(413, "the request body is too large", {},
                  Error(HandshakeError::head_too_large,
                        "a request body of " + std::string(*length == kHugeLength ? "more than 2^64" : std::to_string(*length)) +
                            " bytes (max_body_size: " + std::to_string(limit) + ")"));
  }
  body_left_ = length.value_or(0);
  if (body_left_ == 0) {
    stage_ = Stage::http;
    return rest.empty() ? stage_ : keep_early(rest);
  }
  request().body.reserve(body_left_);
  reading_body_ = true;
  return read_body(rest);
}

ServerOpening::Stage ServerOpening::read_body(std::string_view bytes) {
  const std::size_t n = std::min(bytes.size(), body_left_);
  request().body.append(bytes.substr(0, n));
  body_left_ -= n;
  if (body_left_ > 0) return stage_;
  reading_body_ = false;
  stage_ = Stage::http;
  // (What follows a body, a pipelined request say, is kept as early bytes
  // are, bounded; the connection closes after its answer.)
  return n == bytes.size() ? stage_ : keep_early(bytes.substr(n));
}

ServerOpening::Stage ServerOpening::validate() {
  Result<ClientOffer> offer = validate_request(request());
  if (!offer) return answer(make_error_response(offer.error()), offer.error());
  key_ = std::move(offer->key);
  offered_subprotocols_ = std::move(offer->subprotocols);
  offered_extensions_ = std::move(offer->extensions);
  return stage_ = Stage::origin;
}

ServerOpening::Stage ServerOpening::respond(Response response) { return answer(std::move(response), {}); }

ServerOpening::Stage ServerOpening::upgrade() { return validate(); }

bool ServerOpening::origin_allowed() const noexcept {
  if (policy_.allowed_origins.empty()) return true;
  const std::optional<std::string_view> origin = request().origin();
  return origin && std::any_of(policy_.allowed_origins.begin(), policy_.allowed_origins.end(),
                               [&](const std::string& o) { return text::iequals(o, *origin); });
}

ServerOpening::Stage ServerOpening::allow_origin(const Headers& headers, std::string subprotocol) {
  if (stage_ != Stage::origin) return stage_;
  headers_ = headers;
  if (auto agreed = negotiate_deflate(offered_extensions_, policy_.deflate)) {
    extensions_.push_back(std::move(agreed->response));
    deflate_ = agreed->params;
  }
  subprotocol_ = !subprotocol.empty() ? std::move(subprotocol)
                                      : select_subprotocol(offered_subprotocols_, policy_.subprotocols).value_or("");
  return stage_ = Stage::decide;
}

ServerOpening::Stage ServerOpening::accept(std::string subprotocol, const Headers& headers) {
  if (stage_ != Stage::decide) return stage_;
  if (!subprotocol.empty()) subprotocol_ = std::move(subprotocol);
  if (!subprotocol_.empty() &&
      std::find(offered_subprotocols_.begin(), offered_subprotocols_.end(), subprotocol_) == offered_subprotocols_.end()) {
    return refuse(500, "internal server error", {},
                  Error(HandshakeError::unrequested_subprotocol,
                        "the server accepted subprotocol '" + printable(subprotocol_) + "', which the client did not offer"));
  }
  Response r = make_accept_response(key_, subprotocol_, extensions_);
  for (const auto& f : headers_) r.headers.add(f.name, f.value);
  for (const auto& f : headers) r.headers.add(f.name, f.value);
  accepted_ = true;
  return answer(std::move(r), {});
}

ServerOpening::Stage ServerOpening::refuse(int status, std::string_view message, const Headers& headers, Error why) {
  if (stage_ == Stage::respond) return stage_;
  return answer(make_error_response(status, message, headers), std::move(why));
}

ServerOpening::Stage ServerOpening::time_out(std::string_view message) {
  return refuse(408, message, {}, Error(HandshakeError::timeout, std::string(message)));
}

ServerOpening::Stage ServerOpening::answer(Response response, Error why) {
  response_ = std::move(response);
  error_ = std::move(why);
  if (!accepted_) deflate_.reset();
  return stage_ = Stage::respond;
}

// ---- client side -------------------------------------------------------------

namespace {

bool is_redirect(int status) noexcept {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

ClientOpening::ClientOpening(const ClientHandshake& handshake, const HttpLimits& limits,
                             const std::vector<DeflateOptions>& offers, bool follow_redirects)
    : handshake_(handshake),
      offers_(offers),
      parser_(HeadParser::Kind::response, limits),
      body_limit_(limits.max_head_size),
      follow_redirects_(follow_redirects) {
  Result<ClientRequest> made = make_request(handshake);
  if (!made) {
    fail(made.error());
    return;
  }
  request_ = std::move(made->request);
  key_ = std::move(made->key);
}

ClientOpening::Stage ClientOpening::feed(std::string_view bytes) {
  if (stage_ == Stage::body) return body(bytes);
  if (stage_ != Stage::reading) return stage_;
  const HeadParser::Progress progress = parser_.feed(bytes);
  switch (progress.status) {
    case HeadParser::Status::need_more:
      return stage_;
    case HeadParser::Status::error:
      return fail(parser_.error());
    case HeadParser::Status::done:
      break;
  }
  return answered(bytes.substr(progress.consumed));
}

ClientOpening::Stage ClientOpening::answered(std::string_view rest) {
  Response& head = parser_.response();
  if (head.status != 101) {
    if (follow_redirects_ && is_redirect(head.status) && head.headers.has("Location")) {
      Result<Uri> to = resolve_location(handshake_.uri, *head.headers.get("Location"));
      if (!to) return fail(to.error());
      redirect_ = std::move(*to);
      return stage_ = Stage::redirect;
    }
    // A refusal: its body (at most max_head_size bytes of it) tells the
    // application why. It ends with its Content-Length, its last chunk, or
    // the connection (which may stay open after a chunked one).
    if (head.headers.has_token("Transfer-Encoding", "chunked")) {
      is_chunked_ = true;
    } else if (auto length = head.headers.get("Content-Length")) {
      std::size_t n = 0;
      for (char ch : *length) {
        n = (ch >= '0' && ch <= '9' && n < body_limit_) ? n * 10 + static_cast<std::size_t>(ch - '0') : n;
      }
      body_limit_ = std::min(n, body_limit_);
    }
    stage_ = Stage::body;
    return body(rest);
  }
  Result<Negotiated> ok = validate_response(head, key_, handshake_.subprotocols, handshake_.extensions);
  if (!ok) return fail(ok.error());
  for (const Extension& e : ok->extensions) {
    // validate_response admitted only offered extensions: permessage-deflate,
    // answering one of our offers — the first the answer is valid for.
    Result<DeflateParams> params = Error(HandshakeError::unrequested_extension);
    for (const DeflateOptions& offer : offers_) {
      params = accept_deflate_response(e, offer);
      if (params) {
        deflate_offer_ = &offer;
        break;
      }
    }
    if (!params) return fail(params.error());
    deflate_ = *params;
  }
  negotiated_ = std::move(*ok);
  early_.assign(rest);
  return stage_ = Stage::open;
}

ClientOpening::Stage ClientOpening::body(std::string_view bytes) {
  Response& r = parser_.response();
  if (is_chunked_) {
    chunked_.append(bytes.substr(0, body_limit_ - std::min(body_limit_, chunked_.size())));
    if (decode_chunked(chunked_, r.body) || chunked_.size() >= body_limit_) return fail(refusal_error(r));
    return stage_;
  }
  r.body.append(bytes.substr(0, body_limit_ - std::min(body_limit_, r.body.size())));
  if (r.body.size() >= body_limit_) return fail(refusal_error(r));
  return stage_;
}

ClientOpening::Stage ClientOpening::eof() {
  if (stage_ == Stage::body) return fail(refusal_error(parser_.response()));
  if (stage_ != Stage::reading) return stage_;
  return fail(Error(HandshakeError::closed, "the server closed the connection before answering the handshake"));
}

ClientOpening::Stage ClientOpening::time_out(std::string_view message) {
  if (stage_ == Stage::body) return fail(refusal_error(parser_.response()));
  if (stage_ != Stage::reading) return stage_;
  return fail(Error(HandshakeError::timeout, std::string(message)));
}

ClientOpening::Stage ClientOpening::fail(Error e) {
  error_ = std::move(e);
  return stage_ = Stage::failed;
}

// ---- helpers -------------------------------------------------------------------

Result<Uri> resolve_location(const Uri& current, std::string_view location) {
  std::string target(location);
  if (!target.empty() && target.front() == '/') {
    target = (current.secure() ? "wss://" : "ws://") + current.host_header() + target;
  }
  auto bad = [&] { return Error(HandshakeError::bad_uri, "bad redirect location '" + printable(location) + "'"); };
  auto uri = Uri::parse(target);
  if (!uri) return bad();
  if (uri->scheme() == "http" || uri->scheme() == "https") {
    const std::size_t colon = target.find(':');
    uri = Uri::parse((uri->secure() ? "wss" : "ws") + target.substr(colon));
    if (!uri) return bad();
  }
  if (current.secure() && !uri->secure()) {
    return Error(HandshakeError::bad_uri,
                 "refusing to follow a redirect from wss:// to ws:// (" + printable(target) + ")");
  }
  return uri;
}

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

}  // namespace parley::protocol
