"""The simulated node's kernel and NVIDIA driver, as far as a machine without the GPU can have them.

A node's GPU state is recorded in its host facts; the simulator turns it into what programs on a
real node read and run:

* `run/pvesim/proc/`: the node's /proc as the facts record it (`devices` with the dynamic majors,
  `driver/nvidia/version`, `driver/nvidia/gpus/<pci>/information`, the MIG capability files,
  `sys/kernel/hostname` and `osrelease`).  The session wrapper (noderun.py) mounts it on /proc,
  so the facts collector, the check's probe and the programs below read it where a node has it;
* `sys/module/<name>/`: the loaded modules (`sys/module/nvidia/version` holds the module's version,
  which the generated hookscript checks); `run/pvesim/modules-available`: what the node can load;
* stand-ins, in the node's /usr overlay (`<state>/usr-overlay`, see noderun.py), for the programs
  that would touch this machine's kernel or that NVIDIA's driver installs:
  - `/usr/bin/nvidia-modprobe`, with the option semantics of NVIDIA's nvidia-modprobe.c `main` and
    modprobe-utils: `-c N` loads nvidia and makes /dev/nvidiaN (N = 255: nvidiactl), `-u` loads
    nvidia-uvm and makes /dev/nvidia-uvm (-c N) and /dev/nvidia-uvm-tools (N + 1), `-m` loads
    nvidia-modeset and makes /dev/nvidia-modeset, `-f FILE` makes /dev/nvidia-caps/nvidia-capM with
    the DeviceFileMinor (and DeviceFileMode) of FILE; majors from /proc/devices, nodes 0666 root:root
    (the driver's default DeviceFileMode); exit 1 when a module cannot load;
  - `/usr/bin/nvidia-smi`: as root it makes /dev/nvidiactl and every /dev/nvidiaN (the minors in
    /proc/driver/nvidia/gpus/*/information) and prints the `-L` list;
  - `/usr/sbin/modprobe` (and /sbin via merged /usr): loads only modules in modules-available,
    otherwise kmod's "Module X not found" -- it never reaches this machine's kernel.

None of this is NVIDIA's code: the stand-ins imitate the programs' documented effects on the
node's files, which is all a container start depends on.  A boot (nodeboot.py) drops the nodes
NVIDIA makes on demand and the modules no modalias loads, then replays the node's /etc.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .node import NodeFiles

PROC = "run/pvesim/proc"
AVAILABLE = "run/pvesim/modules-available"
NVIDIA_MODULES = ("nvidia", "nvidia_uvm", "nvidia_modeset")
# MIG capability files nvidia-modprobe -f reads (DeviceFileMinor 1 and 2, fixed by the driver)
CAP_FILES = {1: "driver/nvidia/capabilities/mig/config", 2: "driver/nvidia/capabilities/mig/monitor"}

NVIDIA_MODPROBE = r"""#!/bin/sh
# Stand-in for NVIDIA's nvidia-modprobe on the simulated PVE node (pvesim/kernel.py): the
# option semantics of nvidia-modprobe.c main(); modules are /sys/module/<name>, majors come
# from /proc/devices (the node's, as its facts record it).
set -u
minors=''
uvm=0
modeset=0
caps=''
while [ $# -gt 0 ]; do
    case $1 in
        -c|--create-nvidia-device-file) minors="$minors $2"; shift ;;
        -c*) minors="$minors ${1#-c}" ;;
        --create-nvidia-device-file=*) minors="$minors ${1#*=}" ;;
        -u|--unified-memory) uvm=1 ;;
        -m|--modeset) modeset=1 ;;
        -f|--nvidia-capability-device-file) caps="$caps $2"; shift ;;
        --nvidia-capability-device-file=*) caps="$caps ${1#*=}" ;;
        -v|--version) echo "nvidia-modprobe: version (pve-gpu-lxc stand-in)"; exit 0 ;;
        *) echo "nvidia-modprobe: Invalid commandline, please run \`$0 --help\` for usage information." >&2; exit 1 ;;
    esac
    shift
done
load() {
    grep -qx "$1" /run/pvesim/modules-available 2>/dev/null || return 1
    mkdir -p "/sys/module/$1"
}
major() {
    awk -v n="$1" '/^Character devices:/ { c = 1; next } /^$/ { c = 0 } c && $2 == n { print $1; exit }' /proc/devices
}
node() { # PATH MAJOR MINOR MODE
    [ -n "$2" ] || return 1
    if [ -c "$1" ] && [ "$(stat -c '%t:%T' "$1")" = "$(printf '%x:%x' "$2" "$3")" ]; then return 0; fi
    rm -f "$1"
    # no `mknod -m`: coreutils sets that mode with lchmod, which glibc emulates through /proc
    mknod "$1" c "$2" "$3" && chmod "$4" "$1" && chown 0:0 "$1"
}
if [ "$uvm" = 1 ]; then
    load nvidia && load nvidia_uvm || exit 1
    for m in $minors; do
        node /dev/nvidia-uvm "$(major nvidia-uvm)" "$m" 0666 || exit 1
        node /dev/nvidia-uvm-tools "$(major nvidia-uvm)" "$((m + 1))" 0666 || exit 1
    done
else
    load nvidia || exit 1
    for m in $minors; do
        if [ "$m" = 255 ]; then name=/dev/nvidiactl; else name=/dev/nvidia$m; fi
        node "$name" 195 "$m" 0666 || exit 1
    done
fi
if [ "$modeset" = 1 ]; then
    load nvidia_modeset && node /dev/nvidia-modeset 195 254 0666 || exit 1
fi
for f in $caps; do
    minor=$(awk -F': *' '$1 == "DeviceFileMinor" { print $2 }' "$f" 2>/dev/null)
    mode=$(awk -F': *' '$1 == "DeviceFileMode" { printf "%o", $2 }' "$f" 2>/dev/null)
    [ -n "$minor" ] || exit 1
    mkdir -p /dev/nvidia-caps && chmod 0755 /dev/nvidia-caps
    node "/dev/nvidia-caps/nvidia-cap$minor" "$(major nvidia-caps)" "$minor" "${mode:-444}" || exit 1
done
exit 0
"""

NVIDIA_SMI = r"""#!/bin/sh
# Stand-in for nvidia-smi on the simulated PVE node (pvesim/kernel.py): run as root it makes
# /dev/nvidiactl and each GPU's /dev/nvidiaN, as NVML does, and lists the GPUs.
set -u
if [ ! -d /sys/module/nvidia ]; then
    echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." \
        "Make sure that the latest NVIDIA driver is installed and running." >&2
    exit 9
fi
nvidia-modprobe -c 255 || exit 9
i=0
for info in /proc/driver/nvidia/gpus/*/information; do
    [ -f "$info" ] || continue
    minor=$(awk -F':[ \t]*' '$1 == "Device Minor" { print $2 }' "$info")
    model=$(awk -F':[ \t]*' '$1 == "Model" { print $2 }' "$info")
    uuid=$(awk -F':[ \t]*' '$1 == "GPU UUID" { print $2 }' "$info")
    nvidia-modprobe -c "$minor" || exit 9
    [ "${1-}" = -L ] && echo "GPU $i: $model (UUID: $uuid)"
    i=$((i + 1))
done
exit 0
"""

MODPROBE = r"""#!/bin/sh
# Stand-in for kmod's modprobe on the simulated PVE node (pvesim/kernel.py): loads only the
# node's modules (/run/pvesim/modules-available) as /sys/module/<name>; never this machine's kernel.
set -u
names=''
all=0
for a in "$@"; do
    case $a in
        -a|--all) all=1 ;;
        -*) ;;
        *) names="$names $a" ;;
    esac
done
[ "$all" = 1 ] || names=$(echo $names | cut -d' ' -f1)
for n in $names; do
    m=$(echo "$n" | tr - _)
    if ! grep -qx "$m" /run/pvesim/modules-available 2>/dev/null; then
        release=$(cat /proc/sys/kernel/osrelease 2>/dev/null)
        echo "modprobe: FATAL: Module $n not found in directory /lib/modules/$release" >&2
        exit 1
    fi
    mkdir -p "/sys/module/$m"
done
exit 0
"""

STANDINS = {"bin/nvidia-modprobe": NVIDIA_MODPROBE, "bin/nvidia-smi": NVIDIA_SMI, "sbin/modprobe": MODPROBE}


def install_standins(overlay: Path, nvidia: bool) -> None:
    """The node's own programs on its /usr overlay: modprobe always, NVIDIA's two with its driver."""
    for rel, text in STANDINS.items():
        if "nvidia" in rel and not nvidia:
            continue
        path = overlay / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)


def _proc_devices_text(proc_devices: Mapping[str, Any]) -> str:
    lines = ["Character devices:"] + [f"{major:3d} {name}" for major, name in proc_devices.get("char", ())]
    lines += ["", "Block devices:"] + [f"{major:3d} {name}" for major, name in proc_devices.get("block", ())]
    return "\n".join(lines) + "\n"


def setup(files: NodeFiles, facts: Mapping[str, Any]) -> None:
    """The node's /proc, its available and loaded modules, from its facts (idempotent)."""
    proc = files.root / PROC
    (proc / "sys/kernel").mkdir(parents=True, exist_ok=True)
    (proc / "sys/kernel/hostname").write_text(files.name + "\n")
    (proc / "sys/kernel/osrelease").write_text(str(facts.get("kernel") or "6.8.12-11-pve") + "\n")
    (proc / "devices").write_text(_proc_devices_text(facts.get("proc_devices") or {}))
    nvidia = facts.get("nvidia")
    available = list(NVIDIA_MODULES) if nvidia else []
    (files.root / AVAILABLE).write_text("".join(f"{m}\n" for m in available))
    if not nvidia:
        return
    driver = proc / "driver/nvidia"
    driver.mkdir(parents=True, exist_ok=True)
    (driver / "version").write_text(str(nvidia["version_file"]).rstrip("\n") + "\n")
    for gpu in nvidia.get("gpus", ()):
        info = driver / "gpus" / gpu["pci"] / "information"
        info.parent.mkdir(parents=True, exist_ok=True)
        info.write_text(f"Model: \t\t {gpu.get('model') or 'NVIDIA GPU'}\nGPU UUID: \t {gpu.get('uuid') or '-'}\n"
                        f"Bus Location: \t {gpu['pci']}\nDevice Minor: \t {gpu.get('device_minor')}\n")
    modes = {d["path"]: int(str(d.get("mode", "0444")), 8) for d in facts.get("devices", ()) if d.get("type") == "c"}
    for minor, rel in CAP_FILES.items():
        mode = modes.get(f"/dev/nvidia-caps/nvidia-cap{minor}", 0o400 if minor == 1 else 0o444)
        cap = driver / rel.removeprefix("driver/nvidia/")
        cap.parent.mkdir(parents=True, exist_ok=True)
        cap.write_text(f"DeviceFileMinor: {minor}\nDeviceFileMode: {mode}\nDeviceFileModify: 1\n")
    module = files.root / "sys/module/nvidia"
    module.mkdir(parents=True, exist_ok=True)
    version = nvidia.get("module_version")
    if version and not (module / "version").exists():
        (module / "version").write_text(f"{version}\n")
    # the node was recorded running: the modules whose nodes it had were loaded
    recorded = {d["path"] for d in facts.get("devices", ())}
    for name, node in (("nvidia_uvm", "/dev/nvidia-uvm"), ("nvidia_modeset", "/dev/nvidia-modeset")):
        if node in recorded:
            (files.root / "sys/module" / name).mkdir(parents=True, exist_ok=True)


def on_demand_nodes(root: Path) -> list[Path]:
    """NVIDIA's nodes under the node's /dev: made by userspace, gone after a reboot."""
    dev = root / "dev"
    found = [p for p in dev.glob("nvidia*") if p.is_char_device() or (p.is_dir() and p.name.startswith("nvidia-caps"))]
    return sorted(found)


def power_off(root: Path) -> list[str]:
    """What a reboot loses: NVIDIA's on-demand nodes and every module no modalias loads again
    (nvidia itself comes back with the GPU's PCI modalias).  Returns what went, for the log."""
    gone = []
    for path in on_demand_nodes(root):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        gone.append("/" + str(path.relative_to(root)))
    modules = root / "sys/module"
    for module in sorted(modules.iterdir()) if modules.is_dir() else ():
        if module.name != "nvidia":
            shutil.rmtree(module)
            gone.append(f"module {module.name}")
    return gone


def loaded(root: Path) -> list[str]:
    modules = root / "sys/module"
    return sorted(p.name for p in modules.iterdir()) if modules.is_dir() else []


def load(root: Path, names: Iterable[str]) -> list[str]:
    """systemd-modules-load: the available ones become /sys/module/<name>; the others are returned."""
    available = set((root / AVAILABLE).read_text().split()) if (root / AVAILABLE).exists() else set()
    missing = []
    for name in names:
        module = name.replace("-", "_")
        if module in available:
            (root / "sys/module" / module).mkdir(parents=True, exist_ok=True)
        else:
            missing.append(name)
    return missing

