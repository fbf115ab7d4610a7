"""A container start's steps after the pending changes, as pve-container's `vm_start` takes them.

pve-container `src/PVE/LXC.pm` `vm_start`:

1. `update_lxc_config` writes `/var/lib/lxc/<vmid>/config`, the file lxc-start reads; for every
   devN it stat()s the host path (`PVE::LXC::Tools::get_device_mode_and_rdev`: "Device X does not
   exist") and writes its cgroup rule from the major:minor it finds; for every netN it reads the
   bridge's MTU (pve-common `PVE::Network::read_bridge_mtu`: "bridge 'X' does not exist");
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

import os
import re
import shlex
import subprocess
import tempfile
from pathlib import Path

from pve_gpu_lxc.pve import conf as pveconf
from pve_gpu_lxc.pve.conf import PropertyStringError

from .lxc_config import LxcConfig
from .node import PveError
from .noderun import NodeRunner
from .tasks import Task

LXC_CONFIG_PATH = "/usr/share/lxc/config"
PHASES_STOP_ON_ERROR = frozenset({"pre-start"})
_DEFAULT_IDMAP = (("u", 0, 100000, 65536), ("g", 0, 100000, 65536))


class LxcStart:
    def __init__(self, config: LxcConfig, runner: NodeRunner | None):
        self.config = config
        self.files = config.files
        self.runner = runner

    # --- 1. update_lxc_config -----------------------------------------------------------------
    def lxc_dir(self, vmid: int) -> Path:
        return self.files.path(f"/var/lib/lxc/{vmid}")

    def update_lxc_config(self, vmid: int, conf: pveconf.PveConf) -> str:
        """pve-container LXC.pm update_lxc_config: write /var/lib/lxc/<vmid>/config and return it."""
        options = conf.options
        directory = self.lxc_dir(vmid)
        if pveconf.parse_boolean(options.get("template", "0") or "0"):
            (directory / "config").unlink(missing_ok=True)
            return ""
        raw = ""
        if lxc_major() >= 4:
            raw += ("lxc.cgroup.relative = 0\n"
                    f"lxc.cgroup.dir.monitor = lxc.monitor/{vmid}\n"
                    f"lxc.cgroup.dir.container = lxc/{vmid}\n"
                    "lxc.cgroup.dir.container.inner = ns\n")
        if not options.get("arch"):
            raise PveError("missing 'arch' - internal error")
        raw += f"lxc.arch = {options['arch']}\n"
        custom_idmap = any(k == "lxc.idmap" for k, _ in conf.lxc)
        unprivileged = bool(pveconf.parse_boolean(options.get("unprivileged", "0") or "0")) or custom_idmap
        ostype = options.get("ostype")
        if not ostype:
            raise PveError("missing 'ostype' - internal error")
        directory.mkdir(parents=True, exist_ok=True)
        include = f"{LXC_CONFIG_PATH}/{ostype}.common.conf"
        raw += f"lxc.include = {include if self._node_has(include) else LXC_CONFIG_PATH + '/common.conf'}\n"
        if unprivileged:
            include = f"{LXC_CONFIG_PATH}/{ostype}.userns.conf"
            raw += f"lxc.include = {include if self._node_has(include) else LXC_CONFIG_PATH + '/userns.conf'}\n"
        features = _features(options.get("features"))
        raw += self._seccomp(conf, vmid, directory, unprivileged, features)
        raw += _apparmor(conf, features)
        if pveconf.parse_boolean(features.get("fuse", "0")):
            raw += ("lxc.apparmor.raw = mount fstype=fuse,\n"
                    "lxc.mount.entry = /dev/fuse dev/fuse none bind,create=file 0 0\n")
        if unprivileged and not pveconf.parse_boolean(features.get("force_rw_sys", "0")):
            raw += "lxc.mount.auto = sys:mixed\n"
        entrypoint = options.get("entrypoint")
        if entrypoint is not None and entrypoint != "/sbin/init":
            raw += "lxc.mount.entry = shm dev/shm tmpfs rw,nosuid,nodev,create=dir 0 0\n"
        raw += self._device_rules(conf)
        raw += "lxc.monitor.unshare = 1\n"
        if unprivileged and not custom_idmap:
            raw += "lxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n"
        console = options.get("console")
        if console is not None and not pveconf.parse_boolean(console):  # has_dev_console
            raw += "lxc.console.path = none\nlxc.cgroup2.devices.deny = c 5:1 rwm\n"
        raw += f"lxc.tty.max = {options.get('tty', '2')}\n"  # get_tty_count: the schema's default 2
        raw += "lxc.environment = TERM=linux\n"
        raw += f"lxc.uts.name = {options.get('hostname') or f'CT{vmid}'}\n"
        memory = int(options.get("memory") or 512)
        swap = int(options.get("swap") or 0)
        high = (memory - 128) * 1024 * 1024 if memory >= 16 * 1024 else memory * 1024 * 1016
        raw += (f"lxc.cgroup2.memory.max = {memory * 1024 * 1024}\nlxc.cgroup2.memory.high = {high}\n"
                f"lxc.cgroup2.memory.swap.max = {swap * 1024 * 1024}\n")
        cpulimit = options.get("cpulimit")
        if cpulimit and float(cpulimit):
            raw += f"lxc.cgroup2.cpu.max = {int(100000 * float(cpulimit))} 100000\n"
        if options.get("cpuunits") is not None:
            raw += f"lxc.cgroup2.cpu.weight = {min(int(options['cpuunits']), 10000)}\n"  # CGroup clamp_cpu_shares
        if options.get("rootfs") is None:
            raise PveError("missing 'rootfs' configuration")
        raw += f"lxc.rootfs.path = /var/lib/lxc/{vmid}/rootfs\n"
        if entrypoint is not None:
            raw += f"lxc.init.cmd = {entrypoint}\n"
        raw += self._networks(vmid, options)
        for variable in [v for v in re.split(r"\0+", options.get("env") or "") if v]:
            raw += f"lxc.environment.runtime = {variable}\n"
        for key, value in conf.lxc:
            raw += f"{key} = {value}\n"
        (directory / "rootfs").mkdir(exist_ok=True)
        _write_atomically(directory / "config", raw)
        return raw

    def _node_has(self, node_path: str) -> bool:
        """A file of the node's /usr, which is the host's (noderun.py)."""
        return Path(node_path).is_file()

    def _seccomp(self, conf: pveconf.PveConf, vmid: int, directory: Path, unprivileged: bool,
                 features: dict[str, str]) -> str:
        """LXC.pm make_seccomp_config (without the experimental mknod feature's syscall proxy)."""
        if any(k == "lxc.seccomp.profile" for k, _ in conf.lxc) or not unprivileged:
            return ""
        rules = {"ioctl": ["errno 1 [1,0x9400,SCMP_CMP_MASKED_EQ,0xff00]"], "keyctl": ["errno 38"],
                 "socket": ["errno 97 [0,38,SCMP_CMP_EQ]"]}
        if pveconf.parse_boolean(features.get("keyctl", "0")):
            del rules["keyctl"]
        extra = "\n".join(f"{call} {rule}" for call in sorted(rules) for rule in rules[call]) + "\n"
        if extra == "\n":
            return ""
        common = Path(f"{LXC_CONFIG_PATH}/common.seccomp")
        base = common.read_text() if common.is_file() else ""
        _write_atomically(directory / "rules.seccomp", base + extra)
        return f"lxc.seccomp.profile = /var/lib/lxc/{vmid}/rules.seccomp\n"

    def _device_rules(self, conf: pveconf.PveConf) -> str:
        """foreach_passthrough_device: stat every devN now and allow its major:minor."""
        raw = ""
        for key in sorted((k for k in conf.options if re.fullmatch(r"dev\d+", k)), key=lambda k: int(k[3:])):
            try:
                device = pveconf.parse_property_string(pveconf.DEV_SCHEMA, conf.options[key])
            except PropertyStringError as err:
                raise PveError(f"{key}: invalid format - {err.errors}") from None
            if "path" not in device:
                raise PveError(f"Path is not defined for passthrough device {key}")
            self.config.get_device_mode_and_rdev(device["path"])
            st = self.files.path(device["path"]).stat()
            kind = "b" if (st.st_mode & 0o170000) == 0o060000 else "c"
            perms = "r" if pveconf.parse_boolean(device.get("deny-write", "0")) else "rw"
            major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
            raw += f"lxc.cgroup2.devices.allow = {kind} {major}:{minor} {perms}\n"
            if perms == "r":
                raw += f"lxc.cgroup2.devices.deny = {kind} {major}:{minor} w\n"
        return raw

    def _networks(self, vmid: int, options: dict[str, str]) -> str:
        raw = ""
        for key in sorted(k for k in options if re.fullmatch(r"net\d+", k)):
            index = key[3:]
            net = pveconf.parse_property_string(pveconf.NET_SCHEMA, options[key])
            raw += f"lxc.net.{index}.type = veth\nlxc.net.{index}.veth.pair = veth{vmid}i{index}\n"
            if net.get("hwaddr"):
                raw += f"lxc.net.{index}.hwaddr = {net['hwaddr']}\n"
            if net.get("name"):
                raw += f"lxc.net.{index}.name = {net['name']}\n"
            bridge_mtu = self.files.read_bridge_mtu(net.get("bridge", ""))
            mtu = int(net.get("mtu") or bridge_mtu)
            if mtu > bridge_mtu:
                raise PveError(f"{key}: MTU size '{mtu}' is bigger than bridge MTU '{bridge_mtu}'")
            raw += f"lxc.net.{index}.mtu = {mtu}\n"
            if lxc_major() >= 4:
                raw += f"lxc.net.{index}.script.up = /usr/share/lxc/lxcnetaddbr\n"
            if net.get("link_down") != "1" and pveconf.parse_boolean(net.get("host-managed", "0")):
                ip, ip6 = net.get("ip"), net.get("ip6")
                if ip is not None and ip not in ("dhcp", "manual"):
                    raw += f"lxc.net.{index}.ipv4.address = {ip}\n"
                if net.get("gw"):
                    raw += f"lxc.net.{index}.ipv4.gateway = {net['gw']}\n"
                if ip6 is not None:
                    if ip6 == "auto":
                        raise PveError(f"{key}: SLAAC is not supported for host-managed network configuration")
                    if ip6 not in ("dhcp", "manual"):
                        raw += f"lxc.net.{index}.ipv6.address = {ip6}\n"
                if net.get("gw6"):
                    raw += f"lxc.net.{index}.ipv6.gateway = {net['gw6']}\n"
                raw += f"lxc.net.{index}.flags = up\n"
        return raw

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
        config = (self.lxc_dir(vmid) / "config").read_text()
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


def _features(text: str | None) -> dict[str, str]:
    try:
        return pveconf.parse_property_string(pveconf.FEATURES_SCHEMA, text or "")
    except PropertyStringError:
        return {}


def _apparmor(conf: pveconf.PveConf, features: dict[str, str]) -> str:
    """LXC.pm make_apparmor_config."""
    raw = "lxc.apparmor.profile = generated\nlxc.apparmor.raw = allow mqueue,\n"
    if pveconf.parse_boolean(features.get("nesting", "0")):
        raw += "lxc.apparmor.allow_nesting = 1\nlxc.apparmor.raw = allow userns,\n"
    else:
        raw += "lxc.apparmor.raw = deny mount -> /proc/,\nlxc.apparmor.raw = deny mount -> /sys/,\n"
    for fs in pveconf.split_list(features.get("mount", "")):
        raw += f"lxc.apparmor.raw = mount fstype={fs},\n"
    if any(k == "lxc.apparmor.profile" for k, _ in conf.lxc):
        return ""
    return raw


_LXC_MAJOR: list[int] = []


def lxc_major() -> int:
    """LXC.pm get_lxc_version: the installed lxc-start's major version (the node's /usr is this machine's)."""
    if not _LXC_MAJOR:
        try:
            out = subprocess.run(["lxc-start", "--version"], capture_output=True, text=True, check=False).stdout
        except FileNotFoundError:
            out = ""
        match = re.match(r"^(\d+)\.(\d+)", out.strip())
        _LXC_MAJOR.append(int(match.group(1)) if match else 4)
    return _LXC_MAJOR[0]


def _write_atomically(path: Path, text: str) -> None:
    """pve-common file_set_contents: a temporary file renamed over the target."""
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)
