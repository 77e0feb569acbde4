// A redis-server of the test's own: Debian's, started on 127.0.0.1 with an
// ephemeral port and its own directory, no persistence, stopped by PID;
// and raw commands to it over a blocking hiredis connection. For the
// broker's and the server's Redis tests.
#pragma once

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace parley::test {

using namespace std::chrono_literals;

inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

class RedisServer {
 public:
  RedisServer() {
    char tmpl[] = "/tmp/parley-redis-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) dir_ = tmpl;
  }
  ~RedisServer() {
    stop();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // A new ephemeral port (another process may take it between our probe
  // and redis-server's bind: then try another), or the same one again.
  bool start(bool same_port = false) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (!same_port || port_ <= 0) port_ = free_port();
      if (port_ <= 0 || dir_.empty()) return false;
      if (spawn() && wait_ready()) return true;
      stop();
      if (same_port) std::this_thread::sleep_for(200ms);  // the port may still be closing
    }
    return false;
  }

  // SIGTERM, then SIGKILL after 5 s; always reaps.
  void stop(int sig = SIGTERM) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    ::kill(pid_, SIGCONT);  // in case it was paused
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    pid_ = -1;
  }

  int port() const { return port_; }
  // SIGSTOP / SIGCONT: a hung server.
  void pause(bool on) {
    if (pid_ > 0) ::kill(pid_, on ? SIGSTOP : SIGCONT);
  }
  std::string log() const { return dir_ + "/redis.log"; }

  // A blocking hiredis connection for raw commands.
  redisContext* raw() const {
    timeval tv{2, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c != nullptr && c->err) {
      redisFree(c);
      return nullptr;
    }
    if (c != nullptr) redisSetTimeout(c, tv);
    return c;
  }

 private:
  bool spawn() {
    const std::string port = std::to_string(port_);
    const std::string logf = log();
    pid_ = ::fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      const int fd = ::open(logf.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", dir_.c_str(), "--daemonize", "no", "--loglevel", "warning",
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return true;
  }

  // Bounded: PONG within 5 s, or the process ended (e.g. the port was taken).
  bool wait_ready() {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (redisContext* c = raw()) {
        auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
        const bool ok = r != nullptr && r->type == REDIS_REPLY_STATUS && std::string(r->str) == "PONG";
        if (r != nullptr) freeReplyObject(r);
        redisFree(c);
        if (ok) return true;
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  std::string dir_;
  int port_ = -1;
  pid_t pid_ = -1;
};

// One raw command on a fresh blocking connection; the integer or string
// answer as text ("" on failure).
inline std::string raw_command(const RedisServer& srv, std::vector<std::string> args) {
  redisContext* c = srv.raw();
  if (c == nullptr) return {};
  std::vector<const char*> argv;
  std::vector<std::size_t> len;
  for (auto& a : args) {
    argv.push_back(a.data());
    len.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), len.data()));
  std::string out;
  if (r != nullptr) {
    if (r->type == REDIS_REPLY_INTEGER) out = std::to_string(r->integer);
    else if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) out.assign(r->str, r->len);
    else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == REDIS_REPLY_INTEGER)
      out = std::to_string(r->element[1]->integer);  // PUBSUB NUMSUB ch -> [ch, n]
    else if (r->type == REDIS_REPLY_ERROR) out = "ERR";
    freeReplyObject(r);
  }
  redisFree(c);
  return out;
}

}  // namespace parley::test
