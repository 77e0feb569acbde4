// A hash for maps keyed by std::string that are searched with a
// std::string_view, without a copy (C++20 heterogeneous lookup: use it with
// std::equal_to<>). Internal.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace parley::detail {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

}  // namespace parley::detail
