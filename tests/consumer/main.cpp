// Links against an installed parley and uses a little of its API.
#include <parley/parley.hpp>

#include <cstdio>

int main() {
  if (parley::protocol::accept_key("dGhlIHNhbXBsZSBub25jZQ==") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
    std::fputs("consumer: wrong accept key\n", stderr);
    return 1;
  }
  std::printf("consumer: parley %s works (%s)\n", parley::version_string(),
              std::string(parley::describe(parley::WS_OK)).c_str());
  return 0;
}
