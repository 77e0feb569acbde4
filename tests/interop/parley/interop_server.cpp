// parley as the server of the interop tests: a parley::Server that behaves
// by the request path as tests/interop/README.md says (/echo, /close,
// /terminate, /ping, /fragments, /refuse, /report), for the peers' clients.
//
//     parley_interop_server [--deflate] [--tls-cert FILE --tls-key FILE]
//
// --deflate: accept permessage-deflate (RFC 7692) from clients that offer it.
// --tls-cert FILE --tls-key FILE: TLS (wss://) with that PEM certificate
// chain (leaf first) and its key; the path protocol is the same.
// Listens on 127.0.0.1, port 0, prints {"port": N} on stdout, and runs until
// SIGTERM/SIGINT or until stdin closes.
#include <parley/parley.hpp>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common.hpp"

namespace {

struct Session {
  std::string route;
  std::string id;       // ?id=: what the server sees of it is kept for /report
  std::string payload;  // /ping
};

struct Record {
  std::optional<std::pair<int, std::string>> close;
  std::string subprotocol;
  int echoed = 0;  // echoes sent (queued before our close frame)
};

std::mutex records_mutex;
std::map<std::string, Record> records;

std::string record_json(const std::string& id) {
  std::lock_guard lock(records_mutex);
  auto it = records.find(id);
  if (it == records.end() || !it->second.close) return R"({"close": null})";
  const auto& [code, reason] = *it->second.close;
  return "{\"close\": [" + std::to_string(code) + ", " + interop::json_string(reason) +
         "], \"subprotocol\": " + interop::json_string(it->second.subprotocol) +
         ", \"echoed\": " + std::to_string(it->second.echoed) + "}";
}

void echoed(parley::Connection& conn, const parley::SendResult& r) {
  const Session& s = conn.metadata_as<Session>();
  if (s.id.empty() || !r) return;
  std::lock_guard lock(records_mutex);
  ++records[s.id].echoed;
}

}  // namespace

int main(int argc, char** argv) {
  // SIGTERM/SIGINT are taken by sigwait below; block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  parley::ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.threads = 2;  // two loops with SO_REUSEPORT listeners, as a production server runs
  options.ping_interval = parley::Millis{0};  // only the pings the cases send
  options.subprotocols = {"chat.v2", "chat.v1"};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--deflate") {
      options.deflate.enabled = true;
    } else if (arg == "--tls-cert" && i + 1 < argc) {
      options.tls.cert_file = argv[++i];
    } else if (arg == "--tls-key" && i + 1 < argc) {
      options.tls.key_file = argv[++i];
    } else {
      std::fprintf(stderr, "usage: parley_interop_server [--deflate] [--tls-cert FILE --tls-key FILE]\n");
      return 2;
    }
  }
  if (options.tls.cert_file.empty() != options.tls.key_file.empty()) {
    std::fprintf(stderr, "interop_server: --tls-cert and --tls-key go together\n");
    return 2;
  }
  parley::Server server(options);

  server.on_handshake([](parley::Connection& conn, const parley::Request& req) {
    Session s;
    s.route = std::string(req.path());
    if (s.route == "/refuse") return parley::HandshakeReply::reject(403, std::string(interop::kRefusalBody));
    s.id = req.query_param(s.route == "/report" ? "of" : "id").value_or("");
    s.payload = req.query_param("payload").value_or("");
    if (!s.id.empty() && s.route != "/report") {
      std::lock_guard lock(records_mutex);
      records[s.id] = Record{std::nullopt, conn.subprotocol(), 0};
    }
    conn.metadata_as<Session>() = s;
    return parley::HandshakeReply::accept();
  });

  server.on_open([](parley::Connection& conn) {
    const Session& s = conn.metadata_as<Session>();
    const parley::Request& req = *conn.request();  // (on_open: always there)
    if (s.route == "/report") {
      conn.send_text(record_json(s.id));
      (void)conn.close(parley::CloseCode::normal);
    } else if (s.route == "/close") {
      const int code = std::stoi(req.query_param("code").value_or("1000"));
      (void)conn.close(parley::CloseCode{static_cast<std::uint16_t>(code)}, req.query_param("reason").value_or(""));
    } else if (s.route == "/burst-close") {
      for (int i = 0; i < 100; ++i) conn.send_text("burst " + std::to_string(i));
      (void)conn.close(parley::CloseCode::normal, "burst done");
    } else if (s.route == "/terminate") {
      conn.terminate();
    } else if (s.route == "/ping") {
      conn.ping(s.payload);
    } else if (s.route == "/fragments") {
      // The text is cut inside the 3-byte U+2713, with a ping between fragments.
      const std::string_view t = interop::kFragText;
      conn.send_fragment(parley::MessageType::text, t.substr(0, 12), false);
      conn.ping("between");
      conn.send_fragment(parley::MessageType::text, t.substr(12, 8), false);
      conn.send_fragment(parley::MessageType::text, t.substr(20), true);
      const std::string b = interop::frag_binary();
      conn.send_fragment(parley::MessageType::binary, std::string_view(b).substr(0, 100), false);
      conn.send_fragment(parley::MessageType::binary, {}, false);
      conn.send_fragment(parley::MessageType::binary, std::string_view(b).substr(100), true);
    }
  });

  server.on_text([](parley::Connection& conn, std::string_view text) {
    if (conn.metadata_as<Session>().route == "/close-on-message")
      (void)conn.close(parley::CloseCode::normal, "server");
    else if (conn.metadata_as<Session>().route == "/terminate-on-message")
      conn.terminate();
    else
      echoed(conn, conn.send_text(text));
  });
  server.on_binary([](parley::Connection& conn, std::string_view bytes) {
    if (conn.metadata_as<Session>().route == "/close-on-message")
      (void)conn.close(parley::CloseCode::normal, "server");
    else
      echoed(conn, conn.send_binary(bytes));
  });
  server.on_pong([](parley::Connection& conn, std::string_view payload) {
    const Session& s = conn.metadata_as<Session>();
    if (s.route == "/ping" && payload == s.payload) conn.send_text("pong:" + std::string(payload));
  });
  server.on_close([](parley::Connection& conn, parley::CloseCode code, std::string_view reason) {
    const Session& s = conn.metadata_as<Session>();
    if (s.id.empty() || s.route == "/report") return;
    std::lock_guard lock(records_mutex);
    records[s.id].close = std::pair{static_cast<int>(code), std::string(reason)};
  });
  server.on_error([](parley::Connection*, const parley::Error& e) {
    std::fprintf(stderr, "interop_server: %s: %s\n", e.code().category().name(), e.message().c_str());
  });

  if (parley::Error e = server.start()) {
    std::fprintf(stderr, "interop_server: %s: %s\n", e.code().category().name(), e.message().c_str());
    return 1;
  }
  std::printf("{\"port\": %u, \"version\": \"%s\"}\n", unsigned{server.port()}, PARLEY_VERSION_STRING);
  std::fflush(stdout);

  // stdin closing (the harness went away) stops the server too.
  std::thread([] {
    char buf[256];
    while (::read(0, buf, sizeof buf) > 0) {
    }
    ::kill(::getpid(), SIGTERM);
  }).detach();
  int sig = 0;
  sigwait(&stop_signals, &sig);
  server.stop();
  return 0;
}
