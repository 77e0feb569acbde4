#include "http_files.hpp"

#include <algorithm>
#include <fstream>
#include <memory>
#include <system_error>

#include <parley/protocol/uri.hpp>

namespace parley_cli {

namespace fs = std::filesystem;
using parley::protocol::Request;
using parley::protocol::Response;

namespace {

Response base_response(int status) {
  Response r;
  r.status = status;
  r.reason = std::string(parley::protocol::reason_phrase(status));
  r.headers.set("Connection", "close");
  r.headers.set("Server", "parley");
  return r;
}

bool is_within(const fs::path& root, const fs::path& p) {
  auto r = root.begin();
  auto q = p.begin();
  for (; r != root.end(); ++r, ++q) {
    if (q == p.end() || *r != *q) {
      // A trailing empty element ("dir/") of root matches anything.
      return r->empty() && std::next(r) == root.end();
    }
  }
  return true;
}

Response method_not_allowed() {
  Response r = text_response(405, "method not allowed");
  r.headers.set("Allow", "GET, HEAD");
  return r;
}

}  // namespace

Response text_response(int status, std::string_view message) {
  Response r = base_response(status);
  r.headers.set("Content-Type", "text/plain; charset=utf-8");
  r.body = std::string(message) + "\n";
  return r;
}

Response body_response(const Request& request, std::string_view content_type, std::string body) {
  Response r = base_response(200);
  r.headers.set("Content-Type", content_type);
  r.headers.set("Cache-Control", "no-cache");
  if (request.method == "HEAD") {
    r.headers.set("Content-Length", std::to_string(body.size()));
  } else {
    r.body = std::move(body);
    if (r.body.empty()) r.headers.set("Content-Length", "0");
  }
  return r;
}

Response builtin_response(const Request& request, std::string_view content_type, std::string_view body) {
  if (request.method != "GET" && request.method != "HEAD") return method_not_allowed();
  return body_response(request, content_type, std::string(body));
}

std::string_view content_type_for(const fs::path& file) {
  const std::string ext = file.extension().string();
  struct Entry {
    std::string_view ext, type;
  };
  static constexpr Entry types[] = {
      {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"}, {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"}, {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"}, {".svg", "image/svg+xml"},
      {".png", "image/png"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
      {".gif", "image/gif"}, {".webp", "image/webp"}, {".ico", "image/x-icon"},
      {".wasm", "application/wasm"}, {".map", "application/json"},
  };
  for (const auto& t : types) {
    if (t.ext == ext) return t.type;
  }
  return "application/octet-stream";
}

Response serve_file(const fs::path& root, const Request& request) {
  if (request.method != "GET" && request.method != "HEAD") return method_not_allowed();
  const std::string decoded = parley::protocol::percent_decode(request.path());
  if (decoded.empty() || decoded.front() != '/' || decoded.find('\0') != std::string::npos) {
    return text_response(400, "bad path");
  }
  // Refuse any ".." segment outright, before touching the file system.
  fs::path relative;
  std::size_t start = 1;
  while (start <= decoded.size()) {
    std::size_t end = decoded.find('/', start);
    if (end == std::string::npos) end = decoded.size();
    const std::string_view segment(decoded.data() + start, end - start);
    if (segment == "..") return text_response(403, "forbidden: path traversal");
    if (!segment.empty() && segment != ".") relative /= std::string(segment);
    start = end + 1;
  }
  fs::path file = root / relative;
  std::error_code ec;
  if (fs::is_directory(file, ec)) file /= "index.html";
  // Symlinks may point anywhere: resolve, then check the result is inside root.
  const fs::path resolved = fs::canonical(file, ec);
  if (ec) return text_response(404, "not found");
  if (!is_within(root, resolved)) return text_response(403, "forbidden: outside the served directory");
  if (!fs::is_regular_file(resolved, ec)) return text_response(404, "not found");
  const std::uintmax_t size = fs::file_size(resolved, ec);
  if (ec) return text_response(404, "not found");
  auto in = std::make_shared<std::ifstream>(resolved, std::ios::binary);
  if (!*in) return text_response(403, "forbidden: cannot read the file");
  Response r = body_response(request, content_type_for(resolved), {});
  r.headers.set("Content-Length", std::to_string(size));
  if (request.method == "HEAD" || size == 0) return r;
  // Streamed from disk as the client takes it (the server reads ahead at
  // most 256 KiB), never read whole into memory. A file that shrinks
  // meanwhile ends the connection short of its Content-Length.
  r.body_stream = [in, left = size](char* data, std::size_t room) mutable -> std::ptrdiff_t {
    if (left == 0) return 0;
    in->read(data, static_cast<std::streamsize>(std::min<std::uintmax_t>(room, left)));
    const auto n = static_cast<std::size_t>(in->gcount());
    if (n == 0) return -1;
    left -= n;
    return static_cast<std::ptrdiff_t>(n);
  };
  return r;
}

}  // namespace parley_cli
