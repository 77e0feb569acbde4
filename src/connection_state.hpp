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
#include <vector>

#include "parley/connection.hpp"
#include "parley/net/loop.hpp"
#include "parley/net/tcp.hpp"
#include "parley/protocol/deflate.hpp"
#include "parley/protocol/handshake.hpp"
#include "parley/protocol/http.hpp"

namespace parley {

/// The opening handshake in progress: the request being read (server) or
/// the response being awaited (client). Freed once the connection opens.
struct Connection::Pending {
  Pending(protocol::HeadParser::Kind kind, const protocol::HttpLimits& limits) : parser(kind, limits) {}
  protocol::HeadParser parser;
  std::string key;            // Sec-WebSocket-Key: the client's (server) or ours (client)
  std::string early;          // bytes after the head: frames that came with it
  // (server) which hook deferred its answer, if any
  enum class Deferred : std::uint8_t { no, origin, handshake } deferred = Deferred::no;
  protocol::Headers headers;  // (server) added to the 101 by an on_origin acceptance
  std::vector<std::string> offered_subprotocols;  // (client)
  std::vector<Extension> offered_extensions;      // (client)
  net::ConnectHandle connecting;                  // (client) the TCP connect in progress
  std::size_t body_expected = 0;                  // (client) bytes of a refusal's body to read
  std::optional<protocol::DeflateParams> deflate; // (server) permessage-deflate agreed with the client
  std::string chunked;                            // (client) a refusal's chunked body as received, when chunked
  bool is_chunked = false;                        // (client) the refusal's body is chunked
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

/// A message sent to many connections, and its uncompressed frame.
struct Broadcast {
  MessageType type = MessageType::text;
  std::string data;
  std::string plain;  // the frame without compression, valid for every connection
};

}  // namespace parley::detail
