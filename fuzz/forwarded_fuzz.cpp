// Fuzzes the trusted-proxy code (src/protocol/forwarded.hpp) and the
// client's proxy helpers (src/protocol/proxy.hpp).
//
// Input: lines. The first line is parsed as an IP address, an IP network, a
// proxy URL and a no_proxy list; every line (up to 32) becomes a header
// field for client_origin(), its first byte choosing the name (Forwarded,
// X-Forwarded-For, X-Forwarded-Proto, or another) and the rest its value;
// the whole input is also fed to a ConnectReply whole and in two pieces.
// Checks, trapping on any failure:
//  - a parsed address prints in a form that parses back to it; a parsed
//    network prints back to itself and contains its own address;
//  - client_origin() with an untrusted peer is the peer; with a trusted
//    one, the answer is the peer exactly when its source says so, the note
//    is bounded, and the answer does not depend on the ForwardedHeaders
//    mode when only one kind of header is present;
//  - a parsed proxy URL prints as a URL that parses to the same host and
//    port, without its credentials;
//  - ConnectReply reaches the same status and rest whole or in pieces.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/forwarded.hpp"
#include "protocol/proxy.hpp"

namespace {

using namespace parley::protocol;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

const TrustedProxies& trusted() {
  static const TrustedProxies t = TrustedProxies::parse({"10.0.0.0/8", "fd00::/8", "192.0.2.1"}).value();
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string_view first = text.substr(0, text.find('\n'));

  if (auto a = IpAddress::parse(first)) {
    auto again = IpAddress::parse(a->to_string());
    check(again.has_value() && *again == *a);
    check(IpNetwork::parse(a->to_string())->contains(*a));
  }
  if (auto n = IpNetwork::parse(first)) {
    auto again = IpNetwork::parse(n->to_string());
    check(again.has_value() && *again == *n);
    check(n->contains(n->address()));
    check(IpNetwork::of(n->address(), n->prefix_length()) == *n);
  }
  if (auto p = ProxyUrl::parse(first)) {
    auto again = ProxyUrl::parse(p->to_string());
    check(again.has_value() && again->host() == p->host() && again->port() == p->port() && !again->has_credentials());
    (void)connect_request(*p, p->host(), p->port());
  }
  (void)no_proxy_matches(first, "www.example.com", 443);
  (void)no_proxy_matches(first, "10.1.2.3", 80);
  (void)no_proxy_matches(first, "2001:db8::1", 80);

  Headers headers;
  bool forwarded = false, x_forwarded = false;
  std::string_view rest = text;
  for (int i = 0; i < 32 && !rest.empty(); ++i) {
    const std::size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (line.empty()) continue;
    const char* names[] = {"Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "Via"};
    const unsigned which = static_cast<unsigned char>(line[0]) % 4;
    headers.add(names[which], line.substr(1));
    forwarded |= which == 0;
    x_forwarded |= which == 1 || which == 2;
  }
  const IpAddress outsider = IpAddress::parse("198.51.100.1").value();
  const ClientOrigin untrusted = client_origin(trusted(), outsider, false, headers);
  check(untrusted.address == outsider && untrusted.source == OriginSource::peer && untrusted.note.empty());
  for (const char* peer_text : {"10.0.0.1", "fd00::1", "::ffff:192.0.2.1"}) {
    const IpAddress peer = IpAddress::parse(peer_text).value();
    const ClientOrigin o = client_origin(trusted(), peer, true, headers);
    if (o.source == OriginSource::peer) check(o.address == peer && !o.port);
    check(o.note.size() < 64 * 1024);
    if (forwarded && !x_forwarded) {
      const ClientOrigin f = client_origin(trusted(), peer, true, headers, ForwardedHeaders::forwarded);
      check(f.address == o.address && f.https == o.https && f.source == o.source);
    }
    if (x_forwarded && !forwarded) {
      const ClientOrigin x = client_origin(trusted(), peer, true, headers, ForwardedHeaders::x_forwarded);
      check(x.address == o.address && x.https == o.https && x.source == o.source);
    }
  }

  ConnectReply whole("http://p:1", "h:1");
  const ConnectReply::Status s = whole.feed(text);
  ConnectReply pieces("http://p:1", "h:1");
  const std::size_t cut = size ? data[0] % (size + 1) : 0;
  ConnectReply::Status t = pieces.feed(text.substr(0, cut));
  t = pieces.feed(text.substr(cut));
  check(s == t);
  if (s == ConnectReply::Status::open) check(whole.rest() == pieces.rest());
  if (s == ConnectReply::Status::failed) check(static_cast<bool>(whole.error()) && whole.error() == pieces.error());
  return 0;
}
