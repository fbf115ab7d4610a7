#!/bin/sh
# Run nvidia-smi inside an NVIDIA GPU container, on the Proxmox VE node that hosts it.
#
#   ssh root@pve sh -s -- 220 < scripts/nvidia-smi-in-ct.sh                 # from your workstation
#   ssh root@pve sh -s -- 220 --query-gpu=name,driver_version --format=csv < scripts/nvidia-smi-in-ct.sh
#   sh nvidia-smi-in-ct.sh 220                                                # on the node itself
#
# Before it runs `pct exec <vmid> -- nvidia-smi [options]`, it checks what nvidia-smi needs and
# names the first thing that fails, with the fix: a PVE node (pct), the host's NVIDIA kernel module
# and its version, the container running, and the container's NVIDIA userspace (the version an
# NvidiaImage records in /etc/pve-gpu-lxc/nvidia-driver-version) equal to the host's driver.
# Exit codes: nvidia-smi's own once it runs; 1 a check failed; 2 bad arguments.
#
# Nothing given here is run by a shell: the vmid must be a number, the options plain nvidia-smi
# options (letters, digits, = , . _ : -), and they reach nvidia-smi as arguments through pct exec.
# PVE_GPU_LXC_SYSROOT (a test seam, as in the pre-start hook) prefixes /sys and /proc; unset on a node.
set -u

usage() {
    echo "usage: nvidia-smi-in-ct.sh VMID [NVIDIA-SMI-OPTION...]   (e.g. 220 --query-gpu=name --format=csv)" >&2
    echo "error: $*" >&2
    exit 2
}
fail() {
    echo "nvidia-smi-in-ct: $*" >&2
    exit 1
}

[ $# -ge 1 ] || usage "no VMID given"
vmid=$1
shift
case "$vmid" in
    '' | *[!0-9]* | 0*) usage "VMID '$vmid' is not a container id (a number from 100 to 999999999)" ;;
esac
if [ "${#vmid}" -gt 9 ] || [ "$vmid" -lt 100 ]; then
    usage "VMID '$vmid' is out of range (100 to 999999999)"
fi
for option in "$@"; do
    case "$option" in
        '' | *[!A-Za-z0-9=,._:-]*) usage "option '$option' is not a plain nvidia-smi option (letters, digits, = , . _ : -)" ;;
    esac
done

sysroot="${PVE_GPU_LXC_SYSROOT:-}"

command -v pct >/dev/null 2>&1 ||
    fail "pct not found: run this on the Proxmox VE node that hosts CT $vmid (ssh root@<node> sh -s -- $vmid < scripts/nvidia-smi-in-ct.sh)"

# the host's driver: the loaded module's version (sysfs), else the first line of /proc/driver/nvidia/version
host=""
if [ -r "$sysroot/sys/module/nvidia/version" ]; then
    read -r host < "$sysroot/sys/module/nvidia/version"
elif [ -r "$sysroot/proc/driver/nvidia/version" ]; then
    host=$(awk '/NVRM version/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+[.][0-9]+([.][0-9]+)?$/) { print $i; exit } }' \
        "$sysroot/proc/driver/nvidia/version")
fi
[ -n "$host" ] ||
    fail "the NVIDIA kernel module is not loaded on this host (no $sysroot/sys/module/nvidia/version): install the driver, then modprobe nvidia nvidia_uvm"

status=$(pct status "$vmid" 2>&1) || fail "CT $vmid: $status (is it on this node? pct list shows the containers here)"
case "$status" in
    "status: running") ;;
    *) fail "CT $vmid is not running ($status): pct start $vmid (its pre-start hook refuses a driver mismatch and names it)" ;;
esac

marker=/etc/pve-gpu-lxc/nvidia-driver-version
inside=$(pct exec "$vmid" -- cat "$marker" 2>/dev/null) || inside=""
if [ -z "$inside" ]; then
    echo "nvidia-smi-in-ct: CT $vmid has no $marker (not built with pve-gpu-lxc's NvidiaImage): its userspace version is not checked here" >&2
elif [ "$inside" != "$host" ]; then
    fail "CT $vmid has NVIDIA userspace $inside but the host driver is $host: nvidia-smi would fail with 'Driver/library version mismatch'. Build the image for $host (pve-gpu-lxc image build --facts stacks/facts/<node>.json ...), upload it and pin NvidiaGpu(driver_version=\"$host\")"
fi

echo "nvidia-smi-in-ct: host NVIDIA driver $host, CT $vmid userspace ${inside:-unknown}: pct exec $vmid -- nvidia-smi $*" >&2
exec pct exec "$vmid" -- nvidia-smi "$@"
