// The per-loop machinery of servers and clients: one Hub per event loop
// thread owns that loop's connections (as their ConnectionContext),
// accepts or connects them, broadcasts, sweeps their timeouts and shuts
// down; a LoopGroup runs the hubs of one Server or Client. Internal.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "connection_state.hpp"
#include "context.hpp"
#include "net/tcp.hpp"
#include "parley/protocol/handshake.hpp"

namespace parley::detail {

/// One event loop of a Server or Client: its connections' context, plus
/// what only the owner does: accept (server) or connect (client), broadcast,
/// sweep the timeouts, shut down.
class Hub : public ConnectionContext {
 public:
  using ConnectionContext::ConnectionContext;
  ~Hub();

  /// Takes a freshly accepted socket: a connection in the handshake state.
  void adopt(std::unique_ptr<net::TcpSocket> socket);
  /// Creates a client connection with a preassigned id and starts its
  /// connect and handshake.
  void open_client(std::uint64_t id, protocol::ClientHandshake handshake);
  /// Open connections of this loop.
  template <class F>
  void for_each_open(F&& f) {
    connections_.for_each([&](Connection& c) {
      if (c.state() == ConnectionState::open) f(c);
    });
  }
  /// Queues a message on every open connection of this loop that can take
  /// it (not mid-fragmented-send, not over its buffer limit), encoding it
  /// once per distinct stateless compression setting.
  void broadcast(const Broadcast& message);
  /// The same for the subscribers of `message.topic` on this loop.
  void publish(const Broadcast& message);
  /// Closes the listener, closes every connection (1001) and stops the
  /// loop once they are gone or `close_timeout` has passed.
  void shutdown();
  /// Starts the periodic timeout sweep (if any timeout is set).
  void start_sweeper();

  /// The listener of this loop (server), if any.
  std::unique_ptr<net::TcpListener> listener;

 private:
  void sweep();

  net::TimerId sweeper_;
};

/// The loop threads of a Server or Client: one Hub per thread, started
/// together, stopped together (gracefully), joined together.
class LoopGroup {
 public:
  /// `count`: how many loops create() will make (the `threads` option).
  LoopGroup(Shared& shared, unsigned count) : shared_(shared), count_(count) {}
  ~LoopGroup();

  /// Creates `n` hubs (not running yet); the loops' init errors are returned.
  Error create(unsigned n);
  /// Forgets the hubs (a start that failed).
  void clear() {
    hubs.clear();
    shared_.contexts.clear();
  }
  /// Starts one thread per hub, after queueing what run_on() was given
  /// before.
  void launch();
  /// Runs `fn` on loop `index`'s thread (LoopServices): queued until
  /// launch() when called before it. False when `index` is not a loop or
  /// the group is stopping. Thread-safe.
  bool run_on(unsigned index, std::function<void(Hub&)> fn);
  /// Shuts every hub down (close 1001, bounded by close_timeout) and waits
  /// for the threads, unless called on one of them. Idempotent.
  void stop();
  /// Waits for the threads to end (no-op on one of them or before launch).
  void wait();
  /// True on one of the group's loop threads.
  bool on_own_thread() const;
  bool launched() const;

  std::vector<std::shared_ptr<Hub>> hubs;

 private:
  Shared& shared_;
  const unsigned count_;
  std::vector<std::pair<unsigned, std::function<void(Hub&)>>> queued_;  // run_on() before launch()
  std::vector<std::thread> threads_;
  mutable std::mutex mutex_;
  std::condition_variable stopped_cv_;
  bool launched_ = false;
  bool stopping_ = false;
  unsigned running_ = 0;
};

}  // namespace parley::detail
