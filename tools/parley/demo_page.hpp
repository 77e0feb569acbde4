// What `parley serve` has built in for browsers: the chat page it answers on
// GET / (built on parley.js), the browser client js/parley.js itself (GET
// /parley.js, compiled in from the generated parley_js.cpp), and the
// heartbeat of parley.js it answers on every path.
#pragma once

#include <string_view>

namespace parley_cli {

extern const std::string_view demo_page_html;

/// The bytes of js/parley.js, embedded at build time (tools/parley/embed_file.cmake).
extern const std::string_view parley_js;

/// parley.js's HEARTBEAT_MESSAGE: answered with heartbeat_reply on every
/// path, never echoed or broadcast.
inline constexpr std::string_view heartbeat_message = "__parley_ping__";
/// parley.js's HEARTBEAT_REPLY (not delivered to the page as a message).
inline constexpr std::string_view heartbeat_reply = "__parley_pong__";

}  // namespace parley_cli
