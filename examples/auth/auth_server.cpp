// The "SECURITY CONSIDERATIONS" of the Perl WebSocket distribution, end to
// end on parley::Server: a double-submit-cookie login for a WebSocket chat.
//
//  1. POST /login (a form: user=NAME) makes a session: a random id (OpenSSL
//     RAND_bytes) in an HttpOnly, SameSite=Strict cookie (Secure under
//     TLS); the session lives in memory on the server.
//     GET /session says who is logged in ({"user":null} for no one).
//  2. GET /csrf gives a short-lived token for that session:
//     hex(HMAC-SHA256(key, session_id ";" ts)) "." ts, where ts is the
//     time it expires (30 s from now by default).
//  3. The page connects to ws://host/ws?csrf=TOKEN. The handshake checks
//     the Origin against an allow-list, the cookie's session, and the
//     token (its HMAC, compared in constant time, and its expiry); each
//     refusal is a 403 with the JSON body {"code":403,"message":...,"status":403}.
//     The user lives in the connection's user data.
//  4. Every message is a JSON object with a valid "csrf" field; one that is
//     not gets a JSON error {"code":403,"message":...} and the connection
//     is closed with 1008.
//
//   build/examples/auth_example [--port 8080] [--host 127.0.0.1] [--origin URL]... [--csrf-ttl 30]
//                               [--tls-cert FILE --tls-key FILE]
//
// The HMAC key is PARLEY_AUTH_KEY (hex, at least 32 bytes) if set, else 32
// random bytes made at start (tokens then die with the process); the token
// lifetime is --csrf-ttl or PARLEY_AUTH_CSRF_TTL seconds. README.md says more.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <parley/parley.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "example_support.hpp"
#include "flat_json.hpp"

namespace {

// The seed's wording for a refusal.
constexpr std::string_view kForbidden = "You do not have permission to access this websocket.";
constexpr std::string_view kExpired = "The CSRF provided has expired.";

std::string to_hex(const unsigned char* p, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[p[i] >> 4];
    out[2 * i + 1] = kHex[p[i] & 15];
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto digit = [](char h) {
    return (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
  };
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = digit(hex[i]), lo = digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) {
    std::fprintf(stderr, "auth_example: RAND_bytes failed\n");
    std::abort();  // no randomness, no sessions
  }
  return to_hex(buf.data(), buf.size());
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A name: 1-24 letters, digits, '-', '_' or '.'.
bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 24) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

// The sessions, in memory: id -> user. Bounded (the oldest goes first) and
// each expires an hour after login. Shared by the loop threads.
class Sessions {
 public:
  static constexpr std::size_t kMax = 10000;
  static constexpr std::int64_t kLifetime = 3600;  // seconds

  std::string create(const std::string& user) {
    std::string id = random_hex(32);
    std::lock_guard lock(m_);
    if (map_.size() >= kMax) {
      auto oldest = std::min_element(map_.begin(), map_.end(),
                                     [](const auto& a, const auto& b) { return a.second.expires < b.second.expires; });
      map_.erase(oldest);
    }
    map_[id] = Session{user, unix_now() + kLifetime};
    return id;
  }
  std::optional<std::string> user(const std::string& id) {
    std::lock_guard lock(m_);
    auto it = map_.find(id);
    if (it == map_.end()) return std::nullopt;
    if (it->second.expires < unix_now()) {
      map_.erase(it);
      return std::nullopt;
    }
    return it->second.user;
  }
  void remove(const std::string& id) {
    std::lock_guard lock(m_);
    map_.erase(id);
  }

 private:
  struct Session {
    std::string user;
    std::int64_t expires;
  };
  std::mutex m_;
  std::unordered_map<std::string, Session> map_;
};

// The CSRF tokens: hex(HMAC-SHA256(key, session_id ";" ts)) "." ts, ts the
// Unix time the token expires, as the seed's recipe makes them.
class Tokens {
 public:
  Tokens(std::string key, std::int64_t ttl) : key_(std::move(key)), ttl_(ttl) {}

  std::int64_t ttl() const { return ttl_; }

  std::string make(const std::string& session_id) const {
    const std::string ts = std::to_string(unix_now() + ttl_);
    return sign(session_id, ts) + "." + ts;
  }

  enum class Verdict { ok, malformed, bad_signature, expired };

  Verdict check(const std::string& session_id, std::string_view token) const {
    const std::size_t dot = token.find('.');
    if (dot != 64 || token.size() - dot - 1 < 1 || token.size() - dot - 1 > 12) return Verdict::malformed;
    const std::string_view mac = token.substr(0, dot), ts = token.substr(dot + 1);
    if (!std::all_of(ts.begin(), ts.end(), [](char c) { return c >= '0' && c <= '9'; })) return Verdict::malformed;
    const std::string expected = sign(session_id, ts);
    // Constant time: how much of a forged MAC matched must not show.
    if (CRYPTO_memcmp(expected.data(), mac.data(), expected.size()) != 0) return Verdict::bad_signature;
    const std::int64_t expires = std::atoll(std::string(ts).c_str());
    const std::int64_t now = unix_now();
    if (expires < now) return Verdict::expired;
    if (expires > now + ttl_ + 1) return Verdict::malformed;  // not one of ours (or the ttl shrank)
    return Verdict::ok;
  }

 private:
  std::string sign(std::string_view session_id, std::string_view ts) const {
    const std::string payload = std::string(session_id) + ";" + std::string(ts);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(payload.data()),
         payload.size(), mac, &len);
    return to_hex(mac, len);
  }

  std::string key_;
  std::int64_t ttl_;
};

// Who a connection is: its user data.
struct User {
  std::string session_id;
  std::string name;
};

parley::Response json_reply(int status, const std::string& json) {
  return example::reply(status, json, "application/json");
}

std::string error_json(int code, std::string_view message) {
  return "{\"code\":" + std::to_string(code) + ",\"message\":" + flat_json::quote(message) + "}";
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t ttl = 30;
  if (const char* env = std::getenv("PARLEY_AUTH_CSRF_TTL")) ttl = std::atoll(env);
  example::Flags flags = example::parse_flags(
      argc, argv, "[--host ADDR] [--port N] [--origin URL]... [--csrf-ttl SECONDS] [--tls-cert F --tls-key F]",
      [&](std::string_view flag, const char* value) {
        if (flag != "--csrf-ttl") return false;
        ttl = std::atoll(value);
        return true;
      });
  if (ttl < 1 || ttl > 3600) {
    std::fprintf(stderr, "auth_example: the CSRF token lifetime must be 1-3600 s\n");
    return 2;
  }
  std::string key;
  if (const char* env = std::getenv("PARLEY_AUTH_KEY")) {
    auto bytes = from_hex(env);
    if (!bytes || bytes->size() < 32) {
      std::fprintf(stderr, "auth_example: PARLEY_AUTH_KEY must be at least 32 bytes, in hex\n");
      return 2;
    }
    key = std::move(*bytes);
  } else {
    key = *from_hex(random_hex(32));
  }
  Sessions sessions;
  const Tokens tokens(std::move(key), ttl);
  const bool secure = flags.tls();

  parley::ServerOptions options = example::server_options(flags);
  options.max_message_size = 4096;
  options.http_limits.max_body_size = 1024;  // a login form
  parley::Server server(options);
  // The origins allowed: --origin, else exactly the address the server
  // prints (its port is known once it listens).
  std::vector<std::string> origins = flags.origins;
  auto origin_allowed = [&](std::string_view origin) {
    if (origins.empty()) {
      return origin == flags.http_scheme() + "://" + flags.host + ":" + std::to_string(server.port());
    }
    return std::find(origins.begin(), origins.end(), origin) != origins.end();
  };
  auto refused = [](const char* where, const parley::net::Endpoint& from, std::string_view why) {
    std::fprintf(stderr, "auth_example: %s refused from %s: %.*s\n", where, from.to_string().c_str(),
                 static_cast<int>(why.size()), why.data());
  };
  auto session_of = [&](const parley::Request& req) -> std::optional<std::pair<std::string, std::string>> {
    auto id = req.cookie("sid");
    if (!id) return std::nullopt;
    auto user = sessions.user(*id);
    if (!user) return std::nullopt;
    return std::make_pair(*id, *user);
  };
  const auto files = example::static_files();

  server.on_http([&](const parley::Request& req) {
    parley::Response r;
    if (example::serve_static(req, files, r)) return r;
    const std::string_view path = req.path();
    if (path == "/login" && req.method == "POST") {
      // A login form posted from another site would log the browser in as
      // someone else: browsers send Origin with every POST.
      if (auto origin = req.origin(); origin && !origin_allowed(*origin)) {
        return json_reply(403, error_json(403, "origin not allowed"));
      }
      std::string type(req.headers.get("Content-Type").value_or(""));
      std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (!type.starts_with("application/x-www-form-urlencoded")) {
        return json_reply(415, error_json(415, "send a form (application/x-www-form-urlencoded)"));
      }
      std::string user;
      for (const auto& p : parley::protocol::parse_query(req.body)) {
        if (p.name == "user") user = p.value;
      }
      if (!valid_name(user)) return json_reply(400, error_json(400, "a name: 1-24 letters, digits, - _ ."));
      // No password: this example has no user database. Anyone may be anyone.
      const std::string id = sessions.create(user);
      r = json_reply(200, "{\"code\":200,\"user\":" + flat_json::quote(user) + "}");
      r.headers.add("Set-Cookie", "sid=" + id + "; Path=/; Max-Age=" + std::to_string(Sessions::kLifetime) +
                                      "; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : ""));
      return r;
    }
    if (path == "/logout" && req.method == "POST") {
      if (auto id = req.cookie("sid")) sessions.remove(*id);
      r = json_reply(200, "{\"code\":200}");
      r.headers.add("Set-Cookie", std::string("sid=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict") +
                                      (secure ? "; Secure" : ""));
      return r;
    }
    if (path == "/session" && req.method == "GET") {  // who is logged in, for the page (it cannot read the cookie)
      auto session = session_of(req);
      return json_reply(200, std::string("{\"code\":200,\"user\":") +
                                 (session ? flat_json::quote(session->second) : std::string("null")) + "}");
    }
    if (path == "/csrf" && req.method == "GET") {
      auto session = session_of(req);
      if (!session) return json_reply(401, error_json(401, "not logged in"));
      const std::string token = tokens.make(session->first);
      r = json_reply(200, "{\"token\":\"" + token + "\",\"code\":200,\"user\":" + flat_json::quote(session->second) +
                              ",\"ttl\":" + std::to_string(tokens.ttl()) + "}");
      r.headers.add("X-CSRF-Token", token);
      return r;
    }
    return json_reply(404, error_json(404, "not found"));
  });

  // The handshake: the Origin first, then the session and the token.
  server.on_origin([&](parley::Connection& conn, std::string_view origin, const parley::Request&) {
    if (origin_allowed(origin)) return parley::HandshakeReply::accept();
    refused("handshake", conn.remote_endpoint(), "origin '" + std::string(origin) + "' not allowed");
    return parley::HandshakeReply::reject_json(403, 403, kForbidden);
  });
  server.on_handshake([&](parley::Connection& conn, const parley::Request& req) {
    if (req.path() != "/ws") return parley::HandshakeReply::reject_json(404, 404, "no such endpoint");
    auto session = session_of(req);
    if (!session) {
      refused("handshake", conn.remote_endpoint(), req.cookie("sid") ? "unknown session" : "no session cookie");
      return parley::HandshakeReply::reject_json(403, 403, kForbidden);
    }
    switch (tokens.check(session->first, req.query_param("csrf").value_or(""))) {
      case Tokens::Verdict::ok:
        break;
      case Tokens::Verdict::expired:
        refused("handshake", conn.remote_endpoint(), "expired CSRF token");
        return parley::HandshakeReply::reject_json(403, 403, kExpired);
      case Tokens::Verdict::malformed:
      case Tokens::Verdict::bad_signature:
        refused("handshake", conn.remote_endpoint(), "bad CSRF token");
        return parley::HandshakeReply::reject_json(403, 403, kForbidden);
    }
    conn.metadata_as<User>() = User{session->first, session->second};
    return parley::HandshakeReply::accept();
  });
  server.on_open([&](parley::Connection& conn) {
    const User& me = conn.metadata_as<User>();
    std::fprintf(stderr, "auth_example: %s connected from %s\n", me.name.c_str(),
                 conn.remote_endpoint().to_string().c_str());
    server.broadcast(parley::MessageType::text, "{\"type\":\"join\",\"user\":" + flat_json::quote(me.name) + "}");
  });
  // Every message: a flat JSON object with a valid "csrf" for this
  // connection's session, still logged in; else an error and 1008.
  server.on_text([&](parley::Connection& conn, std::string_view text) {
    const User& me = conn.metadata_as<User>();
    auto refuse = [&](int code, std::string_view why, std::string_view log) {
      refused("message", conn.remote_endpoint(), log);
      (void)conn.send_text(error_json(code, why));
      (void)conn.close(parley::CloseCode::policy_violation, "refused");
    };
    const flat_json::Parsed parsed = flat_json::parse_object(text);
    if (!parsed.object) return refuse(400, "a message is a JSON object of strings: " + parsed.why, parsed.why);
    const flat_json::Object& msg = *parsed.object;
    auto csrf = msg.find("csrf");
    if (csrf == msg.end()) return refuse(403, kForbidden, "no csrf field");
    if (!sessions.user(me.session_id)) return refuse(403, "Your session has ended: log in again.", "session ended");
    switch (tokens.check(me.session_id, csrf->second)) {
      case Tokens::Verdict::ok:
        break;
      case Tokens::Verdict::expired:
        return refuse(403, kExpired, "expired CSRF token");
      case Tokens::Verdict::malformed:
      case Tokens::Verdict::bad_signature:
        return refuse(403, kForbidden, "bad CSRF token");
    }
    auto body = msg.find("text");
    if (body == msg.end() || body->second.empty()) return;  // nothing to say
    server.broadcast(parley::MessageType::text, "{\"type\":\"chat\",\"user\":" + flat_json::quote(me.name) +
                                                    ",\"text\":" + flat_json::quote(body->second) + "}");
  });
  server.on_binary([](parley::Connection& conn, std::string_view) {
    (void)conn.send_text(error_json(400, "text messages only"));
    (void)conn.close(parley::CloseCode::policy_violation, "refused");
  });
  return example::run(server, flags, "auth_example");
}
