#include "common.hpp"

#include <parley/protocol/handshake.hpp>

#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace parley_cli {

const char* const exit_status_help =
    "Exit status:\n"
    "  0  success; for connect: the connection closed normally (1000, 1001 or no code)\n"
    "  1  a runtime failure (serve cannot listen, bench saw errors)\n"
    "  2  bad arguments: unknown flag, bad value, unparsable URL\n"
    "  3  could not connect (refused, unreachable, unknown host, timeout)\n"
    "  4  connected, but the WebSocket handshake failed (e.g. HTTP 403 or 404)\n"
    "  5  the connection closed abnormally (1006) or with an error code\n";

std::chrono::milliseconds seconds_to_ms(double seconds) {
  if (!(seconds > 0)) return std::chrono::milliseconds{0};
  const double ms = std::ceil(seconds * 1000.0);
  if (ms > 1e15) return std::chrono::milliseconds{static_cast<std::int64_t>(1e15)};
  return std::chrono::milliseconds{static_cast<std::int64_t>(ms)};
}

std::string human_bytes(std::uint64_t bytes) {
  char buf[32];
  if (bytes < 1024) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else if (bytes < (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(bytes) / 1024.0);
  } else if (bytes < (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  }
  return buf;
}

std::string to_hex(std::string_view data) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.resize(data.size() * 2);
  for (std::size_t i = 0; i < data.size(); ++i) {
    const auto c = static_cast<unsigned char>(data[i]);
    out[2 * i] = digits[c >> 4];
    out[2 * i + 1] = digits[c & 15];
  }
  return out;
}

std::string describe_close(parley::CloseCode code, std::string_view reason) {
  std::string out = std::to_string(static_cast<unsigned>(code));
  out += " (";
  out += parley::describe(code);
  out += ")";
  if (!reason.empty()) {
    out += " ";
    out += parley::protocol::printable(reason, 123);
  }
  return out;
}

bool is_normal_close(parley::CloseCode code) noexcept {
  return code == parley::CloseCode::normal || code == parley::CloseCode::going_away ||
         code == parley::CloseCode::no_status;
}

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

sigset_t block_stop_signals() {
  std::signal(SIGINT, SIG_DFL);  // a shell may start us with SIGINT ignored
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

void apply_client_tls(const ClientTlsSettings& flags, parley::ClientOptions& options) {
  options.tls.ca_file = flags.ca;
  options.tls.insecure = flags.insecure;
  options.tls.cert_file = flags.cert;
  options.tls.key_file = flags.key;
}

void apply_client_proxy(const ClientProxySettings& flags, parley::ClientOptions& options) {
  options.proxy = flags.none ? std::string() : flags.url;
  options.proxy_from_environment = !flags.none && flags.url.empty();
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace parley_cli
