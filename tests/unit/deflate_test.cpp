// permessage-deflate (RFC 7692): negotiation, compression, limits, and the
// engine's RSV1 handling.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <string>
#include <vector>

#include "parley/protocol/deflate.hpp"
#include "parley/protocol/engine.hpp"

using namespace parley;
using namespace parley::protocol;

namespace {

std::vector<Extension> offers(std::string_view header) {
  auto r = Extension::parse_list(header);
  EXPECT_TRUE(r) << header;
  return r ? *r : std::vector<Extension>{};
}

DeflateOptions on() {
  DeflateOptions o;
  o.enabled = true;
  return o;
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int v : b) s += static_cast<char>(v);
  return s;
}

}  // namespace

TEST(DeflateNegotiation, DefaultOfferAndAnswer) {
  EXPECT_EQ(make_deflate_offer(on()).to_string(), "permessage-deflate; client_max_window_bits");
  auto a = negotiate_deflate(offers("permessage-deflate; client_max_window_bits"), on());
  ASSERT_TRUE(a);
  EXPECT_EQ(a->response.to_string(), "permessage-deflate");
  EXPECT_EQ(a->params, DeflateParams{});
  auto back = accept_deflate_response(a->response, on());
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, a->params);
}

TEST(DeflateNegotiation, DisabledOrOtherExtensionsGiveNothing) {
  EXPECT_FALSE(negotiate_deflate(offers("permessage-deflate"), DeflateOptions{}));
  EXPECT_FALSE(negotiate_deflate(offers("x-webkit-deflate-frame, foo"), on()));
}

TEST(DeflateNegotiation, EveryParameterIsHonoured) {
  auto a = negotiate_deflate(offers("permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                                    "server_max_window_bits=10; client_max_window_bits=12"),
                             on());
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->params.server_no_context_takeover);
  EXPECT_TRUE(a->params.client_no_context_takeover);
  EXPECT_EQ(a->params.server_max_window_bits, 10);
  EXPECT_EQ(a->params.client_max_window_bits, 12);
  EXPECT_EQ(a->response.to_string(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; "
            "client_max_window_bits=12");
}

TEST(DeflateNegotiation, ServerImposesItsLimits) {
  DeflateOptions o = on();
  o.server_no_context_takeover = true;
  o.client_no_context_takeover = true;
  o.server_max_window_bits = 11;
  o.client_max_window_bits = 9;
  auto a = negotiate_deflate(offers("permessage-deflate; client_max_window_bits"), o);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->response.to_string(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; "
            "client_max_window_bits=9");
  // A client that did not offer client_max_window_bits cannot be limited.
  auto b = negotiate_deflate(offers("permessage-deflate"), o);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->params.client_max_window_bits, 15);
  EXPECT_EQ(b->response.find_param("client_max_window_bits"), nullptr);
}

TEST(DeflateNegotiation, BadOffersAreDeclinedAndTheNextOneTaken) {
  for (const char* bad : {"permessage-deflate; foo", "permessage-deflate; server_max_window_bits",
                          "permessage-deflate; server_max_window_bits=16", "permessage-deflate; server_max_window_bits=7",
                          "permessage-deflate; server_max_window_bits=010", "permessage-deflate; client_max_window_bits=x",
                          "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                          "permessage-deflate; server_no_context_takeover=1",
                          "permessage-deflate; client_max_window_bits; client_max_window_bits=10"}) {
    EXPECT_FALSE(negotiate_deflate(offers(bad), on())) << bad;
    auto next = negotiate_deflate(offers(std::string(bad) + ", permessage-deflate; server_max_window_bits=9"), on());
    ASSERT_TRUE(next) << bad;
    EXPECT_EQ(next->params.server_max_window_bits, 9) << bad;
  }
}

TEST(DeflateNegotiation, ClientRejectsBadAnswers) {
  DeflateOptions o = on();
  o.server_max_window_bits = 10;
  o.client_max_window_bits = 12;
  o.server_no_context_takeover = true;
  auto check = [&](const char* answer) {
    auto r = accept_deflate_response(offers(answer).at(0), o);
    EXPECT_FALSE(r) << answer;
    if (!r) {
      EXPECT_EQ(r.error(), HandshakeError::unrequested_extension) << answer;
    }
  };
  check("permessage-deflate; server_no_context_takeover; server_max_window_bits=11");
  check("permessage-deflate; server_no_context_takeover; client_max_window_bits=13");
  check("permessage-deflate; server_no_context_takeover; client_max_window_bits");
  check("permessage-deflate; server_max_window_bits=10");  // requested no-context-takeover missing
  check("permessage-deflate; server_no_context_takeover; mystery");
  check("permessage-deflate; server_no_context_takeover; server_no_context_takeover");
  auto ok = accept_deflate_response(
      offers("permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8")
          .at(0),
      o);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->server_max_window_bits, 9);
  EXPECT_EQ(ok->client_max_window_bits, 8);
}

// RFC 7692 §7.2.3: the specification's own examples, decompressed.
TEST(DeflateCompression, Rfc7692Examples) {
  DeflateParams p;
  MessageDeflate d(p, on(), true);
  std::string out;
  ASSERT_FALSE(d.decompress(bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), true, out, 0));
  EXPECT_EQ(out, "Hello");
  out.clear();  // §7.2.3.2: the second "Hello" refers back into the shared window
  ASSERT_FALSE(d.decompress(bytes({0xf2, 0x00, 0x11, 0x00, 0x00}), true, out, 0));
  EXPECT_EQ(out, "Hello");
  out.clear();  // §7.2.3.3: a stored (uncompressed) block
  ASSERT_FALSE(d.decompress(bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}), true, out, 0));
  EXPECT_EQ(out, "Hello");
  MessageDeflate fresh(p, on(), true);
  out.clear();  // §7.2.3.4: BFINAL set
  ASSERT_FALSE(fresh.decompress(bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}), true, out, 0));
  EXPECT_EQ(out, "Hello");
  // The first example, compressed by parley, is byte for byte the RFC's.
  MessageDeflate c(p, on(), false);
  std::string packed;
  ASSERT_FALSE(c.compress("Hello", true, packed));
  EXPECT_EQ(packed, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));
}

TEST(DeflateCompression, RoundTripsWithAndWithoutContextTakeover) {
  std::mt19937 rng(3);
  for (bool no_takeover : {false, true}) {
    for (std::uint8_t bits : {std::uint8_t{9}, std::uint8_t{12}, std::uint8_t{15}}) {
      DeflateParams p;
      p.client_no_context_takeover = p.server_no_context_takeover = no_takeover;
      p.client_max_window_bits = p.server_max_window_bits = bits;
      MessageDeflate sender(p, on(), true), receiver(p, on(), false);
      std::size_t total_in = 0, total_out = 0;
      for (int i = 0; i < 50; ++i) {
        std::string msg = R"({"user":"ada","op":"move","x":)" + std::to_string(rng() % 1000) + R"(,"y":)" +
                          std::to_string(rng() % 1000) + "}";
        if (i % 10 == 9) msg.assign(100000 + rng() % 1000, static_cast<char>('a' + i % 26));
        std::string packed, plain;
        ASSERT_FALSE(sender.compress(msg, true, packed));
        ASSERT_FALSE(receiver.decompress(packed, true, plain, 0));
        ASSERT_EQ(plain, msg) << "message " << i;
        total_in += msg.size();
        total_out += packed.size();
      }
      EXPECT_LT(total_out, total_in / 4) << "bits " << int(bits);
      if (no_takeover) {
        EXPECT_EQ(receiver.memory(), 0u);  // nothing kept between messages
      }
    }
  }
}

TEST(DeflateCompression, FragmentedPiecesConcatenate) {
  DeflateParams p;
  MessageDeflate sender(p, on(), true), receiver(p, on(), false);
  const std::string parts[] = {"The quick brown fox ", "jumps over ", "the lazy dog; the quick brown fox!", ""};
  std::string wire;
  for (int i = 0; i < 4; ++i) ASSERT_FALSE(sender.compress(parts[i], i == 3, wire));
  // Received in arbitrary pieces.
  std::string plain;
  for (std::size_t at = 0; at < wire.size(); at += 3) {
    const bool fin = at + 3 >= wire.size();
    ASSERT_FALSE(receiver.decompress(std::string_view(wire).substr(at, 3), fin, plain, 0));
  }
  EXPECT_EQ(plain, "The quick brown fox jumps over the lazy dog; the quick brown fox!");
}

TEST(DeflateCompression, BombStopsAtTheLimit) {
  DeflateParams p;
  MessageDeflate sender(p, on(), true), receiver(p, on(), false);
  const std::string zeros(20 << 20, '\0');
  std::string packed;
  ASSERT_FALSE(sender.compress(zeros, true, packed));
  EXPECT_LT(packed.size(), 40000u);
  std::string out;
  Error e = receiver.decompress(packed, true, out, 1 << 20);
  EXPECT_EQ(e, ProtocolError::message_too_big);
  EXPECT_LE(out.size(), (1u << 20) + 1);
}

TEST(DeflateCompression, GarbageIsACompressionError) {
  MessageDeflate d(DeflateParams{}, on(), true);
  std::string out;
  EXPECT_EQ(d.decompress(bytes({0xff, 0xff, 0xff, 0xff, 0x01}), true, out, 0), ProtocolError::compression_error);
  EXPECT_EQ(close_code_for(ProtocolError::compression_error), CloseCode::invalid_payload);
}

TEST(DeflateCompression, EightBitWindowIsNeverUsedToCompress) {
  DeflateParams p;
  p.server_max_window_bits = 8;
  EXPECT_FALSE(MessageDeflate(p, on(), true).can_compress());
  EXPECT_TRUE(MessageDeflate(p, on(), false).can_compress());
}

// ---- the engine with permessage-deflate ------------------------------------

namespace {

struct Sink final : EngineHandler {
  std::vector<std::string> messages;
  std::vector<int> errors;
  void on_message(Opcode, std::string_view p) override { messages.emplace_back(p); }
  void on_protocol_error(const Error& e) override {
    errors.push_back(static_cast<int>(close_code_for(static_cast<ProtocolError>(e.code().value()))));
  }
};

struct Pair {
  Sink client_events, server_events;
  EngineOptions client_options, server_options;  // (the engines keep a reference)
  Engine client, server;
  Pair(DeflateOptions o = on(), std::uint64_t max_message = 64 << 20)
      : client_options(options(Role::client, max_message)),
        server_options(options(Role::server, max_message)),
        client(client_options, client_events),
        server(server_options, server_events) {
    client.set_deflate(std::make_unique<MessageDeflate>(DeflateParams{}, o, false));
    server.set_deflate(std::make_unique<MessageDeflate>(DeflateParams{}, o, true));
  }
  static EngineOptions options(Role r, std::uint64_t max_message) {
    EngineOptions e;
    e.role = r;
    e.max_message_size = max_message;
    return e;
  }
  void client_to_server() {
    std::string wire = client.output();
    client.output().clear();
    server.receive(reinterpret_cast<std::uint8_t*>(wire.data()), wire.size());
  }
};

}  // namespace

TEST(DeflateEngine, CompressesAboveTheThresholdOnly) {
  Pair p;
  const std::string big(1000, 'x');
  ASSERT_FALSE(p.client.send(Opcode::text, big));
  EXPECT_LT(p.client.output().size(), 100u);
  EXPECT_EQ(static_cast<std::uint8_t>(p.client.output()[0]) & rsv1, rsv1);
  p.client_to_server();
  ASSERT_FALSE(p.client.send(Opcode::text, "small"));
  EXPECT_EQ(static_cast<std::uint8_t>(p.client.output()[0]) & rsv1, 0);
  p.client_to_server();
  ASSERT_FALSE(p.client.send(Opcode::binary, "tiny but forced", Compression::always));
  EXPECT_EQ(static_cast<std::uint8_t>(p.client.output()[0]) & rsv1, rsv1);
  p.client_to_server();
  ASSERT_FALSE(p.client.send(Opcode::binary, big, Compression::never));
  EXPECT_GT(p.client.output().size(), 1000u);
  p.client_to_server();
  EXPECT_EQ(p.server_events.messages, (std::vector<std::string>{big, "small", "tiny but forced", big}));
  EXPECT_TRUE(p.server_events.errors.empty());
}

TEST(DeflateCompression, DefaultThresholdFollowsTheSendersContextTakeover) {
  DeflateParams keep, reset_server, reset_client;
  reset_server.server_no_context_takeover = true;
  reset_client.client_no_context_takeover = true;
  // 256 B while the sender's context is kept, 512 B when it is reset per message.
  EXPECT_EQ(MessageDeflate(keep, on(), true).threshold(), 256u);
  EXPECT_EQ(MessageDeflate(keep, on(), false).threshold(), 256u);
  EXPECT_EQ(MessageDeflate(reset_server, on(), true).threshold(), 512u);
  EXPECT_EQ(MessageDeflate(reset_server, on(), false).threshold(), 256u);
  EXPECT_EQ(MessageDeflate(reset_client, on(), false).threshold(), 512u);
  EXPECT_EQ(MessageDeflate(reset_client, on(), true).threshold(), 256u);
  // A threshold that is set applies whatever the agreement.
  DeflateOptions o = on();
  o.compression_threshold = 0;
  EXPECT_EQ(MessageDeflate(reset_server, o, true).threshold(), 0u);
  o.compression_threshold = 10240;
  EXPECT_EQ(MessageDeflate(keep, o, true).threshold(), 10240u);
}

TEST(DeflateEngine, CompressedFragmentedMessageWithControlFramesBetween) {
  Pair p;
  ASSERT_FALSE(p.client.send_fragment(Opcode::text, "{\"a\":1,", false));
  ASSERT_FALSE(p.client.ping("between"));
  ASSERT_FALSE(p.client.send_fragment(Opcode::text, "\"b\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"", false));
  ASSERT_FALSE(p.client.send_fragment(Opcode::text, "}", true));
  p.client_to_server();
  ASSERT_EQ(p.server_events.messages.size(), 1u);
  EXPECT_EQ(p.server_events.messages[0], "{\"a\":1,\"b\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}");
}

TEST(DeflateEngine, Rsv1OnlyOnTheFirstFrameOfADataMessage) {
  const std::uint8_t key[4] = {1, 2, 3, 4};
  {
    Pair p;
    std::string wire;
    append_frame(wire, Opcode::text, "a", false, 0, key);
    append_frame(wire, Opcode::continuation, "b", true, rsv1, key);
    p.server.receive(reinterpret_cast<std::uint8_t*>(wire.data()), wire.size());
    EXPECT_EQ(p.server_events.errors, std::vector<int>{1002});
  }
  {
    Pair p;
    std::string wire;
    append_frame(wire, Opcode::ping, "", true, rsv1, key);
    p.server.receive(reinterpret_cast<std::uint8_t*>(wire.data()), wire.size());
    EXPECT_EQ(p.server_events.errors, std::vector<int>{1002});
  }
}

TEST(DeflateEngine, InflatedTextIsValidatedAndBounded) {
  {
    Pair p;
    ASSERT_FALSE(p.client.send(Opcode::text, std::string(300, 'a') + "\xff", Compression::always));
    p.client_to_server();
    EXPECT_EQ(p.server_events.errors, std::vector<int>{1007});
  }
  {
    Pair p(on(), 1 << 20);
    ASSERT_FALSE(p.client.send(Opcode::binary, std::string(8 << 20, 'z')));
    EXPECT_LT(p.client.output().size(), 100000u);  // small on the wire ...
    p.client_to_server();
    EXPECT_EQ(p.server_events.errors, std::vector<int>{1009});  // ... but refused past the limit
  }
}

// ---- through Server and Client ----------------------------------------------

#include "parley/client.hpp"
#include "parley/server.hpp"

TEST(DeflateApi, ServerAndClientNegotiateAndEcho) {
  using namespace std::chrono_literals;
  ServerOptions so;
  so.host = "127.0.0.1";
  so.port = 0;
  so.deflate.enabled = true;
  so.deflate.server_no_context_takeover = true;
  Server server(so);
  std::mutex m;
  std::string server_ext;
  server.on_open([&](Connection& c) {
    std::lock_guard l(m);
    server_ext = c.extensions().empty() ? "" : c.extensions()[0].to_string();
  });
  server.on_text([](Connection& c, std::string_view t) {
    c.send_text(t);                                // compressed (above the threshold)
    c.send_text(t, Compression::never);           // as is
  });
  ASSERT_FALSE(server.start());

  ClientOptions co;
  co.deflate.enabled = true;
  co.deflate.client_max_window_bits = 10;
  BlockingClient client(co);
  ASSERT_FALSE(client.connect("ws://127.0.0.1:" + std::to_string(server.port()) + "/"));
  const std::optional<Response> response = client.handshake_response();
  ASSERT_TRUE(response);
  const auto answer = response->headers.get("Sec-WebSocket-Extensions");
  ASSERT_TRUE(answer);
  EXPECT_EQ(*answer, "permessage-deflate; server_no_context_takeover; client_max_window_bits=10");
  std::string json;
  for (int i = 0; i < 500; ++i) json += R"({"seq":)" + std::to_string(i) + R"(,"kind":"tick"},)";
  for (int round = 0; round < 3; ++round) {
    ASSERT_FALSE(client.send_text(json));
    for (int copy = 0; copy < 2; ++copy) {
      auto reply = client.receive(5s);
      ASSERT_TRUE(reply) << reply.error().message();
      EXPECT_EQ(reply->data, json);
    }
  }
  {
    std::lock_guard l(m);
    EXPECT_EQ(server_ext, "permessage-deflate; server_no_context_takeover; client_max_window_bits=10");
  }
  EXPECT_FALSE(client.close());
  server.stop();
}

TEST(DeflateApi, NoAgreementMeansNoCompression) {
  using namespace std::chrono_literals;
  ServerOptions so;
  so.host = "127.0.0.1";
  so.port = 0;  // deflate off
  Server server(so);
  server.on_text([](Connection& c, std::string_view t) { c.send_text(t); });
  ASSERT_FALSE(server.start());
  ClientOptions co;
  co.deflate.enabled = true;
  BlockingClient client(co);
  ASSERT_FALSE(client.connect("ws://127.0.0.1:" + std::to_string(server.port()) + "/"));
  EXPECT_FALSE(client.handshake_response()->headers.has("Sec-WebSocket-Extensions"));
  ASSERT_FALSE(client.send_text(std::string(5000, 'q')));
  auto reply = client.receive(5s);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data.size(), 5000u);
  server.stop();
}

TEST(DeflateApi, BroadcastReachesMixedConnections) {
  using namespace std::chrono_literals;
  for (bool stateless : {true, false}) {
    ServerOptions so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.deflate.enabled = true;
    so.deflate.server_no_context_takeover = stateless;
    Server server(so);
    std::atomic<int> opened{0};
    server.on_open([&](Connection&) { ++opened; });
    ASSERT_FALSE(server.start());
    const std::string url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/";
    ClientOptions with;
    with.deflate.enabled = true;
    ClientOptions narrow = with;
    narrow.deflate.server_max_window_bits = 9;  // another sending configuration
    std::vector<std::unique_ptr<BlockingClient>> clients;
    const std::vector<ClientOptions> kinds = {with, with, narrow, ClientOptions{}};  // the last: no compression
    for (const ClientOptions& o : kinds) {
      clients.push_back(std::make_unique<BlockingClient>(o));
      ASSERT_FALSE(clients.back()->connect(url));
    }
    for (int i = 0; i < 200 && opened < 4; ++i) std::this_thread::sleep_for(5ms);
    ASSERT_EQ(opened, 4);
    for (std::size_t i = 0; i < kinds.size(); ++i) {
      const auto exts = clients[i]->extensions();
      ASSERT_EQ(exts.size(), kinds[i].deflate.enabled ? 1u : 0u) << i;
      if (!exts.empty()) {
        EXPECT_EQ(exts[0].name(), "permessage-deflate");
      }
    }
    std::string json;
    for (int i = 0; i < 400; ++i) json += R"({"user":)" + std::to_string(i % 7) + R"(,"text":"hello"},)";
    for (int round = 0; round < 2; ++round) {
      server.broadcast(MessageType::text, json);
      server.broadcast(MessageType::binary, "short");
      for (auto& c : clients) {
        auto big = c->receive(5s);
        ASSERT_TRUE(big) << big.error().message();
        EXPECT_EQ(big->data, json);
        auto small = c->receive(5s);
        ASSERT_TRUE(small) << small.error().message();
        EXPECT_EQ(small->data, "short");
        EXPECT_EQ(small->type, MessageType::binary);
      }
    }
    server.stop();
  }
}

TEST(DeflateApi, ClientSendsSeveralOffersInOrder) {
  using namespace std::chrono_literals;
  ServerOptions so;
  so.host = "127.0.0.1";
  so.port = 0;
  so.deflate.enabled = true;
  Server server(so);
  std::mutex m;
  std::string offered, answered;
  server.on_handshake([&](Connection&, const Request& r) {
    std::lock_guard l(m);
    offered = std::string(r.headers.get("Sec-WebSocket-Extensions").value_or(""));
    return HandshakeReply::accept();
  });
  server.on_open([&](Connection& c) {
    std::lock_guard l(m);
    answered = c.extensions().at(0).to_string();
  });
  server.on_text([](Connection& c, std::string_view t) { c.send_text(t); });
  ASSERT_FALSE(server.start());
  ClientOptions co;
  co.deflate.enabled = true;
  co.deflate.server_max_window_bits = 10;
  DeflateOptions fallback;
  fallback.enabled = true;
  fallback.client_no_context_takeover = true;
  co.deflate_fallbacks.push_back(fallback);
  BlockingClient client(co);
  ASSERT_FALSE(client.connect("ws://127.0.0.1:" + std::to_string(server.port()) + "/"));
  ASSERT_FALSE(client.send_text(std::string(3000, 'w')));
  auto reply = client.receive(5s);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, std::string(3000, 'w'));
  std::lock_guard l(m);
  EXPECT_EQ(offered,
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits, "
            "permessage-deflate; client_no_context_takeover; client_max_window_bits");
  EXPECT_EQ(answered, "permessage-deflate; server_max_window_bits=10");  // the first offer won
  server.stop();
}

TEST(DeflateApi, BadFallbackIsRefusedAtStart) {
  ClientOptions co;
  co.deflate.enabled = true;
  DeflateOptions bad;
  bad.server_max_window_bits = 16;
  co.deflate_fallbacks.push_back(bad);
  Client client(co);
  EXPECT_TRUE(client.start());
}
