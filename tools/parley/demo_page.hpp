// The page `parley serve` answers on GET / : a small chat over /chat,
// self-contained (inline CSS and JS, the browser's own WebSocket).
#pragma once

#include <string_view>

namespace parley_cli {

extern const std::string_view demo_page_html;

}  // namespace parley_cli
