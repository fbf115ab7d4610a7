"""The NVIDIA boot set-up `pve-gpu-lxc host-setup` installs on a node (pure: values in, file text out).

NVIDIA's device nodes are made on demand by userspace, and pve-container stat()s every devN path
before a container's hookscript runs (facts/boot.py says why and how a boot is replayed).  So the
node itself must make them at boot, before pve-guests.service starts the onboot guests:

* /etc/modules-load.d/pve-gpu-lxc-nvidia.conf: nvidia and nvidia_uvm (nvidia_modeset) at boot;
* /etc/systemd/system/pve-gpu-lxc-nvidia-nodes.service: a oneshot unit ordered
  Before=pve-guests.service whose ExecStart lines run the node's nvidia-modprobe:
  `-c N` per GPU minor and `-c 255` (/dev/nvidiaN, /dev/nvidiactl), `-u -c 0` (/dev/nvidia-uvm,
  /dev/nvidia-uvm-tools), `-m` (/dev/nvidia-modeset), `-f <MIG file>` (nvidia-caps/nvidia-cap1, 2);
* its enablement: the /etc/systemd/system/multi-user.target.wants link `systemctl enable` makes;
* optionally /etc/modprobe.d/pve-gpu-lxc-nvidia.conf with NVreg_RestrictProfilingToAdminUsers=0
  (profilers such as Nsight as non-root; read when the module loads, so from the next boot).

`apply_script()` is the POSIX sh that installs it as root: each file is written only when its
text differs (a temporary file, then rename), the link only when missing, so a second run
changes nothing; with systemd running it reloads and starts the unit, which makes the nodes at
once.  Every value in the script is validated here and single-quoted: nothing reaches the
node's shell as code.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.errors import ValidationError
from ..core.names import is_program
from ..core.nvidia_nodes import MIG_CAP_FILES, control_nodes, nvidia_cap_node, nvidia_gpu_node
from ..core.rules import got, require_bool, require_int, sequence

UNIT_NAME = "pve-gpu-lxc-nvidia-nodes.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"
ENABLE_LINK = f"/etc/systemd/system/multi-user.target.wants/{UNIT_NAME}"
MODULES_LOAD_PATH = "/etc/modules-load.d/pve-gpu-lxc-nvidia.conf"
MODPROBE_PATH = "/etc/modprobe.d/pve-gpu-lxc-nvidia.conf"
DEFAULT_NVIDIA_MODPROBE = "/usr/bin/nvidia-modprobe"
_HEADER = "# Written by `pve-gpu-lxc host-setup`; a re-run rewrites it. {why}\n"


@dataclass(frozen=True)
class HostFile:
    """A file host-setup installs: node path, octal mode, text."""

    path: str
    mode: str
    text: str


@dataclass(frozen=True, kw_only=True)
class NvidiaBootSetup:
    """What a node needs so NVIDIA's nodes exist when pve-guests starts the onboot containers.

    gpu_minors: the 'Device Minor' of every NVIDIA GPU on the node (/dev/nvidiaN), from its facts.
    nvidia_modprobe: the node's nvidia-modprobe (the facts record where it is).
    modeset: also load nvidia-modeset and make /dev/nvidia-modeset.
    caps: nvidia-caps nodes to make: 1 (MIG config), 2 (MIG monitor).
    allow_profiling: NVreg_RestrictProfilingToAdminUsers=0 (GPU performance counters for non-root).
    """

    gpu_minors: Sequence[int]
    nvidia_modprobe: str = DEFAULT_NVIDIA_MODPROBE
    modeset: bool = False
    caps: Sequence[int] = ()
    allow_profiling: bool = False

    def __post_init__(self) -> None:
        minors = sequence(self.gpu_minors, "NvidiaBootSetup gpu_minors", "Device Minors such as [0, 1]")
        if not minors:
            raise ValidationError("NvidiaBootSetup gpu_minors is empty: the node records no NVIDIA GPU "
                                  "(/proc/driver/nvidia/gpus/*/information); load the driver and re-record the facts")
        for minor in minors:
            require_int(minor, "NvidiaBootSetup gpu_minors entry", 0, 254, "It is a GPU's 'Device Minor'")
        object.__setattr__(self, "gpu_minors", tuple(sorted(set(minors))))
        program = self.nvidia_modprobe
        if not isinstance(program, str) or not is_program(program) or not program.endswith("/nvidia-modprobe"):
            raise ValidationError(
                f"NvidiaBootSetup nvidia_modprobe {got(program)} is not an absolute path to nvidia-modprobe "
                f"(e.g. {DEFAULT_NVIDIA_MODPROBE!r})")
        caps = sequence(self.caps, "NvidiaBootSetup caps", "nvidia-capN numbers: 1 (MIG config), 2 (MIG monitor)")
        for cap in caps:
            if isinstance(cap, bool) or cap not in MIG_CAP_FILES:
                raise ValidationError(
                    f"NvidiaBootSetup caps entry {cap!r} is not 1 (MIG config) or 2 (MIG monitor); the nodes "
                    "of MIG instances (nvidia-cap3 and up) depend on the instances a GPU is split into: make them "
                    "in a unit of your own")
        object.__setattr__(self, "caps", tuple(sorted(set(caps))))
        require_bool(self.modeset, "NvidiaBootSetup modeset")
        require_bool(self.allow_profiling, "NvidiaBootSetup allow_profiling")

    # ------------------------------------------------------------------ what it installs

    def modules(self) -> tuple[str, ...]:
        return ("nvidia", "nvidia_uvm", *(("nvidia_modeset",) if self.modeset else ()))

    def exec_start(self) -> tuple[tuple[str, ...], ...]:
        """The unit's ExecStart programs, in order (see nvidia-modprobe's options in facts/boot.py)."""
        program = self.nvidia_modprobe
        gpu = [program]
        for minor in (*self.gpu_minors, 255):
            gpu += ["-c", str(minor)]
        lines: list[tuple[str, ...]] = [tuple(gpu), (program, "-u", "-c", "0")]
        if self.modeset:
            lines.append((program, "-m"))
        lines += [(program, "-f", MIG_CAP_FILES[cap]) for cap in self.caps]
        return tuple(lines)

    def nodes(self) -> tuple[str, ...]:
        """The device nodes the unit makes."""
        nodes = [nvidia_gpu_node(m) for m in self.gpu_minors]
        nodes += control_nodes(uvm_tools=True, modeset=self.modeset)  # `-u -c 0` makes both uvm nodes
        nodes += [nvidia_cap_node(c) for c in self.caps]
        return tuple(nodes)

    def unit_text(self) -> str:
        exec_lines = "".join(f"ExecStart={shlex.join(argv)}\n" for argv in self.exec_start())
        return (
            _HEADER.format(why="NVIDIA makes its device nodes on demand, and Proxmox checks every devN path "
                               "before a hookscript could make one: make them before pve-guests starts guests.")
            + "[Unit]\n"
            + "Description=NVIDIA device nodes for LXC containers (pve-gpu-lxc)\n"
            + "After=systemd-modules-load.service\n"
            + "Before=pve-guests.service\n"
            + "\n[Service]\n"
            + "Type=oneshot\n"
            + "RemainAfterExit=yes\n"
            + exec_lines
            + "\n[Install]\n"
            + "WantedBy=multi-user.target\n"
        )

    def files(self) -> tuple[HostFile, ...]:
        files = [
            HostFile(MODULES_LOAD_PATH, "0644",
                     _HEADER.format(why="NVIDIA modules loaded at boot (systemd-modules-load).")
                     + "".join(f"{m}\n" for m in self.modules())),
            HostFile(UNIT_PATH, "0644", self.unit_text()),
        ]
        if self.allow_profiling:
            files.append(HostFile(MODPROBE_PATH, "0644",
                                  _HEADER.format(why="Read when the module loads: takes effect at the next boot.")
                                  + "options nvidia NVreg_RestrictProfilingToAdminUsers=0\n"))
        return tuple(files)

    def describe(self) -> str:
        """What the set-up installs and what it makes, for the command's output."""
        lines = [f"  {f.path} (mode {f.mode}):" + "".join(f"\n    | {t}" for t in f.text.rstrip("\n").split("\n"))
                 for f in self.files()]
        lines.append(f"  {ENABLE_LINK} -> {UNIT_PATH} (systemctl enable)")
        lines.append(f"  at every boot, before pve-guests.service: {', '.join(self.nodes())}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ how it is installed

    def apply_script(self) -> str:
        """POSIX sh, run as root on the node: idempotent; prints one line a file, ends with `done`."""
        puts = "".join(f"put {shlex.quote(f.path)} {f.mode} {shlex.quote(f.text)}\n" for f in self.files())
        return _APPLY.format(puts=puts, unit=shlex.quote(UNIT_NAME), unit_path=shlex.quote(UNIT_PATH),
                             link=shlex.quote(ENABLE_LINK))


APPLY_END = "host-setup: done"

_APPLY = """\
#!/bin/sh
# pve-gpu-lxc host-setup: the NVIDIA boot set-up.  Writes only what differs; a second run changes nothing.
set -eu
umask 022
changed=''
# put PATH MODE TEXT: replace PATH by TEXT (a temporary file renamed over it) unless it holds TEXT already
put() {{
    if [ -f "$1" ] && [ "$(cat -- "$1"; printf x)" = "${{3}}x" ]; then
        echo "unchanged $1"
        return 0
    fi
    mkdir -p -- "$(dirname -- "$1")"
    tmp="$1.pve-gpu-lxc-tmp.$$"
    printf '%s' "$3" > "$tmp"
    chmod "$2" "$tmp"
    mv -f -- "$tmp" "$1"
    echo "written $1"
    changed=1
}}
{puts}# what `systemctl enable` makes for WantedBy=multi-user.target
if [ "$(readlink -- {link} 2>/dev/null || true)" = {unit_path} ]; then
    echo "unchanged "{link}
else
    mkdir -p -- "$(dirname -- {link})"
    ln -sfn -- {unit_path} {link}
    echo "enabled "{unit}
    changed=1
fi
if [ -d /run/systemd/system ]; then
    if [ -n "$changed" ]; then systemctl daemon-reload; fi
    systemctl start {unit}
    echo "started "{unit}
else
    echo "systemd is not running here: "{unit}" makes the nodes at the next boot"
fi
echo '{end}'
""".replace("{end}", APPLY_END)
