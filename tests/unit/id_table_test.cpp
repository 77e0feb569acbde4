// The hub's table of connections by id (src/id_table.hpp): a differential
// test against std::map with ids that collide, so that probing runs and the
// backward-shift deletion are exercised, and ownership (every object
// destroyed exactly once).
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "id_table.hpp"

namespace {

int live = 0;

struct Item {
  explicit Item(std::uint64_t id) : id_(id) { ++live; }
  ~Item() { --live; }
  Item(const Item&) = delete;
  Item& operator=(const Item&) = delete;
  std::uint64_t id() const noexcept { return id_; }
  std::uint64_t id_;
};

using Table = parley::detail::IdTable<Item>;

void expect_same(const Table& t, const std::map<std::uint64_t, bool>& model, std::uint64_t probe_limit) {
  ASSERT_EQ(t.size(), model.size());
  for (const auto& [id, unused] : model) {
    const Item* p = t.find(id);
    ASSERT_NE(p, nullptr) << "id " << id << " lost";
    ASSERT_EQ(p->id(), id);
  }
  for (std::uint64_t id = 0; id < probe_limit; ++id) {
    if (!model.count(id)) {
      ASSERT_EQ(t.find(id), nullptr) << "id " << id << " found after erase";
    }
  }
}

}  // namespace

TEST(IdTable, MatchesAMapThroughRandomInsertsAndErases) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937_64 rng(seed);
    {
      Table t;
      std::map<std::uint64_t, bool> model;
      // Ids from a small range: many share a home slot, runs are long.
      const std::uint64_t range = 64 + seed * 16;
      for (int step = 0; step < 3000; ++step) {
        const std::uint64_t id = rng() % range;
        if (rng() % 3 != 0 && !model.count(id)) {
          t.insert(std::make_unique<Item>(id));
          model[id] = true;
        } else if (model.count(id)) {
          t.erase(id);
          model.erase(id);
        } else {
          t.erase(id);  // not there: nothing happens
        }
        if (step % 97 == 0) expect_same(t, model, range);
        ASSERT_EQ(live, static_cast<int>(model.size()));
        ASSERT_LE(t.size() * 4, t.capacity() * 3);
      }
      expect_same(t, model, range);
      std::size_t visited = 0;
      t.for_each([&](Item& item) {
        ++visited;
        EXPECT_TRUE(model.count(item.id()));
      });
      EXPECT_EQ(visited, model.size());
    }
    EXPECT_EQ(live, 0);  // the table's destructor destroyed the rest
  }
}

TEST(IdTable, SequentialIdsFillAQuarterOfASlotEachAtMost) {
  Table t;
  for (std::uint64_t id = 1; id <= 10000; ++id) t.insert(std::make_unique<Item>(id));
  EXPECT_EQ(t.size(), 10000u);
  EXPECT_LE(t.capacity(), 16384u);  // 8 bytes x 16384 / 10000 = 13 bytes per entry
  for (std::uint64_t id = 1; id <= 10000; id += 2) t.erase(id);
  for (std::uint64_t id = 1; id <= 10000; ++id) EXPECT_EQ(t.find(id) != nullptr, id % 2 == 0);
  t.clear();
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(live, 0);
  EXPECT_EQ(t.find(2), nullptr);
}
