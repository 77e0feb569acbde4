// Unit tests of parley::net::Loop: post, stop, timers, fd watchers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "net/loop.hpp"

using namespace parley::net;
using namespace std::chrono_literals;

namespace {

// Runs iterations until `done()` or a generous deadline; returns done().
template <class Pred>
bool run_until(Loop& loop, Pred done, std::chrono::milliseconds limit = 20s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    EXPECT_FALSE(loop.run_once(10ms));
  }
  return done();
}

}  // namespace

TEST(NetLoop, ConstructsUsable) {
  Loop loop;
  EXPECT_FALSE(loop.init_error());
  EXPECT_TRUE(loop.in_loop_thread());
  EXPECT_EQ(loop.receive_buffer_size(), 256u * 1024);
  LoopOptions o;
  o.receive_buffer_size = 1;
  Loop small(o);
  EXPECT_EQ(small.receive_buffer_size(), 4096u);
}

TEST(NetLoop, PostFromManyThreadsKeepsPerThreadOrder) {
  Loop loop;
  constexpr int kThreads = 4, kPerThread = 5000;
  std::vector<std::vector<int>> seen(kThreads);
  int total = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&loop, &seen, &total, t] {
      for (int i = 0; i < kPerThread; ++i) {
        loop.post([&seen, &total, &loop, t, i] {
          EXPECT_TRUE(loop.in_loop_thread());
          seen[static_cast<std::size_t>(t)].push_back(i);
          ++total;
        });
      }
    });
  }
  EXPECT_TRUE(run_until(loop, [&] { return total == kThreads * kPerThread; }));
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    const auto& v = seen[static_cast<std::size_t>(t)];
    ASSERT_EQ(v.size(), static_cast<std::size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) ASSERT_EQ(v[static_cast<std::size_t>(i)], i);
  }
}

TEST(NetLoop, InLoopThreadIsFalseElsewhere) {
  Loop loop;
  bool other = true;
  std::thread([&] { other = loop.in_loop_thread(); }).join();
  EXPECT_FALSE(other);
}

TEST(NetLoop, StopFromAnotherThreadEndsRun) {
  Loop loop;
  std::atomic<bool> ran{false};
  loop.post([&] { ran = true; });
  std::thread stopper([&] {
    // Wait (bounded) until the loop has run the first callback, then stop it.
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!ran && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    loop.stop();
  });
  EXPECT_FALSE(loop.run());  // returns: stop() woke the blocking wait
  stopper.join();
  EXPECT_TRUE(ran);
}

TEST(NetLoop, StopBeforeRunReturnsAfterOneIteration) {
  Loop loop;
  loop.stop();
  EXPECT_FALSE(loop.run());
  // The request was consumed: a posted stop ends the next run().
  loop.post([&] { loop.stop(); });
  EXPECT_FALSE(loop.run());
}

TEST(NetLoop, PostFromInsideCallbackRunsNextIteration) {
  Loop loop;
  std::vector<int> order;
  loop.post([&] {
    order.push_back(1);
    loop.post([&] { order.push_back(3); });
  });
  loop.post([&] { order.push_back(2); });
  EXPECT_TRUE(run_until(loop, [&] { return order.size() == 3; }));
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(NetLoop, HandlePostsWhileLoopLivesOnly) {
  LoopHandle h;
  EXPECT_FALSE(h.post([] {}));
  {
    Loop loop;
    h = loop.handle();
    EXPECT_TRUE(h.alive());
    int n = 0;
    std::thread([&] { EXPECT_TRUE(h.post([&] { ++n; })); }).join();
    EXPECT_TRUE(run_until(loop, [&] { return n == 1; }));
  }
  EXPECT_FALSE(h.alive());
  EXPECT_FALSE(h.post([] { FAIL() << "ran after the loop died"; }));
}

TEST(NetLoop, OneShotTimerFiresOnceAfterDelay) {
  Loop loop;
  int fired = 0;
  auto start = Clock::now();
  Clock::time_point at;
  TimerId id = loop.add_timer(30ms, [&] {
    ++fired;
    at = loop.now();
  });
  EXPECT_TRUE(id);
  EXPECT_EQ(loop.timer_count(), 1u);
  EXPECT_TRUE(run_until(loop, [&] { return fired == 1; }));
  EXPECT_GE(at - start, 30ms);
  EXPECT_EQ(loop.timer_count(), 0u);
  EXPECT_FALSE(loop.cancel_timer(id));  // already fired
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(loop.run_once(5ms));
  EXPECT_EQ(fired, 1);
}

TEST(NetLoop, TimersFireInDeadlineOrder) {
  Loop loop;
  std::vector<int> order;
  loop.add_timer(40ms, [&] { order.push_back(40); });
  loop.add_timer(10ms, [&] { order.push_back(10); });
  loop.add_timer(25ms, [&] { order.push_back(25); });
  loop.add_timer(0ms, [&] { order.push_back(0); });
  EXPECT_TRUE(run_until(loop, [&] { return order.size() == 4; }));
  EXPECT_EQ(order, (std::vector<int>{0, 10, 25, 40}));
}

TEST(NetLoop, CancelledTimerNeverFires) {
  Loop loop;
  bool bad = false, good = false;
  TimerId a = loop.add_timer(5ms, [&] { bad = true; });
  loop.add_timer(30ms, [&] { good = true; });
  EXPECT_TRUE(loop.cancel_timer(a));
  EXPECT_FALSE(loop.cancel_timer(a));
  EXPECT_FALSE(loop.cancel_timer(TimerId{}));
  EXPECT_TRUE(run_until(loop, [&] { return good; }));
  EXPECT_FALSE(bad);
}

TEST(NetLoop, PeriodicTimerRepeatsAndCancelsItselfInsideCallback) {
  Loop loop;
  int ticks = 0;
  TimerId id;
  id = loop.add_periodic(5ms, [&] {
    if (++ticks == 5) {
      EXPECT_TRUE(loop.cancel_timer(id));
    }
  });
  EXPECT_TRUE(run_until(loop, [&] { return ticks >= 5; }));
  bool marker = false;
  loop.add_timer(40ms, [&] { marker = true; });
  EXPECT_TRUE(run_until(loop, [&] { return marker; }));
  EXPECT_EQ(ticks, 5);
  EXPECT_EQ(loop.timer_count(), 0u);
  EXPECT_FALSE(loop.cancel_timer(id));
}

TEST(NetLoop, OneShotCancelInsideOwnCallbackIsHarmless) {
  Loop loop;
  TimerId id;
  int fired = 0;
  id = loop.add_timer(1ms, [&] {
    ++fired;
    EXPECT_FALSE(loop.cancel_timer(id));  // it is firing: nothing left to cancel
  });
  EXPECT_TRUE(run_until(loop, [&] { return fired == 1; }));
}

TEST(NetLoop, TimerCallbackMayCancelAnotherDueTimer) {
  Loop loop;
  TimerId second;
  bool second_fired = false;
  loop.add_timer(1ms, [&] { EXPECT_TRUE(loop.cancel_timer(second)); });
  second = loop.add_timer(2ms, [&] { second_fired = true; });
  bool marker = false;
  loop.add_timer(30ms, [&] { marker = true; });
  EXPECT_TRUE(run_until(loop, [&] { return marker; }));
  EXPECT_FALSE(second_fired);
}

TEST(NetLoop, ZeroDelayTimerArmedInCallbackDoesNotLivelock) {
  Loop loop;
  int n = 0;
  std::function<void()> again = [&] {
    ++n;
    if (n < 1000) loop.add_timer(0ms, again);
  };
  loop.add_timer(0ms, again);
  auto before = n;
  EXPECT_TRUE(run_until(loop, [&] { return n > before; }));
  // Each iteration fires only the timers armed before it started.
  auto mid = n;
  EXPECT_FALSE(loop.run_once(0ms));
  EXPECT_LE(n, mid + 1);
  EXPECT_TRUE(run_until(loop, [&] { return n == 1000; }));
}

TEST(NetLoop, ManyTimersWithCancellations) {
  Loop loop;
  std::vector<TimerId> ids;
  std::vector<int> fired(200, 0);
  for (int i = 0; i < 200; ++i)
    ids.push_back(loop.add_timer(Millis(i % 20), [&fired, i] { ++fired[static_cast<std::size_t>(i)]; }));
  for (int i = 0; i < 200; i += 3) EXPECT_TRUE(loop.cancel_timer(ids[static_cast<std::size_t>(i)]));
  EXPECT_TRUE(run_until(loop, [&] { return loop.timer_count() == 0; }));
  for (int i = 0; i < 200; ++i) EXPECT_EQ(fired[static_cast<std::size_t>(i)], i % 3 == 0 ? 0 : 1) << i;
}

TEST(NetLoop, WatchPipeReadableAndWritable) {
  Loop loop;
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  int reads = 0;
  char got = 0;
  ASSERT_FALSE(loop.watch_readable(p[0], [&](int fd) {
    EXPECT_EQ(fd, p[0]);
    ASSERT_EQ(::read(fd, &got, 1), 1);
    ++reads;
    loop.unwatch_readable(fd);  // from inside its own callback
  }));
  int writes = 0;
  ASSERT_FALSE(loop.watch_writable(p[1], [&](int fd) {
    ++writes;
    EXPECT_EQ(::write(fd, "x", 1), 1);
    loop.unwatch_writable(fd);
  }));
  EXPECT_TRUE(run_until(loop, [&] { return reads == 1 && writes == 1; }));
  EXPECT_EQ(got, 'x');
  // Unwatched: more data does not call anything.
  EXPECT_EQ(::write(p[1], "y", 1), 1);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(loop.run_once(5ms));
  EXPECT_EQ(reads, 1);
  EXPECT_EQ(writes, 1);
  ::close(p[0]);
  ::close(p[1]);
}

TEST(NetLoop, WatchSameFdBothWaysAndReplaceCallback) {
  Loop loop;
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  int first = 0, second = 0;
  ASSERT_FALSE(loop.watch_readable(p[0], [&](int) { ++first; }));
  ASSERT_FALSE(loop.watch_readable(p[0], [&](int fd) {
    char c;
    EXPECT_EQ(::read(fd, &c, 1), 1);
    ++second;
  }));
  EXPECT_EQ(::write(p[1], "a", 1), 1);
  EXPECT_TRUE(run_until(loop, [&] { return second == 1; }));
  EXPECT_EQ(first, 0);
  loop.unwatch_readable(p[0]);
  loop.unwatch_readable(p[0]);   // no-op
  loop.unwatch_writable(12345);  // no-op
  EXPECT_TRUE(loop.watch_readable(-1, [](int) {}));  // an Error
  ::close(p[0]);
  ::close(p[1]);
}

TEST(NetLoop, NowIsCachedPerIteration) {
  Loop loop;
  Clock::time_point a, b;
  loop.post([&] {
    a = loop.now();
    b = loop.now();
  });
  EXPECT_TRUE(run_until(loop, [&] { return a != Clock::time_point{}; }));
  EXPECT_EQ(a, b);
  auto before = loop.now();
  std::this_thread::sleep_for(2ms);  // (not synchronization: just time passing)
  EXPECT_FALSE(loop.run_once(0ms));
  EXPECT_GT(loop.now(), before);
}

TEST(NetLoop, DeferRunsAtEndOfIterationInOrder) {
  Loop loop;
  std::vector<int> order;
  loop.post([&] {
    loop.defer([&] {
      order.push_back(2);
      loop.defer([&] { order.push_back(4); });  // same pass
    });
    loop.defer([&] { order.push_back(3); });
    order.push_back(1);
  });
  EXPECT_TRUE(run_until(loop, [&] { return !order.empty(); }));
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
}

TEST(NetLoop, WorkQueuedBetweenIterationsDoesNotWait) {
  Loop loop;
  bool ran = false;
  loop.defer([&] { ran = true; });
  auto start = Clock::now();
  EXPECT_FALSE(loop.run_once(20s));  // would block 20 s if the wait ignored the deferred work
  EXPECT_TRUE(ran);
  EXPECT_LT(Clock::now() - start, 10s);
}
