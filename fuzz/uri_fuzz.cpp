// Fuzzes the URI parser and the query and percent decoders.
//
// Input: the URI text. Checks, trapping on any failure:
//  - a parsed URI has a known scheme, a non-empty host, a non-zero port
//    (the default one when none was written) and a path starting with '/';
//  - its normal form (to_string) parses back to the same parts, and is
//    stable;
//  - resource() is a request target the HTTP parser accepts, with the same
//    path and query;
//  - percent_decode never grows its input; parse_query does not crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "parley/protocol/http.hpp"
#include "parley/protocol/uri.hpp"

namespace {

using namespace parley::protocol;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check(percent_decode(text).size() <= text.size());
  check(percent_decode(text, true).size() <= text.size());
  (void)parse_query(text);

  auto uri = Uri::parse(text);
  if (!uri) {
    check(uri.error() == parley::HandshakeError::bad_uri);
    return 0;
  }
  const std::string& scheme = uri->scheme();
  check(scheme == "ws" || scheme == "wss" || scheme == "http" || scheme == "https");
  check(!uri->host().empty());
  check(uri->port() != 0);
  if (!uri->has_explicit_port()) check(uri->port() == (uri->secure() ? 443 : 80));
  check(!uri->path().empty() && uri->path()[0] == '/');
  (void)uri->query_params();

  const std::string normal = uri->to_string();
  auto again = Uri::parse(normal);
  check(again.has_value());
  check(again->scheme() == uri->scheme() && again->host() == uri->host() && again->port() == uri->port() &&
        again->path() == uri->path() && again->query() == uri->query() && again->resource() == uri->resource() &&
        again->host_header() == uri->host_header() && again->is_ipv6() == uri->is_ipv6());
  check(again->to_string() == normal);

  const std::string head = "GET " + uri->resource() + " HTTP/1.1\r\nHost: " + uri->host_header() + "\r\n\r\n";
  HttpLimits loose;
  loose.max_head_size = loose.max_line_size = 1 << 20;
  auto request = Request::parse(head, loose);
  check(request.has_value());
  check(request->path() == uri->path() && request->query() == uri->query());
  return 0;
}
