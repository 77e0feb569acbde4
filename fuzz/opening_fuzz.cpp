// Fuzzes the opening handshake state machines (protocol/opening.hpp).
//
// Input: byte 0 picks the role (bit 0), whether redirects are followed or
// permessage-deflate is on (bit 1), the server's decisions (bits 2-4: how
// the origin and the final decision are answered, whether plain requests
// are upgraded or answered) and, with byte 1, the size of the pieces; the
// rest is the peer's bytes. Checks, trapping on any failure:
//  - feeding the same bytes whole and in pieces ends in the same stage, with
//    the same answer (the machine does not depend on how input is cut);
//  - every answer a server gives serializes to a parsable response: 101
//    exactly when accepted, a refusal with an error (or a plain answer);
//  - a client machine ends open only with early bytes that are a suffix of
//    its input, and a refusal's body never exceeds max_head_size;
//  - after `respond` / a final client stage, more input changes nothing.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "parley/protocol/opening.hpp"

namespace {

using namespace parley::protocol;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct ServerRun {
  ServerOpening::Stage stage;
  std::string answer;
  bool accepted;
};

ServerRun run_server(const ServerPolicy& policy, std::uint8_t mode, std::string_view input, std::size_t piece) {
  ServerOpening h(policy);
  for (std::size_t pos = 0; pos < input.size(); pos += piece) {
    h.feed(input.substr(pos, piece));
    // The application's decisions, as soon as each is asked for.
    for (int step = 0; step < 4; ++step) {
      switch (h.stage()) {
        case ServerOpening::Stage::http:
          if (mode & 4) {
            h.upgrade();
          } else {
            Response ok;
            ok.status = 200;
            ok.reason = "OK";
            ok.body = "page";
            h.respond(ok);
          }
          break;
        case ServerOpening::Stage::origin:
          if ((mode & 8) && !h.origin_allowed()) {
            h.refuse(403, "origin", {}, parley::Error(parley::HandshakeError::forbidden_origin));
          } else {
            h.allow_origin();
          }
          break;
        case ServerOpening::Stage::decide:
          if (mode & 16) {
            h.accept(h.offered_subprotocols().empty() ? std::string() : h.offered_subprotocols().back());
          } else {
            h.accept("never-offered");
          }
          break;
        default:
          step = 4;
          break;
      }
    }
  }
  ServerRun r{h.stage(), {}, h.accepted()};
  if (h.stage() == ServerOpening::Stage::respond) {
    r.answer = h.response().serialize();
    auto parsed = Response::parse(r.answer);
    check(static_cast<bool>(parsed));
    check((parsed->status == 101) == h.accepted());
    if (parsed->status >= 400) check(static_cast<bool>(h.error()));
    // Decided: nothing changes it.
    h.feed("GET / HTTP/1.1\r\n\r\n");
    h.accept();
    check(h.stage() == ServerOpening::Stage::respond && h.response().serialize() == r.answer);
  }
  return r;
}

struct ClientRun {
  ClientOpening::Stage stage;
  std::string detail;
};

ClientRun run_client(const ClientHandshake& hs, const HttpLimits& limits, const std::vector<DeflateOptions>& offers,
                     bool follow, std::string_view input, std::size_t piece) {
  ClientOpening h(hs, limits, offers, follow);
  for (std::size_t pos = 0; pos < input.size() && (h.stage() == ClientOpening::Stage::reading ||
                                                     h.stage() == ClientOpening::Stage::body);
       pos += piece) {
    h.feed(input.substr(pos, piece));
  }
  if (h.stage() == ClientOpening::Stage::reading || h.stage() == ClientOpening::Stage::body) h.eof();
  ClientRun r{h.stage(), {}};
  switch (h.stage()) {
    case ClientOpening::Stage::open:
      check(input.size() >= h.early().size() && input.substr(input.size() - h.early().size()) == h.early());
      r.detail = h.early() + "|" + h.negotiated().subprotocol;
      break;
    case ClientOpening::Stage::redirect:
      r.detail = h.redirect_uri().to_string();
      break;
    case ClientOpening::Stage::failed:
      check(static_cast<bool>(h.error()));
      if (h.answered()) check(h.response().body.size() <= limits.max_head_size);
      r.detail = h.error().message();
      break;
    default:
      check(false);
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t mode = data[0];
  const std::size_t piece = 1 + data[1] % 64;
  const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  if ((mode & 1) == 0) {
    ServerPolicy policy;
    policy.limits.max_head_size = 4096;
    policy.allowed_origins = {"https://ok.example"};
    policy.subprotocols = {"chat", "v2"};
    policy.deflate.enabled = (mode & 2) != 0;
    const ServerRun whole = run_server(policy, mode, input, input.size() + 1);
    const ServerRun cut = run_server(policy, mode, input, piece);
    check(whole.stage == cut.stage && whole.accepted == cut.accepted);
    // (The 101's accept key is the same; a body_stream-free answer compares whole.)
    check(whole.answer == cut.answer);
  } else {
    ClientHandshake hs;
    hs.uri = *Uri::parse("ws://example.com/chat");
    hs.subprotocols = {"chat"};
    HttpLimits limits;
    limits.max_head_size = 4096;
    std::vector<DeflateOptions> offers;
    if (mode & 2) {
      offers.emplace_back();
      offers.back().enabled = true;
      hs.extensions.push_back(make_deflate_offer(offers.back()));
    }
    const bool follow = (mode & 4) != 0;
    // The key is random per machine: a 101 can only be judged, not matched,
    // so the two runs compare stages and what does not depend on the key.
    const ClientRun whole = run_client(hs, limits, offers, follow, input, input.size() + 1);
    const ClientRun cut = run_client(hs, limits, offers, follow, input, piece);
    check(whole.stage == cut.stage);
    if (whole.stage != ClientOpening::Stage::failed) check(whole.detail == cut.detail);
  }
  return 0;
}
