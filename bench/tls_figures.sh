#!/usr/bin/env bash
# The TLS figures of the TLS issue, measured on this machine:
#  1. user-space memory (RSS growth) of `parley serve --tls-cert` per idle
#     wss:// connection, with N idle connections (default 1000) held by
#     another process (parley_deflate_memory's client), next to the same
#     figure for plain ws:// connections;
#  2. single-core echo throughput, ws:// and wss://: `parley serve --echo`
#     pinned to CPU 0, `parley bench` (100 connections x 16-byte messages,
#     32 in flight; then 10 connections x 16 KiB, 4 in flight) pinned to
#     CPU 1: messages/s, MB/s (echoed payload), the server's CPU time per
#     message (utime + stime from /proc, the figure that a loaded machine
#     disturbs least) and the wss/ws ratios. BENCH=path runs another
#     parley binary as the load (e.g. the same one for before and after).
# The certificate is a throwaway self-signed P-256 one made with the
# openssl command. Prints figures; asserts nothing.
#
#   bench/tls_figures.sh [BUILD_DIR] [N] [SECONDS]
set -euo pipefail
build=${1:-build/gcc}
n=${2:-1000}
seconds=${3:-5}
parley=$build/tools/parley/parley
idle=$build/bench/parley_deflate_memory
ulimit -n "$(ulimit -Hn)"

source "$(dirname "$0")/lib.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
tls=(--tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem")


idle_figure() {  # idle_figure SCHEME [serve flags...]
  local scheme=$1; shift
  start_server "$tmp/serve-$scheme.log" "$parley" serve --echo --port 0 --quiet --ping-interval 0 "$@"
  hold_idle "$idle" "$scheme://127.0.0.1:$port/" "$n" none 0
  awk -v s="$scheme" -v a="$rss_after" -v b="$rss_before" -v n="$n" \
    'BEGIN { printf "%-4s %6d idle connections (handshake only): RSS %d -> %d KiB, %.0f bytes per connection\n", s, n, b, a, (a - b) * 1024 / n }'
}

echo "== memory per idle connection"
idle_figure ws
idle_figure wss "${tls[@]}"

rate() {  # rate SCHEME CONNS PIPELINE SIZE [serve flags...] -> prints msg/s MB/s p99 server-us-per-msg
  local scheme=$1 c=$2 p=$3 size=$4; shift 4
  start_server "$tmp/rate.log" taskset -c 0 "$parley" serve --echo --port 0 --quiet --ping-interval 0 "$@"
  local k=() cpu0 cpu1
  [ "$scheme" = wss ] && k=(-k)
  cpu0=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
  taskset -c 1 "${BENCH:-$parley}" bench "$scheme://127.0.0.1:$port/" -c "$c" -p "$p" -s "$size" -d "$seconds" --warmup 1 -t 1 \
    --binary --json "${k[@]}" >"$tmp/bench.json"
  cpu1=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
  python3 -c 'import json,os,sys; d=json.load(open(sys.argv[1])); t=float(sys.argv[3])-float(sys.argv[2]); hz=os.sysconf("SC_CLK_TCK"); print("%.0f %.1f %.0f %.2f" % (d["messages_per_sec"], d["mb_per_sec"], d["latency_us"]["p99"], t / hz * 1e6 / d["received"]))' \
    "$tmp/bench.json" "$cpu0" "$cpu1"
}

echo
echo "== echo throughput, server on CPU 0, load on CPU 1 (${seconds}s each); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   (us/msg: the server's CPU time over the whole run, warmup included, divided by every echo it made)"
printf '%-28s %10s %10s %8s %8s %9s %9s %8s %10s\n' load "ws msg/s" "wss msg/s" "ws MB/s" "wss MB/s" "ws us/msg" "wss us/m" "wss/ws" "wss p99 us"
for load in "100 32 16" "10 4 16384"; do
  read -r c p size <<<"$load"
  read -r ws_rate ws_mb _ ws_cpu < <(rate ws "$c" "$p" "$size")
  read -r wss_rate wss_mb wss_p99 wss_cpu < <(rate wss "$c" "$p" "$size" "${tls[@]}")
  awk -v l="${c} conns x ${size} B, ${p} in flight" -v a="$ws_rate" -v b="$wss_rate" -v am="$ws_mb" -v bm="$wss_mb" \
    -v ac="$ws_cpu" -v bc="$wss_cpu" -v p99="$wss_p99" \
    'BEGIN { printf "%-28s %10d %10d %8.1f %8.1f %9.2f %9.2f %8.2f %10d\n", l, a, b, am, bm, ac, bc, b / a, p99 }'
done
