// Hub: one event loop's connections, timeouts and shutdown.
#include "hub.hpp"

#include <algorithm>

#include "parley/protocol/handshake.hpp"

namespace parley::detail {

Hub::~Hub() {
  // Connections before the listener and the loop.
  connections_.clear();
  listener.reset();
}

void Hub::adopt(std::unique_ptr<net::TcpSocket> socket) {
  const Settings& s = settings();
  if (s.tls) {
    if (Error e = socket->start_tls(*s.tls)) return callbacks().report(nullptr, e);
  }
  const std::size_t count = shared_.connections.fetch_add(1, std::memory_order_relaxed) + 1;
  const std::uint64_t id = shared_.next_id.fetch_add(1, std::memory_order_relaxed);
  Connection& conn = add_connection(id, std::move(socket));
  if (shutting_down_) {
    conn.respond_and_close(protocol::make_error_response(503, "server shutting down"));
  } else if (s.max_connections != 0 && count > s.max_connections) {
    conn.respond_and_close(protocol::make_error_response(503, "too many connections"));
  }
}

void Hub::open_client(std::uint64_t id, protocol::ClientHandshake handshake) {
  shared_.connections.fetch_add(1, std::memory_order_relaxed);
  Connection& conn = add_connection(id, nullptr);
  if (shutting_down_) {
    conn.user_closed_ = true;
    return conn.fail_handshake(Error(std::make_error_code(std::errc::operation_canceled), "the client is stopping"));
  }
  conn.start_client(std::move(handshake));
}

void Hub::broadcast(const Broadcast& message) {
  CompressedFrames compressed;
  for_each_open([&](Connection& c) { c.send_broadcast(message, compressed); });
}

void Hub::publish(const Broadcast& message) {
  CompressedFrames compressed;
  topics_.for_each_subscriber(message.topic, [&](Connection& c) { c.send_broadcast(message, compressed); });
}

void Hub::start_sweeper() {
  const Settings& s = settings();
  net::Millis period{1000};
  for (net::Millis t : {s.handshake_timeout, s.tls_handshake_timeout, s.idle_timeout, s.ping_interval, s.pong_timeout,
                        s.close_timeout, s.message_timeout}) {
    if (t.count() > 0) period = std::min(period, t / 4);
  }
  period = std::max(period, net::Millis{5});
  sweeper_ = loop_.add_periodic(period, [this] { sweep(); });
}

void Hub::sweep() {
  const net::Clock::time_point now = loop_.now();
  connections_.for_each([now](Connection& c) { c.sweep(now); });
}

void Hub::shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  if (listener) listener->close();
  connections_.for_each([this](Connection& c) {
    switch (c.state()) {
      case ConnectionState::open:
        (void)c.close(CloseCode::going_away,
                      settings().engine.role == Role::client ? "client shutting down" : "server shutting down");
        break;
      case ConnectionState::handshake:
        c.teardown();
        break;
      default:
        break;
    }
  });
  // Connections that do not answer in time are dropped by the sweep
  // (close timeout); this bounds the whole stop.
  loop_.add_timer(settings().close_timeout * 2 + net::Millis{100}, [this] {
    connections_.for_each([](Connection& c) { c.terminate(); });
    connections_.clear();
    loop_.stop();
  });
  stop_when_empty();
}

// ---- LoopGroup -------------------------------------------------------------

LoopGroup::~LoopGroup() {
  stop();
  wait();
  // Threads that could not be joined (the group destroyed from one of its
  // own callbacks) are detached rather than terminating the process.
  for (auto& t : threads_) {
    if (t.joinable()) t.detach();
  }
}

Error LoopGroup::create(unsigned n) {
  for (unsigned i = 0; i < n; ++i) {
    auto hub = std::make_shared<Hub>(shared_, n);
    if (hub->loop().init_error()) return hub->loop().init_error();
    hub->start_sweeper();
    shared_.contexts.push_back(hub.get());
    hubs.push_back(std::move(hub));
  }
  return {};
}

void LoopGroup::launch() {
  std::lock_guard lock(mutex_);
  launched_ = true;
  for (auto& [index, fn] : queued_) {
    hubs[index]->loop().post([hub = hubs[index].get(), fn = std::move(fn)] { fn(*hub); });
  }
  queued_.clear();
  running_ = static_cast<unsigned>(hubs.size());
  for (auto& hub : hubs) {
    threads_.emplace_back([this, hub] {
      if (Error e = hub->loop().run()) shared_.callbacks.report(nullptr, e);
      std::lock_guard l(mutex_);
      if (--running_ == 0) stopped_cv_.notify_all();
    });
  }
}

bool LoopGroup::run_on(unsigned index, std::function<void(Hub&)> fn) {
  std::shared_ptr<Hub> hub;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || index >= count_) return false;
    if (!launched_) {
      queued_.emplace_back(index, std::move(fn));
      return true;
    }
    hub = hubs[index];
  }
  // (A raw pointer: what the loop has not run when it stops is destroyed
  // with it, and a shared_ptr there would keep the Hub, and so the loop,
  // alive forever.)
  hub->loop().post([h = hub.get(), fn = std::move(fn)] { fn(*h); });
  return true;
}

bool LoopGroup::launched() const {
  std::lock_guard lock(mutex_);
  return launched_;
}

bool LoopGroup::on_own_thread() const {
  std::lock_guard lock(mutex_);
  const auto me = std::this_thread::get_id();
  for (const auto& t : threads_) {
    if (t.get_id() == me) return true;
  }
  return false;
}

void LoopGroup::stop() {
  {
    std::lock_guard lock(mutex_);
    if (!launched_ || stopping_) return;
    stopping_ = true;
  }
  for (auto& hub : hubs) hub->loop().post([h = hub.get()] { h->shutdown(); });
  wait();
}

void LoopGroup::wait() {
  if (on_own_thread()) return;
  std::unique_lock lock(mutex_);
  if (!launched_) return;
  stopped_cv_.wait(lock, [&] { return running_ == 0; });
  // Several threads may wait at once (run() and a stop() from another
  // thread): join under the lock so that each thread is joined exactly once.
  // The loop threads no longer need the lock (running_ is 0).
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

}  // namespace parley::detail
