#!/usr/bin/env bash
# The server figures of the runtime issue, measured on this machine:
#  1. user-space memory (RSS growth) per idle plain connection, with N idle
#     connections (default 10000) held by another process
#     (parley_deflate_memory's client, without compression and messages);
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

echo "== idle connections: $n"
start_server "$tmp/serve.log" "$parley" serve --echo --port 0 --quiet --ping-interval 0
sleep 0.3
before=$(rss_kib "$server_pid")
coproc HOLD { "$idle" client "ws://127.0.0.1:$port/" "$n" none 0; }
pids+=("$HOLD_PID")
read -r line <&"${HOLD[0]}" || true
if [ "${line:-}" != "ready $n negotiated 0" ]; then echo "could not open $n connections: ${line:-nothing}"; exit 1; fi
sleep 0.5
after=$(rss_kib "$server_pid")
echo "server RSS before: ${before} KiB, with $n idle connections: ${after} KiB"
awk -v a="$after" -v b="$before" -v n="$n" 'BEGIN { printf "RSS growth per idle connection: %.0f bytes\n", (a - b) * 1024 / n }'
exec {HOLD[1]}>&-
wait "$HOLD_PID" || true
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true

echo
echo "== echo throughput: server on CPU 0, load on CPU 1 (100 conns x 16 B, 32 in flight, ${seconds}s)"
start_server "$tmp/serve2.log" taskset -c 0 "$parley" serve --echo --port 0 --quiet --ping-interval 0
taskset -c 1 "$parley" bench "ws://127.0.0.1:$port/" -c 100 -p 32 -s 16 -d "$seconds" --warmup 1 -t 1
