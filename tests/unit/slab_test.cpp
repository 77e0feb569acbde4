#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include "net/slab.hpp"

using parley::net::detail::Slab;

TEST(Slab, SlotsAreDistinctAlignedAndWritable) {
  Slab slab(344, 8);
  const std::size_t n = slab.slots_per_page() * 3 + 5;  // pages 1-4
  std::vector<void*> slots;
  for (std::size_t i = 0; i < n; ++i) {
    void* p = slab.take();
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 8, 0u);
    std::memset(p, static_cast<int>(i & 0xff), 344);
    slots.push_back(p);
  }
  EXPECT_EQ(slab.page_count(), 4u);
  std::vector<void*> sorted = slots;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    EXPECT_GE(static_cast<char*>(sorted[i]) - static_cast<char*>(sorted[i - 1]), 344) << "overlapping slots";
  }
  for (std::size_t i = 0; i < n; ++i) {  // nothing written over another slot
    const auto* b = static_cast<const unsigned char*>(slots[i]);
    EXPECT_TRUE(std::all_of(b, b + 344, [&](unsigned char c) { return c == (i & 0xff); })) << i;
  }
  for (void* p : slots) slab.give(p);
  EXPECT_EQ(slab.page_count(), 1u);  // the empty pages unmapped, one kept
}

TEST(Slab, FreedSlotsAreReusedBeforeNewPages) {
  Slab slab(100, 16);
  EXPECT_EQ(slab.slots_per_page(), (Slab::kPageBytes - 32) / 112);  // (rounded up to the alignment)
  std::vector<void*> slots;
  for (std::size_t i = 0; i < slab.slots_per_page(); ++i) slots.push_back(slab.take());
  EXPECT_EQ(slab.page_count(), 1u);
  // A full page: the next slot opens a second; one freed in the first is
  // taken again after that page fills... but before any third page.
  void* extra = slab.take();
  EXPECT_EQ(slab.page_count(), 2u);
  slab.give(slots[7]);
  std::set<void*> again;
  for (std::size_t i = 0; i < slab.slots_per_page(); ++i) again.insert(slab.take());
  EXPECT_EQ(slab.page_count(), 2u);
  EXPECT_TRUE(again.count(slots[7]) == 1);
  for (void* p : again) slab.give(p);
  slab.give(extra);
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (i != 7) slab.give(slots[i]);
  }
  EXPECT_EQ(slab.page_count(), 1u);
}
