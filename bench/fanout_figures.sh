#!/usr/bin/env bash
# The fan-out figures of issue 16 (topics in one server), measured on this
# machine: one publisher and N subscribers on one topic, the server pinned to
# CPU 0, the generator (parley_fanout_bench, one thread) to CPU 1:
#   - `parley serve --quiet` (Release): /chat/bench is a room, a topic whose
#     members get every message sent on it, the sender included;
#   - for comparison in the same sitting, bench/fanout_ws_server.mjs: Node's
#     `ws` broadcasting each message to the clients of its path.
# Cases: 1,000 and 10,000 subscribers x 16 B and 1 KiB binary messages; RUNS
# runs each (a fresh server per run), published for SECONDS with at most
# WINDOW messages in flight (a message is delivered when the publisher has
# its own copy back). Prints each run, then the median table (Markdown).
# Reports; never fails on a number.
#
#   bench/fanout_figures.sh [BUILD_DIR] [SECONDS] [RUNS] [WINDOW]
#   (defaults: build/fanout 5 3 64; CASES="1000x16 ..." and SERVERS="parley ws"
#   in the environment pick fewer)
set -euo pipefail
build=${1:-build/fanout}
seconds=${2:-5}
runs=${3:-3}
window=${4:-64}
cases=${CASES:-1000x16 1000x1024 10000x16 10000x1024}
servers=${SERVERS:-parley ws}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bench_tools "$build" parley_fanout_bench
if [[ " $servers " == *" ws "* ]] && ! node -e "require('$here/../node_modules/ws')" 2>/dev/null; then
  echo "(Node or its ws module missing: the ws rows are left out)"
  servers=${servers//ws/}
fi

machine_lines
echo "generator: $gen URL -n N -s SIZE -m 100000000 -d $seconds -w $window --server-pid PID (taskset -c 1)"
echo

# one_run SERVER N SIZE: a fresh server on CPU 0, the generator on CPU 1;
# appends "SERVER N SIZE key=value..." to $tmp/results.
one_run() {
  local server=$1 n=$2 size=$3 out line
  case "$server" in
    parley) start_server "$tmp/server.log" taskset -c 0 "$parley" serve --quiet --port 0 --ping-interval 0 ;;
    ws) start_server "$tmp/server.log" taskset -c 0 node "$here/fanout_ws_server.mjs" 0 ;;
  esac
  sleep 0.3
  local before
  before=$(load)
  out=$(taskset -c 1 "$gen" "ws://127.0.0.1:$port/chat/bench" -n "$n" -s "$size" -m 100000000 -d "$seconds" \
        -w "$window" --server-pid "$server_pid" --time-limit $((seconds + 90)) 2>&1) || true
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  line=$(grep '^RESULT ' <<<"$out" || true)
  if [ -z "$line" ]; then
    echo "$server $n x $size B: no result"
    sed 's/^/  /' <<<"$out"
    return 0
  fi
  grep -q 'errors=0' <<<"$line" || sed 's/^/  /' <<<"$out" | grep -v '^  RESULT'
  echo "$server ${line#RESULT } load=${before// /\/}" | tee -a "$tmp/results"
}

for c in $cases; do
  n=${c%x*}
  size=${c#*x}
  for r in $(seq "$runs"); do
    for s in $servers; do one_run "$s" "$n" "$size"; done
  done
done

echo
echo "uptime after: $(uptime)"
echo
echo "medians of $runs runs (${seconds} s of publishing each, window $window):"
echo
echo "| server | subscribers | message | deliveries/s | server CPU s per 1M deliveries | generator CPU (one core) | missed (all runs) | runs | highest 1-min load |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
[ -f "$tmp/results" ] || exit 0
# median SERVER N SIZE KEY
median() {
  awk -v s="$1" -v n="subscribers=$2" -v z="size=$3" -v k="$4" \
    '$1 == s && $2 == n && $3 == z { for (i = 2; i <= NF; ++i) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' \
    "$tmp/results" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
for c in $cases; do
  n=${c%x*}
  size=${c#*x}
  for s in $servers; do
    got=$(awk -v s="$s" -v n="subscribers=$n" -v z="size=$size" '$1 == s && $2 == n && $3 == z' "$tmp/results" | wc -l)
    [ "$got" -gt 0 ] || continue
    missed=$(awk -v s="$s" -v n="subscribers=$n" -v z="size=$size" \
      '$1 == s && $2 == n && $3 == z { for (i = 2; i <= NF; ++i) if ($i ~ /^missed=/) t += substr($i, 8) } END { print t + 0 }' "$tmp/results")
    worst=$(awk -v s="$s" -v n="subscribers=$n" -v z="size=$size" \
      '$1 == s && $2 == n && $3 == z { split($NF, l, "[=/]"); if (l[2] > m) m = l[2] } END { print m + 0 }' "$tmp/results")
    label=$([ "$size" -ge 1024 ] && echo "$((size / 1024)) KiB" || echo "$size B")
    printf '| %s | %s | %s | %.0f | %.3f | %.0f %% | %s | %s | %s |\n' \
      "$([ "$s" = parley ] && echo 'parley serve' || echo 'Node ws')" "$n" "$label" \
      "$(median "$s" "$n" "$size" per_second)" "$(median "$s" "$n" "$size" server_cpu_per_million)" \
      "$(awk -v g="$(median "$s" "$n" "$size" generator_share)" 'BEGIN { print g * 100 }')" "$missed" "$got" "$worst"
  done
done
