// Fuzzes the HTTP head parser (requests and responses) and what is built on
// it.
//
// Input: byte 0 picks the kind (bit 0) and small limits (bit 1) and, with
// byte 1, the size of the pieces; the rest is the stream. Checks, trapping
// on any failure:
//  - the stream fed whole, in pieces of the chosen size and byte by byte
//    gives the same status, the same error code and HTTP status, the same
//    number of head bytes, and the same parsed head (parsing does not depend
//    on how the input is cut);
//  - a parsed head serializes to text that parses back to the same head;
//  - the helpers on a parsed request (path, query, cookies, validate_request
//    and the refusal built from its error) do not crash, and a refusal is
//    itself a parsable response.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "parley/protocol/handshake.hpp"
#include "parley/protocol/http.hpp"

namespace {

using namespace parley::protocol;
using Status = HeadParser::Status;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Outcome {
  Status status = Status::need_more;
  std::size_t consumed = 0;
  int error_value = 0;
  int error_status = 0;
  std::string head;  // the parsed head, serialized
};

std::string serialized(const HeadParser& p) {
  return p.kind() == HeadParser::Kind::request ? p.request().serialize() : p.response().serialize();
}

Outcome run(HeadParser::Kind kind, const HttpLimits& limits, std::string_view input, std::size_t piece) {
  HeadParser p(kind, limits);
  Outcome o;
  std::size_t pos = 0;
  while (pos < input.size()) {
    const std::string_view chunk = input.substr(pos, piece);
    const HeadParser::Progress r = p.feed(chunk);
    o.status = r.status;
    check(r.consumed <= chunk.size());
    if (r.status == Status::need_more) check(r.consumed == chunk.size());
    o.consumed += r.consumed;
    pos += chunk.size();
    if (r.status != Status::need_more) break;
  }
  check(p.status() == o.status);
  if (o.status == Status::error) {
    check(static_cast<bool>(p.error()));
    o.error_value = p.error().code().value();
    o.error_status = p.error_status();
    o.consumed = 0;  // the error's position is not compared
  } else if (o.status == Status::done) {
    o.head = serialized(p);
    // Done is final.
    const HeadParser::Progress again = p.feed("x");
    check(again.status == Status::done && again.consumed == 0);
  }
  return o;
}

void exercise_request(const Request& r) {
  (void)r.path();
  (void)r.query();
  (void)r.query_params();
  (void)r.cookies();
  (void)r.origin();
  auto offer = validate_request(r);
  if (!offer) {
    const Response refusal = make_error_response(offer.error());
    auto back = Response::parse(refusal.serialize());
    check(back.has_value() && back->status == refusal.status);
  } else {
    check(!offer->key.empty());
    (void)make_accept_response(offer->key, select_subprotocol(offer->subprotocols, {"chat"}).value_or(""),
                               offer->extensions);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const auto kind = (data[0] & 1) ? HeadParser::Kind::response : HeadParser::Kind::request;
  HttpLimits limits;
  if (data[0] & 2) {
    limits.max_head_size = 64 + (data[1] & 63);
    limits.max_line_size = 16 + ((data[0] >> 2) & 31);
    limits.max_headers = (data[0] >> 5) & 7;
  }
  const std::size_t piece = 1 + ((data[0] >> 2) ^ data[1]) % 23;
  const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);

  const Outcome whole = run(kind, limits, input, input.size() + 1);
  const Outcome pieces = run(kind, limits, input, piece);
  const Outcome bytes = run(kind, limits, input, 1);
  for (const Outcome* o : {&pieces, &bytes}) {
    check(o->status == whole.status);
    check(o->consumed == whole.consumed);
    check(o->error_value == whole.error_value);
    check(o->error_status == whole.error_status);
    check(o->head == whole.head);
  }
  if (whole.status == Status::error) {
    check(whole.error_status == 400 || whole.error_status == 414 || whole.error_status == 431 ||
          whole.error_status == 505);
  }
  if (whole.status != Status::done) return 0;
  check(whole.consumed <= input.size());

  // What was parsed serializes to a head that parses back the same (without
  // limits: a normalized head may be longer than the original).
  HttpLimits loose;
  loose.max_head_size = loose.max_line_size = 1 << 20;
  loose.max_headers = 1 << 20;
  HeadParser again(kind, loose);
  const HeadParser::Progress r = again.feed(whole.head);
  check(r.status == Status::done && r.consumed == whole.head.size());
  check(serialized(again) == whole.head);
  if (kind == HeadParser::Kind::request) exercise_request(again.request());
  return 0;
}
