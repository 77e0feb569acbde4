// A Connection's private state: the opening handshake in progress, a
// client's attempts, and a message sent to many. Internal, beside
// connection.cpp and connection_client.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "parley/connection.hpp"
#include "net/loop.hpp"
#include "net/tcp.hpp"
#include "parley/protocol/deflate.hpp"
#include "parley/protocol/handshake.hpp"
#include "parley/protocol/http.hpp"
#include "parley/protocol/opening.hpp"
#include "protocol/proxy.hpp"

namespace parley {

/// The opening handshake in progress: its protocol state machine (the
/// request being read and answered, or the answer awaited) and the I/O
/// around it. Freed once the connection opens.
struct Connection::Pending {
  explicit Pending(const protocol::ServerPolicy& policy) : opening(std::in_place_type<protocol::ServerOpening>, policy) {}
  Pending(const protocol::ClientHandshake& handshake, const protocol::HttpLimits& limits,
          const std::vector<protocol::DeflateOptions>& offers, bool follow_redirects)
      : opening(std::in_place_type<protocol::ClientOpening>, handshake, limits, offers, follow_redirects) {}
  protocol::ServerOpening& server() { return std::get<protocol::ServerOpening>(opening); }
  protocol::ClientOpening& client() { return std::get<protocol::ClientOpening>(opening); }

  std::variant<protocol::ServerOpening, protocol::ClientOpening> opening;
  // (server) which hook deferred its answer, if any
  enum class Deferred : std::uint8_t { no, origin, handshake } deferred = Deferred::no;
  net::ConnectHandle connecting;                                   // (client) the TCP connect in progress
  std::optional<protocol::ProxyUrl> proxy;                          // (client) the HTTP proxy of this attempt
  std::unique_ptr<protocol::ConnectReply> tunnel;                  // (client) the proxy's answer to CONNECT, awaited
  std::function<std::ptrdiff_t(char*, std::size_t)> body_stream;  // (server) an HTTP answer's body still being read
  net::TimerId stream_timer;                                       // (server) the body stream's next look
};

/// A client connection's own state, kept across redirects and reconnects.
struct Connection::ClientSide {
  explicit ClientSide(protocol::ClientHandshake h) : handshake(std::move(h)) {}
  protocol::ClientHandshake handshake;  // what to connect to (the URI follows redirects)
  std::unique_ptr<Response> response;   // the server's handshake answer
  net::TimerId retry_timer;             // a reconnect waiting for its delay
  unsigned attempts = 0;                // reconnect attempts since the last open
  unsigned redirects = 0;               // redirects followed for this attempt
};

}  // namespace parley

namespace parley::detail {

/// A message sent to many connections (every one, or a topic's
/// subscribers), and its uncompressed frame.
struct Broadcast {
  std::string topic;  // (publish) the topic
  MessageType type = MessageType::text;
  std::string data;
  std::string plain;  // the frame without compression, valid for every connection
};

}  // namespace parley::detail
