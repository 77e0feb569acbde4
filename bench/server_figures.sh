#!/usr/bin/env bash
# The server figures of the runtime issue, measured on this machine:
#  1. user-space memory (RSS growth) per idle plain connection, with N idle
#     connections (default 10000) held by another process
#     (parley_deflate_memory's client, without compression and messages),
#     for the library's Server alone and for `parley serve`;
#  2. single-core echo throughput: `parley serve --echo` pinned to CPU 0,
#     `parley bench` (100 connections x 16-byte messages, 32 in flight)
#     pinned to CPU 1.
# Prints figures; asserts nothing.
#
#   bench/server_figures.sh [BUILD_DIR] [N] [SECONDS]
set -euo pipefail
build=${1:-build/gcc}
n=${2:-10000}
seconds=${3:-5}
parley=$build/tools/parley/parley
idle=$build/bench/parley_deflate_memory
ulimit -n "$(ulimit -Hn)"

source "$(dirname "$0")/lib.sh"

# idle_figure NAME HEAP COMMAND...: RSS growth of a server per idle
# connection; with HEAP=1 the server prints its live heap on SIGUSR1.
idle_figure() {
  local name=$1 heap=$2; shift 2
  echo "== idle connections: $n, $name"
  start_server "$tmp/idle.log" "$@"
  probe=
  [ "$heap" = 1 ] && probe=heap_probe
  hold_idle "$idle" "ws://127.0.0.1:$port/" "$n" none 0
  echo "server RSS before: ${rss_before} KiB, with $n idle connections: ${rss_after} KiB"
  awk -v a="$rss_after" -v b="$rss_before" -v n="$n" 'BEGIN { printf "RSS growth per idle connection: %.0f bytes\n", (a - b) * 1024 / n }'
  if [ "$heap" = 1 ]; then
    grep '^heap in use' "$tmp/idle.log" | awk -v n="$n" '{ v[NR] = $4 } END { if (NR >= 2) printf "live heap per idle connection: %.0f bytes (allocations only: without the allocator'"'"'s free memory)\n", (v[NR] - v[1]) / n }'
  fi
}
heap_probe() { kill -USR1 "$server_pid"; sleep 0.2; }
# The library alone (an echo Server, one loop), then the command with its
# per-connection log bookkeeping.
idle_figure "parley::Server (parley_deflate_memory server none)" 1 "$idle" server none
idle_figure "parley serve --echo --quiet" 0 "$parley" serve --echo --port 0 --quiet --ping-interval 0

echo
echo "== echo throughput: server on CPU 0, load on CPU 1 (100 conns x 16 B, 32 in flight, ${seconds}s)"
start_server "$tmp/serve2.log" taskset -c 0 "$parley" serve --echo --port 0 --quiet --ping-interval 0
taskset -c 1 "$parley" bench "ws://127.0.0.1:$port/" -c 100 -p 32 -s 16 -d "$seconds" --warmup 1 -t 1
