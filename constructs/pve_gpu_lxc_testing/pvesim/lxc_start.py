"""A container start's steps after the pending changes, as pve-container's `vm_start` takes them.

pve-container `src/PVE/LXC.pm` `vm_start`:

1. `update_lxc_config` (lxc_generate.py) writes `/var/lib/lxc/<vmid>/config`, the file
   lxc-start reads, stat'ing every devN ("Device X does not exist") and reading every bridge;
2. the pre-start hookscript, `<script> <vmid> pre-start` as root (pve-guest-common
   `PVE::GuestHelpers::exec_hookscript`, stop_on_error): a non-zero exit fails the start with
   "hookscript error for <vmid> on pre-start: command '<script> <vmid> pre-start' failed: exit
   code N" (pve-common `PVE::Tools::run_command`);
3. `systemctl start pve-container@<vmid>`: lxc-start reads the config as the hook left it; the
   id maps are written with the real newuidmap/newgidmap, which refuse host ranges the node's
   /etc/subuid and /etc/subgid do not grant root; a mount entry without `optional` whose source
   is missing fails the start;
4. the post-start hookscript (its failure is only a warning).

Stops (`vm_stop`) run the pre-stop hookscript first and the post-stop one after (the latter
from pve-container's `lxc-pve-poststop-hook`); both only warn.  The container never really runs:
its status is a file (node.py); the LXC suite boots the same containers for real (tests/lxc).
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from pathlib import Path

from pve_gpu_lxc.pve import conf as pveconf

from .lxc_config import LxcConfig
from .node import PveError
from .noderun import NodeRunner
from .tasks import Task

PHASES_STOP_ON_ERROR = frozenset({"pre-start"})


class LxcStart:
    def __init__(self, config: LxcConfig, runner: NodeRunner | None):
        self.config = config
        self.files = config.files
        self.runner = runner

    # --- 2. and 4. the hookscript ---------------------------------------------------------------
    def exec_hookscript(self, conf: pveconf.PveConf, vmid: int, phase: str, task: Task) -> None:
        """pve-guest-common GuestHelpers.pm exec_hookscript: `<script> <vmid> <phase>` as root on the
        node; its output goes to the task log; a failure dies for pre-start, warns otherwise."""
        volid = conf.options.get("hookscript")
        if not volid:
            return
        try:
            self.config.check_hookscript(volid)  # GuestHelpers.pm check_hookscript: snippets, a file, executable
            path = self.files.volume(volid).node_path
            if self.runner is None:
                raise PveError("the simulated node runs no programs (started without a node runner)")
            argv = [path, str(vmid), phase]
            result = self.runner.run(argv)
            for line in (result.stdout + result.stderr).splitlines():
                task.log(line)
            if result.returncode:
                raise PveError(f"command '{shlex.join(argv)}' failed: exit code {result.returncode}")
        except PveError as err:
            message = f"hookscript error for {vmid} on {phase}: {err.message.rstrip()}\n"
            if phase in PHASES_STOP_ON_ERROR:
                raise PveError(message) from None
            task.warn(message)

    # --- 3. lxc-start -------------------------------------------------------------------------
    def lxc_start(self, vmid: int, task: Task) -> None:
        """What lxc-start checks in /var/lib/lxc/<vmid>/config as the hook left it."""
        config = self.files.path(f"/var/lib/lxc/{vmid}/config").read_text()
        entries = [(k.strip(), v.strip()) for k, _, v in (line.partition("=") for line in config.splitlines())
                   if k.strip() and not k.strip().startswith("#")]
        problem = self.write_id_maps([v for k, v in entries if k == "lxc.idmap"])
        if problem is None:
            problem = self._mount_entries([v for k, v in entries if k == "lxc.mount.entry"])
        if problem is not None:
            for line in problem:
                task.log(line)
            task.log(f'__lxc_start: 2134 Failed to spawn container "{vmid}"')
            raise PveError(f"startup for container '{vmid}' failed")

    def write_id_maps(self, idmap_values: list[str]) -> list[str] | None:
        """lxc's lxc_map_ids: newuidmap and newgidmap, the real programs, write the maps of a new
        user namespace; they refuse a host range root is not granted in the NODE's /etc/subuid or
        /etc/subgid (bound over this machine's in a private mount namespace).  Their error, or None."""
        maps = []
        for value in idmap_values:
            parts = value.split()
            if len(parts) != 4 or parts[0] not in ("u", "g") or not all(p.isdigit() for p in parts[1:]):
                return [f"parse_idmaps: 260 Invalid id map entry \"{value}\""]
            maps.append(parts)
        if not maps:
            return None  # a privileged container: no user namespace
        uid = [x for kind, ct, host, size in maps if kind == "u" for x in (ct, host, size)]
        gid = [x for kind, ct, host, size in maps if kind == "g" for x in (ct, host, size)]
        with tempfile.TemporaryDirectory(prefix="pvesim-idmap-") as tmp:
            for name in ("subuid", "subgid"):
                source = self.files.root / "etc" / name
                target = Path(tmp) / name
                target.write_bytes(source.read_bytes() if source.is_file() else b"")
            script = (
                f"mount --bind {shlex.quote(tmp)}/subuid /etc/subuid && "
                f"mount --bind {shlex.quote(tmp)}/subgid /etc/subgid || exit 99\n"
                "unshare --user sleep 30 & pid=$!\n"
                "self=$(readlink /proc/self/ns/user)\n"
                "while [ \"$(readlink /proc/$pid/ns/user)\" = \"$self\" ]; do sleep 0.01; done\n"
                f"newuidmap $pid {' '.join(uid)} || {{ kill $pid; exit 1; }}\n"
                f"newgidmap $pid {' '.join(gid)} || {{ kill $pid; exit 2; }}\n"
                "kill $pid\n"
            )
            result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                    capture_output=True, text=True, timeout=60, check=False)
        if result.returncode == 0:
            return None
        if result.returncode == 99:
            raise PveError(f"the simulated node cannot run newuidmap: {result.stderr.strip()}")
        tool = "newuidmap" if result.returncode == 1 else "newgidmap"
        message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"{tool} failed"
        return [f'lxc_map_ids: 245 {tool} failed to write mapping "{message}"',
                "lxc_spawn: 1914 Failed to set up id mapping."]

    def _mount_entries(self, values: list[str]) -> list[str] | None:
        """A bind entry whose host source is missing fails the start unless it is `optional`."""
        for value in values:
            fields = value.split()
            if len(fields) < 4 or not fields[0].startswith("/"):
                continue
            options = fields[3].split(",")
            if "bind" in options and "optional" not in options and not self.files.path(fields[0]).exists():
                return [f"mount_entry: 2486 No such file or directory - Failed to mount \"{fields[0]}\" "
                        f"on \"{fields[1]}\"",
                        "lxc_setup: 4453 Failed to setup mount entries"]
        return None
