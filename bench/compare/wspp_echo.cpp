// An echo server on websocketpp 0.8 (standalone Asio), for bench/compare/run
// only: one thread, every message sent back with its opcode, no logging, no
// compression. Prints "ws://127.0.0.1:PORT/" on stdout once it listens.
//
//   wspp_echo [PORT]   (default 0: any free port)
#define ASIO_STANDALONE
#define _WEBSOCKETPP_CPP11_STL_
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <cstdio>
#include <cstdlib>

using Server = websocketpp::server<websocketpp::config::asio>;

int main(int argc, char** argv) {
  const auto port = static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 0);
  Server server;
  server.clear_access_channels(websocketpp::log::alevel::all);
  server.clear_error_channels(websocketpp::log::elevel::all);
  server.init_asio();
  server.set_reuse_addr(true);
  server.set_max_message_size(64ull << 20);
  server.set_tcp_post_init_handler([&server](websocketpp::connection_hdl hdl) {
    asio::error_code ignored;
    server.get_con_from_hdl(hdl)->get_socket().set_option(asio::ip::tcp::no_delay(true), ignored);
  });
  server.set_message_handler([&server](websocketpp::connection_hdl hdl, Server::message_ptr msg) {
    websocketpp::lib::error_code ec;
    server.send(hdl, msg->get_payload(), msg->get_opcode(), ec);
  });
  server.listen(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  server.start_accept();
  websocketpp::lib::asio::error_code ec;
  const auto local = server.get_local_endpoint(ec);
  std::printf("ws://127.0.0.1:%u/\n", static_cast<unsigned>(local.port()));
  std::fflush(stdout);
  server.run();
}
