// src/net/slab.cpp — fixed-size slots in mapped pages.
#include "net/slab.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <new>

// Under AddressSanitizer a free slot is poisoned, as freed heap memory is.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PARLEY_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(PARLEY_ASAN)
#include <sanitizer/asan_interface.h>
#define PARLEY_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define PARLEY_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define PARLEY_POISON(p, n) ((void)(p), (void)(n))
#define PARLEY_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace parley::net::detail {

// At the start of its page.
struct Slab::Page {
  void* free = nullptr;     // a list through the free slots (the link in each slot's first bytes)
  std::size_t used = 0;     // slots taken
  std::size_t fresh = 0;    // slots [fresh, per_page_) were never taken (untouched)
  bool listed = false;      // in partial_
};

namespace {
constexpr std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }
}  // namespace

Slab::Slab(std::size_t size, std::size_t align) noexcept
    : slot_(round_up(std::max(size, sizeof(void*)), std::max(align, alignof(void*)))),
      first_(round_up(sizeof(Page), 16)),
      per_page_((kPageBytes - first_) / slot_) {}

Slab::~Slab() {
  for (Page* p : pages_) {
    PARLEY_UNPOISON(reinterpret_cast<char*>(p) + first_, per_page_ * slot_);
    ::munmap(p, kPageBytes);
  }
}

void* Slab::take() {
  if (partial_.empty()) {
    void* m = ::mmap(nullptr, kPageBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    Page* page = new (m) Page;
    try {
      pages_.insert(std::upper_bound(pages_.begin(), pages_.end(), page, std::less<>()), page);
      partial_.reserve(pages_.size());
    } catch (...) {
      pages_.erase(std::remove(pages_.begin(), pages_.end(), page), pages_.end());
      ::munmap(m, kPageBytes);
      throw;
    }
    partial_.push_back(page);  // (no allocation: reserved)
    page->listed = true;
    PARLEY_POISON(reinterpret_cast<char*>(page) + first_, per_page_ * slot_);
  }
  Page* page = partial_.back();
  void* slot;
  if (page->free != nullptr) {
    slot = page->free;
    PARLEY_UNPOISON(slot, slot_);
    page->free = *static_cast<void**>(slot);
  } else {
    slot = reinterpret_cast<char*>(page) + first_ + page->fresh++ * slot_;
    PARLEY_UNPOISON(slot, slot_);
  }
  if (++page->used == per_page_) {
    partial_.pop_back();
    page->listed = false;
  }
  return slot;
}

void Slab::give(void* slot) noexcept {
  Page* page = page_of(slot);
  *static_cast<void**>(slot) = page->free;
  page->free = slot;
  PARLEY_POISON(slot, slot_);
  --page->used;
  if (page->used == 0 && partial_.size() > 1) {
    // Empty, and another page has room: unmapped.
    if (page->listed) unlist(page);
    pages_.erase(std::lower_bound(pages_.begin(), pages_.end(), page, std::less<>()));
    PARLEY_UNPOISON(reinterpret_cast<char*>(page) + first_, per_page_ * slot_);
    ::munmap(page, kPageBytes);
    return;
  }
  if (!page->listed) {
    partial_.push_back(page);  // (no allocation: reserved for every page)
    page->listed = true;
  }
}

Slab::Page* Slab::page_of(void* slot) const noexcept {
  // The last page at or below the slot's address.
  auto it = std::upper_bound(pages_.begin(), pages_.end(), slot,
                             [](void* s, Page* p) { return std::less<>()(s, static_cast<void*>(p)); });
  return *(it - 1);
}

void Slab::unlist(Page* page) noexcept {
  partial_.erase(std::find(partial_.begin(), partial_.end(), page));
  page->listed = false;
}

}  // namespace parley::net::detail
