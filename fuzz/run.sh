#!/usr/bin/env bash
# Runs every fuzzer built in DIR for SECONDS each, JOBS at a time, starting
# from the committed seed corpus fuzz/corpus/<name>/ (copied, so the repo
# stays clean). Exits non-zero when any fuzzer finds a crash, leak or timeout;
# the reproducer is left in the fuzzer's work directory.
set -euo pipefail
dir=$(cd "${1:?usage: fuzz/run.sh BUILD_DIR SECONDS [JOBS]}" && pwd)  # absolute: each fuzzer runs in its own work dir
seconds=${2:-30}
jobs=${3:-2}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
status=0
pids=()
names=()
run_one() {
  local exe=$1 name
  name=$(basename "$exe")
  mkdir -p "$work/$name/corpus"
  if [ -d "$here/corpus/$name" ]; then cp -r "$here/corpus/$name/." "$work/$name/corpus/"; fi
  (cd "$work/$name" && timeout $((seconds + 60)) "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 corpus >log 2>&1)
}
for exe in "$dir"/*_fuzz; do
  [ -x "$exe" ] || continue
  run_one "$exe" &
  pids+=($!)
  names+=("$(basename "$exe")")
  if [ "${#pids[@]}" -ge "$jobs" ]; then
    if ! wait "${pids[0]}"; then echo "FUZZ FAILED: ${names[0]} (log: $work/${names[0]}/log)"; tail -40 "$work/${names[0]}/log"; status=1
    else echo "fuzz ok: ${names[0]} ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/${names[0]}/log" | grep -o '[0-9]*$') runs)"; fi
    pids=("${pids[@]:1}"); names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then echo "FUZZ FAILED: ${names[$i]} (log: $work/${names[$i]}/log)"; tail -40 "$work/${names[$i]}/log"; status=1
  else echo "fuzz ok: ${names[$i]} ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/${names[$i]}/log" | grep -o '[0-9]*$') runs)"; fi
done
[ "$status" = 0 ] && rm -rf "$work"
exit "$status"
