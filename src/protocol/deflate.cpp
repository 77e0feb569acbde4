// permessage-deflate (RFC 7692): negotiation and per-message compression.
#include "parley/protocol/deflate.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "http_text.hpp"
#include "parley/protocol/printable.hpp"

namespace parley::protocol {
namespace {

constexpr std::string_view kTail("\x00\x00\xff\xff", 4);
constexpr std::size_t kChunk = 16 * 1024;

using text::iequals;

// A window-bits value: 1-2 digits, 8..15, no leading zero.
std::optional<std::uint8_t> window_bits(const std::optional<std::string>& v) {
  if (!v || v->empty() || v->size() > 2 || (*v)[0] == '0') return std::nullopt;
  int n = 0;
  for (char c : *v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n < 8 || n > 15) return std::nullopt;
  return static_cast<std::uint8_t>(n);
}

// The parameters of one permessage-deflate extension, checked for unknown
// names, repeats and values; nullopt (with `why`) when malformed.
struct Parsed {
  bool snct = false, cnct = false;
  std::optional<std::uint8_t> smwb;  // server_max_window_bits=N
  bool cmwb = false;                 // client_max_window_bits present
  std::optional<std::uint8_t> cmwb_value;
};

std::optional<Parsed> parse_params(const Extension& e, std::string& why) {
  Parsed p;
  bool seen_smwb = false;
  for (const HeaderParam& param : e.params()) {
    const std::string& n = param.name;
    bool repeated = false;
    if (iequals(n, "server_no_context_takeover")) {
      repeated = p.snct;
      p.snct = true;
      if (param.value) return why = n + " takes no value", std::nullopt;
    } else if (iequals(n, "client_no_context_takeover")) {
      repeated = p.cnct;
      p.cnct = true;
      if (param.value) return why = n + " takes no value", std::nullopt;
    } else if (iequals(n, "server_max_window_bits")) {
      repeated = seen_smwb;
      seen_smwb = true;
      p.smwb = window_bits(param.value);
      if (!p.smwb) return why = n + " needs a value from 8 to 15", std::nullopt;
    } else if (iequals(n, "client_max_window_bits")) {
      repeated = p.cmwb;
      p.cmwb = true;
      if (param.value) {
        p.cmwb_value = window_bits(param.value);
        if (!p.cmwb_value) return why = n + " must be from 8 to 15", std::nullopt;
      }
    } else {
      return why = "unknown parameter " + printable(n, 64), std::nullopt;
    }
    if (repeated) return why = "parameter " + n + " repeated", std::nullopt;
  }
  return p;
}

}  // namespace

Error DeflateOptions::validate() const {
  auto bad = [](const char* m) { return Error(std::make_error_code(std::errc::invalid_argument), m); };
  if (server_max_window_bits < 8 || server_max_window_bits > 15) return bad("server_max_window_bits must be 8-15");
  if (client_max_window_bits < 8 || client_max_window_bits > 15) return bad("client_max_window_bits must be 8-15");
  if (level < 1 || level > 9) return bad("deflate level must be 1-9");
  if (mem_level < 1 || mem_level > 9) return bad("deflate mem_level must be 1-9");
  return {};
}

Extension make_deflate_offer(const DeflateOptions& o) {
  Extension e{std::string(permessage_deflate)};
  if (o.server_no_context_takeover) e.add_param("server_no_context_takeover");
  if (o.client_no_context_takeover) e.add_param("client_no_context_takeover");
  if (o.server_max_window_bits < 15) e.add_param("server_max_window_bits", std::to_string(o.server_max_window_bits));
  if (o.client_max_window_bits < 15) {
    e.add_param("client_max_window_bits", std::to_string(o.client_max_window_bits));
  } else {
    e.add_param("client_max_window_bits");
  }
  return e;
}

std::optional<DeflateAgreement> negotiate_deflate(const std::vector<Extension>& offers, const DeflateOptions& o) {
  if (!o.enabled) return std::nullopt;
  for (const Extension& offer : offers) {
    if (!iequals(offer.name(), permessage_deflate)) continue;
    std::string why;
    const auto p = parse_params(offer, why);
    if (!p) continue;  // declined: try the client's next offer
    DeflateAgreement a;
    a.response = Extension{std::string(permessage_deflate)};
    a.params.server_no_context_takeover = p->snct || o.server_no_context_takeover;
    a.params.client_no_context_takeover = p->cnct || o.client_no_context_takeover;
    a.params.server_max_window_bits = std::min<std::uint8_t>(p->smwb.value_or(15), o.server_max_window_bits);
    // A client that did not offer client_max_window_bits cannot be limited.
    a.params.client_max_window_bits =
        p->cmwb ? std::min<std::uint8_t>(p->cmwb_value.value_or(15), o.client_max_window_bits) : 15;
    if (a.params.server_no_context_takeover) a.response.add_param("server_no_context_takeover");
    if (a.params.client_no_context_takeover) a.response.add_param("client_no_context_takeover");
    if (p->smwb || a.params.server_max_window_bits < 15) {
      a.response.add_param("server_max_window_bits", std::to_string(a.params.server_max_window_bits));
    }
    if (p->cmwb && (p->cmwb_value || a.params.client_max_window_bits < 15)) {
      a.response.add_param("client_max_window_bits", std::to_string(a.params.client_max_window_bits));
    }
    return a;
  }
  return std::nullopt;
}

Result<DeflateParams> accept_deflate_response(const Extension& response, const DeflateOptions& offered) {
  auto fail = [](std::string why) {
    return Error(HandshakeError::unrequested_extension, "bad permessage-deflate response: " + why);
  };
  if (!iequals(response.name(), permessage_deflate)) return fail("not permessage-deflate");
  std::string why;
  const auto p = parse_params(response, why);
  if (!p) return fail(why);
  if (p->cmwb && !p->cmwb_value) return fail("client_max_window_bits needs a value in a response");
  if (offered.server_no_context_takeover && !p->snct) return fail("server_no_context_takeover was requested");
  if (p->smwb && *p->smwb > offered.server_max_window_bits) {
    return fail("server_max_window_bits " + std::to_string(*p->smwb) + " is above the " +
                std::to_string(offered.server_max_window_bits) + " offered");
  }
  if (p->cmwb_value && *p->cmwb_value > offered.client_max_window_bits) {
    return fail("client_max_window_bits " + std::to_string(*p->cmwb_value) + " is above the " +
                std::to_string(offered.client_max_window_bits) + " offered");
  }
  DeflateParams params;
  params.server_no_context_takeover = p->snct;
  params.client_no_context_takeover = p->cnct || offered.client_no_context_takeover;
  params.server_max_window_bits = p->smwb.value_or(15);
  params.client_max_window_bits = p->cmwb_value.value_or(offered.client_max_window_bits);
  return params;
}

// ---- compression -----------------------------------------------------------

struct MessageDeflate::Stream {
  z_stream z{};
  bool deflating = false;
  ~Stream() {
    if (deflating) {
      deflateEnd(&z);
    } else {
      inflateEnd(&z);
    }
  }
};

MessageDeflate::MessageDeflate(const DeflateParams& params, const DeflateOptions& options, bool role_is_server)
    : level_(options.level),
      mem_level_(options.mem_level),
      threshold_(options.compression_threshold.value_or(
          (role_is_server ? params.server_no_context_takeover : params.client_no_context_takeover) ? 512 : 256)),
      send_bits_(role_is_server ? params.server_max_window_bits : params.client_max_window_bits),
      receive_bits_(role_is_server ? params.client_max_window_bits : params.server_max_window_bits),
      send_reset_(role_is_server ? params.server_no_context_takeover : params.client_no_context_takeover),
      receive_reset_(role_is_server ? params.client_no_context_takeover : params.server_no_context_takeover) {}

MessageDeflate::~MessageDeflate() = default;

namespace {

// Runs `piece` through a deflate stream with Z_SYNC_FLUSH, appending to `out`.
Error run_deflate(z_stream& z, std::string_view piece, std::string& out) {
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(piece.data()));
  z.avail_in = static_cast<uInt>(piece.size());
  std::size_t pos = out.size();
  for (;;) {
    const std::size_t room = std::max<std::size_t>(kChunk, piece.size() / 2 + 64);
    out.resize(pos + room);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + pos);
    z.avail_out = static_cast<uInt>(room);
    const int rc = deflate(&z, Z_SYNC_FLUSH);
    pos += room - z.avail_out;
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      out.resize(pos);
      return Error(std::make_error_code(std::errc::io_error), "deflate failed");
    }
    if (z.avail_out != 0) break;  // all input consumed and flushed
  }
  out.resize(pos);
  return {};
}

// One compressor per thread and configuration (uWebSockets' "shared
// compressor"): a message compressed without context takeover starts from
// an empty window anyway, so every connection of the thread can use the
// same zlib state — compressed whole, with a reset — instead of each
// holding its own (about 256 KiB at 15 bits and memLevel 8).
z_stream* shared_deflater(int bits, int level, int mem_level) {
  struct Entry {
    int bits, level, mem_level;
    z_stream z{};
    ~Entry() { deflateEnd(&z); }
  };
  thread_local std::vector<std::unique_ptr<Entry>> pool;
  for (auto& e : pool) {
    if (e->bits == bits && e->level == level && e->mem_level == mem_level) return &e->z;
  }
  auto e = std::make_unique<Entry>();
  e->bits = bits;
  e->level = level;
  e->mem_level = mem_level;
  if (deflateInit2(&e->z, level, Z_DEFLATED, -bits, mem_level, Z_DEFAULT_STRATEGY) != Z_OK) return nullptr;
  pool.push_back(std::move(e));
  return &pool.back()->z;
}

}  // namespace

Error MessageDeflate::compress(std::string_view piece, bool fin, std::string& out) {
  const std::size_t start = out.size();
  if (send_reset_ && fin && !mid_message_) {
    // A whole message without context takeover: the thread's shared stream.
    z_stream* z = shared_deflater(send_bits_, level_, mem_level_);
    if (z == nullptr) return Error(std::make_error_code(std::errc::not_enough_memory), "deflateInit2 failed");
    Error e = run_deflate(*z, piece, out);
    deflateReset(z);
    if (e) return e;
  } else {
    if (!deflater_) {
      auto s = std::make_unique<Stream>();
      if (deflateInit2(&s->z, level_, Z_DEFLATED, -static_cast<int>(send_bits_), mem_level_, Z_DEFAULT_STRATEGY) !=
          Z_OK) {
        return Error(std::make_error_code(std::errc::not_enough_memory), "deflateInit2 failed");
      }
      s->deflating = true;
      deflater_ = std::move(s);
    }
    if (Error e = run_deflate(deflater_->z, piece, out)) return e;
    mid_message_ = !fin;
    if (fin && send_reset_) deflater_.reset();  // a streamed message without context takeover: nothing to keep
  }
  // Z_SYNC_FLUSH ends with an empty stored block, 00 00 ff ff: removed from
  // the message's last piece.
  if (fin && out.size() - start >= 4 && std::string_view(out).substr(out.size() - 4) == kTail) out.resize(out.size() - 4);
  return {};
}

Error MessageDeflate::decompress(std::string_view piece, bool fin, std::string& out, std::uint64_t limit) {
  if (!inflater_) {
    auto s = std::make_unique<Stream>();
    if (inflateInit2(&s->z, -static_cast<int>(std::max<std::uint8_t>(receive_bits_, 8))) != Z_OK) {
      return Error(std::make_error_code(std::errc::not_enough_memory), "inflateInit2 failed");
    }
    inflater_ = std::move(s);
  }
  z_stream& z = inflater_->z;
  for (int pass = 0; pass < (fin ? 2 : 1); ++pass) {
    const std::string_view in = pass == 0 ? piece : kTail;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    std::size_t pos = out.size();
    for (;;) {
      std::size_t room = kChunk;
      if (limit != 0) {
        if (pos > limit) break;
        room = static_cast<std::size_t>(std::min<std::uint64_t>(room, limit - pos + 1));  // one byte past the limit tells
      }
      out.resize(pos + room);
      z.next_out = reinterpret_cast<Bytef*>(out.data() + pos);
      z.avail_out = static_cast<uInt>(room);
      const int rc = inflate(&z, Z_SYNC_FLUSH);
      pos += room - z.avail_out;
      out.resize(pos);
      if (rc == Z_STREAM_END) {
        // The peer ended the deflate stream (BFINAL): the next message starts a new one.
        inflateReset(&z);
        break;
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        inflater_.reset();
        return Error(ProtocolError::compression_error, "compressed message is not a valid deflate stream");
      }
      if (z.avail_out != 0) break;  // everything available was inflated
    }
    if (limit != 0 && out.size() > limit) {
      inflater_.reset();
      return Error(ProtocolError::message_too_big,
                   "message inflates past max_message_size " + std::to_string(limit));
    }
  }
  if (fin && receive_reset_) inflater_.reset();  // nothing to keep: an idle connection holds no zlib state
  return {};
}

std::size_t MessageDeflate::memory() const noexcept {
  std::size_t n = 0;
  if (deflater_) n += (std::size_t{1} << (send_bits_ + 2)) + (std::size_t{1} << (mem_level_ + 9)) + 6000;
  if (inflater_) n += (std::size_t{1} << std::max<std::uint8_t>(receive_bits_, 8)) + 7200;
  return n;
}

}  // namespace parley::protocol
