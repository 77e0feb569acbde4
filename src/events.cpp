// ConnectionEvents: the event setters Server and Client share.
#include "parley/events.hpp"

#include "context.hpp"

namespace parley {

void ConnectionEvents::on_open(std::function<void(Connection&)> fn) { callbacks_->fallback().on_open = std::move(fn); }
void ConnectionEvents::on_text(std::function<void(Connection&, std::string_view)> fn) { callbacks_->fallback().on_text = std::move(fn); }
void ConnectionEvents::on_binary(std::function<void(Connection&, std::string_view)> fn) {
  callbacks_->fallback().on_binary = std::move(fn);
}
void ConnectionEvents::on_ping(std::function<bool(Connection&, std::string_view)> fn) { callbacks_->fallback().on_ping = std::move(fn); }
void ConnectionEvents::on_pong(std::function<void(Connection&, std::string_view)> fn) { callbacks_->fallback().on_pong = std::move(fn); }
void ConnectionEvents::on_close(std::function<void(Connection&, CloseCode, std::string_view)> fn) {
  callbacks_->fallback().on_close = std::move(fn);
}
void ConnectionEvents::on_error(std::function<void(Connection*, const Error&)> fn) { callbacks_->error = std::move(fn); }
void ConnectionEvents::on_drain(std::function<void(Connection&)> fn) { callbacks_->fallback().on_drain = std::move(fn); }
void ConnectionEvents::on_frame(
    std::function<void(Connection&, protocol::FrameDirection, const protocol::FrameHeader&)> fn) {
  callbacks_->frame = std::move(fn);
}

void ConnectionEvents::on_log(std::function<void(LogLevel, std::string_view)> fn) { callbacks_->log = std::move(fn); }

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::error: return "error";
    case LogLevel::warning: return "warning";
    case LogLevel::info: return "info";
    case LogLevel::debug: return "debug";
  }
  return "?";
}

}  // namespace parley
