// parley as the client of the interop tests: runs the client cases of
// tests/interop/README.md against a peer's server.
//
//     parley_interop_client ws[s]://127.0.0.1:PORT [--deflate] [--ca FILE] [case ...]
//
// --deflate: offer permessage-deflate (RFC 7692); the case
// deflate-negotiated reports the server's answer as its detail.
// --ca FILE: trust the CAs of this PEM file (instead of the system's) for
// wss:// URLs; the server's certificate is verified (name included). The
// case tls-expired (run only when named) expects the TLS handshake to fail
// with TlsError::certificate_expired and reports parley's error, category
// first ("parley.tls: ..."), as its detail.
// Prints one JSON line per case on stdout: first {"plan": [...]}, then
// {"case": name, "ok": bool, "detail": str, "ms": n}. Every wait is bounded.
#include <parley/parley.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <string>
#include <utility>
#include <vector>

#include "common.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string base;  // ws://127.0.0.1:PORT or wss://127.0.0.1:PORT
bool deflate = false;  // --deflate: offer permessage-deflate (RFC 7692)
std::string ca_file;   // --ca: the trusted CAs (PEM) for wss://
std::string note;      // a passing case's detail

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};
void check(bool cond, const std::string& message) {
  if (!cond) throw Failure(message);
}

// n bytes of valid UTF-8 mixing 1- to 4-byte characters (as the peers make it).
std::string text_of(std::size_t n) {
  const std::string unit = "parley \u2713 \u00fcn\u00efc\u00f8d\u00e9 \U0001F600 ";
  std::string full;
  full.reserve(n + 2 * unit.size());
  while (full.size() < n + unit.size()) full += unit;
  std::size_t i = n;
  while (i > 0 && (static_cast<unsigned char>(full[i]) & 0xC0) == 0x80) --i;
  full.resize(i);
  full.append(n - i, 'x');
  return full;
}

std::string random_bytes(std::size_t n) {
  static std::mt19937_64 rng(std::random_device{}());
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    std::uint64_t v = rng();
    for (std::size_t j = i; j < n && j < i + 8; ++j, v >>= 8) s[j] = static_cast<char>(v);
  }
  return s;
}

struct Message {
  parley::MessageType type;
  std::string data;
};

// One client connection, with its events queued for the test thread. Each
// Peer has its own parley::Client, so no event can arrive before the queues
// exist.
class Peer {
 public:
  explicit Peer(std::vector<std::string> subprotocols = {}) : state_(std::make_shared<State>()) {
    parley::ClientOptions o;
    o.subprotocols = std::move(subprotocols);
    o.close_timeout = 5000ms;
    o.deflate.enabled = deflate;
    o.tls.ca_file = ca_file;
    client_ = std::make_unique<parley::Client>(o);
    auto st = state_;
    client_->on_open([st](parley::Connection& c) {
      st->update([&] {
        st->opened = true;
        st->subprotocol = c.subprotocol();
        st->extensions = parley::protocol::Extension::join(c.extensions());
      });
    });
    client_->on_text([st](parley::Connection&, std::string_view d) {
      st->update([&] { st->messages.push_back({parley::MessageType::text, std::string(d)}); });
    });
    client_->on_binary([st](parley::Connection&, std::string_view d) {
      st->update([&] { st->messages.push_back({parley::MessageType::binary, std::string(d)}); });
    });
    client_->on_pong([st](parley::Connection&, std::string_view d) {
      st->update([&] { st->pongs.emplace_back(d); });
    });
    client_->on_close([st](parley::Connection&, parley::CloseCode code, std::string_view reason) {
      st->update([&] { st->closed = std::pair{static_cast<int>(code), std::string(reason)}; });
    });
    client_->on_error([st](parley::Connection* c, const parley::Error& e) {
      if (c == nullptr) return;
      st->update([&] {
        if (!st->opened) {
          st->error = std::string(e.code().category().name()) + ": " + e.message();
          st->error_code = e.code();
        }
        if (const parley::Response* r = c->handshake_response(); r && !st->opened) st->response = *r;
      });
    });
  }

  // Connects; returns "" once open, else why not.
  std::string connect(const std::string& path) {
    auto h = client_->connect(base + path);
    if (!h) return h.error().message();
    handle_ = *h;
    wait(15s, "the handshake", [&] { return st().opened || st().error || st().closed; });
    if (st().opened) return "";
    return st().error ? *st().error : "closed during the handshake";
  }
  void open(const std::string& path) {
    const std::string err = connect(path);
    check(err.empty(), "handshake failed: " + err);
  }

  // Runs fn on the connection's loop thread (in order with other posts).
  void post(std::function<void(parley::Connection&)> fn) { handle_.post(std::move(fn)); }
  void send_text(std::string s) { handle_.send_text(std::move(s)); }
  void send_binary(std::string s) { handle_.send_binary(std::move(s)); }

  Message next(std::chrono::milliseconds timeout = 10s) {
    wait(timeout, "a message", [&] { return !st().messages.empty() || st().closed; });
    std::lock_guard lock(state_->m);
    check(!state_->messages.empty(), "closed (" + std::to_string(state_->closed->first) + ") waiting for a message");
    Message m = std::move(state_->messages.front());
    state_->messages.pop_front();
    return m;
  }
  std::string pong() {
    wait(10s, "a pong", [&] { return !st().pongs.empty() || st().closed; });
    std::lock_guard lock(state_->m);
    check(!state_->pongs.empty(), "closed waiting for a pong");
    std::string p = std::move(state_->pongs.front());
    state_->pongs.pop_front();
    return p;
  }
  std::pair<int, std::string> closed() {
    wait(10s, "the close", [&] { return st().closed.has_value(); });
    std::lock_guard lock(state_->m);
    return *state_->closed;
  }
  void close(parley::CloseCode code = parley::CloseCode::normal, std::string reason = {}) {
    handle_.close(code, std::move(reason));
  }
  // Closes (1000) if open and waits for the end.
  void done() {
    close();
    closed();
  }
  std::string subprotocol() {
    std::lock_guard lock(state_->m);
    return state_->subprotocol;
  }
  std::string extensions() {
    std::lock_guard lock(state_->m);
    return state_->extensions;
  }
  std::error_code error_code() {
    std::lock_guard lock(state_->m);
    return state_->error_code;
  }
  std::optional<parley::Response> response() {
    std::lock_guard lock(state_->m);
    return state_->response;
  }
  std::size_t message_count() {
    std::lock_guard lock(state_->m);
    return state_->messages.size();
  }

 private:
  struct State {
    std::mutex m;
    std::condition_variable cv;
    bool opened = false;
    std::string subprotocol;
    std::string extensions;  // the negotiated Sec-WebSocket-Extensions
    std::optional<std::string> error;  // "category: message" of a failed handshake
    std::error_code error_code;
    std::optional<parley::Response> response;
    std::optional<std::pair<int, std::string>> closed;
    std::deque<Message> messages;
    std::deque<std::string> pongs;
    template <class F>
    void update(F f) {
      {
        std::lock_guard lock(m);
        f();
      }
      cv.notify_all();
    }
  };
  State& st() { return *state_; }  // only under state_->m (inside wait's predicate)
  template <class Pred>
  void wait(std::chrono::milliseconds timeout, const char* what, Pred pred) {
    std::unique_lock lock(state_->m);
    if (!state_->cv.wait_for(lock, timeout, pred)) throw Failure(std::string("timed out waiting for ") + what);
  }

  std::shared_ptr<State> state_;
  std::unique_ptr<parley::Client> client_;
  parley::ConnectionHandle handle_;
};

int id_counter = 0;
std::string new_id(const std::string& c) { return c + "-parley-" + std::to_string(++id_counter); }

// Minimal reader of the report's "close": [code, "reason"] (or null).
std::optional<std::pair<int, std::string>> parse_close(const std::string& json) {
  auto at = json.find("\"close\"");
  check(at != std::string::npos, "bad report: " + json);
  at = json.find_first_not_of(" :", at + 7);
  if (json.compare(at, 4, "null") == 0) return std::nullopt;
  check(json[at] == '[', "bad report: " + json);
  std::size_t used = 0;
  const int code = std::stoi(json.substr(at + 1), &used);
  at = json.find('"', at + 1 + used);
  check(at != std::string::npos, "bad report: " + json);
  std::string reason;
  for (++at; at < json.size() && json[at] != '"'; ++at) {
    if (json[at] != '\\') {
      reason += json[at];
      continue;
    }
    const char e = json[++at];
    if (e == 'u') {  // BMP only: enough for these reasons
      const unsigned cp = static_cast<unsigned>(std::stoul(json.substr(at + 1, 4), nullptr, 16));
      at += 4;
      if (cp < 0x80) {
        reason += static_cast<char>(cp);
      } else if (cp < 0x800) {
        reason += static_cast<char>(0xC0 | (cp >> 6));
        reason += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        reason += static_cast<char>(0xE0 | (cp >> 12));
        reason += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        reason += static_cast<char>(0x80 | (cp & 0x3F));
      }
    } else {
      reason += e == 'n' ? '\n' : e == 't' ? '\t' : e;
    }
  }
  return std::pair{code, reason};
}

// reason nullopt: not compared (the reason of a 1006 is the server's own words).
// Returns the number of echoes the server sent (the report's "echoed").
int expect_server_close(const std::string& id, int code, const std::optional<std::string>& reason) {
  const auto deadline = Clock::now() + 5s;
  std::optional<std::pair<int, std::string>> seen;
  std::string json;
  for (;;) {
    Peer r;
    r.open("/report?of=" + id);
    json = r.next().data;
    seen = parse_close(json);
    r.done();
    if (seen || Clock::now() > deadline) break;
    std::this_thread::sleep_for(50ms);
  }
  check(seen.has_value(), "the server saw no close");
  check(seen->first == code && (!reason || seen->second == *reason),
        "server saw close " + std::to_string(seen->first) + " '" + seen->second + "', expected " + std::to_string(code) +
            " '" + reason.value_or("*") + "'");
  const auto at = json.find("\"echoed\"");
  return at == std::string::npos ? -1 : std::stoi(json.substr(json.find_first_not_of(" :", at + 8)));
}

void echo_one(parley::MessageType type, const std::string& data) {
  Peer p;
  p.open("/echo");
  type == parley::MessageType::text ? p.send_text(data) : p.send_binary(data);
  const Message m = p.next(30s);
  check(m.type == type, "echo came back as the other type");
  check(m.data == data,
        "echo differs: " + std::to_string(m.data.size()) + " bytes back for " + std::to_string(data.size()) + " sent");
  p.done();
}

// With --deflate: the server's answer accepted permessage-deflate; a
// compressible message goes both ways. Its detail is the answer, which
// run_interop.py checks for the parameters it expects.
void deflate_negotiated() {
  Peer p;
  p.open("/echo");
  const std::string ext = p.extensions();
  check(ext.find("permessage-deflate") != std::string::npos, "no permessage-deflate in the answer: '" + ext + "'");
  const std::string data = text_of(20000);
  p.send_text(data);
  const Message m = p.next(30s);
  check(m.type == parley::MessageType::text && m.data == data, "echo differs");
  p.done();
  note = ext;
}

void send_fragments(Peer& p, parley::MessageType type, std::vector<std::string> parts) {
  p.post([type, parts = std::move(parts)](parley::Connection& c) {
    for (std::size_t i = 0; i < parts.size(); ++i) c.send_fragment(type, parts[i], i + 1 == parts.size());
  });
}

void text_fragmented() {
  Peer p;
  p.open("/echo");
  const std::string t(interop::kFragText);
  // Cut inside the 3-byte U+2713 and the 4-byte U+1F600, with an empty fragment.
  send_fragments(p, parley::MessageType::text, {t.substr(0, 12), "", t.substr(12, t.size() - 14), t.substr(t.size() - 2)});
  const Message m = p.next();
  check(m.type == parley::MessageType::text && m.data == t, "echo differs: " + m.data);
  p.done();
}

void binary_fragmented() {
  Peer p;
  p.open("/echo");
  std::vector<std::string> parts{random_bytes(1000), "", random_bytes(65536), std::string(1, '\0')};
  const std::string whole = parts[0] + parts[2] + parts[3];
  send_fragments(p, parley::MessageType::binary, parts);
  const Message m = p.next();
  check(m.type == parley::MessageType::binary && m.data == whole,
        "echo differs: " + std::to_string(m.data.size()) + " bytes back");
  p.done();
}

void fragmented_with_ping() {
  Peer p;
  p.open("/echo");
  p.post([](parley::Connection& c) {
    c.send_fragment(parley::MessageType::text, "first half, ", false);
    c.ping("between fragments");
    c.send_fragment(parley::MessageType::text, "second half", true);
  });
  const std::string pong = p.pong();
  check(pong == "between fragments", "pong payload " + pong);
  const Message m = p.next();
  check(m.data == "first half, second half", "echo differs: " + m.data);
  p.done();
}

void receive_fragmented() {
  Peer p;
  p.open("/fragments");
  const Message t = p.next();
  check(t.type == parley::MessageType::text && t.data == interop::kFragText, "text differs: " + t.data);
  const Message b = p.next();
  check(b.type == parley::MessageType::binary && b.data == interop::frag_binary(),
        "binary differs: " + std::to_string(b.data.size()) + " bytes");
  p.done();
}

void many_messages() {
  Peer p;
  p.open("/echo");
  std::vector<std::string> sent;
  for (int i = 0; i < 1000; ++i) {
    std::string m = "message " + std::to_string(i) + " ";
    for (int j = 0; j < i % 50; ++j) m += "\u00e9";
    sent.push_back(m);
  }
  p.post([sent](parley::Connection& c) {
    for (const auto& m : sent) c.send_text(m);
  });
  for (std::size_t i = 0; i < sent.size(); ++i)
    check(p.next().data == sent[i], "message " + std::to_string(i) + " out of order or changed");
  p.done();
}

void ping_from_client() {
  Peer p;
  p.open("/echo");
  std::string p125;
  for (int i = 0; i < 125; ++i) p125 += static_cast<char>(i);
  for (const std::string& payload : {std::string(), std::string("hello \u2713"), p125}) {
    p.post([payload](parley::Connection& c) { c.ping(payload); });
    const std::string pong = p.pong();
    check(pong == payload, "pong payload of " + std::to_string(pong.size()) + " bytes for a ping of " +
                               std::to_string(payload.size()));
  }
  p.done();
}

void ping_from_server() {
  Peer p;
  p.open("/ping?payload=srv-ping-%E2%9C%93");
  const Message m = p.next();
  check(m.data == "pong:srv-ping-\u2713", "server reported " + m.data);
  p.done();
}

std::function<void()> close_client(int code, std::string reason) {
  return [code, reason] {
    const std::string id = new_id("close-client");
    Peer p;
    p.open("/echo?id=" + id);
    p.close(parley::CloseCode{static_cast<std::uint16_t>(code)}, reason);
    const auto [got, why] = p.closed();
    check(got == code, "the server answered the close with " + std::to_string(got) + " '" + why + "'");
    expect_server_close(id, code, reason);
  };
}

std::function<void()> close_server(int code, std::string reason, std::string reason_query) {
  return [code, reason, reason_query] {
    Peer p;
    p.open("/close?code=" + std::to_string(code) + "&reason=" + reason_query);
    const auto [got, why] = p.closed();
    check(got == code && why == reason, "closed with " + std::to_string(got) + " '" + why + "'");
    check(p.message_count() == 0, "got a message");
  };
}

void close_server_abrupt() {
  Peer p;
  p.open("/terminate");
  const auto [got, why] = p.closed();
  check(got == 1006, "closed with " + std::to_string(got) + ", expected 1006");
}

void close_server_abrupt_open() {
  Peer p;
  p.open("/terminate-on-message");
  p.send_text("drop me");
  const auto [got, why] = p.closed();
  check(got == 1006, "closed with " + std::to_string(got) + ", expected 1006");
  check(p.message_count() == 0, "got a message");
}

void close_client_abrupt() {
  const std::string id = new_id("abrupt");
  Peer p;
  p.open("/echo?id=" + id);
  p.send_text("about to vanish");
  p.next();
  p.post([](parley::Connection& c) { c.terminate(); });
  expect_server_close(id, 1006, std::nullopt);
}

std::function<void()> subprotocol(std::vector<std::string> offer, std::string expected) {
  return [offer, expected] {
    Peer p(offer);
    p.open("/echo");
    check(p.subprotocol() == expected, "negotiated '" + p.subprotocol() + "', expected '" + expected + "'");
    p.send_text("after negotiation");
    check(p.next().data == "after negotiation", "echo differs");
    p.done();
  };
}

void refused() {
  Peer p;
  const std::string err = p.connect("/refuse");
  check(!err.empty(), "the handshake succeeded");
  const auto r = p.response();
  check(r.has_value(), "no response kept: " + err);
  check(r->status == 403, "status " + std::to_string(r->status) + ": " + err);
  check(r->body.find(interop::kRefusalBody) != std::string::npos, "body '" + r->body + "'");
}

const std::string kReason123 = [] {  // the longest reason: 123 bytes
  std::string r;
  for (int i = 0; i < 61; ++i) r += "\u00e9";
  return r + "x";
}();
const std::string kReason123Query = [] {
  std::string r;
  for (int i = 0; i < 61; ++i) r += "%C3%A9";
  return r + "x";
}();
const std::string kPing125 = "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"
                             "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcde";

void large_fragmented() {
  Peer p;
  p.open("/echo");
  std::vector<std::string> parts;
  std::string whole;
  for (int i = 0; i < 256; ++i) {  // 16 MiB
    parts.push_back(random_bytes(64u << 10));
    whole += parts.back();
  }
  send_fragments(p, parley::MessageType::binary, std::move(parts));
  const Message m = p.next(30s);
  check(m.type == parley::MessageType::binary && m.data == whole,
        "echo differs: " + std::to_string(m.data.size()) + " bytes back");
  p.done();
}

void empty_fragments() {
  Peer p;
  p.open("/echo");
  send_fragments(p, parley::MessageType::text, {"", "", ""});
  const Message m = p.next();
  check(m.type == parley::MessageType::text && m.data.empty(),
        "echo differs: " + std::to_string(m.data.size()) + " bytes");
  p.done();
}

void many_connections() {
  std::vector<std::unique_ptr<Peer>> peers;
  for (int i = 0; i < 20; ++i) {
    peers.push_back(std::make_unique<Peer>());
    peers.back()->open("/echo");
  }
  for (int i = 0; i < 20; ++i) peers[i]->send_text("connection " + std::to_string(i));
  for (int i = 0; i < 20; ++i) {
    const std::string got = peers[i]->next().data;
    check(got == "connection " + std::to_string(i), "connection " + std::to_string(i) + " got " + got);
  }
  for (auto& p : peers) p->done();
}

void ping_from_server_125() {
  Peer p;
  p.open("/ping?payload=" + kPing125);
  const Message m = p.next();
  check(m.data == "pong:" + kPing125, "server reported " + m.data);
  p.done();
}

std::function<void()> close_after_burst(int count, std::size_t size) {
  return [count, size] {
    const std::string id = new_id("burst");
    Peer p;
    p.open("/echo?id=" + id);
    std::vector<std::string> sent;
    for (int i = 0; i < count; ++i) sent.push_back("burst " + std::to_string(i) + " " + text_of(size));
    p.post([sent](parley::Connection& c) {
      for (const auto& m : sent) c.send_text(m);
      (void)c.close(parley::CloseCode::normal, "done");
    });
    const auto [got, why] = p.closed();
    check(got == 1000, "the server answered the close with " + std::to_string(got));
    const int echoed = expect_server_close(id, 1000, "done");
    // Every echo the server sent before its close frame must arrive (a server
    // may stop echoing once it has the close: websockets does).
    std::size_t n = 0;
    for (; n < sent.size() && p.message_count() > 0; ++n)
      check(p.next().data == sent[n], "echo " + std::to_string(n) + " out of order or changed");
    check(static_cast<int>(n) == echoed,
          std::to_string(n) + " echoes arrived, the server sent " + std::to_string(echoed));
  };
}

void close_simultaneous() {
  // The server closes on receipt of the message; the client closes right
  // after sending it: the two close frames cross.
  const std::string id = new_id("simultaneous");
  Peer p;
  p.open("/close-on-message?id=" + id);
  p.post([](parley::Connection& c) {
    c.send_text("close now");
    (void)c.close(parley::CloseCode::normal, "client");
  });
  const auto [got, why] = p.closed();
  check(got == 1000 && (why == "server" || why == "client"), "closed with " + std::to_string(got) + " '" + why + "'");
  expect_server_close(id, 1000, std::string("client"));
}

void ping_burst() {
  Peer p;
  p.open("/echo");
  p.post([](parley::Connection& c) {
    for (int i = 0; i < 10; ++i) c.ping("burst " + std::to_string(i));
  });
  for (int i = 0; i < 10; ++i) {
    const std::string pong = p.pong();
    check(pong == "burst " + std::to_string(i), "pong " + std::to_string(i) + " has the payload '" + pong + "'");
  }
  p.done();
}

void close_server_after_burst() {
  Peer p;
  p.open("/burst-close");
  const auto [got, why] = p.closed();
  int n = 0;
  for (; n < 100 && p.message_count() > 0; ++n)
    check(p.next().data == "burst " + std::to_string(n), "message " + std::to_string(n) + " out of order or changed");
  check(n == 100, std::to_string(n) + " of the 100 messages before the close");
  check(got == 1000 && why == "burst done", "closed with " + std::to_string(got) + " '" + why + "'");
}

// Run alone, against a server presenting an expired certificate: the TLS
// handshake must fail with TlsError::certificate_expired (the detail is
// parley's error, which run_interop.py checks says "expired").
void tls_expired() {
  Peer p;
  const std::string err = p.connect("/echo");
  check(!err.empty(), "the handshake succeeded");
  check(p.error_code() == parley::TlsError::certificate_expired,
        "failed with another error (" + std::to_string(p.error_code().value()) + "): " + err);
  note = err;
}

// Run alone: the driver stops the server (SIGTERM) once "ready" is printed.
void close_server_shutdown() {
  Peer p;
  p.open("/echo");
  p.send_text("ready");
  p.next();
  std::printf("{\"ready\": true}\n");
  std::fflush(stdout);
  const auto [got, why] = p.closed();
  check(got == 1001, "closed with " + std::to_string(got) + " '" + why + "', expected 1001");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: parley_interop_client ws[s]://127.0.0.1:PORT [--deflate] [--ca FILE] [case ...]\n");
    return 2;
  }
  base = argv[1];
  if (!base.empty() && base.back() == '/') base.pop_back();

  using parley::MessageType;
  std::vector<std::pair<std::string, std::function<void()>>> cases;
  const std::pair<const char*, std::size_t> sizes[] = {
      {"0", 0}, {"125", 125}, {"126", 126}, {"64KiB", 64u << 10}, {"1MiB", 1u << 20}, {"16MiB", 16u << 20}};
  for (const auto& size : sizes) {
    const std::size_t n = size.second;
    cases.emplace_back(std::string("text-") + size.first, [n] { echo_one(MessageType::text, text_of(n)); });
  }
  for (const auto& size : sizes) {
    const std::size_t n = size.second;
    cases.emplace_back(std::string("binary-") + size.first, [n] { echo_one(MessageType::binary, random_bytes(n)); });
  }
  cases.emplace_back("text-fragmented", text_fragmented);
  cases.emplace_back("binary-fragmented", binary_fragmented);
  cases.emplace_back("fragmented-with-ping", fragmented_with_ping);
  cases.emplace_back("large-fragmented", large_fragmented);
  cases.emplace_back("empty-fragments", empty_fragments);
  cases.emplace_back("receive-fragmented", receive_fragmented);
  cases.emplace_back("many-messages", many_messages);
  cases.emplace_back("many-connections", many_connections);
  cases.emplace_back("ping-from-client", ping_from_client);
  cases.emplace_back("ping-burst", ping_burst);
  cases.emplace_back("ping-from-server", ping_from_server);
  cases.emplace_back("ping-from-server-125", ping_from_server_125);
  cases.emplace_back("close-client-normal", close_client(1000, ""));
  cases.emplace_back("close-client-reason", close_client(4001, "client bye \u2713"));
  cases.emplace_back("close-client-reason-123", close_client(4003, kReason123));
  cases.emplace_back("close-after-burst", close_after_burst(100, 0));
  cases.emplace_back("close-after-large", close_after_burst(4, 4u << 20));
  cases.emplace_back("close-simultaneous", close_simultaneous);
  cases.emplace_back("close-client-no-status", [] {
    const std::string id = new_id("no-status");
    Peer p;
    p.open("/echo?id=" + id);
    p.close(parley::CloseCode::no_status);
    const auto [got, why] = p.closed();
    check(got == 1005, "the server answered with " + std::to_string(got));
    expect_server_close(id, 1005, "");
  });
  cases.emplace_back("close-server-normal", close_server(1000, "", ""));
  cases.emplace_back("close-server-reason", close_server(4002, "server bye \u2713", "server%20bye%20%E2%9C%93"));
  cases.emplace_back("close-server-reason-123", close_server(4004, kReason123, kReason123Query));
  cases.emplace_back("close-server-after-burst", close_server_after_burst);
  cases.emplace_back("close-server-abrupt", close_server_abrupt);
  cases.emplace_back("close-server-abrupt-open", close_server_abrupt_open);
  cases.emplace_back("close-client-abrupt", close_client_abrupt);
  cases.emplace_back("subprotocol-common", subprotocol({"x-unknown", "chat.v1"}, "chat.v1"));
  cases.emplace_back("subprotocol-none-common", subprotocol({"x-unknown"}, ""));
  cases.emplace_back("subprotocol-not-offered", subprotocol({}, ""));
  cases.emplace_back("refused-403", refused);

  // Run only when named (the driver runs them on their own).
  const std::vector<std::pair<std::string, std::function<void()>>> alone{
      {"close-server-shutdown", close_server_shutdown},
      {"deflate-negotiated", deflate_negotiated},
      {"tls-expired", tls_expired}};

  std::vector<std::string> wanted;
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--deflate") {
      deflate = true;
    } else if (arg == "--ca" && i + 1 < argc) {
      ca_file = argv[++i];
    } else if (arg.starts_with("--")) {
      std::fprintf(stderr, "parley_interop_client: unknown option %s\n", argv[i]);
      return 2;
    } else {
      wanted.emplace_back(argv[i]);
    }
  }
  std::string plan;
  std::vector<std::pair<std::string, std::function<void()>>> run;
  for (auto& c : cases) {
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), c.first) == wanted.end()) continue;
    plan += (plan.empty() ? "" : ", ") + interop::json_string(c.first);
    run.push_back(c);
  }
  for (auto& c : alone) {
    if (std::find(wanted.begin(), wanted.end(), c.first) == wanted.end()) continue;
    plan += (plan.empty() ? "" : ", ") + interop::json_string(c.first);
    run.push_back(c);
  }
  std::printf("{\"plan\": [%s], \"version\": \"%s\"}\n", plan.c_str(), PARLEY_VERSION_STRING);
  std::fflush(stdout);
  for (auto& [name, fn] : run) {
    const auto start = Clock::now();
    bool ok = true;
    std::string detail;
    note.clear();
    try {
      fn();
      detail = note;
    } catch (const std::exception& e) {
      ok = false;
      detail = e.what();
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    std::printf("{\"case\": %s, \"ok\": %s, \"detail\": %s, \"ms\": %lld}\n", interop::json_string(name).c_str(),
                ok ? "true" : "false", interop::json_string(detail).c_str(), static_cast<long long>(ms));
    std::fflush(stdout);
  }
  return 0;
}
