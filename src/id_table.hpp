// IdTable: objects owned and found by a 64-bit id (internal).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace parley::detail {

/// Owns objects of type T (with `std::uint64_t id() const`) and finds them
/// by id: open addressing with linear probing over a power-of-two array of
/// pointers kept at most 3/4 full, so an entry costs 8-16 bytes where a
/// hash-map node costs about 40 (it holds one per idle connection). Not safe
/// to insert or erase while for_each runs.
template <class T, class Deleter = std::default_delete<T>>
class IdTable {
 public:
  IdTable() = default;
  IdTable(const IdTable&) = delete;
  IdTable& operator=(const IdTable&) = delete;
  ~IdTable() { clear(); }

  /// The object with this id, or nullptr.
  T* find(std::uint64_t id) const noexcept {
    if (slots_.empty()) return nullptr;
    for (std::size_t i = home(id);; i = next(i)) {
      T* p = slots_[i];
      if (p == nullptr || p->id() == id) return p;
    }
  }

  /// Takes `p`, whose id must not be in the table.
  void insert(std::unique_ptr<T, Deleter> p) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();
    place(p.release());
    ++size_;
  }

  /// Destroys the object with this id, if there is one.
  void erase(std::uint64_t id) noexcept {
    if (slots_.empty()) return;
    std::size_t i = home(id);
    while (slots_[i] != nullptr && slots_[i]->id() != id) i = next(i);
    T* gone = slots_[i];
    if (gone == nullptr) return;
    slots_[i] = nullptr;
    --size_;
    // Backward-shift deletion: each later entry of the run whose home is
    // not in the cyclic range (i, j] moves into the hole, so that a lookup
    // never stops at it early.
    for (std::size_t j = next(i); slots_[j] != nullptr; j = next(j)) {
      const std::size_t k = home(slots_[j]->id());
      const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
      if (stays) continue;
      slots_[i] = slots_[j];
      slots_[j] = nullptr;
      i = j;
    }
    Deleter()(gone);
  }

  /// Destroys every object (the table is empty before the first destructor runs).
  void clear() noexcept {
    std::vector<T*> all;
    all.swap(slots_);
    size_ = 0;
    for (T* p : all) {
      if (p != nullptr) Deleter()(p);
    }
  }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  /// Slots in the array (for tests and memory figures).
  std::size_t capacity() const noexcept { return slots_.size(); }

  /// Calls f(T&) for each object, in no particular order.
  template <class F>
  void for_each(F&& f) {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (T* p = slots_[i]) f(*p);
    }
  }

 private:
  std::size_t home(std::uint64_t id) const noexcept {
    // Ids are often sequential: Fibonacci hashing spreads them.
    return static_cast<std::size_t>((id * 0x9E3779B97F4A7C15ull) >> 32) & (slots_.size() - 1);
  }
  std::size_t next(std::size_t i) const noexcept { return (i + 1) & (slots_.size() - 1); }
  void place(T* p) noexcept {
    std::size_t i = home(p->id());
    while (slots_[i] != nullptr) i = next(i);
    slots_[i] = p;
  }
  void grow() {
    std::vector<T*> old(slots_.empty() ? 16 : slots_.size() * 2, nullptr);
    old.swap(slots_);
    for (T* p : old) {
      if (p != nullptr) place(p);
    }
  }

  std::vector<T*> slots_;  // empty, or a power of two long
  std::size_t size_ = 0;
};

}  // namespace parley::detail
