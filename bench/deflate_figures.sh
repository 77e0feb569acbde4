#!/usr/bin/env bash
# The permessage-deflate memory figures of issue 7: the server's RSS growth
# per idle connection, with N connections (default 1000) held by another
# process, for each deflate setting. Each connection first exchanges a few
# compressed ~1 KiB JSON messages with the echo server (zlib state is
# allocated on first use), then sits idle. Prints a table; asserts nothing.
#
#   [MESSAGES=3] bench/deflate_figures.sh [BUILD_DIR] [N] [SETTINGS...]
#
# SETTINGS default to: none default small tiny nct nct-small (see
# bench/load/deflate_memory.cpp for what each is).
set -euo pipefail
build=${1:-build/dflbench}
n=${2:-1000}
shift $(( $# > 2 ? 2 : $# ))
settings=("$@")
[ ${#settings[@]} -gt 0 ] || settings=(none default small tiny nct nct-small)
prog=$build/bench/parley_deflate_memory
ulimit -n "$(ulimit -Hn)"

source "$(dirname "$0")/lib.sh"

printf '%-10s %12s %12s %10s %14s\n' setting "before KiB" "after KiB" negotiated "B/idle conn"
for s in "${settings[@]}"; do
  start_server "$tmp/server.log" "$prog" server "$s"
  hold_idle "$prog" "ws://127.0.0.1:$port/" "$n" "$s" "${MESSAGES:-3}"
  awk -v s="$s" -v a="$rss_after" -v b="$rss_before" -v n="$n" -v k="$negotiated" \
    'BEGIN { printf "%-10s %12d %12d %10d %14.0f\n", s, b, a, k, (a - b) * 1024 / n }'
done
