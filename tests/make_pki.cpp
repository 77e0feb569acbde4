// The certificates of the TLS tests of the interop run and the CLI tests,
// without the `openssl` command line: tests/unit/test_certs.hpp's TestPki,
// copied out of its own temporary directory (which it removes when it goes)
// into DIR.
//
//     parley_test_make_pki DIR
//
// DIR must exist. Writes ca.pem, server-chain.pem, server.key, expired.pem,
// expired.key, other-host.pem, other-host.key, ... (every file TestPki
// makes; see test_certs.hpp) and prints their names on stdout, one a line.
// Exit status 0 on success, 1 with the reason on stderr otherwise.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "unit/test_certs.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: parley_test_make_pki DIR\n");
    return 2;
  }
  namespace fs = std::filesystem;
  try {
    const fs::path out(argv[1]);
    if (!fs::is_directory(out)) {
      std::fprintf(stderr, "make_pki: %s is not a directory\n", argv[1]);
      return 1;
    }
    std::vector<std::string> names;
    {
      const parley::testing::TestPki pki;  // removes its directory when it goes
      for (const fs::directory_entry& e : fs::directory_iterator(pki.dir())) {
        if (!e.is_regular_file()) continue;
        fs::copy_file(e.path(), out / e.path().filename(), fs::copy_options::overwrite_existing);
        names.push_back(e.path().filename().string());
      }
    }
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) std::printf("%s\n", name.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_pki: %s\n", e.what());
    return 1;
  }
  return 0;
}
