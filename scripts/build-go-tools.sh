#!/usr/bin/env bash
# Builds the real bpg/proxmox provider (and OpenTofu) from the Go module proxy into .tools/,
# and lays out a Terraform/OpenTofu filesystem mirror plus a CLI config that uses it.
#
#   .tools/bin/terraform-provider-proxmox_v<BPG>     the provider, CGO_ENABLED=0, main.version set
#   .tools/bin/tofu                                  OpenTofu <TOFU> (release build: no "-dev")
#   .tools/mirror/<registry host>/bpg/proxmox/<BPG>/<os>_<arch>/terraform-provider-proxmox_v<BPG>
#                                                   for registry.terraform.io and registry.opentofu.org
#   .tools/terraformrc                               TF_CLI_CONFIG_FILE: the mirror for bpg/proxmox only
#
# Cached: a binary whose stamp (<binary>.version) holds its pinned version is not rebuilt, and
# then Go is not needed at all. Delete .tools/ (or a stamp) to force a rebuild. Two runs at
# once (parallel make, two checkouts' test suites) wait for each other. No provider code is
# committed.
set -euo pipefail

BPG_VERSION=0.111.1
TOFU_VERSION=1.10.10
GO_MIN=1.26 # bpg v0.111.1's go.mod says `go 1.26.0`; OpenTofu 1.10 needs 1.24
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
mkdir -p "$BIN"

# one run at a time: the .tmp files, stamps and mirror links are shared
exec 9>"$TOOLS/.lock"
if ! flock -w 1800 9; then
  echo "build-go-tools: another build holds $TOOLS/.lock for 30 minutes; giving up" >&2
  exit 1
fi

stamp_ok() { [ -x "$1" ] && [ -f "$1.version" ] && [ "$(cat "$1.version")" = "$2" ]; }

need_go() {
  if ! command -v go >/dev/null 2>&1; then
    cat >&2 <<MSG
build-go-tools: \`go\` is not on PATH. The real bpg/proxmox provider v$BPG_VERSION and OpenTofu
v$TOFU_VERSION are built once from the Go module proxy into .tools/ (synthesis needs neither).
Install Go >= $GO_MIN from https://go.dev/dl/ (any Go >= 1.21 also works: with GOTOOLCHAIN=auto,
the default, it fetches go$GO_MIN through the module proxy) and run \`make tools\` again.
MSG
    exit 1
  fi
  export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
  local have
  have="$(go env GOVERSION)"
  # older than GO_MIN is fine when Go can switch toolchains itself (>= 1.21, GOTOOLCHAIN not local)
  if ! go_at_least "$have" "$GO_MIN" \
    && { ! go_at_least "$have" 1.21 || [ "$(go env GOTOOLCHAIN)" = local ]; }; then
    echo "build-go-tools: $have cannot build bpg/proxmox v$BPG_VERSION (needs Go >= $GO_MIN, or" \
      ">= 1.21 with GOTOOLCHAIN=auto to fetch it): install a newer Go from https://go.dev/dl/" >&2
    exit 1
  fi
}

# go_at_least go1.24.3 1.26: true when the first version is >= the second
go_at_least() {
  local have="${1#go}" want="$2"
  [ "$(printf '%s\n%s\n' "$want" "${have%%[-+ ]*}" | sort -V | head -n1)" = "$want" ]
}

# module_dir MODULE VERSION: downloads the module zip through the proxy, prints its directory.
module_dir() {
  local json
  json="$(cd "$TOOLS" && go mod download -json "$1@$2")" || {
    echo "build-go-tools: go mod download $1@$2 failed (is the Go module proxy reachable? GOPROXY=$(go env GOPROXY))" >&2
    exit 1
  }
  printf '%s' "$json" | python3 -c 'import json,sys; d=json.load(sys.stdin); e=d.get("Error"); sys.exit("go mod download: "+e) if e else print(d["Dir"])'
}

work=""
trap 'rm -rf "$BIN"/*.tmp; [ -z "$work" ] || rm -rf "$work"' EXIT

provider="$BIN/terraform-provider-proxmox_v$BPG_VERSION"
if ! stamp_ok "$provider" "$BPG_VERSION"; then
  need_go
  echo "building bpg/proxmox v$BPG_VERSION from the Go module proxy (about 2 minutes, once)" >&2
  rm -f "$provider.version"
  src="$(module_dir github.com/bpg/terraform-provider-proxmox "v$BPG_VERSION")"
  # the module cache is read-only but complete (go.mod, go.sum, no replace directives): build in place
  (cd "$src" && go build -trimpath -ldflags "-s -w -X main.version=$BPG_VERSION" -o "$provider.tmp" .)
  mv "$provider.tmp" "$provider"
  echo "$BPG_VERSION" > "$provider.version"
fi

tofu="$BIN/tofu"
if ! stamp_ok "$tofu" "$TOFU_VERSION"; then
  need_go
  echo "building OpenTofu v$TOFU_VERSION from the Go module proxy (a few minutes, once)" >&2
  rm -f "$tofu.version"
  src="$(module_dir github.com/opentofu/opentofu "v$TOFU_VERSION")"
  # its go.mod replaces hashicorp/hcl/v2 with an opentofu fork: build in a writable copy
  work="$(mktemp -d)"
  cp -r "$src" "$work/opentofu" && chmod -R u+w "$work/opentofu"
  # version.dev=no: a release build, as OpenTofu's own release does; without it the binary
  # calls itself 1.10.10-dev and fails `required_version` constraints
  (cd "$work/opentofu" && go build -trimpath \
    -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" -o "$tofu.tmp" ./cmd/tofu)
  mv "$tofu.tmp" "$tofu"
  echo "$TOFU_VERSION" > "$tofu.version"
fi
# a binary copied in by hand with a stamp must still be the pinned release
reported="$(env -u TF_CLI_CONFIG_FILE -u TOFU_CLI_CONFIG_FILE "$tofu" version -json | python3 -c 'import json,sys; print(json.load(sys.stdin)["terraform_version"])')"
if [ "$reported" != "$TOFU_VERSION" ]; then
  echo "build-go-tools: $tofu reports version $reported, not $TOFU_VERSION: delete it and its .version stamp and run again" >&2
  exit 1
fi

# the platform directory Terraform looks up: the host's, which `go build` targets by default
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) arch="$(uname -m)" ;;
esac
platform="$(uname -s | tr '[:upper:]' '[:lower:]')_$arch"

for host in registry.terraform.io registry.opentofu.org; do
  dir="$TOOLS/mirror/$host/bpg/proxmox/$BPG_VERSION/$platform"
  mkdir -p "$dir"
  # a hard link when possible (same file system, no copy), else a copy
  ln -f "$provider" "$dir/terraform-provider-proxmox_v$BPG_VERSION" 2>/dev/null \
    || cp -f "$provider" "$dir/terraform-provider-proxmox_v$BPG_VERSION"
done

cat > "$TOOLS/terraformrc.tmp" <<RC
# Written by scripts/build-go-tools.sh: bpg/proxmox $BPG_VERSION from the local mirror, nothing else.
provider_installation {
  filesystem_mirror {
    path    = "$TOOLS/mirror"
    include = ["registry.terraform.io/bpg/proxmox", "registry.opentofu.org/bpg/proxmox"]
  }
  direct {
    exclude = ["registry.terraform.io/bpg/proxmox", "registry.opentofu.org/bpg/proxmox"]
  }
}
RC
mv "$TOOLS/terraformrc.tmp" "$TOOLS/terraformrc"
echo "build-go-tools: ready: $provider, $tofu; TF_CLI_CONFIG_FILE=$TOOLS/terraformrc" >&2
