// net/slab.hpp (internal) — fixed-size slots for long-lived objects (a loop's
// connections and sockets) in mapped pages.
#pragma once

#include <cstddef>
#include <vector>

#include "parley/export.hpp"

namespace parley::net::detail {

/// Memory for many objects of one size that live long (a loop's
/// connections): slots in pages of kPageBytes mapped apart from the heap.
/// No per-object header, and short-lived allocations (a handshake's request
/// and answer) cannot leave holes between the objects that the heap keeps
/// resident. Slots never used stay untouched (not resident); a page whose
/// slots are all free is unmapped, except one kept against churn. Not
/// thread-safe; every slot must be given back before the Slab is destroyed.
/// (Exported for the unit tests.)
class PARLEY_EXPORT Slab {
 public:
  static constexpr std::size_t kPageBytes = 64 * 1024;

  /// Slots of `size` bytes aligned to `align` (at most 16).
  Slab(std::size_t size, std::size_t align) noexcept;
  ~Slab();
  Slab(const Slab&) = delete;
  Slab& operator=(const Slab&) = delete;

  /// A slot (uninitialised); throws std::bad_alloc when no page can be mapped.
  void* take();
  /// Gives back a slot that take() returned (its object destroyed).
  void give(void* slot) noexcept;
  /// Pages mapped now.
  std::size_t page_count() const noexcept { return pages_.size(); }
  /// Slots per page.
  std::size_t slots_per_page() const noexcept { return per_page_; }

 private:
  struct Page;
  Page* page_of(void* slot) const noexcept;
  void unlist(Page* page) noexcept;

  std::size_t slot_;      // bytes per slot
  std::size_t first_;     // offset of the first slot in its page
  std::size_t per_page_;  // slots per page
  std::vector<Page*> pages_;    // every page, by address
  std::vector<Page*> partial_;  // pages with a free slot
};

}  // namespace parley::net::detail
