#!/usr/bin/env bash
# examples/cluster/run.sh: one Redis, three `parley serve --redis` and nginx
# in front of them, all on 127.0.0.1, all in the foreground of this script,
# their logs on this terminal (each line prefixed with who wrote it) and in
# tmp/. Ctrl-C stops them all, each by its PID.
#
#   ./run.sh [NGINX_PORT [REDIS_PORT]]
#
# NGINX_PORT (default 8080) is where you connect; the parley servers listen
# on the three ports after it (8081, 8082, 8083); Redis on REDIS_PORT
# (default 6380, not the 6379 of a system Redis). The parley command is
# $PARLEY, else `parley` on PATH, else the repository's build/ or
# build/*/ one. Everything the programs write goes to ./tmp (kept, for the
# logs; removed at the next start).
set -u
set -m  # each program in a process group of its own: Ctrl-C reaches only this script

here=$(cd "$(dirname "$0")" && pwd)
nginx_port=${1:-8080}
redis_port=${2:-6380}
ports=("$((nginx_port + 1))" "$((nginx_port + 2))" "$((nginx_port + 3))")
tmp=$here/tmp

die() { echo "run.sh: $*" >&2; exit 1; }

parley=${PARLEY:-}
if [ -z "$parley" ]; then
  parley=$(command -v parley || true)
fi
if [ -z "$parley" ]; then
  for p in "$here"/../../build/tools/parley/parley "$here"/../../build/*/tools/parley/parley; do
    if [ -x "$p" ]; then parley=$p; break; fi
  done
fi
[ -n "$parley" ] && [ -x "$parley" ] || die "no parley command: build it (cmake --build build --target parley_cli) or set PARLEY=/path/to/parley"
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || die "no nginx: apt-get install nginx"
command -v redis-server >/dev/null || die "no redis-server: apt-get install redis-server"

rm -rf "$tmp"
mkdir -p "$tmp"
chmod 755 "$tmp"  # nginx's workers run as nobody when started as root

pids=()
names=()
# start NAME COMMAND...: in the background, stdin from /dev/null, output
# prefixed with [NAME] on this terminal and kept in tmp/NAME.log.
start() {
  local name=$1
  shift
  "$@" </dev/null > >(trap '' INT; exec tee -a "$tmp/$name.log" | sed -u "s/^/[$name] /") 2>&1 &
  pids+=("$!")
  names+=("$name")
}

stop_all() {
  trap '' INT TERM
  echo
  echo "run.sh: stopping"
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    if kill -0 "${pids[i]}" 2>/dev/null; then
      echo "run.sh: kill ${pids[i]} (${names[i]})"
      kill -TERM "${pids[i]}" 2>/dev/null
    fi
  done
  # Bounded: whatever is still there after 10 s gets SIGKILL.
  for ((i = 0; i < 100; i++)); do
    local alive=0 p
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  exit 0
}
trap stop_all INT TERM

# Waits (at most 10 s) until 127.0.0.1:PORT accepts a connection.
wait_port() {
  local i
  for ((i = 0; i < 100; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# Redis: no persistence, its files in tmp/.
start redis redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$tmp" --daemonize no
wait_port "$redis_port" || { echo "run.sh: Redis did not start on port $redis_port" >&2; stop_all; }

# Three servers sharing their rooms through that Redis; nginx (127.0.0.1)
# is trusted for the client's address.
for i in 0 1 2; do
  start "parley-$((i + 1))" "$parley" serve --port "${ports[i]}" --redis "redis://127.0.0.1:$redis_port" \
    --trust-proxy 127.0.0.1/32
done
for p in "${ports[@]}"; do
  wait_port "$p" || { echo "run.sh: parley serve did not start on port $p" >&2; stop_all; }
done

# nginx: this folder's nginx.conf with the ports of this run.
sed -e "s/127\.0\.0\.1:8080;/127.0.0.1:$nginx_port;/" \
  -e "s/127\.0\.0\.1:8081 /127.0.0.1:${ports[0]} /" \
  -e "s/127\.0\.0\.1:8082 /127.0.0.1:${ports[1]} /" \
  -e "s/127\.0\.0\.1:8083 /127.0.0.1:${ports[2]} /" \
  "$here/nginx.conf" >"$tmp/nginx.conf"
start nginx "$nginx" -c "$tmp/nginx.conf" -p "$tmp" -e stderr
wait_port "$nginx_port" || { echo "run.sh: nginx did not start on port $nginx_port" >&2; stop_all; }

cat <<EOF

run.sh: all up (Redis $redis_port, parley ${ports[*]}, nginx $nginx_port). Try:
  open http://127.0.0.1:$nginx_port/ in two browser tabs: a message typed in one shows in both
  $parley connect ws://127.0.0.1:$nginx_port/chat        (in two terminals: type lines)
  kill ${pids[1]}   # parley-1: its clients reconnect through nginx to the others
  kill ${pids[0]}   # Redis: each server's rooms keep working locally; "Redis broker down" in the logs
Ctrl-C stops everything.

EOF

# Until Ctrl-C (the trap), or until every program has exited.
while :; do
  wait
  alive=0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break
  sleep 1
done
echo "run.sh: every program has exited"
