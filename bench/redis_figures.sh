#!/usr/bin/env bash
# The cross-node figures of issue 16 (topics across servers through Redis),
# measured on this machine: a redis-server of its own (loopback, no
# persistence) and two Release `parley serve --quiet --redis` (A and B)
# sharing the room /chat/bench (or, with BROADCAST=1, `--broadcast` and the
# path /bench); the publisher of bench/load/cross_node.cpp
# (parley_cross_node, one thread on parley::Client) on A, its N subscribers
# on B, so that every delivery crosses Redis. Nothing is pinned: Redis, A,
# B and the generator share the machine's cores (their CPU shares are
# printed).
#   - throughput: at most WINDOW messages published and not yet received by
#     all N, for SECONDS: messages/s from A to B's subscribers;
#   - latency: RATE messages/s (a rate at which no queue builds), the send
#     time in the payload: p50/p99 from A's publish to B's subscribers.
# Cases: 1 and 100 subscribers x 16 B and 1 KiB binary messages; RUNS runs
# each (fresh Redis and servers per run). Prints each run, then the median
# tables (Markdown). Reports; never fails on a number.
#
#   bench/redis_figures.sh [BUILD_DIR] [SECONDS] [RUNS] [RATE] [WINDOW]
#   (defaults: build/cluster 3 3 500 1024; CASES="1x16 1x1024 100x16
#   100x1024" and BROADCAST=1 in the environment)
set -euo pipefail
build=${1:-build/cluster}
seconds=${2:-3}
runs=${3:-3}
rate=${4:-500}
window=${5:-1024}
cases=${CASES:-1x16 1x1024 100x16 100x1024}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bench_tools "$build" parley_cross_node
command -v redis-server >/dev/null || { echo "missing redis-server (apt-get install redis-server)"; exit 1; }
if [ "${BROADCAST:-0}" = 1 ]; then
  serve_mode=(--broadcast)
  path=/bench
else
  serve_mode=()
  path=/chat/bench
fi

machine_lines
echo "redis: $(redis-server --version | cut -d' ' -f3)"
echo "servers: $parley serve --quiet --port 0 --ping-interval 0 ${serve_mode[*]} --redis redis://127.0.0.1:PORT (A and B)"
echo "generator: $gen --pub ws://A$path --sub ws://B$path -n N -s SIZE --seconds $seconds" \
  "{--window $window | --rate $rate} --cpu-pid A=PID --cpu-pid B=PID --cpu-pid redis=PID"
echo

# start_redis: a redis-server on a free loopback port ($redis_port,
# $redis_pid), files in $tmp, answering PING (bounded).
start_redis() {
  local attempt i
  for attempt in 1 2 3 4 5; do
    redis_port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && continue  # taken
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" \
      --daemonize no --loglevel warning >"$tmp/redis.log" 2>&1 &
    redis_pid=$!
    pids+=("$redis_pid")
    for i in $(seq 50); do
      [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && return 0
      kill -0 "$redis_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  done
  echo "redis-server did not start"; cat "$tmp/redis.log"; exit 1
}

stop() { for p in "$@"; do kill "$p" 2>/dev/null || true; done; for p in "$@"; do wait "$p" 2>/dev/null || true; done; }

# one_run MODE N SIZE (MODE: thr or lat): fresh Redis, A and B; appends
# "MODE N SIZE key=value... load=..." to $tmp/results.
one_run() {
  local mode=$1 n=$2 size=$3 out line a_pid a_port b_pid b_port before
  start_redis
  local url=redis://127.0.0.1:$redis_port
  start_server "$tmp/a.log" "$parley" serve --quiet --port 0 --ping-interval 0 "${serve_mode[@]}" --redis "$url"
  a_pid=$server_pid a_port=$port
  start_server "$tmp/b.log" "$parley" serve --quiet --port 0 --ping-interval 0 "${serve_mode[@]}" --redis "$url"
  b_pid=$server_pid b_port=$port
  sleep 0.3
  before=$(load)
  local how=(--window "$window")
  [ "$mode" = lat ] && how=(--rate "$rate")
  out=$("$gen" --pub "ws://127.0.0.1:$a_port$path" --sub "ws://127.0.0.1:$b_port$path" -n "$n" -s "$size" \
        --seconds "$seconds" "${how[@]}" --time-limit $((seconds + 60)) \
        --cpu-pid "A=$a_pid" --cpu-pid "B=$b_pid" --cpu-pid "redis=$redis_pid" 2>&1) || true
  stop "$a_pid" "$b_pid" "$redis_pid"
  line=$(grep '^RESULT ' <<<"$out" || true)
  if [ -z "$line" ]; then
    echo "$mode $n x $size B: no result"
    sed 's/^/  /' <<<"$out"
    sed 's/^/  A: /' "$tmp/a.log"
    sed 's/^/  B: /' "$tmp/b.log"
    return 0
  fi
  echo "$mode ${line#RESULT } load=${before// /\/}" | tee -a "$tmp/results"
}

for c in $cases; do
  for r in $(seq "$runs"); do
    for mode in thr lat; do one_run "$mode" "${c%x*}" "${c#*x}"; done
  done
done

echo
echo "uptime after: $(uptime)"
[ -f "$tmp/results" ] || exit 0

# rows MODE N SIZE: the result lines of that case.
rows() { awk -v m="$1" -v n="subscribers=$2" -v z="size=$3" '$1 == m && $2 == n && $3 == z' "$tmp/results"; }
# median MODE N SIZE KEY
median() {
  rows "$1" "$2" "$3" | awk -v k="$4" '{ for (i = 2; i <= NF; ++i) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' |
    sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
# total MODE N SIZE KEY: the sum over the runs.
total() { rows "$1" "$2" "$3" | awk -v k="$4" '{ for (i = 2; i <= NF; ++i) { split($i, kv, "="); if (kv[1] == k) t += kv[2] } } END { print t + 0 }'; }
# worst MODE N SIZE: the highest 1-minute load average seen at a run's start.
worst() { rows "$1" "$2" "$3" | awk '{ split($NF, l, "[=/]"); if (l[2] > m) m = l[2] } END { print m + 0 }'; }
# table MODE COLUMN...: a Markdown row per case that has results; COLUMN is
# KEY:FORMAT (num, pct, us), the median of KEY, followed by the errors of
# all runs, the number of runs and the highest load.
table() {
  local mode=$1 c n size got col key v row
  shift
  for c in $cases; do
    n=${c%x*} size=${c#*x}
    got=$(rows "$mode" "$n" "$size" | wc -l)
    [ "$got" -gt 0 ] || continue
    row="| $n | $([ "$size" -ge 1024 ] && echo "$((size / 1024)) KiB" || echo "$size B")"
    for col in "$@"; do
      key=${col%:*}
      v=$(median "$mode" "$n" "$size" "$key")
      case ${col#*:} in
        pct) v=$(awk -v x="${v:-0}" 'BEGIN { printf "%.0f %%", x * 100 }') ;;
        us) v="$v µs" ;;
      esac
      row+=" | $v"
    done
    echo "$row | $(total "$mode" "$n" "$size" errors) | $got | $(worst "$mode" "$n" "$size") |"
  done
}

echo
echo "cross-node throughput, medians of $runs runs ($seconds s each, window $window; publisher on A, subscribers on B):"
echo
echo "| subscribers on B | message | messages/s A→B | deliveries/s | CPU A | CPU B | CPU Redis | generator CPU | errors (all runs) | runs | highest 1-min load |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
table thr msgs_per_s:num deliveries_per_s:num A_cpu:pct B_cpu:pct redis_cpu:pct generator_cpu:pct

echo
echo "cross-node latency (A's publish to B's subscribers), medians of $runs runs ($rate messages/s for $seconds s):"
echo
echo "| subscribers on B | message | p50 | p99 | errors (all runs) | runs | highest 1-min load |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
table lat p50_us:us p99_us:us
