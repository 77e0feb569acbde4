// A minimal io_uring for `parley bench`'s direct engine: the reads (or the
// writes) of many connections submitted and completed in one system call
// instead of one system call each. On this project's machines a system call
// costs about 1 µs of CPU (a PVM guest), as much as the loopback TCP work of
// a small write, so the generator's cost per echo is mostly system calls.
// Raw system calls on <linux/io_uring.h> (no liburing); every operation is
// non-blocking (MSG_DONTWAIT: -EAGAIN rather than a wait), so each batch
// completes inside the io_uring_enter that submits it.
#pragma once

#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace parley_cli {

class Uring {
 public:
  /// A ring for batches of up to `entries` operations. usable() is false
  /// where io_uring cannot be had (an old kernel, a seccomp filter,
  /// /proc/sys/kernel/io_uring_disabled): the caller then makes the system
  /// calls itself.
  explicit Uring(unsigned entries) noexcept {
    io_uring_params p{};
    const long fd = syscall(__NR_io_uring_setup, entries, &p);
    if (fd < 0) return;
    fd_ = static_cast<int>(fd);
    sq_size_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    cq_size_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
    const bool single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
    if (single) sq_size_ = cq_size_ = std::max(sq_size_, cq_size_);
    sq_ = mmap(nullptr, sq_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQ_RING);
    cq_ = single ? sq_ : mmap(nullptr, cq_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_CQ_RING);
    sqes_size_ = p.sq_entries * sizeof(io_uring_sqe);
    void* sqes = mmap(nullptr, sqes_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQES);
    if (sq_ == MAP_FAILED || cq_ == MAP_FAILED || sqes == MAP_FAILED) {
      if (sqes != MAP_FAILED) munmap(sqes, sqes_size_);
      close_ring();
      return;
    }
    sqes_ = static_cast<io_uring_sqe*>(sqes);
    auto* sq = static_cast<char*>(sq_);
    auto* cq = static_cast<char*>(cq_);
    sq_tail_ = reinterpret_cast<unsigned*>(sq + p.sq_off.tail);
    sq_mask_ = *reinterpret_cast<unsigned*>(sq + p.sq_off.ring_mask);
    cq_head_ = reinterpret_cast<unsigned*>(cq + p.cq_off.head);
    cq_tail_ = reinterpret_cast<unsigned*>(cq + p.cq_off.tail);
    cq_mask_ = *reinterpret_cast<unsigned*>(cq + p.cq_off.ring_mask);
    cqes_ = reinterpret_cast<io_uring_cqe*>(cq + p.cq_off.cqes);
    auto* array = reinterpret_cast<unsigned*>(sq + p.sq_off.array);
    for (unsigned i = 0; i < p.sq_entries; ++i) array[i] = i;  // slot i holds entry i, always
    capacity_ = p.sq_entries;
  }
  ~Uring() {
    if (sqes_ != nullptr) munmap(sqes_, sqes_size_);
    close_ring();
  }
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;

  bool usable() const noexcept { return capacity_ > 0; }
  /// Operations one batch may hold.
  unsigned capacity() const noexcept { return capacity_; }
  unsigned queued() const noexcept { return queued_; }

  /// Queues a recv of up to `len` bytes into `buf` (queued() < capacity()).
  void recv(int fd, void* buf, std::size_t len, std::uint64_t tag) noexcept {
    queue(IORING_OP_RECV, fd, buf, len, MSG_DONTWAIT, tag);
  }
  /// Queues a send of `len` bytes from `buf` (queued() < capacity()).
  void send(int fd, const void* buf, std::size_t len, std::uint64_t tag) noexcept {
    queue(IORING_OP_SEND, fd, const_cast<void*>(buf), len, MSG_DONTWAIT | MSG_NOSIGNAL, tag);
  }

  /// Submits what is queued, waits until all of it has completed and calls
  /// done(tag, result) for each (result: bytes, or -errno as the system call
  /// would have failed). False, with errno, when io_uring_enter itself
  /// fails: the ring is closed then (usable() false), and operations not
  /// reported may or may not have happened.
  template <class Done>
  bool run(Done&& done) {
    unsigned submit = queued_;
    unsigned outstanding = queued_;
    queued_ = 0;
    while (outstanding > 0) {
      const long r = syscall(__NR_io_uring_enter, fd_, submit, outstanding, IORING_ENTER_GETEVENTS, nullptr, 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        const int e = errno;
        close_ring();
        errno = e;
        return false;
      }
      submit -= static_cast<unsigned>(r);
      unsigned head = *cq_head_;
      const unsigned tail = std::atomic_ref<unsigned>(*cq_tail_).load(std::memory_order_acquire);
      for (; head != tail; ++head) {
        const io_uring_cqe& cqe = cqes_[head & cq_mask_];
        done(cqe.user_data, cqe.res);
        --outstanding;
      }
      std::atomic_ref<unsigned>(*cq_head_).store(head, std::memory_order_release);
    }
    return true;
  }

 private:
  void queue(std::uint8_t op, int fd, void* buf, std::size_t len, int flags, std::uint64_t tag) noexcept {
    const unsigned tail = *sq_tail_;
    io_uring_sqe& e = sqes_[tail & sq_mask_];
    e = io_uring_sqe{};
    e.opcode = op;
    e.fd = fd;
    e.addr = reinterpret_cast<std::uint64_t>(buf);
    e.len = static_cast<std::uint32_t>(len);
    e.msg_flags = static_cast<std::uint32_t>(flags);
    e.user_data = tag;
    std::atomic_ref<unsigned>(*sq_tail_).store(tail + 1, std::memory_order_release);
    ++queued_;
  }
  void close_ring() noexcept {
    if (cq_ != nullptr && cq_ != MAP_FAILED && cq_ != sq_) munmap(cq_, cq_size_);
    if (sq_ != nullptr && sq_ != MAP_FAILED) munmap(sq_, sq_size_);
    sq_ = cq_ = nullptr;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    capacity_ = 0;
  }

  int fd_ = -1;
  unsigned capacity_ = 0;
  unsigned queued_ = 0;
  void* sq_ = nullptr;
  void* cq_ = nullptr;
  std::size_t sq_size_ = 0, cq_size_ = 0, sqes_size_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  unsigned* sq_tail_ = nullptr;
  unsigned sq_mask_ = 0;
  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned cq_mask_ = 0;
  io_uring_cqe* cqes_ = nullptr;
};

}  // namespace parley_cli
