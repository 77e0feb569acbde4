// `parley serve`: a WebSocket server — demo page + echo + chat, or one
// behaviour (--echo / --broadcast) on every path; --static for files.
#include <parley/parley.hpp>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "commands.hpp"
#include "common.hpp"
#include "demo_page.hpp"
#include "http_files.hpp"
#include "protocol/http_text.hpp"

namespace parley_cli {
namespace {

using Clock = std::chrono::steady_clock;
using parley::CloseCode;
using parley::Connection;
using parley::MessageType;

/// Per-connection bookkeeping for the close log line (Connection::metadata).
struct ConnInfo {
  Clock::time_point opened;
  std::string path;
  std::string remote;
  std::string topic;  ///< its messages are published to this topic (and it subscribes); empty: echoed
  std::uint64_t in_msgs = 0, in_bytes = 0, out_msgs = 0, out_bytes = 0;
};

std::string url_host(const std::string& host) {
  if (host.empty()) return "[::]";
  if (host.find(':') != std::string::npos) return "[" + host + "]";
  return host;
}

/// Who a connection is for the log: its address and port, or behind a
/// trusted proxy (--trust-proxy) "CLIENT via PROXY:PORT" (the client's port
/// only when the proxy's header gave one).
std::string who(const Connection& c) {
  const parley::net::Endpoint& client = c.client_address();
  const parley::net::Endpoint& peer = c.remote_endpoint();
  if (client == peer) return peer.to_string();
  return (client.port != 0 ? client.to_string() : client.address_string()) + " via " + peer.to_string();
}

class ServeApp {
 public:
  explicit ServeApp(const ServeSettings& s, parley::RedisOptions redis) : s_(s), server_(make_options(s, std::move(redis))) {}

  static parley::ServerOptions make_options(const ServeSettings& s, parley::RedisOptions redis) {
    parley::ServerOptions o;
    o.redis = std::move(redis);
    o.redis.history_length = s.history;
    o.host = s.host == "localhost" ? "127.0.0.1" : s.host;
    o.port = s.port;
    o.threads = s.threads;
    o.max_message_size = s.max_message_size;
    o.max_total_buffered = static_cast<std::size_t>(s.max_memory);
    o.idle_timeout = seconds_to_ms(s.idle_timeout);
    o.ping_interval = seconds_to_ms(s.ping_interval);
    o.allowed_origins = s.origins;
    o.subprotocols = s.subprotocols;
    o.trusted_proxies = s.trusted_proxies;
    // The library's own log (on_log): refusals, protocol errors, limits,
    // TLS failures; with --verbose also every open and close, timeouts and
    // reconnects (serve prints its own line per connection otherwise).
    o.log_level = s.verbose ? parley::LogLevel::debug : s.quiet ? parley::LogLevel::error : parley::LogLevel::warning;
    o.deflate.enabled = s.deflate;
    o.tls.cert_file = s.tls_cert;
    o.tls.key_file = s.tls_key;
    o.tls.client_ca_file = s.tls_client_ca;
    return o;
  }

  int run() {
    if (!s_.static_dir.empty()) {
      std::error_code ec;
      static_root_ = std::filesystem::canonical(s_.static_dir, ec);
      if (ec) {
        std::fprintf(stderr, "parley serve: --static %s: %s\n", s_.static_dir.c_str(), ec.message().c_str());
        return exit_usage;
      }
    }
    install_callbacks();
    const sigset_t signals = block_stop_signals();
    sigset_t with_hup = signals;  // SIGHUP: reload the TLS certificate (blocked in every loop thread too)
    sigaddset(&with_hup, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &with_hup, nullptr);
    if (parley::Error e = server_.start()) {
      if (e.code().category() == parley::tls_category()) {
        std::fprintf(stderr, "parley serve: %s\n", e.message().c_str());
        return exit_failure;
      }
      if (e.code().category() == parley::broker_category()) {  // --redis: a name that does not resolve, ...
        std::fprintf(stderr, "parley serve: --redis: %s\n", e.message().c_str());
        return exit_usage;
      }
      if (e.message().rfind("trusted_proxies: ", 0) == 0) {  // a bad --trust-proxy
        std::fprintf(stderr, "parley serve: --trust-proxy: %s\n", e.message().substr(17).c_str());
        return exit_usage;
      }
      std::fprintf(stderr, "parley serve: cannot listen on %s:%u: %s\n", url_host(server_.options().host).c_str(),
                   static_cast<unsigned>(s_.port), e.message().c_str());
      return exit_failure;
    }
    const std::string url = (server_.is_tls() ? "wss://" : "ws://") + url_host(server_.options().host) + ":" +
                            std::to_string(server_.port()) + "/";
    std::fprintf(stderr, "parley serve: listening on %s (%s)\n", url.c_str(), mode_text().c_str());
    std::fflush(stderr);

    int sig = 0;
    for (;;) {
      if (sigwait(&with_hup, &sig) != 0) continue;
      if (sig != SIGHUP) break;
      if (!server_.is_tls()) {
        log("%s", "SIGHUP: nothing to reload (no --tls-cert)");
      } else if (parley::Error e = server_.reload_tls()) {
        log("SIGHUP: TLS certificate not reloaded, the old one stays: %s", e.message().c_str());
      } else {
        log("SIGHUP: TLS certificate reloaded from %s", s_.tls_cert.c_str());
      }
    }
    log("stopping (%s): closing %zu connection(s) with 1001; a second signal stops at once",
        sig == SIGINT ? "SIGINT" : "SIGTERM", server_.connection_count());
    std::atomic<bool> stopped{false};
    std::thread stopper([&] {
      server_.stop();
      stopped = true;
    });
    const timespec tick{0, 50'000'000};
    while (!stopped) {
      siginfo_t info;
      const int again = sigtimedwait(&signals, &info, &tick);
      if (again == SIGINT || again == SIGTERM) {
        std::fprintf(stderr, "parley serve: second signal, stopping at once\n");
        std::fflush(stderr);
        std::_Exit(128 + again);
      }
    }
    stopper.join();
    log("%s", "stopped");
    return exit_ok;
  }

 private:
  // One write per line: stdio locks the stream, so lines of different loop
  // threads do not interleave.
  __attribute__((format(printf, 2, 3))) void log(const char* fmt, ...) {
    char buf[1024];
    va_list args;
    va_start(args, fmt);
    const int n = std::vsnprintf(buf, sizeof buf, fmt, args);
    va_end(args);
    if (n < 0) return;
    std::string line = timestamp();
    line += ' ';
    line.append(buf, std::min(static_cast<std::size_t>(n), sizeof buf - 1));
    line += '\n';
    std::fputs(line.c_str(), stderr);
  }

  std::string mode_text() const {
    std::string m;
    switch (s_.mode) {
      case ServeMode::demo:
        m = "echo on /echo and every path but /chat, chat rooms on /chat and /chat/<room>";
        if (!s_.redis.empty()) m += " shared through Redis";
        if (s_.history > 0) m += ", keeping their last " + std::to_string(s_.history) + " messages (?since=OFFSET)";
        break;
      case ServeMode::echo:
        m = "echo on every path";
        break;
      case ServeMode::broadcast:
        m = "broadcast on every path";
        if (!s_.redis.empty()) m += ", shared through Redis";
        break;
    }
    if (!static_root_.empty()) {
      m += ", files of " + static_root_.string() + " over HTTP";
    } else if (s_.mode == ServeMode::demo) {
      m += ", demo page on http://" + url_host(server_.options().host) + ":" + std::to_string(server_.port()) + "/";
    }
    return m;
  }

  void install_callbacks() {
    server_.on_http([this](const parley::Request& req) {
      parley::Response r = http(req);
      if (!s_.quiet) {
        log("http %s %s -> %d", parley::protocol::printable(req.method, 16).c_str(), parley::protocol::printable(req.target).c_str(), r.status);
      }
      return r;
    });

    // Every path echoes (or broadcasts, in that mode: one topic for all);
    // the demo's chat rooms are a route of their own with the same events,
    // each room a topic: /chat (the default room) and /chat/<room>.
    auto opened = [this](Connection& c, std::string topic) {
      // (Quiet and echoing: no close line to write and no topic, so no
      // bookkeeping; an idle connection costs the library's memory only.)
      if (s_.quiet && topic.empty()) return;
      ConnInfo& info = c.metadata_as<ConnInfo>();
      info.opened = Clock::now();
      info.path = std::string(c.request()->path());  // (on_open: always there)
      info.remote = who(c);
      info.topic = std::move(topic);
      if (!info.topic.empty()) {
        const std::optional<std::string> since = s_.history > 0 ? c.request()->query_param("since") : std::nullopt;
        (void)(since ? c.subscribe(info.topic, *since) : c.subscribe(info.topic));
      }
      if (!s_.quiet) {
        log("%s %s open%s%s", info.remote.c_str(), parley::protocol::printable(info.path).c_str(),
            c.subprotocol().empty() ? "" : ", subprotocol ", parley::protocol::printable(c.subprotocol(), 60).c_str());
      }
    };

    parley::Route any;
    any.on_open = [opened, this](Connection& c) { opened(c, s_.mode == ServeMode::broadcast ? "*" : ""); };
    any.on_text = [this](Connection& c, std::string_view m) { message(c, MessageType::text, m); };
    any.on_binary = [this](Connection& c, std::string_view m) { message(c, MessageType::binary, m); };
    any.on_close = [this](Connection& c, CloseCode code, std::string_view reason) {
      if (s_.quiet) return;
      const ConnInfo& info = c.metadata_as<ConnInfo>();
      const double secs = std::chrono::duration<double>(Clock::now() - info.opened).count();
      // (What a room sent a member is not counted per member: the library
      // queues one shared frame.)
      log("%s %s closed %s after %.3f s; in %llu msg / %s, %s %llu msg / %s", info.remote.c_str(),
          parley::protocol::printable(info.path).c_str(), describe_close(code, reason).c_str(), secs,
          static_cast<unsigned long long>(info.in_msgs), human_bytes(info.in_bytes).c_str(),
          info.topic.empty() ? "out" : "out besides the room's", static_cast<unsigned long long>(info.out_msgs),
          human_bytes(info.out_bytes).c_str());
    };
    if (s_.mode == ServeMode::demo) {
      parley::Route chat = any;
      chat.on_open = [opened](Connection& c) { opened(c, chat_topic(c.request()->path())); };
      server_.route("/chat", chat);
      server_.route("/chat/*", std::move(chat));
    }
    server_.on_open(std::move(any.on_open));
    server_.on_text(std::move(any.on_text));
    server_.on_binary(std::move(any.on_binary));
    server_.on_close(std::move(any.on_close));

    if (s_.history > 0) {
      // Text messages of a room carry their offset; binary ones go as sent.
      server_.on_topic_message([](const parley::TopicMessage& m) {
        if (m.type != MessageType::text) return std::string(m.data);
        std::string out = "{\"offset\":";
        parley::protocol::text::append_json_string(out, m.offset, true);
        out += ",\"text\":";
        parley::protocol::text::append_json_string(out, m.data, true);  // (text: valid UTF-8)
        out += '}';
        return out;
      });
      server_.on_recovery([this](Connection& c, const parley::Recovery& r) {
        static constexpr const char* kOutcome[] = {"recovered", "gap", "unavailable"};
        const char* outcome = kOutcome[static_cast<int>(r.outcome)];
        std::string notice = std::string("{\"recovery\":\"") + outcome + "\",\"replayed\":" + std::to_string(r.replayed);
        if (!r.reason.empty()) {
          notice += ",\"reason\":";
          parley::protocol::text::append_json_string(notice, r.reason, parley::protocol::is_valid_utf8(r.reason));
        }
        notice += "}";
        sent(c, MessageType::text, notice, c.send(MessageType::text, notice));
        if (!s_.quiet) {
          log("%s %s since %s: %s, %zu message(s) replayed%s%s", who(c).c_str(),
              parley::protocol::printable(r.topic).c_str(), parley::protocol::printable(r.since, 60).c_str(), outcome,
              r.replayed, r.reason.empty() ? "" : ": ", std::string(r.reason).c_str());
        }
      });
    }
    // The library logs Redis going down (a warning); coming up is info,
    // shown here at every level but --quiet.
    if (!s_.redis.empty() && !s_.verbose && !s_.quiet) {
      server_.on_broker([this](bool up, std::string_view) {
        if (up) log("Redis broker up: rooms are shared");
      });
    }
    server_.on_log([this](parley::LogLevel level, std::string_view m) {
      log("%s: %.*s", parley::to_string(level).data(), static_cast<int>(m.size()), m.data());
    });

    if (s_.verbose) {
      server_.on_frame([this](Connection& c, parley::protocol::FrameDirection d, const parley::protocol::FrameHeader& h) {
        log("%s %s frame %s%s%s %llu B", who(c).c_str(),
            d == parley::protocol::FrameDirection::received ? ">" : "<", opcode_name(h.opcode), h.fin ? " fin" : "",
            (h.rsv & parley::protocol::rsv1) ? " rsv1" : "", static_cast<unsigned long long>(h.payload_length));
      });
    }
  }

  static const char* opcode_name(parley::protocol::Opcode op) {
    switch (op) {
      case parley::protocol::Opcode::continuation: return "continuation";
      case parley::protocol::Opcode::text: return "text";
      case parley::protocol::Opcode::binary: return "binary";
      case parley::protocol::Opcode::close: return "close";
      case parley::protocol::Opcode::ping: return "ping";
      case parley::protocol::Opcode::pong: return "pong";
    }
    return "reserved";
  }

  parley::Response http(const parley::Request& req) {
    if (!static_root_.empty()) return serve_file(static_root_, req);
    const std::string_view path = req.path();
    if (path == "/" || path == "/index.html") return builtin_response(req, "text/html; charset=utf-8", demo_page_html);
    if (path == "/parley.js") return builtin_response(req, "text/javascript; charset=utf-8", parley_js);
    if (s_.mode == ServeMode::demo && path != "/echo" && path != "/chat" && path.rfind("/chat/", 0) != 0) {
      return text_response(404, "not found");
    }
    parley::Response r = text_response(426, "this is a WebSocket endpoint: connect with Upgrade: websocket");
    r.headers.set("Upgrade", "websocket");
    r.headers.set("Sec-WebSocket-Version", "13");
    return r;
  }

  void trace(const Connection& c, const char* dir, MessageType type, std::string_view m) {
    log("%s %s %s %zu B: %s", c.remote_endpoint().to_string().c_str(), dir,
        type == MessageType::text ? "text" : "binary", m.size(),
        type == MessageType::text ? parley::protocol::printable(m, 60, true).c_str() : to_hex(m.substr(0, 32)).c_str());
  }

  /// The connection's bookkeeping; none when quiet and echoing. (An empty
  /// std::any is asked first: its any_cast compares type names with
  /// strcmp, 2 % of a 16-byte echo's CPU.)
  static ConnInfo* info_of(Connection& c) {
    return c.metadata().has_value() ? std::any_cast<ConnInfo>(&c.metadata()) : nullptr;
  }

  void sent(Connection& c, MessageType type, std::string_view m, const parley::SendResult& r) {
    if (!r) return;
    if (ConnInfo* info = info_of(c)) {
      ++info->out_msgs;
      info->out_bytes += m.size();
    }
    if (s_.verbose) trace(c, "<", type, m);
  }

  void message(Connection& c, MessageType type, std::string_view m) {
    ConnInfo* info = info_of(c);
    if (info) {
      ++info->in_msgs;
      info->in_bytes += m.size();
    }
    if (s_.verbose) trace(c, ">", type, m);
    if (type == MessageType::text && m == heartbeat_message) {  // parley.js's heartbeat: answered, never broadcast
      sent(c, type, heartbeat_reply, c.send(type, heartbeat_reply));
      return;
    }
    if (!info || info->topic.empty()) {
      sent(c, type, m, c.send(type, m));
      return;
    }
    // Framed once and the same bytes queued on every member; a member
    // takes it only within its buffer limit (skipped otherwise), so one
    // peer's message cannot make the server hold it once per slow reader.
    server_.publish(info->topic, type, m);
  }

  /// The topic of a chat room: /chat and /chat/ are the default room
  /// "/chat", /chat/<room> is "/chat/<room>" (the path as sent).
  static std::string chat_topic(std::string_view path) {
    if (path == "/chat/") path = "/chat";
    return std::string(path);
  }

  const ServeSettings& s_;
  parley::Server server_;
  std::filesystem::path static_root_;
};

}  // namespace

int run_serve(const ServeSettings& settings) {
  parley::RedisOptions redis;
  if (!settings.redis.empty()) {
    auto parsed = parley::RedisOptions::from_url(settings.redis);
    if (!parsed) {
      std::fprintf(stderr, "parley serve: --redis: %s\n", parsed.error().message().c_str());
      return exit_usage;
    }
    redis = std::move(*parsed);
  }
  ServeApp app(settings, std::move(redis));
  return app.run();
}

}  // namespace parley_cli
