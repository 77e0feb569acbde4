// A latency histogram for `parley bench`: log-linear buckets (like HDR
// histograms) with 64 sub-buckets per power of two, so any recorded value
// is known within 1/64 (1.6 %) whatever its magnitude, in 30 KiB, without
// keeping samples. Not thread-safe: one per thread, merged at the end.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace parley_cli {

class Histogram {
 public:
  /// Records one value (e.g. nanoseconds).
  void record(std::uint64_t v) noexcept {
    ++counts_[index(v)];
    ++total_;
    max_ = std::max(max_, v);
    min_ = std::min(min_, v);
    sum_ += v;
  }
  void merge(const Histogram& o) noexcept {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
    sum_ += o.sum_;
  }
  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t max() const noexcept { return total_ ? max_ : 0; }
  std::uint64_t min() const noexcept { return total_ ? min_ : 0; }
  double mean() const noexcept { return total_ ? static_cast<double>(sum_) / static_cast<double>(total_) : 0.0; }

  /// The value at quantile `q` (0..1): the upper end of the bucket holding
  /// the ceil(q * count)-th smallest value, never above the maximum.
  std::uint64_t quantile(double q) const noexcept {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.999999);
    rank = std::clamp<std::uint64_t>(rank, 1, total_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(upper(i), max_);
    }
    return max_;
  }

 private:
  static constexpr unsigned linear = 128;  // values below are exact
  static constexpr unsigned sub = 64;      // sub-buckets per power of two above
  static constexpr std::size_t buckets = linear + 57 * sub;

  static std::size_t index(std::uint64_t v) noexcept {
    if (v < linear) return static_cast<std::size_t>(v);
    const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(v));  // >= 7
    const unsigned shift = msb - 6;                                         // v >> shift in [64, 128)
    return linear + (shift - 1) * sub + static_cast<std::size_t>((v >> shift) - sub);
  }
  static std::uint64_t upper(std::size_t i) noexcept {
    if (i < linear) return i;
    const std::size_t k = i - linear;
    const unsigned shift = static_cast<unsigned>(k / sub) + 1;
    const std::uint64_t top = sub + (k % sub);
    return ((top + 1) << shift) - 1;
  }

  std::array<std::uint64_t, buckets> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t min_ = ~std::uint64_t{0};
  std::uint64_t sum_ = 0;
};

}  // namespace parley_cli
