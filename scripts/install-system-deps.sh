#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, when they are missing.
# Idempotent; does nothing when everything is present.
set -euo pipefail
needed=()
# package:command-that-proves-it-is-installed
for pair in $(cat "$(dirname "$0")/system-packages.txt" | grep -v '^#'); do
  pkg=${pair%%:*}; probe=${pair#*:}
  if ! command -v "$probe" >/dev/null 2>&1 && [ ! -e "$probe" ]; then
    needed+=("$pkg")
  fi
done
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${needed[*]} (run: sudo apt-get install ${needed[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${needed[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
