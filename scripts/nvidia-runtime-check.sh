#!/bin/sh
# The NVIDIA runtime for an OCI application container, checked on a real Proxmox VE 9.1 node with an
# NVIDIA GPU (docs/oci-research.md, "NVIDIA in application containers"): the one command of the run
# that waits for a GPU machine.
#
#   ssh root@pve sh -s -- 990 docker.io/library/busybox:stable < scripts/nvidia-runtime-check.sh
#
# It checks what the wiring needs and names the first thing missing (pct, the NVIDIA module,
# nvidia-container-cli, LXC's nvidia hook, an lxc-pve that knows lxc.environment.hooks), then pulls
# REFERENCE into `local` (oci-registry-pull), writes the pre-start hookscript NvidiaGpu(runtime="host")
# is to emit into local:snippets, creates CT VMID from the image (unprivileged, nvidia0/nvidiactl/
# nvidia-uvm/nvidia-uvm-tools as devN; entrypoint `sleep 600`, set after the create), starts it, runs `nvidia-smi` in it
# (injected from the host by nvidia-container-cli), and removes the CT, the snippet and the image.
# Exit: 0 nvidia-smi ran in the container; 1 a check or step failed; 2 bad arguments.
set -u

fail() { echo "nvidia-runtime-check: $*" >&2; exit 1; }
[ $# -eq 2 ] || { echo "usage: nvidia-runtime-check.sh VMID REFERENCE   (e.g. 990 docker.io/library/busybox:stable)" >&2; exit 2; }
vmid=$1 ref=$2
case "$vmid" in '' | *[!0-9]* | 0*) echo "VMID '$vmid' is not a container id" >&2; exit 2 ;; esac
case "$ref" in *[!A-Za-z0-9._/:-]* | *:*[!A-Za-z0-9._-]*) echo "reference '$ref' is not a plain image reference" >&2; exit 2 ;; esac

command -v pct >/dev/null 2>&1 || fail "pct not found: run this on the Proxmox VE node"
[ -r /sys/module/nvidia/version ] || fail "the NVIDIA kernel module is not loaded (modprobe nvidia nvidia_uvm)"
cli=$(command -v nvidia-container-cli) || fail "nvidia-container-cli not found: install NVIDIA's libnvidia-container-tools"
echo "nvidia-container-cli: $cli ($("$cli" --version 2>/dev/null | head -n 1))"
[ -x /usr/share/lxc/hooks/nvidia ] || fail "/usr/share/lxc/hooks/nvidia missing (lxc-pve ships it)"
lxcpve=$(dpkg-query -W -f '${Version}' lxc-pve 2>/dev/null) || fail "lxc-pve is not installed"
dpkg --compare-versions "$lxcpve" ge 6.0.5-3 ||
    fail "lxc-pve $lxcpve does not know lxc.environment.hooks (6.0.5-3 or later does)"
pct status "$vmid" >/dev/null 2>&1 && fail "CT $vmid exists already: pick a free VMID"
echo "host driver $(cat /sys/module/nvidia/version), lxc-pve $lxcpve"

name=$(echo "${ref##*/}" | tr ':' '_')
snippet=/var/lib/vz/snippets/nvidia-runtime-$vmid.sh
mkdir -p /var/lib/vz/snippets
# what NvidiaGpu(runtime="host") appends in the product's pre-start hookscript
cat > "$snippet" <<'HOOK'
#!/bin/sh
[ "$2" = pre-start ] || exit 0
config=/var/lib/lxc/$1/config
grep -qxF 'lxc.hook.mount = /usr/share/lxc/hooks/nvidia' "$config" || cat >> "$config" <<'EOF'
lxc.environment.hooks = NVIDIA_VISIBLE_DEVICES=none
lxc.environment.hooks = NVIDIA_DRIVER_CAPABILITIES=compute,utility
lxc.hook.mount = /usr/share/lxc/hooks/nvidia
EOF
HOOK
chmod 0755 "$snippet"
cleanup() {
    pct stop "$vmid" >/dev/null 2>&1
    pct destroy "$vmid" >/dev/null 2>&1
    rm -f "$snippet"
    pvesm free "local:vztmpl/$name.tar" >/dev/null 2>&1
}
trap cleanup EXIT

pvesh create "/nodes/$(hostname)/storage/local/oci-registry-pull" --reference "$ref" >/dev/null ||
    fail "oci-registry-pull of $ref failed"
devs=""
i=0
for node in /dev/nvidia0 /dev/nvidiactl /dev/nvidia-uvm /dev/nvidia-uvm-tools; do
    [ -e "$node" ] || fail "$node missing on the host (nvidia-modprobe -c 0 -u)"
    devs="$devs --dev$i $node"
    i=$((i + 1))
done
# shellcheck disable=SC2086 # $devs is a list of options
pct create "$vmid" "local:vztmpl/$name.tar" --unprivileged 1 --hostname nvrt --ostype unmanaged \
    --hookscript "local:snippets/nvidia-runtime-$vmid.sh" $devs >/dev/null ||
    fail "pct create from $ref failed"
# after the create: restore_oci_archive writes the image's entrypoint over one given to the create
pct set "$vmid" --entrypoint 'sleep 600' || fail "pct set --entrypoint failed"
pct start "$vmid" || fail "CT $vmid did not start (journalctl -u pve-container@$vmid; LXC's log names the hook)"
grep -F 'lxc.hook.mount = /usr/share/lxc/hooks/nvidia' "/var/lib/lxc/$vmid/config" >/dev/null ||
    fail "the hookscript did not append the nvidia hook to /var/lib/lxc/$vmid/config"
pct exec "$vmid" -- nvidia-smi || fail "nvidia-smi did not run in CT $vmid (the hook injected no userspace?)"
echo "nvidia-runtime-check: nvidia-smi ran in CT $vmid with the host's driver userspace"
