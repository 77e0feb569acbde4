// The opening handshake (RFC 6455 §4).
#include "parley/protocol/handshake.hpp"

#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <cstdlib>

#include "http_text.hpp"
#include "parley/protocol/printable.hpp"
#include "sha1.hpp"

namespace parley::protocol {
namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int decode_char(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (const std::size_t rest = bytes.size() - i; rest != 0) {
    const std::uint32_t v = at(i) << 16 | (rest == 2 ? at(i + 1) << 8 : 0);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool base64_decode(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 != 0) return false;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + static_cast<std::size_t>(k)];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
      } else if (pad != 0 || (v[k] = decode_char(c)) < 0) {
        return false;
      }
    }
    const auto n = static_cast<std::uint32_t>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out += static_cast<char>(n >> 16);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return true;
}

std::array<std::uint8_t, 20> detail::sha1(std::string_view bytes) noexcept {
  std::uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  const auto rotl = [](std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  const auto compress = [&](const std::uint8_t* block) {
    std::uint32_t w[80];
    for (int t = 0; t < 16; ++t) {
      w[t] = std::uint32_t{block[4 * t]} << 24 | std::uint32_t{block[4 * t + 1]} << 16 |
             std::uint32_t{block[4 * t + 2]} << 8 | std::uint32_t{block[4 * t + 3]};
    }
    for (int t = 16; t < 80; ++t) w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; ++t) {
      std::uint32_t f, k;
      if (t < 20) {
        f = (b & c) | (~b & d), k = 0x5A827999;
      } else if (t < 40) {
        f = b ^ c ^ d, k = 0x6ED9EBA1;
      } else if (t < 60) {
        f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d, k = 0xCA62C1D6;
      }
      const std::uint32_t temp = rotl(a, 5) + f + e + k + w[t];
      e = d, d = c, c = rotl(b, 30), b = a, a = temp;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
  };
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  std::size_t n = bytes.size();
  for (; n >= 64; n -= 64, data += 64) compress(data);
  // The padding: 0x80, zeros, and the length in bits (big-endian), in one
  // or two last blocks.
  std::uint8_t last[128] = {};
  for (std::size_t i = 0; i < n; ++i) last[i] = data[i];
  last[n] = 0x80;
  const std::size_t end = n < 56 ? 64 : 128;
  const std::uint64_t bits = static_cast<std::uint64_t>(bytes.size()) * 8;
  for (int i = 0; i < 8; ++i) last[end - 1 - i] = static_cast<std::uint8_t>(bits >> (8 * i));
  compress(last);
  if (end == 128) compress(last + 64);
  std::array<std::uint8_t, 20> digest{};
  for (int i = 0; i < 20; ++i) digest[i] = static_cast<std::uint8_t>(h[i / 4] >> (24 - 8 * (i % 4)));
  return digest;
}

std::string accept_key(std::string_view key) {
  std::string input;
  input.reserve(key.size() + websocket_guid.size());
  input.append(key).append(websocket_guid);
  const std::array<std::uint8_t, 20> digest = detail::sha1(input);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

std::string generate_key() {
  std::array<unsigned char, 16> nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) {
    // OpenSSL's CSPRNG only fails when the system has no entropy source at
    // all; a predictable key would break the handshake's guarantee.
    std::abort();
  }
  return base64_encode(std::string_view(reinterpret_cast<const char*>(nonce.data()), nonce.size()));
}

// ---- shared helpers ------------------------------------------------------------

namespace {

using text::iequals;

bool valid_key(std::string_view key) {
  std::string raw;
  return base64_decode(key, raw) && raw.size() == 16;
}

// Fields a user may not set: they are the handshake's own.
bool reserved_field(std::string_view name) noexcept {
  return iequals(name, "Upgrade") || iequals(name, "Connection") ||
         (name.size() >= 14 && iequals(name.substr(0, 14), "Sec-WebSocket-"));
}

// The subprotocols of every Sec-WebSocket-Protocol field: tokens without
// parameters.
Result<std::vector<std::string>> parse_subprotocols(const Headers& headers) {
  std::vector<std::string> out;
  for (std::string_view field : headers.get_all("Sec-WebSocket-Protocol")) {
    auto list = HeaderValue::parse_list(field);
    if (!list) return list.error();
    for (HeaderValue& v : *list) {
      if (!v.params().empty()) {
        return Error(HandshakeError::bad_extension_header, "Sec-WebSocket-Protocol element with parameters");
      }
      out.push_back(v.value());
    }
  }
  return out;
}

// The extensions of every Sec-WebSocket-Extensions field, in order.
Result<std::vector<Extension>> parse_extensions(const Headers& headers) {
  std::vector<Extension> out;
  for (std::string_view field : headers.get_all("Sec-WebSocket-Extensions")) {
    auto list = Extension::parse_list(field);
    if (!list) return list.error();
    for (Extension& e : *list) out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

// ---- client side -----------------------------------------------------------------

Result<ClientRequest> make_request(const ClientHandshake& options) { return make_request(options, generate_key()); }

Result<ClientRequest> make_request(const ClientHandshake& options, std::string_view key) {
  if (options.uri.host().empty()) return Error(HandshakeError::bad_uri, "the handshake URI has no host");
  if (!valid_key(key)) return Error(HandshakeError::bad_key, "Sec-WebSocket-Key must be base64 of 16 bytes");
  for (std::size_t i = 0; i < options.subprotocols.size(); ++i) {
    const std::string& p = options.subprotocols[i];
    if (!text::is_token(p)) {
      return Error(HandshakeError::bad_extension_header, "subprotocol '" + printable(p) + "' is not a token");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (options.subprotocols[j] == p) {
        return Error(HandshakeError::bad_extension_header, "subprotocol '" + printable(p) + "' offered twice");
      }
    }
  }
  for (const Extension& e : options.extensions) {
    if (!e.valid()) {
      return Error(HandshakeError::bad_extension_header, "invalid extension offer '" + printable(e.to_string()) + "'");
    }
  }
  if (options.version != 13 && options.version != 8 && options.version != 7) {
    return Error(HandshakeError::unsupported_version,
                 "version " + std::to_string(options.version) + " is not spoken (13, 8 and 7 share RFC 6455 framing)");
  }
  if (!Headers::valid_value(options.origin)) return Error(HandshakeError::malformed, "invalid Origin value");
  if (!Headers::valid_value(options.cookie)) return Error(HandshakeError::malformed, "invalid Cookie value");
  for (const Headers::Field& f : options.headers) {
    if (!Headers::valid_name(f.name) || !Headers::valid_value(f.value)) {
      return Error(HandshakeError::malformed, "invalid header field '" + printable(f.name) + "'");
    }
    if (reserved_field(f.name)) {
      return Error(HandshakeError::malformed, "header field '" + printable(f.name) + "' is set by the handshake");
    }
  }

  ClientRequest out;
  out.key.assign(key);
  Request& r = out.request;
  r.target = options.uri.resource();
  Headers& h = r.headers;
  h.add("Host", options.uri.host_header());
  h.add("Upgrade", "websocket");
  h.add("Connection", "Upgrade");
  h.add("Sec-WebSocket-Key", key);
  h.add("Sec-WebSocket-Version", std::to_string(options.version));
  if (!options.origin.empty()) h.add("Origin", options.origin);
  if (!options.subprotocols.empty()) {
    std::string list;
    for (const std::string& p : options.subprotocols) {
      if (!list.empty()) list += ", ";
      list += p;
    }
    h.add("Sec-WebSocket-Protocol", list);
  }
  if (!options.extensions.empty()) h.add("Sec-WebSocket-Extensions", Extension::join(options.extensions));
  if (!options.cookie.empty()) h.add("Cookie", options.cookie);
  for (auto it = options.headers.begin(); it != options.headers.end(); ++it) {
    const bool replaces = iequals(it->name, "Host") || iequals(it->name, "Origin") || iequals(it->name, "Cookie");
    bool first = true;
    for (auto prev = options.headers.begin(); prev != it; ++prev) first = first && !iequals(prev->name, it->name);
    if (replaces && first) h.remove(it->name);
    h.add(it->name, it->value);
  }
  return out;
}

Result<Negotiated> validate_response(const Response& response, std::string_view key,
                                     const std::vector<std::string>& offered_subprotocols,
                                     const std::vector<Extension>& offered_extensions) {
  const Headers& h = response.headers;
  if (response.status != 101) return refusal_error(response);
  if (!h.has_token("Upgrade", "websocket")) return Error(HandshakeError::not_upgrade, "101 without Upgrade: websocket");
  if (!h.has_token("Connection", "upgrade")) {
    return Error(HandshakeError::missing_connection_upgrade, "101 without Connection: upgrade");
  }
  const auto accept = h.get("Sec-WebSocket-Accept");
  if (!accept || h.count("Sec-WebSocket-Accept") != 1 || *accept != accept_key(key)) {
    return Error(HandshakeError::bad_accept, accept ? "Sec-WebSocket-Accept does not match the key"
                                                    : "101 without Sec-WebSocket-Accept");
  }

  Negotiated out;
  if (const auto protocol = h.get("Sec-WebSocket-Protocol")) {
    bool offered = false;
    for (const std::string& p : offered_subprotocols) offered = offered || p == *protocol;
    if (h.count("Sec-WebSocket-Protocol") != 1 || !offered) {
      return Error(HandshakeError::unrequested_subprotocol,
                   "server chose subprotocol '" + printable(*protocol) + "' that was not offered");
    }
    out.subprotocol.assign(*protocol);
  }

  auto extensions = parse_extensions(h);
  if (!extensions) return extensions.error();
  for (std::size_t i = 0; i < extensions->size(); ++i) {
    const std::string& name = (*extensions)[i].name();
    bool offered = false;
    for (const Extension& e : offered_extensions) offered = offered || iequals(e.name(), name);
    if (!offered) {
      return Error(HandshakeError::unrequested_extension,
                   "server answered extension '" + printable(name) + "' that was not offered");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (iequals((*extensions)[j].name(), name)) {
        return Error(HandshakeError::unrequested_extension, "server answered extension '" + printable(name) + "' twice");
      }
    }
  }
  out.extensions = std::move(*extensions);
  return out;
}

Error refusal_error(const Response& response) {
  std::string message = "server answered " + std::to_string(response.status);
  if (!response.reason.empty()) message += " " + printable(response.reason, 64);
  message += " instead of 101 Switching Protocols";
  std::string_view body = response.body;
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.remove_suffix(1);
  if (!body.empty()) message += ": " + printable(body, 200, true);
  return Error(HandshakeError::bad_status, std::move(message));
}

// ---- server side -----------------------------------------------------------------

Result<std::vector<std::string>> Request::subprotocols() const { return parse_subprotocols(headers); }

Result<std::vector<Extension>> Request::extensions() const { return parse_extensions(headers); }

Result<ClientOffer> validate_request(const Request& request) {
  const Headers& h = request.headers;
  if (request.method != "GET") {
    return Error(HandshakeError::bad_method, "method " + printable(request.method, 32) + " is not GET");
  }
  if (request.version_major < 1 || (request.version_major == 1 && request.version_minor < 1)) {
    return Error(HandshakeError::bad_http_version, "HTTP/" + std::to_string(request.version_major) + "." +
                                                       std::to_string(request.version_minor) +
                                                       " is older than HTTP/1.1");
  }
  const std::size_t hosts = h.count("Host");
  if (hosts > 1) return Error(HandshakeError::malformed, "more than one Host header");
  if (hosts == 0 || h.get("Host")->empty()) return Error(HandshakeError::missing_host, "missing Host header");
  if (!h.has_token("Upgrade", "websocket")) {
    return Error(HandshakeError::not_upgrade, "not a WebSocket upgrade: no 'websocket' token in Upgrade");
  }
  if (!h.has_token("Connection", "upgrade")) {
    return Error(HandshakeError::missing_connection_upgrade, "Connection header lacks the 'upgrade' token");
  }

  ClientOffer out;
  const auto version = h.get("Sec-WebSocket-Version");
  if (!version) {
    if (h.has("Sec-WebSocket-Key1") || h.has("Sec-WebSocket-Key2")) {
      return Error(HandshakeError::unsupported_version,
                   "hixie-76 (hybi-00) handshake refused: the draft is obsolete and insecure; use version 13");
    }
    return Error(HandshakeError::unsupported_version,
                 "missing Sec-WebSocket-Version (pre-RFC hixie-75 drafts are obsolete and insecure); use version 13");
  }
  if (*version == "13") {
    out.version = 13;
  } else if (*version == "8") {
    out.version = 8;
  } else if (*version == "7") {
    out.version = 7;
  } else {
    return Error(HandshakeError::unsupported_version,
                 "unsupported Sec-WebSocket-Version '" + printable(*version, 32) + "' (supported: 13, 8, 7)");
  }
  if (h.count("Sec-WebSocket-Version") != 1) {
    return Error(HandshakeError::unsupported_version, "more than one Sec-WebSocket-Version header");
  }
  const auto key = h.get("Sec-WebSocket-Key");
  if (!key) return Error(HandshakeError::bad_key, "missing Sec-WebSocket-Key");
  if (h.count("Sec-WebSocket-Key") != 1) return Error(HandshakeError::bad_key, "more than one Sec-WebSocket-Key");
  if (!valid_key(*key)) return Error(HandshakeError::bad_key, "Sec-WebSocket-Key is not base64 of 16 bytes");
  out.key.assign(*key);
  for (std::string_view length : h.get_all("Content-Length")) {
    if (length != "0") return Error(HandshakeError::malformed, "a WebSocket upgrade request may not have a body");
  }
  if (h.has("Transfer-Encoding")) {
    return Error(HandshakeError::malformed, "a WebSocket upgrade request may not have a body (Transfer-Encoding)");
  }

  auto subprotocols = parse_subprotocols(h);
  if (!subprotocols) return subprotocols.error();
  out.subprotocols = std::move(*subprotocols);
  auto extensions = parse_extensions(h);
  if (!extensions) return extensions.error();
  out.extensions = std::move(*extensions);
  if (const auto origin = request.origin()) out.origin.emplace(*origin);
  return out;
}

std::optional<std::string> select_subprotocol(const std::vector<std::string>& offered,
                                              const std::vector<std::string>& supported) {
  for (const std::string& o : offered) {
    for (const std::string& s : supported) {
      if (o == s) return o;
    }
  }
  return std::nullopt;
}

Response make_accept_response(std::string_view key, std::string_view subprotocol,
                              const std::vector<Extension>& extensions) {
  Response r;
  r.status = 101;
  r.reason = "Switching Protocols";
  r.headers.add("Upgrade", "websocket");
  r.headers.add("Connection", "Upgrade");
  r.headers.add("Sec-WebSocket-Accept", accept_key(key));
  if (!subprotocol.empty()) r.headers.add("Sec-WebSocket-Protocol", subprotocol);
  if (!extensions.empty()) r.headers.add("Sec-WebSocket-Extensions", Extension::join(extensions));
  return r;
}

Response make_error_response(int status, std::string_view message, const Headers& extra) {
  if (status < 100 || status > 599) status = 500;
  Response r;
  r.status = status;
  r.reason.assign(reason_phrase(status));
  Headers& h = r.headers;
  h.add("Content-Type", "text/plain; charset=utf-8");
  if (status == 405) h.add("Allow", "GET");
  if (status == 426) {
    h.add("Upgrade", "websocket");
    h.add("Sec-WebSocket-Version", supported_versions);
    h.add("Connection", "Upgrade, close");
  } else {
    h.add("Connection", "close");
  }
  for (auto it = extra.begin(); it != extra.end(); ++it) {
    if (!Headers::valid_name(it->name) || !Headers::valid_value(it->value)) continue;
    bool first = true;
    for (auto prev = extra.begin(); prev != it; ++prev) first = first && !iequals(prev->name, it->name);
    if (first) h.remove(it->name);
    h.add(it->name, it->value);
  }
  r.body.assign(message.empty() ? std::string_view(r.reason) : message);
  if (r.body.empty()) r.body = std::to_string(status);
  r.body += '\n';
  return r;
}

Response make_error_response(const Error& error, int status) {
  if (status == 0) {
    status = error.code().category() == handshake_category()
                 ? http_status_for(static_cast<HandshakeError>(error.code().value()))
                 : 500;
  }
  return make_error_response(status, error.message());
}

}  // namespace parley::protocol
