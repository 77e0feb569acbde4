# Helpers shared by the bench/*_figures.sh scripts (sourced, not run):
# processes started by a script are killed by PID when it exits, its temporary
# directory ($tmp) is removed, and servers are started with their port read
# back from their log.

pids=()
tmp=$(mktemp -d)
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

# bench_tools BUILD_DIR TARGET: sets $parley (the CLI of BUILD_DIR) and $gen
# (BUILD_DIR/bench/TARGET), exits saying how to build them when either is
# missing, and raises the open-file limit to its hard limit.
bench_tools() {
  local f
  parley=$1/tools/parley/parley
  gen=$1/bench/$2
  for f in "$parley" "$gen"; do
    [ -x "$f" ] || { echo "missing $f: cmake --build $1 --target parley_cli $2"; exit 1; }
  done
  ulimit -n "$(ulimit -Hn)"
}

# The 1-, 5- and 15-minute load averages.
load() { cut -d' ' -f1-3 /proc/loadavg; }

# machine_lines: which machine the figures come from, and its uptime now.
machine_lines() {
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
  echo "uptime before: $(uptime)"
}

# RSS of process $1 in KiB.
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# start_server LOGFILE COMMAND...: starts a server that prints its
# ws:// or wss://127.0.0.1:PORT URL; sets server_pid and port (waits 10 s at most).
start_server() {
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 100); do
    port=$(grep -o 'wss\?://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://') || true
    [ -n "${port:-}" ] && return 0
    sleep 0.1
  done
  echo "server did not start"; cat "$log"; exit 1
}

# hold_idle CLIENT URL N SETTING MESSAGES: with the server of start_server
# running, reads its RSS (KiB) into rss_before, has CLIENT
# (parley_deflate_memory) open N connections to URL with SETTING, exchange
# MESSAGES echoes each and hold them idle, waits 3 s (past the loop's
# output-block trim period), reads rss_after, sets negotiated (how many
# agreed on compression), then closes the connections and stops the server.
# Runs the command in $probe, if set, just before each RSS reading.
hold_idle() {
  local client=$1 url=$2 count=$3 setting=$4 messages=$5 line
  sleep 0.3
  ${probe:-}
  rss_before=$(rss_kib "$server_pid")
  coproc HOLD { "$client" client "$url" "$count" "$setting" "$messages"; }
  pids+=("$HOLD_PID")
  read -r line <&"${HOLD[0]}" || true
  case "${line:-}" in
    "ready $count negotiated "*) negotiated=${line##* } ;;
    *) echo "could not open $count connections ($setting): ${line:-nothing}"; exit 1 ;;
  esac
  sleep 3
  ${probe:-}
  rss_after=$(rss_kib "$server_pid")
  exec {HOLD[1]}>&-
  wait "$HOLD_PID" || true
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
}
