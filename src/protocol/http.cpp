// HTTP/1.1 heads: Request, Response, cookies and the incremental parser.
#include "parley/protocol/http.hpp"

#include <iterator>
#include <type_traits>

#include "http_text.hpp"
#include "parley/protocol/printable.hpp"

namespace parley::protocol {
namespace {

Error malformed(std::string msg) { return Error(HandshakeError::malformed, std::move(msg)); }

// "HTTP/" DIGIT "." DIGIT
bool parse_version(std::string_view s, int& hi, int& lo) noexcept {
  if (s.size() != 8 || s.substr(0, 5) != "HTTP/" || !text::is_digit(s[5]) || s[6] != '.' || !text::is_digit(s[7])) {
    return false;
  }
  hi = s[5] - '0';
  lo = s[7] - '0';
  return true;
}

void append_version(std::string& out, int hi, int lo) {
  out.append("HTTP/").append(std::to_string(hi)).append(".").append(std::to_string(lo));
}

// scheme "://" as in absolute-form; returns the length of the prefix or 0.
std::size_t absolute_prefix(std::string_view target) noexcept {
  if (target.empty() || !text::is_alpha(target[0])) return 0;
  std::size_t i = 1;
  while (i < target.size() &&
         (text::is_alpha(target[i]) || text::is_digit(target[i]) || target[i] == '+' || target[i] == '-' ||
          target[i] == '.')) {
    ++i;
  }
  return target.substr(i, 3) == "://" ? i + 3 : 0;
}

bool valid_target(std::string_view target) noexcept {
  if (target.empty()) return false;
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '#') return false;
  }
  return target[0] == '/' || absolute_prefix(target) != 0;
}

// The path-and-query part of a target ("" for an absolute-form target
// without a path or query).
std::string_view path_and_query(std::string_view target) noexcept {
  if (const std::size_t prefix = absolute_prefix(target); prefix != 0) {
    const std::size_t start = target.find_first_of("/?", prefix);
    return start == std::string_view::npos ? std::string_view() : target.substr(start);
  }
  return target;
}

}  // namespace

// ---- cookies, reasons ------------------------------------------------------

std::vector<Cookie> parse_cookies(std::string_view header) {
  std::vector<Cookie> out;
  while (true) {
    const std::size_t semi = header.find(';');
    const std::string_view piece = text::trim_ows(header.substr(0, semi));
    const std::size_t eq = piece.find('=');
    if (eq != std::string_view::npos) {
      const std::string_view name = text::trim_ows(piece.substr(0, eq));
      std::string_view value = text::trim_ows(piece.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      if (!name.empty()) out.push_back(Cookie{std::string(name), std::string(value)});
    }
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return out;
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

// ---- Request ---------------------------------------------------------------

std::string_view Request::path() const noexcept {
  const std::string_view pq = path_and_query(target);
  const std::string_view p = pq.substr(0, pq.find('?'));
  return p.empty() ? std::string_view("/") : p;
}

std::string_view Request::query() const noexcept {
  const std::string_view pq = path_and_query(target);
  const std::size_t q = pq.find('?');
  return q == std::string_view::npos ? std::string_view() : pq.substr(q + 1);
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  for (QueryParam& p : query_params()) {
    if (p.name == name) return std::move(p.value);
  }
  return std::nullopt;
}

std::vector<Cookie> Request::cookies() const {
  std::vector<Cookie> out;
  for (const Headers::Field& f : headers) {
    if (!text::iequals(f.name, "Cookie")) continue;
    std::vector<Cookie> some = parse_cookies(f.value);
    if (out.empty()) {
      out = std::move(some);
    } else {
      out.insert(out.end(), std::make_move_iterator(some.begin()), std::make_move_iterator(some.end()));
    }
  }
  return out;
}

std::optional<std::string> Request::cookie(std::string_view name) const {
  for (Cookie& c : cookies()) {
    if (c.name == name) return std::move(c.value);
  }
  return std::nullopt;
}

std::optional<std::string_view> Request::origin() const noexcept {
  if (auto o = headers.get("Origin")) return o;
  return headers.get("Sec-WebSocket-Origin");
}

std::string Request::serialize() const {
  std::string out;
  out.reserve(64 + target.size() + headers.size() * 32 + body.size());
  out.append(method).append(" ").append(target).append(" ");
  append_version(out, version_major, version_minor);
  out.append("\r\n");
  if (body.empty()) {
    headers.serialize_to(out);
  } else {
    for (const Headers::Field& f : headers) {
      if (text::iequals(f.name, "Content-Length")) continue;
      out.append(f.name).append(": ").append(f.value).append("\r\n");
    }
    out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  out.append("\r\n");
  out.append(body);
  return out;
}

namespace {
template <class T>
Result<T> parse_whole(std::string_view head, const HttpLimits& limits, HeadParser::Kind kind) {
  HeadParser parser(kind, limits);
  const HeadParser::Progress p = parser.feed(head);
  if (p.status == HeadParser::Status::error) return parser.error();
  if (p.status == HeadParser::Status::need_more) return malformed("incomplete HTTP head");
  if constexpr (std::is_same_v<T, Request>) {
    return std::move(parser.request());
  } else {
    return std::move(parser.response());
  }
}
}  // namespace

Result<Request> Request::parse(std::string_view head, const HttpLimits& limits) {
  return parse_whole<Request>(head, limits, HeadParser::Kind::request);
}

// ---- Response --------------------------------------------------------------

std::string Response::serialize() const {
  std::string out;
  out.reserve(64 + reason.size() + headers.size() * 32 + body.size());
  append_version(out, version_major, version_minor);
  out.append(" ").append(std::to_string(status)).append(" ").append(reason).append("\r\n");
  for (const Headers::Field& f : headers) {
    if (!body.empty() && text::iequals(f.name, "Content-Length")) continue;
    out.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  if (!body.empty()) out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  out.append("\r\n");
  out.append(body);
  return out;
}

Result<Response> Response::parse(std::string_view head, const HttpLimits& limits) {
  return parse_whole<Response>(head, limits, HeadParser::Kind::response);
}

// ---- HeadParser ------------------------------------------------------------

void HeadParser::reset() {
  status_ = Status::need_more;
  partial_.clear();
  head_size_ = 0;
  header_count_ = 0;
  started_ = false;
  error_ = Error();
  error_status_ = 0;
  request_ = Request();
  response_ = Response();
}

HeadParser::Progress HeadParser::fail(Error e, int status, std::size_t consumed) {
  status_ = Status::error;
  error_ = std::move(e);
  error_status_ = status;
  partial_.clear();
  return {status_, consumed};
}

HeadParser::Progress HeadParser::feed(std::string_view data) {
  if (status_ != Status::need_more) return {status_, 0};
  std::size_t pos = 0;
  while (pos < data.size()) {
    const std::size_t lf = data.find('\n', pos);
    const std::size_t end = lf == std::string_view::npos ? data.size() : lf + 1;
    const std::string_view piece = data.substr(pos, end - pos);
    const std::size_t line_bytes = partial_.size() + piece.size();
    // The line's length without its LF and the CR before it (or without a
    // trailing CR that may be the first half of a CRLF still to come).
    auto at = [&](std::size_t k) { return k < partial_.size() ? partial_[k] : piece[k - partial_.size()]; };
    std::size_t content = line_bytes - (lf == std::string_view::npos ? 0 : 1);
    if (content > 0 && at(content - 1) == '\r') --content;
    bool line_over = content > limits_.max_line_size;
    const bool head_over = head_size_ + line_bytes > limits_.max_head_size;
    if (line_over && head_over) {
      // Report the limit the byte stream crossed first, so that the error
      // does not depend on how the input was split: the line limit is
      // crossed by its (max_line_size + 1)th byte, or the next one when that
      // byte is a CR (which may turn out to end the line).
      const std::size_t line_cross = limits_.max_line_size + 1 + (at(limits_.max_line_size) == '\r' ? 1 : 0);
      const std::size_t head_cross = limits_.max_head_size - head_size_ + 1;
      line_over = line_cross <= head_cross;
    }
    if (line_over) {
      const bool request_line = !started_ && kind_ == Kind::request;
      return fail(Error(HandshakeError::line_too_long,
                        std::string(started_ ? "header line" : (request_line ? "request line" : "status line")) +
                            " exceeds max_line_size " + std::to_string(limits_.max_line_size)),
                  request_line ? 414 : 431, pos);
    }
    if (head_over) {
      return fail(Error(HandshakeError::head_too_large,
                        "HTTP head exceeds max_head_size " + std::to_string(limits_.max_head_size)),
                  431, pos);
    }
    if (lf == std::string_view::npos) {
      partial_.append(piece);
      return {Status::need_more, data.size()};
    }
    std::string_view whole = piece;
    if (!partial_.empty()) {
      partial_.append(piece);
      whole = partial_;
    }
    Error e = line(whole);
    partial_.clear();
    head_size_ += line_bytes;
    pos = end;
    if (e) {
      const int status = e == HandshakeError::too_many_headers ? 431 : e == HandshakeError::bad_http_version ? 505 : 400;
      return fail(std::move(e), status, pos);
    }
    if (status_ == Status::done) return {Status::done, pos};
  }
  return {Status::need_more, pos};
}

// One complete line, LF included.
Error HeadParser::line(std::string_view l) {
  if (l.size() < 2 || l[l.size() - 2] != '\r') return malformed("line ends with a bare LF (CRLF required)");
  l.remove_suffix(2);
  if (l.find('\r') != std::string_view::npos) return malformed("bare CR inside a line");
  if (!started_) {
    started_ = true;
    return start_line(l);
  }
  if (l.empty()) {
    status_ = Status::done;
    return {};
  }
  return header_line(l);
}

Error HeadParser::start_line(std::string_view l) {
  if (l.empty()) return malformed("empty line before the start line");
  const std::size_t sp1 = l.find(' ');
  if (sp1 == std::string_view::npos) return malformed("start line has no space");
  if (kind_ == Kind::request) {
    const std::size_t sp2 = l.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) return malformed("request line lacks an HTTP version");
    const std::string_view method = l.substr(0, sp1);
    const std::string_view target = l.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = l.substr(sp2 + 1);
    if (!text::is_token(method)) return malformed("request method is not a token");
    if (!valid_target(target)) return malformed("request target is not origin-form or absolute-form");
    if (version.find(' ') != std::string_view::npos) return malformed("extra space in the request line");
    if (!parse_version(version, request_.version_major, request_.version_minor)) {
      return Error(HandshakeError::bad_http_version, "not an HTTP/d.d version: '" + printable(version, 32) + "'");
    }
    request_.method.assign(method);
    request_.target.assign(target);
    return {};
  }
  if (!parse_version(l.substr(0, sp1), response_.version_major, response_.version_minor)) {
    return Error(HandshakeError::bad_http_version, "status line does not start with HTTP/d.d");
  }
  const std::string_view rest = l.substr(sp1 + 1);
  if (rest.size() < 3 || !text::is_digit(rest[0]) || !text::is_digit(rest[1]) || !text::is_digit(rest[2]) ||
      (rest.size() > 3 && rest[3] != ' ')) {
    return malformed("status line lacks a 3-digit status code");
  }
  const int status = (rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0');
  if (status < 100 || status > 599) return malformed("status code out of range 100-599");
  const std::string_view reason = rest.size() > 3 ? rest.substr(4) : std::string_view();
  if (!text::is_field_value(reason)) return malformed("control character in the reason phrase");
  response_.status = status;
  response_.reason.assign(reason);
  return {};
}

Error HeadParser::header_line(std::string_view l) {
  if (text::is_ows(l[0])) return malformed("obsolete line folding (a header line starts with whitespace)");
  if (++header_count_ > limits_.max_headers) {
    return Error(HandshakeError::too_many_headers,
                 "more than max_headers " + std::to_string(limits_.max_headers) + " header fields");
  }
  const std::size_t colon = l.find(':');
  if (colon == std::string_view::npos) return malformed("header line has no colon");
  const std::string_view name = l.substr(0, colon);
  if (!text::is_token(name)) {
    if (!name.empty() && text::is_ows(name.back())) return malformed("whitespace before the colon of a header field");
    return malformed("header field name is not a token");
  }
  const std::string_view value = text::trim_ows(l.substr(colon + 1));
  if (!text::is_field_value(value)) return malformed("control character in the value of header " + printable(name));
  (kind_ == Kind::request ? request_.headers : response_.headers).add(name, value);
  return {};
}

}  // namespace parley::protocol
