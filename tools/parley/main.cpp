// `parley`: the command-line tool — arguments (CLI11) and dispatch.
#include <CLI/CLI.hpp>

#include <parley/version.hpp>

#include <cstdio>
#include <string>

#include "commands.hpp"
#include "common.hpp"

namespace {

using namespace parley_cli;

// A validator without its description, which CLI11 would append to the
// option's type name in --help (our help texts say the range and unit).
CLI::Validator bare(CLI::Validator v) {
  v.description("");
  return v;
}

/// A number > 0 (or >= 0), with a short error message (CLI11's own would
/// print the whole range of double).
CLI::Validator number_above_zero(bool zero_allowed) {
  return CLI::Validator(
      [zero_allowed](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v)) return "'" + text + "' is not a number";
        if (v < 0 || (!zero_allowed && v == 0)) return zero_allowed ? "must not be negative" : "must be positive";
        return {};
      },
      "");
}

void add_serve(CLI::App& app, ServeSettings& s, bool& echo, bool& broadcast) {
  CLI::App* cmd = app.add_subcommand("serve", "Run a WebSocket server (a demo: page, echo and chat; or --echo / --broadcast)");
  cmd->footer(
      "Run a WebSocket server. With no arguments it listens on 127.0.0.1:8080 and serves a demo:\n"
      "  GET /       a chat page (plain HTTP)\n"
      "  /chat       WebSocket: a chat room; each message is sent to every member\n"
      "  /chat/ROOM  WebSocket: another room\n"
      "  /echo       WebSocket: each message is sent back (so is any other path)\n"
      "At startup it prints 'listening on ws://HOST:PORT/' (wss:// with --tls-cert) on stderr.\n"
      "SIGINT/SIGTERM stop it gracefully (close 1001 to every connection); a second signal\n"
      "stops it at once. SIGHUP reloads the --tls-cert certificate and key.\n"
      "With --redis, the rooms (and --broadcast) span every server started with the same Redis;\n"
      "with --history too, a client that reconnects to /chat/ROOM?since=OFFSET gets what it missed.\n");
  cmd->add_option("--host", s.host, "IP address to listen on; \"::\" or \"0.0.0.0\" for all interfaces (default: 127.0.0.1)");
  cmd->add_option("-p,--port", s.port, "TCP port; 0 = any free port (default: 8080)")->type_name("PORT");
  cmd->add_option("-t,--threads", s.threads, "event-loop threads (default: 1)")->type_name("N")->check(bare(CLI::Range(1u, 1024u)));
  auto* e = cmd->add_flag("--echo", echo, "every path echoes each message back, exactly as received");
  auto* b = cmd->add_flag("--broadcast", broadcast, "every path sends each message to every connection");
  e->excludes(b);
  cmd->add_option("--static", s.static_dir,
                  "serve the files of DIR for plain HTTP GET/HEAD requests instead of the demo page (no path traversal)")
      ->check(bare(CLI::ExistingDirectory))
      ->type_name("DIR");
  cmd->add_option("--subprotocol", s.subprotocols,
                  "a subprotocol to accept (repeatable; in order of preference) (default: none)")
      ->type_name("NAME");
  cmd->add_option("--origin", s.origins,
                  "an Origin allowed to connect, e.g. https://example.com (repeatable; others get 403) (default: any)")
      ->type_name("ORIGIN");
  cmd->add_option("--trust-proxy", s.trusted_proxies,
                  "a reverse proxy (IP address or CIDR network, e.g. 127.0.0.1/32, fd00::/8) whose Forwarded / "
                  "X-Forwarded-For / X-Forwarded-Proto headers give the client's address (repeatable; the right-most "
                  "untrusted address is the client; logged as 'CLIENT via PROXY') (default: none trusted)")
      ->type_name("CIDR");
  auto* redis = cmd->add_option("--redis", s.redis,
                                "share chat rooms (and --broadcast) with every parley serve using this Redis: "
                                "redis://[[USER]:PASSWORD@]HOST[:PORT] (default: this server only)")
                    ->type_name("URL");
  cmd->add_option("--history", s.history,
                  "keep about the last N messages of each room (and of --broadcast) in Redis: their text messages "
                  "are then sent as JSON "
                  "{\"offset\":\"...\",\"text\":\"...\"}, and a client that comes back with ?since=OFFSET gets what "
                  "it missed first, then {\"recovery\":\"recovered\",\"replayed\":N} (or \"gap\" / \"unavailable\" "
                  "and a reason: reload); at most 1,000 messages are replayed, a client further behind gets \"gap\" "
                  "(default: 0, no history)")
      ->needs(redis)
      ->check(bare(CLI::Range(std::size_t{1}, std::size_t{10000000})))
      ->type_name("N");
  cmd->add_option("--max-message-size", s.max_message_size,
                  "largest message in bytes, suffixes K, M, G (1024-based); 0 = no limit (default: 64M)")
      ->transform(bare(CLI::AsSizeValue(false)))
      ->type_name("BYTES");
  cmd->add_option("--max-memory", s.max_memory,
                  "memory budget in bytes for everything held on peers' behalf (unsent output, messages being "
                  "received); past it the connections holding the most are closed. Suffixes K, M, G (1024-based); "
                  "0 = no budget (default: 256M)")
      ->transform(bare(CLI::AsSizeValue(false)))
      ->type_name("BYTES");
  cmd->add_option("--idle-timeout", s.idle_timeout,
                  "close a connection (1001) from which nothing arrives for this many seconds (pongs to --ping-interval "
                  "pings count); 0 = never (default: 0)")
      ->check(number_above_zero(true))
      ->type_name("SECONDS");
  cmd->add_option("--ping-interval", s.ping_interval,
                  "ping a connection silent for this many seconds; 0 = never (default: 20)")
      ->check(number_above_zero(true))
      ->type_name("SECONDS");
  cmd->add_flag("--deflate", s.deflate,
                "accept permessage-deflate (RFC 7692) from clients that offer it; messages of 256 bytes or more are compressed");
  auto* cert = cmd->add_option("--tls-cert", s.tls_cert,
                               "serve wss:// with this PEM certificate chain (leaf first); SIGHUP reloads it")
                   ->type_name("FILE");
  cmd->add_option("--tls-key", s.tls_key, "the PEM private key of --tls-cert (default: read from --tls-cert)")
      ->type_name("FILE")
      ->needs(cert);
  cmd->add_option("--tls-client-ca", s.tls_client_ca,
                  "require client certificates signed by these CAs (PEM; mutual TLS)")
      ->type_name("FILE")
      ->needs(cert);
  auto* q = cmd->add_flag("-q,--quiet", s.quiet, "no log line per connection (the listening line and errors remain)");
  auto* v = cmd->add_flag("-v,--verbose", s.verbose, "also log every frame received (>) and sent (<): opcode, FIN, RSV1, payload bytes; and every message, with a preview");
  q->excludes(v);
}

void add_client_proxy(CLI::App& cmd, ClientProxySettings& s) {
  auto* proxy = cmd.add_option("--proxy", s.url,
                               "connect through this HTTP proxy (CONNECT tunnel, ws:// and wss://): "
                               "http://[USER:PASSWORD@]HOST[:PORT] (default: the environment's wss_proxy, ws_proxy, "
                               "https_proxy, http_proxy or all_proxy, unless no_proxy matches the host)")
                    ->type_name("URL");
  cmd.add_flag("--no-proxy", s.none, "connect directly: ignore the proxy variables of the environment")->excludes(proxy);
}

void add_client_tls(CLI::App& cmd, ClientTlsSettings& s) {
  auto* ca = cmd.add_option("--ca", s.ca, "wss://: trust the CAs in this PEM file instead of the system's")->type_name("FILE");
  auto* insecure = cmd.add_flag("-k,--insecure", s.insecure,
                                "wss://: DANGER: accept any server certificate, for any name (no verification)");
  ca->excludes(insecure);
  auto* cert = cmd.add_option("--cert", s.cert, "wss://: send this client certificate (PEM chain) when asked")
                   ->type_name("FILE");
  cmd.add_option("--key", s.key, "the PEM private key of --cert (default: read from --cert)")->type_name("FILE")->needs(cert);
}

void add_connect(CLI::App& app, ConnectSettings& s) {
  CLI::App* cmd = app.add_subcommand("connect", "Open a WebSocket connection: stdin lines out, messages in to stdout");
  cmd->footer(std::string(
      "Open a WebSocket connection to URL (ws:// or wss://host[:port]/path?query). Each line read from\n"
      "stdin is sent as a text message; each message received is printed on stdout (text as\n"
      "is, binary as hex unless --raw), one per line. Status and errors go to stderr. At the\n"
      "end of stdin (or after --execute) it waits --wait seconds for replies, then closes\n"
      "with 1000. SIGINT/SIGTERM close the connection (1000); a second signal exits at once.\n\n") +
              exit_status_help);
  cmd->add_option("url", s.url, "the server's URL, ws://host[:port]/path or wss://...")->required();
  cmd->add_option("-H,--header", s.headers, "an extra request header \"Name: value\" (repeatable)")->type_name("HEADER");
  cmd->add_option("--subprotocol", s.subprotocols, "a subprotocol to offer (repeatable; in order of preference)")
      ->type_name("NAME");
  cmd->add_option("--origin", s.origin, "the Origin header to send (default: none)");
  cmd->add_option("--cookie", s.cookie, "the Cookie header to send, e.g. \"a=1; b=2\" (default: none)");
  cmd->add_option("--ping-interval", s.ping_interval,
                  "ping the server after this many silent seconds; 0 = never (default: 0)")
      ->check(number_above_zero(true))
      ->type_name("SECONDS");
  cmd->add_option("--connect-timeout", s.connect_timeout,
                  "give up connecting (name resolution, TCP and handshake each) after this many seconds (default: 10)")
      ->check(number_above_zero(false))
      ->type_name("SECONDS");
  cmd->add_option("-x,--execute", s.execute,
                  "send MSG instead of reading stdin, print the replies, close (repeatable)")
      ->type_name("MSG");
  cmd->add_option("-w,--wait", s.wait,
                  "after the last message is sent, wait this many seconds for messages before closing; "
                  "-1 = until the server closes (default: 1; with --execute, until one reply per "
                  "message sent has arrived, at most 5)")
      ->check(bare(CLI::Range(-1.0, 1e9)))
      ->type_name("SECONDS");
  cmd->add_option("--max-message-size", s.max_message_size,
                  "largest message accepted, in bytes, suffixes K, M, G (1024-based); 0 = no limit (default: 64M)")
      ->transform(bare(CLI::AsSizeValue(false)))
      ->type_name("BYTES");
  auto* echo = cmd->add_flag("--echo",
                             s.echo,
                             "send back every message received, exactly as received (text as text, binary as "
                             "binary), and nothing else; stdin is not read, messages are not printed; exits when "
                             "the server closes");
  auto* bin = cmd->add_flag("-b,--binary", s.binary,
                            "send binary messages: stdin is read raw, each chunk read (a line at a terminal, up to "
                            "64 KiB from a pipe) is one message; --execute messages are sent as binary");
  echo->excludes(bin);
  cmd->add_flag("--raw", s.raw, "print binary messages as raw bytes (no newline added) instead of hex");
  cmd->add_flag("--deflate", s.deflate, "offer permessage-deflate (RFC 7692); used when the server accepts it");
  add_client_tls(*cmd, s.tls);
  add_client_proxy(*cmd, s.proxy);
  cmd->add_flag("-q,--quiet", s.quiet, "no status lines on stderr (errors remain)");
}

void add_bench(CLI::App& app, BenchSettings& s) {
  CLI::App* cmd = app.add_subcommand("bench", "Load-test an echo server: messages/s and latency percentiles");
  cmd->footer(
      "Load-test the echo endpoint at URL: open -c connections, keep -p messages in flight on\n"
      "each (every echo is checked against what was sent, and answered with the next message),\n"
      "then print messages/s, MB/s (echoed payload, 1 MB = 10^6 bytes), latency percentiles\n"
      "(send to echo, per message), errors and reconnects. A live progress line goes to stderr\n"
      "when it is a terminal. Runs for -d seconds (default 10) or until -n messages are echoed.\n"
      "Exit status 0 when there were no errors, 1 otherwise, 3 when no connection opened.\n");
  cmd->add_option("url", s.url, "the echo server's URL, ws://host[:port]/path or wss://...")->required();
  cmd->add_option("-c,--connections", s.connections, "connections (default: 10)")->type_name("N")->check(bare(CLI::Range(1u, 1000000u)));
  cmd->add_option("-p,--pipeline", s.pipeline, "messages in flight per connection (default: 1)")
      ->type_name("N")
      ->check(bare(CLI::Range(1u, 1000000u)));
  cmd->add_option("-s,--size", s.size, "message size in bytes, suffixes K, M (1024-based) (default: 16)")
      ->transform(bare(CLI::AsSizeValue(false)))
      ->type_name("BYTES");
  cmd->add_flag("--binary", s.binary, "send binary messages (default: text)");
  cmd->add_option("-d,--duration", s.duration,
                  "seconds of measurement, after the warmup (default: 10, or unlimited with -n)")
      ->check(number_above_zero(false))
      ->type_name("SECONDS");
  cmd->add_option("-n,--messages", s.messages,
                  "stop after this many messages have been echoed, over all connections (default: no limit)")
      ->type_name("N")
      ->check(number_above_zero(false));
  cmd->add_option("--warmup", s.warmup, "seconds of load before the measurement starts (default: 0)")
      ->check(number_above_zero(true))
      ->type_name("SECONDS");
  cmd->add_option("-t,--threads", s.threads,
                  "client event-loop threads (default: the number of CPUs, at most -c)")
      ->type_name("N")
      ->check(bare(CLI::Range(1u, 1024u)));
  cmd->add_option("--connect-timeout", s.connect_timeout,
                  "give up on a connection attempt after this many seconds (default: 10)")
      ->check(number_above_zero(false))
      ->type_name("SECONDS");
  cmd->add_option("-H,--header", s.headers, "an extra request header \"Name: value\" (repeatable)")->type_name("HEADER");
  cmd->add_option("--subprotocol", s.subprotocols, "a subprotocol to offer (repeatable)")->type_name("NAME");
  cmd->add_flag("--deflate", s.deflate, "offer permessage-deflate (RFC 7692): every message is compressed when the server accepts");
  add_client_tls(*cmd, s.tls);
  add_client_proxy(*cmd, s.proxy);
  cmd->add_flag("--json", s.json, "print the summary as one JSON object on stdout (progress line off)");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("parley — WebSocket server, client and load generator", "parley");
  app.set_version_flag("--version", std::string("parley ") + parley::version_string());
  app.require_subcommand(1);
  app.fallthrough(false);

  ServeSettings serve;
  bool serve_echo = false;
  bool serve_broadcast = false;
  ConnectSettings connect;
  BenchSettings bench;
  add_serve(app, serve, serve_echo, serve_broadcast);
  add_connect(app, connect);
  add_bench(app, bench);
  // After the subcommands, which would inherit it.
  app.footer(std::string("Run 'parley COMMAND --help' for the flags of a command.\n\n") + exit_status_help);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForVersion& e) {
    std::printf("%s\n", e.what());
    return exit_ok;
  } catch (const CLI::Success& e) {  // --help
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (what.empty()) what = e.get_name();
    // One line: CLI11's messages may span lines.
    for (char& c : what) {
      if (c == '\n') c = ' ';
    }
    std::fprintf(stderr, "parley: %s (see 'parley --help')\n", what.c_str());
    return exit_usage;
  }

  if (app.got_subcommand("serve")) {
    if (serve_echo) serve.mode = ServeMode::echo;
    if (serve_broadcast) serve.mode = ServeMode::broadcast;
    return run_serve(serve);
  }
  if (app.got_subcommand("connect")) return run_connect(connect);
  if (app.got_subcommand("bench")) return run_bench(bench);
  return exit_usage;
}
