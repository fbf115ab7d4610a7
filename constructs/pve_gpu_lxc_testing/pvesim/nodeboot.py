"""A reboot of the simulated node, up to the moment pve-guests.service starts the onboot guests.

What a PVE node's boot does that decides whether NVIDIA's device nodes exist when pve-manager's
`startall` (pve-guests.service: `pvesh create /nodes/localhost/startall`) starts the onboot
containers, replayed over the node's own files, running its own programs:

1. power off: NVIDIA's on-demand nodes and the modules no modalias loads are gone (kernel.py);
2. the GPU's PCI modalias loads `nvidia` when the driver is installed; systemd-modules-load loads
   what /etc/modules, /etc/modules-load.d, /run/modules-load.d and /usr/lib/modules-load.d name
   (modules-load.d(5));
3. udevd runs the RUN+= programs of rules (/etc/udev/rules.d, /usr/lib/udev/rules.d, udev(7))
   matching KERNEL=="<module>" for every module that loads, also those a program loads later;
4. systemd starts the service units enabled for the boot (what the real `systemctl --root <node>
   list-unit-files --state=enabled` reports) that are ordered before pve-guests.service
   (`Before=pve-guests.service`, or before basic.target / sysinit.target, which pve-guests comes
   after): their ExecStart= lines run in order (systemd.service(5): a `-` prefix ignores a
   failure, any other failure ends the unit);
5. then `startall` (nodes.py), then the units ordered after it.

Every program runs for real as root inside the node (noderun.py), with the node's stand-ins for
NVIDIA's tools and modprobe.  This is the simulator's own reading of systemd and udev, kept apart
from the library's prediction of the same (pve_gpu_lxc.facts.boot), so that one checks the other.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import kernel
from .node import NodeFiles, PveError
from .noderun import NodeRunner

MODULES_LOAD_DIRS = ("etc/modules-load.d", "run/modules-load.d", "usr/lib/modules-load.d")
UDEV_DIRS = ("etc/udev/rules.d", "usr/lib/udev/rules.d")
UNIT_DIRS = ("etc/systemd/system", "usr/lib/systemd/system")
BEFORE_GUESTS = frozenset({"pve-guests.service", "basic.target", "sysinit.target"})
_UDEV_PAIR = re.compile(r'(\w+)(?:\{[^}]*\})?\s*(==|!=|\+=|:=|=)\s*"((?:[^"\\]|\\.)*)"')

Log = Callable[[str], None]


@dataclass(frozen=True)
class Unit:
    name: str
    before: tuple[str, ...]
    exec_start: tuple[str, ...]


class NodeBoot:
    def __init__(self, files: NodeFiles, runner: NodeRunner | None):
        self.files = files
        self.root = files.root
        self.runner = runner
        self._fired: set[str] = set()

    def power_off(self, log: Log) -> None:
        for gone in kernel.power_off(self.root):
            log(f"gone with the reboot: {gone}")

    def boot(self, log: Log) -> list[Unit]:
        """Steps 2-4; returns the enabled units ordered after pve-guests (step 5 runs them)."""
        self._fired = set()
        self._modules_loaded(log)
        for name in self._modules_load_names():
            missing = kernel.load(self.root, [name])
            log(f"systemd-modules-load: {'failed to find module ' + repr(name) if missing else 'loaded ' + name}")
        self._modules_loaded(log)
        later = []
        for unit in self.enabled_units(log):
            if BEFORE_GUESTS & set(unit.before):
                self.run_unit(unit, log)
            else:
                later.append(unit)
        return later

    # --- modules and udev -----------------------------------------------------------------------
    def _modules_load_names(self) -> list[str]:
        files = [self.root / "etc/modules"] if (self.root / "etc/modules").is_file() else []
        for directory in MODULES_LOAD_DIRS:
            files += sorted((self.root / directory).glob("*.conf"))
        names = []
        for path in files:
            for line in path.read_text(errors="replace").splitlines():
                line = line.strip()
                if line and not line.startswith(("#", ";")):
                    names.append(line.split()[0])
        return names

    def _modules_loaded(self, log: Log) -> None:
        """udevd: the rules of every module loaded since the last look run now."""
        for module in kernel.loaded(self.root):
            if module in self._fired:
                continue
            self._fired.add(module)
            for rule_file, run in self._udev_rules(module):
                for command in run:
                    log(f"udev ({rule_file}, KERNEL=={module}): {command}")
                    self._run(["/bin/sh", "-c", command], log)

    def _udev_rules(self, module: str) -> list[tuple[str, list[str]]]:
        found = []
        files: dict[str, Path] = {}
        for directory in UDEV_DIRS:  # /etc overrides /usr/lib by file name
            for path in sorted((self.root / directory).glob("*.rules")):
                files.setdefault(path.name, path)
        for name in sorted(files):
            text = re.sub(r"\\\n", "", files[name].read_text(errors="replace"))
            for line in text.splitlines():
                if line.strip().startswith("#"):
                    continue
                pairs = _UDEV_PAIR.findall(line)
                matches = [(k, op, v) for k, op, v in pairs if op in ("==", "!=")]
                run = [v for k, op, v in pairs if k == "RUN" and op in ("+=", "=")]
                kernel_ok = any(k == "KERNEL" and op == "==" and v.replace("-", "_") == module
                                for k, op, v in matches)
                others_ok = all(k == "KERNEL" or (k == "ACTION" and op == "==" and v == "add")
                                for k, op, v in matches)
                if run and kernel_ok and others_ok:
                    found.append(("/" + str(files[name].relative_to(self.root)), run))
        return found

    # --- systemd --------------------------------------------------------------------------------
    def enabled_units(self, log: Log) -> list[Unit]:
        """Service units systemd itself reports enabled in the node's root, with their ordering."""
        try:
            out = subprocess.run(["systemctl", f"--root={self.root}", "list-unit-files", "--state=enabled",
                                  "--type=service", "--no-legend", "--no-pager"],
                                 capture_output=True, text=True, timeout=60, check=False).stdout
        except FileNotFoundError:
            log("systemctl is not installed on this machine: no unit of the node starts")
            return []
        units = []
        for line in out.splitlines():
            name = line.split()[0] if line.split() else ""
            path = next((self.root / d / name for d in UNIT_DIRS if (self.root / d / name).is_file()), None)
            if name.endswith(".service") and path is not None:
                units.append(_parse_unit(name, path.read_text(errors="replace")))
        return units

    def run_unit(self, unit: Unit, log: Log) -> None:
        for line in unit.exec_start:
            ignore = line.lstrip("@:+!").startswith("-") or line.startswith("-")
            try:
                argv = shlex.split(line.lstrip("-@:+!"))
            except ValueError:
                log(f"{unit.name}: cannot parse ExecStart={line}")
                return
            log(f"{unit.name}: ExecStart={line}")
            ok = self._run(argv, log)
            self._modules_loaded(log)
            if not ok and not ignore:
                log(f"{unit.name}: failed")
                return

    def _run(self, argv: list[str], log: Log) -> bool:
        if self.runner is None:
            raise PveError("the simulated node runs no programs (started without a node runner)")
        result = self.runner.run(argv)
        for text in (result.stdout + result.stderr).splitlines():
            log(f"  {text}")
        return result.returncode == 0


def _parse_unit(name: str, text: str) -> Unit:
    """systemd.syntax(7) for the keys that matter here: [Unit] Before=, [Service] ExecStart=
    (an empty assignment resets the list), `\\` continuations, # and ; comments."""
    section = ""
    before: list[str] = []
    exec_start: list[str] = []
    for raw in re.sub(r"\\\n", " ", text).splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if (section, key) == ("Unit", "Before"):
            before = [] if not value else before + value.split()
        elif (section, key) == ("Service", "ExecStart"):
            exec_start = [] if not value else [*exec_start, value]
    return Unit(name, tuple(before), tuple(exec_start))
