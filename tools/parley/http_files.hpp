// Plain-HTTP answers of `parley serve`: the demo page and parley.js, files of a --static
// directory (safely: no path traversal, no symlink escapes), errors.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include <parley/protocol/http.hpp>

namespace parley_cli {

/// A small text/plain response (404, 403, 405, ...), closing the connection.
parley::protocol::Response text_response(int status, std::string_view message);

/// A 200 response with `body` of `content_type` (no body for HEAD).
parley::protocol::Response body_response(const parley::protocol::Request& request, std::string_view content_type,
                                         std::string body);

/// A page or script built into the command (the demo page, parley.js) for
/// GET and HEAD; other methods get 405 with `Allow: GET, HEAD`.
parley::protocol::Response builtin_response(const parley::protocol::Request& request, std::string_view content_type,
                                            std::string_view body);

/// Serves GET/HEAD requests from the directory `root` (canonical, absolute):
/// percent-decoded paths; any `..` segment, NUL byte, or a path that resolves
/// (symlinks included) outside `root` is refused with 403; a directory
/// serves its index.html; other methods get 405. The file is streamed from
/// disk (Response::body_stream), whatever its size.
parley::protocol::Response serve_file(const std::filesystem::path& root, const parley::protocol::Request& request);

/// The Content-Type for a file name, by extension.
std::string_view content_type_for(const std::filesystem::path& file);

}  // namespace parley_cli
