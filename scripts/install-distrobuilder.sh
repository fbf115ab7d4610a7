#!/usr/bin/env bash
# distrobuilder for the NVIDIA image builds of the test suite (tests/image), from Debian's archive.
#
# The Go module proxy serves no distrobuilder, but Debian 13 (trixie) ships it as a binary
# package, built by Debian from its security-maintained incus sources. On Debian 12 (bookworm)
# this adds a trixie apt source pinned at priority 1, so that
#   apt-get install distrobuilder/trixie distrobuilder-images/trixie
# takes only those two from trixie and every dependency (debootstrap, rsync, squashfs-tools, ...)
# from bookworm; nothing else on the machine ever upgrades to trixie. On Debian 13 or later it is
# a plain `apt-get install distrobuilder`. Idempotent: does nothing when distrobuilder runs.
# Run by scripts/install-system-deps.sh (make system-deps, make test).
set -euo pipefail

SOURCES=/etc/apt/sources.list.d/pve-gpu-lxc-trixie.sources
PREFERENCES=/etc/apt/preferences.d/pve-gpu-lxc-trixie.pref
MIRROR=${PVE_GPU_LXC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
WANT=3.2 # the version tests/image was written against (Debian's 3.2-2+b9)

have_distrobuilder() {
  command -v distrobuilder >/dev/null 2>&1 && distrobuilder --version >/dev/null 2>&1
}

if have_distrobuilder; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "distrobuilder is missing (the NVIDIA image tests build with it); as root run: bash $0" >&2
  exit 1
fi

# shellcheck disable=SC1091 # the machine's own file
. /etc/os-release
case "${ID:-}:${VERSION_ID:-}" in
  debian:12)
    packages=(distrobuilder/trixie distrobuilder-images/trixie)
    if [ ! -r "$KEYRING" ]; then
      echo "install-distrobuilder: $KEYRING is missing; apt-get install debian-archive-keyring" >&2
      exit 1
    fi
    sources="Types: deb
URIs: $MIRROR
Suites: trixie
Components: main
Signed-By: $KEYRING
"
    preferences="Explanation: pve-gpu-lxc: trixie only for packages asked for by name (distrobuilder/trixie);
Explanation: every dependency and every other package stays on bookworm
Package: *
Pin: release n=trixie
Pin-Priority: 1
"
    # the pin first: a trixie source without it would offer trixie upgrades to the whole machine
    if [ "$(cat "$PREFERENCES" 2>/dev/null)" != "${preferences%$'\n'}" ]; then
      printf '%s' "$preferences" > "$PREFERENCES.tmp" && mv "$PREFERENCES.tmp" "$PREFERENCES"
    fi
    if [ "$(cat "$SOURCES" 2>/dev/null)" != "${sources%$'\n'}" ]; then
      printf '%s' "$sources" > "$SOURCES.tmp" && mv "$SOURCES.tmp" "$SOURCES"
    fi
    ;;
  debian:*)
    packages=(distrobuilder distrobuilder-images)
    ;;
  *)
    echo "install-distrobuilder: no Debian package for ${PRETTY_NAME:-this system}; install distrobuilder" \
         "yourself (snap install distrobuilder --classic) and make sure it is on PATH" >&2
    exit 1
    ;;
esac

echo "installing ${packages[*]} from Debian's archive"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq; then
  echo "install-distrobuilder: apt-get update failed (is $MIRROR reachable?)" >&2
  exit 1
fi
# no recommends: those are for VM images (qemu-utils, btrfs-progs, wimtools, ...)
if ! apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; then
  echo "install-distrobuilder: apt-get install ${packages[*]} failed; see apt's message above" >&2
  exit 1
fi
if ! have_distrobuilder; then
  echo "install-distrobuilder: distrobuilder was installed but \`distrobuilder --version\` fails" >&2
  exit 1
fi
version=$(distrobuilder --version)
case "$version" in
  "$WANT"|"$WANT".*) ;;
  *) echo "install-distrobuilder: note: distrobuilder $version installed; the tests were written against $WANT" >&2 ;;
esac
echo "distrobuilder $version installed"
