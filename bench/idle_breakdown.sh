#!/usr/bin/env bash
# Where an idle plain ws:// connection's memory goes (docs/performance.md,
# "Idle connections"): `parley serve --echo` pinned to CPU 0, N idle
# connections held from CPU 1 by parley_deflate_memory, and the server's
# growth per connection in RSS, split into RssAnon (per-connection memory)
# and RssFile (code paged in once), the growth of each mapping
# (/proc/PID/smaps), and malloc's view (malloc_info through gdb, when gdb is
# installed: heap size and free bytes in it).
#
#   bench/idle_breakdown.sh BUILD_DIR [N]     (N: 10000 by default)
#
# BUILD_DIR: a parley build with tools and bench (e.g. build/compare/parley-rel
# after bench/compare/run). Every process started here is stopped by its PID.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1 n=${2:-10000}
source "$here/lib.sh"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

snapshot() {  # NAME: status fields and RSS by mapping
  grep -E '^(VmRSS|RssAnon|RssFile)' "/proc/$server_pid/status" >"$tmp/$1.status"
  awk '/^[0-9a-f]+-[0-9a-f]+ / {name = $6 == "" ? "[anon]" : $6} /^Rss:/ {r[name] += $2}
       END {for (m in r) print m, r[m]}' "/proc/$server_pid/smaps" | sort >"$tmp/$1.maps"
  [ "$1" = after ] && command -v gdb >/dev/null &&
    gdb -batch -p "$server_pid" -ex "call (void*)fopen(\"$tmp/malloc.xml\",\"w\")" -ex 'set $f=$' \
        -ex 'call (int)malloc_info(0,$f)' -ex 'call (int)fclose($f)' >/dev/null 2>&1 || true
}
taken=0
probe() { if [ $taken = 0 ]; then snapshot before; taken=1; else snapshot after; fi; }
start_server "$tmp/server.log" taskset -c 0 "$build/tools/parley/parley" serve --echo --port 0 --quiet --ping-interval 0
holder() { taskset -c 1 "$build/bench/parley_deflate_memory" "$@"; }
probe=probe hold_idle holder "ws://127.0.0.1:$port/" "$n" none 0

echo "uptime: $(uptime)"
echo "$n idle connections: RSS growth per connection (bytes):"
join "$tmp/before.status" "$tmp/after.status" | awk -v n="$n" '{printf "  %-9s %6d  (%d -> %d KiB)\n", $1, ($4 - $2) * 1024 / n, $2, $4}'
echo "growth by mapping (KiB):"
join -a2 -e0 -o 0,1.2,2.2 "$tmp/before.maps" "$tmp/after.maps" | awk '$3 != $2 {printf "  %7d  %s\n", $3 - $2, $1}' | sort -rn
if [ -s "$tmp/malloc.xml" ]; then
  # (the totals over all arenas are the last of each kind in the file)
  total() { grep -o "<$1 type=\"$2\"[^>]*size=\"[0-9]*" "$tmp/malloc.xml" | tail -1 | sed 's/.*"//'; }
  echo "malloc at the end: $(total system current) B in heaps, $(total total rest) B of it free," \
       "$(total total mmap) B in mmapped chunks"
fi
