#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, when they are missing.
# Idempotent; does nothing when everything is present.
set -euo pipefail
needed=()
# package:command-that-proves-it-is-installed
while read -r pair; do
  case "$pair" in ''|'#'*) continue ;; esac
  pkg=${pair%%:*}; probe=${pair#*:}
  if ! command -v "$probe" >/dev/null 2>&1 && [ ! -e "$probe" ]; then
    needed+=("$pkg")
  fi
done < "$(dirname "$0")/system-packages.txt"
# distrobuilder (the NVIDIA image builds): Debian 13's package, pinned, on Debian 12
bash "$(dirname "$0")/install-distrobuilder.sh"
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${needed[*]} (run: sudo apt-get install ${needed[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${needed[*]}"
export DEBIAN_FRONTEND=noninteractive
# The tests start their own daemons (sshd, PostgreSQL, docker-registry) on loopback; the packages must not start
# or enable the system's services. policy-rc.d (Debian's mechanism) refuses service starts during
# the install; a pre-existing one is left alone.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && own_policy=1
fi
trap '[ "$own_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  # only the services of packages installed just now
  for pkg in "${needed[@]}"; do
    case "$pkg" in
      openssh-server) systemctl disable --now ssh >/dev/null 2>&1 || true ;;
      postgresql) systemctl disable --now postgresql >/dev/null 2>&1 || true ;;
      docker-registry) systemctl disable --now docker-registry >/dev/null 2>&1 || true ;;
    esac
  done
fi
