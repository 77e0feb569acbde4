// Shared by the load generators of bench/load/ (parley_fanout_bench,
// parley_cross_node): their command lines and the CPU times they report.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>

namespace bench {

/// Reads all of `text` as a non-negative number, with an optional K, M or G
/// suffix (x 1024 each): "64K" is 65536. False, `out` unchanged, otherwise.
inline bool parse_number(const char* text, double& out) {
  char* end = nullptr;
  errno = 0;
  double d = std::strtod(text, &end);
  if (end != text && *end != '\0' && end[1] == '\0') {
    const char* units = "KMG";
    const char* unit = std::strchr(units, *end);
    if (unit == nullptr) return false;
    for (const char* k = units; k <= unit; ++k) d *= 1024;
    ++end;
  }
  if (end == text || *end != '\0' || errno != 0 || !(d >= 0)) return false;
  out = d;
  return true;
}

/// Walks a command line: an argument that starts with '-' is an option and
/// takes the next one as its value, option(name, value); any other goes to
/// positional(argument). Both return false for what they do not accept.
/// False at the first refusal or at an option without a value.
template <class Option, class Positional>
bool walk_command_line(int argc, char** argv, Option option, Positional positional) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.empty() || arg[0] != '-') {
      if (!positional(arg)) return false;
      continue;
    }
    if (i + 1 >= argc || !option(arg, argv[++i])) return false;
  }
  return true;
}

/// utime + stime of process `pid` (all its threads, /proc/PID/stat) in
/// seconds; -1 when it cannot be read.
inline double process_cpu_seconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  const std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 > stat.size()) return -1;
  std::istringstream rest(stat.substr(paren + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {  // field 3 is the state; 14 utime, 15 stime
    if (i == 14) utime = std::strtod(field.c_str(), nullptr);
    if (i == 15) stime = std::strtod(field.c_str(), nullptr);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

/// This process's own user + system CPU time in seconds (getrusage).
inline double own_cpu_seconds() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

}  // namespace bench
