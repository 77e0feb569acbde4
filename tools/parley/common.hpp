// Helpers shared by the `parley` subcommands: exit codes, durations, text
// formatting for the terminal, signal handling.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <string>
#include <string_view>

#include <parley/client.hpp>
#include <parley/close_code.hpp>
#include <parley/protocol/printable.hpp>

#include "commands.hpp"

namespace parley_cli {

/// Exit statuses of the `parley` command (documented in `parley --help`).
enum ExitCode : int {
  exit_ok = 0,              ///< success; for `connect`, a normal close (1000, 1001, 1005)
  exit_failure = 1,         ///< a runtime failure (cannot listen, bench saw errors)
  exit_usage = 2,           ///< bad arguments: unknown flag, bad value, unparsable URL
  exit_connect_failed = 3,  ///< could not connect (refused, unreachable, name, timeout)
  exit_handshake_failed = 4,  ///< connected, but the WebSocket handshake failed (e.g. 403, 404)
  exit_abnormal_close = 5,  ///< the connection ended with 1006 or an error close code
};

/// The text printed after `parley --help` and `parley connect --help`.
extern const char* const exit_status_help;

/// Seconds (from the command line) as milliseconds, rounded up so that a
/// tiny positive value does not become 0 ("off").
std::chrono::milliseconds seconds_to_ms(double seconds);

/// "1.5 KiB"-style sizes for log lines.
std::string human_bytes(std::uint64_t bytes);

/// Lowercase hex of `data`, no separators.
std::string to_hex(std::string_view data);

/// "1000 (normal closure)" or "4000 (application code) reason".
std::string describe_close(parley::CloseCode code, std::string_view reason);

/// True for the close codes `connect` treats as a normal end: 1000, 1001, 1005.
bool is_normal_close(parley::CloseCode code) noexcept;

/// The local time as "HH:MM:SS.mmm" (log line prefix).
std::string timestamp();

/// Blocks SIGINT and SIGTERM in the calling thread (call first in main so
/// that every thread started later inherits the mask) and returns that set;
/// the signals are then received with sigwait/sigtimedwait or a signalfd.
sigset_t block_stop_signals();

/// Copies the --ca/--insecure/--cert/--key flags into the client's options.
void apply_client_tls(const ClientTlsSettings& flags, parley::ClientOptions& options);
/// Copies the --proxy/--no-proxy flags into the client's options: the
/// environment's proxy (curl's variables) unless --proxy or --no-proxy.
void apply_client_proxy(const ClientProxySettings& flags, parley::ClientOptions& options);

/// Writes a whole buffer to a file descriptor (retrying on EINTR and short
/// writes); false on error.
bool write_all(int fd, std::string_view data);

}  // namespace parley_cli
