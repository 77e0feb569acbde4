#!/usr/bin/env bash
# Installs what parley needs to build and test on Debian 12, with apt-get,
# and the npm packages of package-lock.json (the interop tests' Node peer)
# with `npm ci`. Idempotent: packages already installed are skipped, apt-get
# is not run at all when nothing is missing, and npm ci only when
# node_modules does not match package-lock.json.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libssl-dev        # SHA-1, CSPRNG, TLS
  zlib1g-dev        # permessage-deflate
  libgtest-dev      # unit tests
  libbenchmark-dev  # micro benchmarks
  libcli11-dev      # the parley command's argument parser
  clang             # the second compiler, libFuzzer and sanitizers
  libclang-rt-14-dev
  python3 python3-websockets  # interop tests: the Python peer (/usr/bin/python3)
  nodejs npm                  # interop tests: the Node peer (ws, from package-lock.json)
  doxygen           # the API reference (`docs` target): an undocumented public name is an error
  chromium          # browser tests (tests/browser/), driven by playwright-core from package-lock.json
  nginx apache2     # reverse-proxy tests (tests/proxy/): each started on loopback by the test, never as a service
  tinyproxy         # the client's HTTP CONNECT proxy tests
  libhiredis-dev    # the Redis broker (topics across servers)
  redis-server      # the Redis broker's tests: started on loopback by the test, never as a service
)

# A package also counts as present when its command is: NodeSource's nodejs
# bundles npm (and conflicts with Debian's npm package).
declare -A satisfied_by_command=([nodejs]=node [npm]=npm)

missing=()
for p in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    continue
  fi
  if [ -n "${satisfied_by_command[$p]:-}" ] && command -v "${satisfied_by_command[$p]}" >/dev/null; then
    continue
  fi
  missing+=("$p")
done

if [ "${#missing[@]}" -ne 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages, exactly as package-lock.json pins them (into ./node_modules).
root=$(cd "$(dirname "$0")/.." && pwd)
lock_satisfied() {
  (cd "$root" && node -e '
    const lock = require("./package-lock.json");
    for (const [path, pkg] of Object.entries(lock.packages)) {
      if (path === "") continue;
      let installed;
      try { installed = require("./" + path + "/package.json").version; } catch { process.exit(1); }
      if (installed !== pkg.version) process.exit(1);
    }' 2>/dev/null)
}
if ! lock_satisfied; then
  echo "install-deps: npm ci (package-lock.json)" >&2
  (cd "$root" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
