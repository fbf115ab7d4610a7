"""The node's boot configuration, and which NVIDIA nodes exist when Proxmox starts its guests (pure).

Why it matters: NVIDIA's device nodes (/dev/nvidiaN, nvidiactl, nvidia-uvm, nvidia-uvm-tools,
nvidia-modeset, nvidia-caps/*) are made on demand by userspace, not by devtmpfs.  At every
container start pve-container's `vm_start` (src/PVE/LXC.pm) runs `update_lxc_config`, which
stat()s every devN path (`PVE::LXC::Tools::get_device_mode_and_rdev`: "Device /dev/nvidia-uvm
does not exist") BEFORE the pre-start hookscript runs; after a reboot, pve-guests.service
(pve-manager's `startall`) starts the onboot guests that way.  So a node exists for them only
if the boot itself made it first:

1. the NVIDIA module is loaded by its PCI modalias when the driver is installed; modules named
   in modules-load.d (systemd-modules-load) are loaded too: loading creates no node;
2. udev rules run their RUN+= programs when a module they match (KERNEL=="nvidia_uvm") loads;
3. systemd units enabled for the boot and ordered before pve-guests.service run their ExecStart
   programs (host-setup installs such a unit).

The collector records the text of every such file that mentions nvidia (/etc/modules,
modules-load.d and modprobe.d under /etc, /run and /usr/lib, service units under /etc/systemd/system
and /usr/lib/systemd/system, udev rules under /etc and /usr/lib; `BootFacts`);
`nodes_at_boot` replays the three steps and says which NVIDIA nodes exist when pve-guests
starts, and why.  What a program creates follows NVIDIA's nvidia-modprobe (nvidia-modprobe.c
`main`, modprobe-utils/nvidia-modprobe-utils.c):

* `-c N`: loads nvidia, creates /dev/nvidiaN (N = 255: /dev/nvidiactl);
* `-u`: loads nvidia-uvm; its `-c N` are then UVM minors: `-u -c 0` creates /dev/nvidia-uvm (0)
  and /dev/nvidia-uvm-tools (1); `-u` alone creates nothing;
* `-m`: loads nvidia-modeset and creates /dev/nvidia-modeset;
* `-f FILE`: /dev/nvidia-caps/nvidia-capM, M the DeviceFileMinor in FILE (the MIG config and
  monitor files are minors 1 and 2);

`nvidia-smi` run as root creates /dev/nvidiactl and every /dev/nvidiaN; `modprobe NAME` loads a
module; `mknod PATH ...` creates PATH.  Shell wrappers (`sh -c '...'`) are read command by
command.  Anything else is not counted: the prediction errs on "not created".
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..core.nvidia_nodes import (
    MIG_CAP_FILES,
    NVIDIA_CTL,
    NVIDIA_MODESET,
    NVIDIA_UVM,
    NVIDIA_UVM_TOOLS,
    nvidia_cap_node,
    nvidia_gpu_node,
)

PVE_GUESTS = "pve-guests.service"
# pve-guests.service has default dependencies, so it starts after basic.target, itself after sysinit.target
_BEFORE_PVE_GUESTS = frozenset({PVE_GUESTS, "basic.target", "sysinit.target"})
# .wants/.requires directories of what a normal PVE boot reaches (default.target is graphical or multi-user)
_BOOT_TARGETS = frozenset({"multi-user.target", "graphical.target", "default.target", "basic.target",
                           "sysinit.target", PVE_GUESTS})
# DeviceFileMinor of NVIDIA's MIG capability files (fixed by the driver)
CAP_FILES = {file: cap for cap, file in MIG_CAP_FILES.items()}


@dataclass(frozen=True)
class BootFile:
    """One recorded file of the node's boot configuration: its path and text."""

    path: str
    text: str


@dataclass(frozen=True)
class BootFacts:
    """What the collector read of the node's boot configuration.

    files: modules-load.d, modprobe.d, systemd units and udev rules that mention nvidia.
    enabled: ``(link, target)`` for every symlink in /etc/systemd/system/*.wants and *.requires
      that names one of the recorded units (what `systemctl enable` made).
    """

    files: tuple[BootFile, ...] = ()
    enabled: tuple[tuple[str, str], ...] = ()

    def file(self, path: str) -> BootFile | None:
        return next((f for f in self.files if f.path == path), None)


@dataclass(frozen=True)
class Unit:
    """The parts of a systemd service unit the boot order depends on."""

    name: str
    path: str
    before: tuple[str, ...] = ()
    exec_start: tuple[str, ...] = ()
    enabled_by: tuple[str, ...] = ()  # the targets whose .wants/.requires link it

    @property
    def starts_at_boot(self) -> bool:
        return any(t in _BOOT_TARGETS for t in self.enabled_by)

    @property
    def before_pve_guests(self) -> bool:
        return any(b in _BEFORE_PVE_GUESTS for b in self.before)


@dataclass(frozen=True)
class UdevRule:
    """A udev rule that runs programs when a kernel object (a module) named `kernel` appears."""

    path: str
    kernel: str
    run: tuple[str, ...]


@dataclass(frozen=True)
class BootNodes:
    """NVIDIA nodes present when pve-guests starts the onboot guests, each with what made it."""

    created: Mapping[str, str] = field(default_factory=dict)  # node path -> "<unit or rule>: <command>"
    loaded: tuple[str, ...] = ()  # modules loaded by then

    def __contains__(self, path: object) -> bool:
        return path in self.created


# --------------------------------------------------------------------------- parsing


def module_name(name: str) -> str:
    """modprobe treats - and _ alike in module names; the kernel shows _."""
    return name.replace("-", "_")


def modules_loaded(boot: BootFacts) -> tuple[str, ...]:
    """Modules systemd-modules-load loads (modules-load.d(5): one name a line, # and ; comment)."""
    names: list[str] = []
    for f in boot.files:
        if f.path != "/etc/modules" and not re.search(r"/modules-load\.d/[^/]+\.conf$", f.path):
            continue
        for line in f.text.splitlines():
            line = line.strip()
            if line and not line.startswith(("#", ";")):
                names.append(module_name(line.split()[0]))
    return tuple(dict.fromkeys(names))


def _unit_values(text: str) -> dict[tuple[str, str], list[str]]:
    """systemd.syntax(7): [Section] headers, Key=value lines, # and ; comments, `\\` continuations;
    an empty assignment resets the list so far (as systemd does for ExecStart=, Before=)."""
    values: dict[tuple[str, str], list[str]] = {}
    section = ""
    joined = re.sub(r"\\\n", " ", text)
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        entry = values.setdefault((section, key.strip()), [])
        if not value.strip():
            entry.clear()
        else:
            entry.append(value.strip())
    return values


def units(boot: BootFacts) -> tuple[Unit, ...]:
    """The recorded service units, /etc/systemd/system overriding /usr/lib/systemd/system."""
    by_name: dict[str, BootFile] = {}
    for f in sorted(boot.files, key=lambda f: not f.path.startswith("/etc/")):
        if re.search(r"/systemd/system/[^/]+\.service$", f.path):
            by_name.setdefault(posixpath.basename(f.path), f)
    result = []
    for name, f in sorted(by_name.items()):
        values = _unit_values(f.text)
        before = tuple(b for v in values.get(("Unit", "Before"), []) for b in v.split())
        exec_start = tuple(values.get(("Service", "ExecStart"), []))
        enabled_by = tuple(sorted({posixpath.basename(posixpath.dirname(link)).rsplit(".", 1)[0]
                                   for link, target in boot.enabled if posixpath.basename(link) == name}))
        result.append(Unit(name, f.path, before, exec_start, enabled_by))
    return tuple(result)


_UDEV_KEY = re.compile(r'(\w+)(?:\{[^}]*\})?\s*(==|!=|\+=|:=|=)\s*"((?:[^"\\]|\\.)*)"')


def udev_rules(boot: BootFacts) -> tuple[UdevRule, ...]:
    """Rules with KERNEL=="name" (no other match but ACTION=="add") and RUN+= programs (udev(7))."""
    rules = []
    for f in sorted(boot.files, key=lambda f: posixpath.basename(f.path)):
        if not f.path.endswith(".rules"):
            continue
        for raw in re.sub(r"\\\n", "", f.text).splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            pairs = _UDEV_KEY.findall(line)
            kernel = [v for k, op, v in pairs if k == "KERNEL" and op == "=="]
            actions = [v for k, op, v in pairs if k == "ACTION" and op == "=="]
            others = [k for k, op, v in pairs if op in ("==", "!=") and k not in ("KERNEL", "ACTION")]
            run = tuple(v for k, op, v in pairs if k == "RUN" and op in ("+=", "="))
            if len(kernel) == 1 and not others and all(a == "add" for a in actions) and run:
                rules.append(UdevRule(f.path, kernel[0], run))
    return tuple(rules)


# --------------------------------------------------------------------------- what a program does


@dataclass(frozen=True)
class Effect:
    loads: tuple[str, ...] = ()
    creates: tuple[str, ...] = ()


_SHELLS = frozenset({"sh", "bash", "dash"})
_SEPARATORS = frozenset({"&&", "||", ";", "&", "|", "\n"})


def _simple_commands(line: str) -> list[list[str]]:
    """argv lists of a systemd ExecStart= or udev RUN+= value, looking inside `sh -c 'script'`."""
    line = re.sub(r"^[-@:+!]+", "", line.strip())  # systemd's ExecStart prefixes
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:
        return []
    commands: list[list[str]] = []
    current: list[str] = []
    for token in [*tokens, ";"]:
        if token in _SEPARATORS:
            if current:
                commands.append(current)
            current = []
        else:
            current.append(token)
    result: list[list[str]] = []
    for argv in commands:
        if posixpath.basename(argv[0]) in _SHELLS and "-c" in argv[1:-1]:
            result.extend(_simple_commands(argv[argv.index("-c") + 1]))
        else:
            result.append(argv)
    return result


def _option_values(argv: Sequence[str], short: str, long: str) -> list[str]:
    """Values of `-c N`, `-cN`, `--long=N` and `--long N` in argv (nvgetopt's forms)."""
    found = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in (short, long) and i + 1 < len(argv):
            found.append(argv[i + 1])
            i += 2
            continue
        if arg.startswith(long + "="):
            found.append(arg[len(long) + 1:])
        elif arg.startswith(short) and len(arg) > len(short) and not arg.startswith("--"):
            found.append(arg[len(short):])
        i += 1
    return found


def _nvidia_modprobe(argv: Sequence[str]) -> Effect:
    args = list(argv[1:])
    minors = [int(v) for v in _option_values(args, "-c", "--create-nvidia-device-file") if v.isdigit()]
    uvm = any(a in ("-u", "--unified-memory") for a in args)
    modeset = any(a in ("-m", "--modeset") for a in args)
    caps = _option_values(args, "-f", "--nvidia-capability-device-file")
    loads = ["nvidia"]
    creates: list[str] = []
    if uvm:
        loads.append("nvidia_uvm")
        if 0 in minors:  # -u -c N creates UVM minors N and N+1; only N = 0 is the right device
            creates += [NVIDIA_UVM, NVIDIA_UVM_TOOLS]
    else:
        creates += [NVIDIA_CTL if m == 255 else nvidia_gpu_node(m) for m in minors if 0 <= m <= 255]
    if modeset:
        loads.append("nvidia_modeset")
        creates.append(NVIDIA_MODESET)
    creates += [nvidia_cap_node(CAP_FILES[c]) for c in caps if c in CAP_FILES]
    return Effect(tuple(loads), tuple(creates))


def command_effect(argv: Sequence[str], gpu_minors: Iterable[int]) -> Effect:
    """What one program run as root does to NVIDIA's modules and nodes (see the module docstring)."""
    if not argv:
        return Effect()
    program = posixpath.basename(argv[0])
    if program == "nvidia-modprobe":
        return _nvidia_modprobe(argv)
    if program == "nvidia-smi":
        return Effect(("nvidia",), (NVIDIA_CTL, *(nvidia_gpu_node(m) for m in sorted(set(gpu_minors)))))
    if program == "modprobe":
        names = [a for a in argv[1:] if not a.startswith("-")]
        return Effect(tuple(module_name(n) for n in (names if "-a" in argv[1:] else names[:1])))
    if program == "mknod":
        paths = [a for a in argv[1:] if a.startswith("/dev/")]
        return Effect((), tuple(paths[:1]))
    return Effect()


# --------------------------------------------------------------------------- the boot, replayed


def nodes_at_boot(boot: BootFacts, *, driver_installed: bool, gpu_minors: Iterable[int] = ()) -> BootNodes:
    """The NVIDIA nodes a boot of this node creates before pve-guests starts the onboot guests.

    driver_installed: the NVIDIA kernel module is there (the facts record its version); without
      it nothing NVIDIA-related loads and no node can be made.
    gpu_minors: the GPUs' Device Minors (what nvidia-smi creates /dev/nvidiaN for).
    """
    minors = tuple(gpu_minors)
    loaded: list[str] = []
    created: dict[str, str] = {}
    rules = udev_rules(boot)
    if not driver_installed:
        return BootNodes({}, ())

    def run(line: str, origin: str) -> None:
        for argv in _simple_commands(line):
            effect = command_effect(argv, minors)
            for module in effect.loads:
                load(module)
            for path in effect.creates:
                created.setdefault(path, f"{origin}: {shlex.join(argv)}")

    def load(module: str) -> None:
        if module in loaded:
            return
        loaded.append(module)
        for rule in rules:
            if module_name(rule.kernel) == module:
                for line in rule.run:
                    run(line, f"udev rule {rule.path} (KERNEL=={rule.kernel})")

    load("nvidia")  # udev loads it by the GPU's PCI modalias
    for module in modules_loaded(boot):
        load(module)
    for unit in units(boot):
        if unit.starts_at_boot and unit.before_pve_guests:
            for line in unit.exec_start:
                run(line, unit.name)
    return BootNodes(created, tuple(loaded))
