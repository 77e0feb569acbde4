// The chat of `parley serve`, as an application of its own: a page on
// parley.js (reconnection, a queue while disconnected, a heartbeat) and a
// server with rooms and names. Each message goes to every connection of
// its room as text, "name: message".
//
//   build/examples/chat_example [--port 8080] [--host 127.0.0.1]
//
// then open http://127.0.0.1:8080/ in two windows. README.md says more.
#include <parley/parley.hpp>

#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "example_support.hpp"

namespace {

// What parley.js sends as its heartbeat, and the answer it expects
// (js/parley.js: HEARTBEAT_MESSAGE, HEARTBEAT_REPLY).
constexpr std::string_view kHeartbeat = "__parley_ping__";
constexpr std::string_view kHeartbeatReply = "__parley_pong__";

// Who a connection is: kept in its user data (Connection::metadata_as).
struct Member {
  std::string name;
  std::string room;
};

// A name or a room: 1-24 letters, digits, '-', '_' or '.'.
bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 24) return false;
  for (unsigned char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// The rooms and their members, shared by the server's loop threads.
class Rooms {
 public:
  void join(const std::string& room, const parley::ConnectionHandle& h) {
    std::lock_guard lock(m_);
    rooms_[room].push_back(h);
  }
  void leave(const std::string& room, std::uint64_t id) {
    std::lock_guard lock(m_);
    auto it = rooms_.find(room);
    if (it == rooms_.end()) return;
    std::erase_if(it->second, [&](const parley::ConnectionHandle& h) { return h.id() == id; });
    if (it->second.empty()) rooms_.erase(it);
  }
  // Sends `text` to every member of `room` (each on its own loop thread).
  // A member whose output is over max_buffered_amount misses the message:
  // ConnectionHandle::send_text reports it as dropped, and it is skipped.
  void say(const std::string& room, const std::string& text) {
    std::vector<parley::ConnectionHandle> members;
    {
      std::lock_guard lock(m_);
      auto it = rooms_.find(room);
      if (it == rooms_.end()) return;
      members = it->second;
    }
    for (const auto& h : members) h.send_text(text);
  }
  std::size_t size(const std::string& room) {
    std::lock_guard lock(m_);
    auto it = rooms_.find(room);
    return it == rooms_.end() ? 0 : it->second.size();
  }

 private:
  std::mutex m_;
  std::map<std::string, std::vector<parley::ConnectionHandle>> rooms_;
};

}  // namespace

int main(int argc, char** argv) {
  const example::Flags flags = example::parse_flags(argc, argv, "[--host ADDR] [--port N] [--tls-cert F --tls-key F]");
  parley::ServerOptions options = example::server_options(flags);
  options.max_message_size = 16 * 1024;        // a chat line, not a file
  options.max_buffered_amount = 1024 * 1024;  // a reader this far behind misses messages
  parley::Server server(options);
  Rooms rooms;
  const auto files = example::static_files();

  server.on_http([&](const parley::Request& req) {
    parley::Response r;
    if (example::serve_static(req, files, r)) return r;
    return example::reply(404, "not found\n");
  });
  // ws://host/chat?room=lobby&name=alice
  server.on_handshake([](parley::Connection& conn, const parley::Request& req) {
    if (req.path() != "/chat") return parley::HandshakeReply::reject(404, "the chat is at /chat");
    Member& me = conn.metadata_as<Member>();
    me.room = req.query_param("room").value_or("lobby");
    me.name = req.query_param("name").value_or("");
    if (!valid_name(me.room) || !valid_name(me.name)) {
      return parley::HandshakeReply::reject(400, "room and name: 1-24 letters, digits, - _ .");
    }
    return parley::HandshakeReply::accept();
  });
  server.on_open([&](parley::Connection& conn) {
    const Member& me = conn.metadata_as<Member>();
    rooms.join(me.room, conn.handle());
    rooms.say(me.room, "* " + me.name + " joined " + me.room + " (" + std::to_string(rooms.size(me.room)) +
                           " here)");
  });
  server.on_text([&](parley::Connection& conn, std::string_view text) {
    if (text == kHeartbeat) {  // answered, never shown to the room
      (void)conn.send_text(kHeartbeatReply);
      return;
    }
    const Member& me = conn.metadata_as<Member>();
    rooms.say(me.room, me.name + ": " + std::string(text));
  });
  server.on_binary([](parley::Connection& conn, std::string_view) {
    (void)conn.close(parley::CloseCode::unsupported_data, "text only");
  });
  server.on_close([&](parley::Connection& conn, parley::CloseCode, std::string_view) {
    const Member& me = conn.metadata_as<Member>();
    rooms.leave(me.room, conn.id());
    rooms.say(me.room, "* " + me.name + " left");
  });
  return example::run(server, flags, "chat_example");
}
