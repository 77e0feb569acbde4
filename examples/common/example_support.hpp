// What the examples in examples/<name>/ share: command-line flags, serving
// their pages and parley.js from files, and running until SIGINT/SIGTERM.
// Header-only, to keep each example one folder you can copy (with this).
#pragma once

#include <parley/parley.hpp>

#include <pthread.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#ifndef PARLEY_EXAMPLE_DIR
#error "PARLEY_EXAMPLE_DIR (the example's folder) is set by examples/CMakeLists.txt"
#endif
#ifndef PARLEY_JS_DIR
#error "PARLEY_JS_DIR (the repository's js/ folder) is set by examples/CMakeLists.txt"
#endif

namespace example {

/// The flags every example takes. `extra` handles the example's own: it
/// gets the flag and its value and returns false for an unknown flag.
struct Flags {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string tls_cert;  // --tls-cert FILE with --tls-key FILE: https:// and wss://
  std::string tls_key;
  std::vector<std::string> origins;  // --origin URL (repeatable)

  bool tls() const { return !tls_cert.empty(); }
  std::string http_scheme() const { return tls() ? "https" : "http"; }
};

inline Flags parse_flags(int argc, char** argv, const char* usage,
                         const std::function<bool(std::string_view flag, const char* value)>& extra = {}) {
  Flags f;
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "%s\nusage: %s %s\n", why.c_str(), argv[0], usage);
    std::exit(2);
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      std::printf("usage: %s %s\n", argv[0], usage);
      std::exit(0);
    }
    if (i + 1 >= argc) fail("missing value after " + std::string(flag));
    const char* value = argv[++i];
    if (flag == "--host") {
      f.host = value;
    } else if (flag == "--port") {
      char* end = nullptr;
      const long port = std::strtol(value, &end, 10);
      if (*value == '\0' || *end != '\0' || port < 0 || port > 65535) fail("bad port: " + std::string(value));
      f.port = static_cast<std::uint16_t>(port);
    } else if (flag == "--tls-cert") {
      f.tls_cert = value;
    } else if (flag == "--tls-key") {
      f.tls_key = value;
    } else if (flag == "--origin") {
      f.origins.emplace_back(value);
    } else if (!extra || !extra(flag, value)) {
      fail("unknown flag " + std::string(flag));
    }
  }
  if (f.tls_cert.empty() != f.tls_key.empty()) fail("--tls-cert and --tls-key go together");
  return f;
}

/// Server options from the flags: address, port, TLS.
inline parley::ServerOptions server_options(const Flags& f) {
  parley::ServerOptions o;
  o.host = f.host;
  o.port = f.port;
  o.tls.cert_file = f.tls_cert;
  o.tls.key_file = f.tls_key;
  return o;
}

/// A complete answer with a body.
inline parley::Response reply(int status, std::string body, std::string_view content_type = "text/plain; charset=utf-8") {
  parley::Response r;
  r.status = status;
  r.reason = std::string(parley::protocol::reason_phrase(status));
  r.headers.add("Content-Type", std::string(content_type));
  r.headers.add("Cache-Control", "no-store");
  r.headers.add("X-Content-Type-Options", "nosniff");
  r.body = std::move(body);
  return r;
}

/// The bytes of a file; false when it cannot be read.
inline bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  out = std::move(s).str();
  return true;
}

/// One file the example serves: its URL path, its file, its type.
struct StaticFile {
  std::string_view path;  // "/", "/parley.js"
  std::string file;       // read at each request: edit and reload
  std::string_view type;
};

/// The example's page (`index.html` of its folder at `/`) and parley.js
/// (`/parley.js`, from the repository's js/ folder), plus `more`.
inline std::vector<StaticFile> static_files(std::vector<StaticFile> more = {}) {
  more.push_back({"/", std::string(PARLEY_EXAMPLE_DIR) + "/index.html", "text/html; charset=utf-8"});
  more.push_back({"/parley.js", std::string(PARLEY_JS_DIR) + "/parley.js", "text/javascript; charset=utf-8"});
  return more;
}

/// Answers a GET (or HEAD) for one of `files`; false when `req` is not one.
inline bool serve_static(const parley::Request& req, const std::vector<StaticFile>& files, parley::Response& out) {
  if (req.method != "GET" && req.method != "HEAD") return false;
  for (const StaticFile& f : files) {
    if (req.path() != f.path) continue;
    std::string bytes;
    if (!read_file(f.file, bytes)) {
      out = reply(500, "cannot read " + f.file + "\n");
      return true;
    }
    out = reply(200, req.method == "HEAD" ? std::string() : std::move(bytes), f.type);
    // A page may only load its own scripts and talk to its own server.
    out.headers.add("Content-Security-Policy",
                    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; "
                    "connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'");
    return true;
  }
  return false;
}

/// Starts `server`, prints where it listens (`name: listening on
/// http://host:port/`, on stdout), and runs until SIGINT or SIGTERM; then
/// stops gracefully (1001 to every connection). Returns the exit status.
inline int run(parley::Server& server, const Flags& flags, const char* name) {
  // Block SIGINT/SIGTERM in every thread (the loop threads inherit the
  // mask); this thread waits for them.
  std::signal(SIGINT, SIG_DFL);  // a shell may start us with SIGINT ignored
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  if (parley::Error e = server.start()) {
    std::fprintf(stderr, "%s: %s\n", name, e.message().c_str());
    return 1;
  }
  std::printf("%s: listening on %s://%s:%u/\n", name, flags.http_scheme().c_str(), flags.host.c_str(), server.port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  server.stop();
  return 0;
}

}  // namespace example
