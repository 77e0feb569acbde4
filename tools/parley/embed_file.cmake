# Writes a C++ source file that holds the bytes of a file, so that the
# `parley` command carries js/parley.js in itself (no source tree needed at
# run time). Run by a build step (tools/parley/CMakeLists.txt):
#
#   cmake -DINPUT=file -DOUTPUT=file.cpp -DSYMBOL=name -P embed_file.cmake
#
# defines `const std::string_view parley_cli::<SYMBOL>` with the file's bytes.
# The output is rewritten only when it changes.
foreach(var INPUT OUTPUT SYMBOL)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_file.cmake: -D${var}=... is required")
  endif()
endforeach()
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# 16 bytes a line (CMake's regular expressions have no {n}).
string(REPEAT "0x[0-9a-f][0-9a-f]," 16 line)
string(REGEX REPLACE "(${line})" "\\1\n    " bytes "${bytes}")
get_filename_component(name "${INPUT}" NAME)
file(WRITE "${OUTPUT}.new" "// Generated from ${name} by tools/parley/embed_file.cmake: do not edit.
#include <string_view>

namespace parley_cli {
namespace {
// ${size} bytes and a NUL (so that an empty file is still an array).
const unsigned char ${SYMBOL}_bytes[] = {
    ${bytes}0x00};
}  // namespace

extern const std::string_view ${SYMBOL};
const std::string_view ${SYMBOL}(reinterpret_cast<const char*>(${SYMBOL}_bytes), ${size});

}  // namespace parley_cli
")
file(COPY_FILE "${OUTPUT}.new" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.new")
