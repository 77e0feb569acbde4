# Helpers shared by the bench/*_figures.sh scripts (sourced, not run):
# processes started by a script are killed by PID when it exits, its temporary
# directory ($tmp) is removed, and servers are started with their port read
# back from their log.

pids=()
tmp=$(mktemp -d)
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

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
