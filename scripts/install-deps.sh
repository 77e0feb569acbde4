#!/usr/bin/env bash
# Installs what parley needs to build and test on Debian 12, with apt-get.
# Idempotent: packages already installed are skipped, and apt-get is not run
# at all when nothing is missing.
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
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
