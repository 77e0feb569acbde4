// `parley connect URL`: an interactive client. stdin lines (or --execute
// messages) go out as messages; messages received go to stdout; status and
// errors to stderr. `--echo` sends every message back, exactly as received.
//
// Threads: the Client's loop thread runs the callbacks (printing, echoing);
// the main thread polls stdin, a signalfd and an eventfd that the callbacks
// write to, and decides when to close.
#include <parley/parley.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"

namespace parley_cli {
namespace {

using Clock = std::chrono::steady_clock;
using parley::CloseCode;
using parley::Connection;
using parley::MessageType;

constexpr std::size_t read_chunk = 64 * 1024;

enum class Phase { connecting, open, closed, failed };

class ConnectApp {
 public:
  explicit ConnectApp(const ConnectSettings& s) : s_(s) {}
  ~ConnectApp() {
    if (event_fd_ >= 0) ::close(event_fd_);
    if (signal_fd_ >= 0) ::close(signal_fd_);
  }

  int run() {
    parley::ClientOptions o;
    o.subprotocols = s_.subprotocols;
    o.origin = s_.origin;
    o.cookie = s_.cookie;
    for (const std::string& h : s_.headers) {
      const auto colon = h.find(':');
      if (colon == std::string::npos || colon == 0) {
        std::fprintf(stderr, "parley connect: bad --header '%s': expected \"Name: value\"\n", h.c_str());
        return exit_usage;
      }
      std::string_view value(h);
      value.remove_prefix(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
      o.headers.add(std::string_view(h).substr(0, colon), value);
    }
    o.threads = 1;
    o.connect_timeout = seconds_to_ms(s_.connect_timeout);
    o.handshake_timeout = seconds_to_ms(s_.connect_timeout);
    o.ping_interval = seconds_to_ms(s_.ping_interval);
    o.max_message_size = s_.max_message_size;
    o.deflate.enabled = s_.deflate;
    apply_client_tls(s_.tls, o);
    apply_client_proxy(s_.proxy, o);

    const sigset_t signals = block_stop_signals();
    signal_fd_ = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
    event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (signal_fd_ < 0 || event_fd_ < 0) {
      std::perror("parley connect: signalfd/eventfd");
      return exit_failure;
    }

    client_.emplace(std::move(o));
    install_callbacks();
    auto handle = client_->connect(s_.url);
    if (!handle) {
      std::fprintf(stderr, "parley connect: %s: %s\n", s_.url.c_str(), handle.error().message().c_str());
      client_.reset();
      return exit_usage;
    }
    handle_ = *handle;
    const int code = main_loop();
    client_.reset();  // closes and joins the loop thread
    return code;
  }

 private:
  void notify() {
    const std::uint64_t one = 1;
    (void)!::write(event_fd_, &one, sizeof one);
  }

  void status(const char* what, const std::string& text) const {
    if (!s_.quiet) std::fprintf(stderr, "parley connect: %s%s\n", what, text.c_str());
  }

  void install_callbacks() {
    client_->on_open([this](Connection& c) {
      // (The server's words: escaped, as everything it sends that is printed.)
      using parley::protocol::printable;
      std::string extra;
      if (!c.subprotocol().empty()) extra = " (subprotocol " + printable(c.subprotocol()) + ")";
      for (const auto& e : c.extensions()) extra += " (extension " + printable(e.to_string()) + ")";
      status("connected to ", s_.url + extra);
      std::lock_guard lock(mutex_);
      phase_ = Phase::open;
      notify();
    });
    auto on_message = [this](MessageType type) {
      return [this, type](Connection& c, std::string_view m) {
        if (s_.echo) {
          const parley::SendResult r = c.send(type, m);
          if (!r) std::fprintf(stderr, "parley connect: echo not sent: %s\n", r.error.message().c_str());
        } else {
          print(type, m);
        }
        std::lock_guard lock(mutex_);
        ++received_;
        notify();
      };
    };
    client_->on_text(on_message(MessageType::text));
    client_->on_binary(on_message(MessageType::binary));
    client_->on_close([this](Connection&, CloseCode code, std::string_view reason) {
      std::lock_guard lock(mutex_);
      phase_ = Phase::closed;
      close_code_ = code;
      close_reason_ = std::string(reason);
      notify();
    });
    client_->on_error([this](Connection*, const parley::Error& e) {
      std::lock_guard lock(mutex_);
      if (phase_ == Phase::connecting) {
        phase_ = Phase::failed;
        error_ = e;
      } else {
        std::fprintf(stderr, "parley connect: error: %s\n", e.message().c_str());
      }
      notify();
    });
    client_->on_drain([this](Connection&) {
      std::lock_guard lock(mutex_);
      backpressure_ = false;
      notify();
    });
  }

  void print(MessageType type, std::string_view m) {
    if (type == MessageType::text) {
      std::fwrite(m.data(), 1, m.size(), stdout);
      std::fputc('\n', stdout);
    } else if (s_.raw) {
      std::fwrite(m.data(), 1, m.size(), stdout);
    } else {
      const std::string hex = to_hex(m);
      std::fwrite(hex.data(), 1, hex.size(), stdout);
      std::fputc('\n', stdout);
    }
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
      // stdout is gone (e.g. `parley connect URL | head -1`): finish.
      std::lock_guard lock(mutex_);
      if (!output_broken_) {
        output_broken_ = true;
        notify();
      }
    }
  }

  /// Hands a batch of messages to the loop thread; the next batch waits until
  /// this one is queued and the connection is not over its buffer limit.
  void send_batch(std::vector<std::string> batch, MessageType type) {
    if (batch.empty()) return;
    {
      std::lock_guard lock(mutex_);
      batch_in_flight_ = true;
      sent_ += batch.size();
    }
    handle_.post([this, batch = std::move(batch), type](Connection& c) {
      bool over = false;
      for (const std::string& m : batch) {
        const parley::SendResult r = c.send(type, m);
        if (!r) {
          std::fprintf(stderr, "parley connect: not sent: %s\n", r.error.message().c_str());
          break;
        }
        if (r.status == parley::SendStatus::backpressure) over = true;
      }
      std::lock_guard lock(mutex_);
      batch_in_flight_ = false;
      if (over) backpressure_ = true;
      notify();
    });
  }

  /// Reads what stdin has (one read); false at its end or on an error.
  bool read_stdin() {
    char buf[read_chunk];
    ssize_t n;
    do {
      n = ::read(STDIN_FILENO, buf, sizeof buf);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      std::perror("parley connect: reading stdin");
      return false;
    }
    const std::string_view data(buf, static_cast<std::size_t>(n));
    std::vector<std::string> batch;
    if (s_.binary) {
      if (n > 0) batch.emplace_back(data);
      send_batch(std::move(batch), MessageType::binary);
      return n > 0;
    }
    partial_.append(data);
    if (n == 0 && !partial_.empty() && partial_.back() != '\n') partial_ += '\n';  // the last line
    std::size_t start = 0;
    for (std::size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
      ++line_number_;
      std::string_view line(partial_.data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!parley::protocol::is_valid_utf8(line)) {
        std::fprintf(stderr, "parley connect: line %llu is not valid UTF-8: not sent (use --binary)\n",
                     static_cast<unsigned long long>(line_number_));
        continue;
      }
      batch.emplace_back(line);
    }
    partial_.erase(0, start);
    send_batch(std::move(batch), MessageType::text);
    return n > 0;
  }

  int finish_failed(const parley::Error& e) const {
    std::fprintf(stderr, "parley connect: cannot connect to %s: %s\n", s_.url.c_str(), e.message().c_str());
    if (e.code().category() == parley::tls_category()) {
      const auto code = parley::close_code_for(static_cast<parley::TlsError>(e.code().value()));
      std::fprintf(stderr, "parley connect: closed %s\n", describe_close(code, "").c_str());
    }
    return e.code().category() == parley::handshake_category() && e != parley::HandshakeError::timeout
               ? exit_handshake_failed
               : exit_connect_failed;
  }

  int finish_closed(CloseCode code, const std::string& reason) const {
    const bool normal = is_normal_close(code);
    if (!normal) {
      std::fprintf(stderr, "parley connect: closed %s\n", describe_close(code, reason).c_str());
      return exit_abnormal_close;
    }
    status("closed ", describe_close(code, reason));
    return exit_ok;
  }

  int main_loop() {
    const bool read_input = !s_.echo && s_.execute.empty();
    bool input_done = !read_input;
    bool executed = false;
    bool close_sent = false;
    std::optional<Clock::time_point> wait_until;   // closing after the last message
    std::optional<Clock::time_point> close_until;  // giving up on the close handshake
    const bool wait_forever = s_.echo || s_.wait == -1;
    const bool default_wait = s_.wait == -2;
    const double wait_s = default_wait ? (s_.execute.empty() ? 1.0 : 5.0) : s_.wait;

    for (;;) {
      Phase phase;
      bool in_flight, over, broken;
      std::uint64_t received, sent;
      {
        std::lock_guard lock(mutex_);
        phase = phase_;
        in_flight = batch_in_flight_;
        over = backpressure_;
        broken = output_broken_;
        received = received_;
        sent = sent_;
      }
      if (phase == Phase::failed) {
        std::lock_guard lock(mutex_);
        return finish_failed(error_);
      }
      if (phase == Phase::closed) {
        std::lock_guard lock(mutex_);
        return finish_closed(close_code_, close_reason_);
      }
      const auto now = Clock::now();
      if (phase == Phase::open && !close_sent && broken) {
        handle_.close(CloseCode::normal);
        close_sent = true;
        close_until = now + std::chrono::seconds(5);
      }
      if (phase == Phase::open && !close_sent) {
        if (!executed && !s_.execute.empty()) {
          executed = true;
          send_batch(s_.execute, s_.binary ? MessageType::binary : MessageType::text);
          continue;
        }
        if (input_done && !in_flight && !wait_forever && !wait_until) {
          wait_until = now + seconds_to_ms(wait_s);
        }
        const bool replies_in = default_wait && executed && !in_flight && received >= sent;
        if (wait_until && (now >= *wait_until || replies_in)) {
          handle_.close(CloseCode::normal);
          close_sent = true;
          close_until = now + std::chrono::seconds(5);
        }
      }
      if (close_until && now >= *close_until) {
        std::fprintf(stderr, "parley connect: the server did not complete the close handshake\n");
        return exit_abnormal_close;
      }

      pollfd fds[3];
      nfds_t nfds = 0;
      fds[nfds++] = {event_fd_, POLLIN, 0};
      fds[nfds++] = {signal_fd_, POLLIN, 0};
      const bool want_input = phase == Phase::open && !input_done && !in_flight && !over && !close_sent;
      if (want_input) fds[nfds++] = {STDIN_FILENO, POLLIN, 0};
      int timeout = -1;
      for (const auto& t : {wait_until, close_until}) {
        if (!t) continue;
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*t - now).count() + 1;
        const int m = static_cast<int>(std::clamp<long long>(ms, 0, 60'000));
        timeout = timeout < 0 ? m : std::min(timeout, m);
      }
      const int ready = ::poll(fds, nfds, timeout);
      if (ready < 0 && errno != EINTR) {
        std::perror("parley connect: poll");
        return exit_failure;
      }
      if (fds[0].revents & POLLIN) {
        std::uint64_t v;
        (void)!::read(event_fd_, &v, sizeof v);
      }
      if (fds[1].revents & POLLIN) {
        signalfd_siginfo info{};
        if (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
          if (close_sent || phase != Phase::open) {
            std::fprintf(stderr, "parley connect: %s, exiting at once\n",
                         close_sent ? "second signal" : "interrupted");
            std::fflush(stdout);
            std::_Exit(128 + static_cast<int>(info.ssi_signo));
          }
          status("signal received, ", "closing (1000)");
          handle_.close(CloseCode::normal);
          close_sent = true;
          close_until = Clock::now() + std::chrono::seconds(5);
        }
      }
      if (want_input && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
        if (!read_stdin()) input_done = true;
      }
    }
  }

  const ConnectSettings& s_;
  std::optional<parley::Client> client_;
  parley::ConnectionHandle handle_;
  int event_fd_ = -1;
  int signal_fd_ = -1;
  std::string partial_;  // an unfinished stdin line
  std::uint64_t line_number_ = 0;

  std::mutex mutex_;  // guards what the loop thread and the main thread share:
  Phase phase_ = Phase::connecting;
  parley::Error error_;
  CloseCode close_code_ = CloseCode::abnormal;
  std::string close_reason_;
  std::uint64_t received_ = 0;
  std::uint64_t sent_ = 0;
  bool batch_in_flight_ = false;
  bool backpressure_ = false;
  bool output_broken_ = false;
};

}  // namespace

int run_connect(const ConnectSettings& settings) {
  ConnectApp app(settings);
  return app.run();
}

}  // namespace parley_cli
