// The settings and entry points of the `parley` subcommands. main.cpp fills
// these structs from the command line (CLI11); each command lives in its own
// file and knows nothing of argument parsing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace parley_cli {

/// What `serve` does with the messages it receives.
enum class ServeMode : std::uint8_t {
  demo,       ///< `/chat` broadcasts to the other /chat connections, every other path echoes
  echo,       ///< every path echoes
  broadcast,  ///< every path broadcasts to every connection
};

struct ServeSettings {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  unsigned threads = 1;
  ServeMode mode = ServeMode::demo;
  std::string static_dir;  ///< "" = serve the demo page
  std::vector<std::string> subprotocols;
  std::vector<std::string> origins;
  std::vector<std::string> trusted_proxies;  ///< --trust-proxy: ServerOptions::trusted_proxies
  std::string redis;  ///< --redis URL: topics shared through Redis ("" = this server only)
  std::size_t history = 0;  ///< --history N: messages kept per room in Redis, for ?since= (0 = none)
  std::uint64_t max_message_size = 64ull << 20;
  std::uint64_t max_memory = 256ull << 20;  ///< ServerOptions::max_total_buffered
  double idle_timeout = 0;     ///< seconds, 0 = never
  double ping_interval = 20;   ///< seconds, 0 = never
  bool deflate = false;  ///< accept permessage-deflate
  std::string tls_cert;       ///< PEM chain: serve wss:// ("" = plain ws://)
  std::string tls_key;        ///< PEM key ("" = in tls_cert)
  std::string tls_client_ca;  ///< CAs of required client certificates ("" = none asked)
  bool quiet = false;
  bool verbose = false;
};

/// The TLS flags of the client commands (connect, bench).
struct ClientTlsSettings {
  std::string ca;    ///< trusted CAs (PEM) instead of the system store
  std::string cert;  ///< client certificate (PEM chain)
  std::string key;   ///< its key ("" = in cert)
  bool insecure = false;
};

/// The proxy flags of the client commands (connect, bench).
struct ClientProxySettings {
  std::string url;        ///< --proxy: ClientOptions::proxy ("" = the environment's, unless none)
  bool none = false;      ///< --no-proxy: neither --proxy nor the environment
};

struct ConnectSettings {
  std::string url;
  std::vector<std::string> headers;  ///< "Name: value"
  std::vector<std::string> subprotocols;
  std::string origin;
  std::string cookie;
  double ping_interval = 0;     ///< seconds, 0 = never
  double connect_timeout = 10;  ///< seconds
  std::vector<std::string> execute;
  double wait = -2;             ///< seconds; -2 = the default, -1 = until the server closes
  std::uint64_t max_message_size = 64ull << 20;
  bool echo = false;
  bool binary = false;
  bool raw = false;
  bool deflate = false;  ///< offer permessage-deflate
  ClientTlsSettings tls;
  ClientProxySettings proxy;
  bool quiet = false;
};

struct BenchSettings {
  std::string url;
  unsigned connections = 10;
  unsigned pipeline = 1;
  std::uint64_t size = 16;
  bool binary = false;
  double duration = 0;          ///< seconds; 0 = not set
  std::uint64_t messages = 0;   ///< 0 = not set
  double warmup = 0;            ///< seconds
  unsigned threads = 0;         ///< 0 = automatic
  double connect_timeout = 10;  ///< seconds
  std::vector<std::string> headers;
  std::vector<std::string> subprotocols;
  bool deflate = false;  ///< offer permessage-deflate
  ClientTlsSettings tls;
  ClientProxySettings proxy;
  bool json = false;
};

int run_serve(const ServeSettings& settings);
int run_connect(const ConnectSettings& settings);
int run_bench(const BenchSettings& settings);

}  // namespace parley_cli
