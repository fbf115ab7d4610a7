"""The LXC config pve-container generates for a container, and what generating it refuses.

pve-container `src/PVE/LXC.pm` `update_lxc_config` writes `/var/lib/lxc/<vmid>/config`, the file
lxc-start reads.  API2/LXC/Config.pm update_vm runs it after every config PUT, and `vm_start`
before every start (lxc_start.py).  While it writes, it dies on what the node lacks, in this
order: `arch`/`ostype` missing (internal errors), every passthrough device stat()ed
(`PVE::LXC::Tools::get_device_mode_and_rdev`: "Device X does not exist", "X is not a device"),
`rootfs` missing, every netN's bridge read (`PVE::Network::read_bridge_mtu`, NodeFiles) with the
NIC's MTU against it.  Each devN's cgroup rule is written from the major:minor found now, which
is why a dynamic major (nvidia-uvm, kfd) never goes stale.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import subprocess
from pathlib import Path

from pve_gpu_lxc.pve import conf as pveconf
from pve_gpu_lxc.pve.conf import PropertyStringError

from .node import NodeFiles, PveError

LXC_CONFIG_PATH = "/usr/share/lxc/config"
_LXC_PM = "/usr/share/perl5/PVE/LXC.pm"  # a die without "\n" gets perl's " at FILE line N."


def parse_device(value: str) -> dict[str, str]:
    """Config.pm parse_device: the property string, which must name a path."""
    try:
        device = pveconf.parse_property_string(pveconf.DEV_SCHEMA, value)
    except PropertyStringError as err:
        raise PveError("format error\n" + "".join(f"{k}: {v}\n" for k, v in err.errors.items())) from None
    if "path" not in device:
        raise PveError("Path has to be defined")
    return device


def get_device_mode_and_rdev(files: NodeFiles, path: str) -> tuple[int, int]:
    """LXC/Tools.pm get_device_mode_and_rdev: the node must have the device, a char or block one."""
    if not files.device_exists(path):
        raise PveError(f"Device {path} does not exist")
    st = files.path(path).stat()
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) and os.geteuid() == 0:
        # (not root: the node's devices are regular-file stand-ins, see NodeFiles._mknod)
        raise PveError(f"{path} is not a device")
    return st.st_mode, st.st_rdev


def update_lxc_config(files: NodeFiles, vmid: int, conf: pveconf.PveConf) -> str:
    """LXC.pm update_lxc_config: write /var/lib/lxc/<vmid>/config and return its text ("" for a
    template, whose config is removed)."""
    options = conf.options
    directory = files.path(f"/var/lib/lxc/{vmid}")
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
        raise PveError(f"missing 'arch' - internal error at {_LXC_PM} line 729.")
    raw += f"lxc.arch = {options['arch']}\n"
    custom_idmap = any(k == "lxc.idmap" for k, _ in conf.lxc)
    unprivileged = bool(pveconf.parse_boolean(options.get("unprivileged", "0") or "0")) or custom_idmap
    ostype = options.get("ostype")
    if not ostype:
        raise PveError(f"missing 'ostype' - internal error at {_LXC_PM} line 735.")
    directory.mkdir(parents=True, exist_ok=True)
    raw += f"lxc.include = {_include(f'{ostype}.common.conf', 'common.conf')}\n"
    if unprivileged:
        raw += f"lxc.include = {_include(f'{ostype}.userns.conf', 'userns.conf')}\n"
    features = _features(options.get("features"))
    raw += _seccomp(conf, vmid, directory, unprivileged, features)
    raw += _apparmor(conf, features)
    if pveconf.parse_boolean(features.get("fuse", "0")):
        raw += ("lxc.apparmor.raw = mount fstype=fuse,\n"
                "lxc.mount.entry = /dev/fuse dev/fuse none bind,create=file 0 0\n")
    if unprivileged and not pveconf.parse_boolean(features.get("force_rw_sys", "0")):
        raw += "lxc.mount.auto = sys:mixed\n"
    entrypoint = options.get("entrypoint")
    if entrypoint is not None and entrypoint != "/sbin/init":
        raw += "lxc.mount.entry = shm dev/shm tmpfs rw,nosuid,nodev,create=dir 0 0\n"
    raw += _device_rules(files, options)
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
    # Config.pm calculate_memory_constraints
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
    raw += _networks(files, vmid, options)
    for variable in [v for v in re.split(r"\0+", options.get("env") or "") if v]:
        raw += f"lxc.environment.runtime = {variable}\n"
    for key, value in conf.lxc:
        raw += f"{key} = {value}\n"
    (directory / "rootfs").mkdir(exist_ok=True)
    _write_atomically(directory / "config", raw)
    return raw


def _include(name: str, fallback: str) -> str:
    """`$cfgpath/<ostype>.<x>.conf` when the node has it (its /usr is this machine's), else the common one."""
    path = f"{LXC_CONFIG_PATH}/{name}"
    return path if Path(path).is_file() else f"{LXC_CONFIG_PATH}/{fallback}"


def _device_rules(files: NodeFiles, options: dict[str, str]) -> str:
    """foreach_passthrough_device (perl's hash order; sorted here): stat each now, allow its major:minor."""
    raw = ""
    for key in sorted((k for k in options if re.fullmatch(r"dev\d+", k)), key=lambda k: int(k[3:])):
        device = parse_device(options[key])
        mode, rdev = get_device_mode_and_rdev(files, device["path"])
        kind = "b" if stat.S_ISBLK(mode) else "c"
        perms = "r" if pveconf.parse_boolean(device.get("deny-write", "0")) else "rw"
        major, minor = os.major(rdev), os.minor(rdev)
        raw += f"lxc.cgroup2.devices.allow = {kind} {major}:{minor} {perms}\n"
        if perms == "r":
            raw += f"lxc.cgroup2.devices.deny = {kind} {major}:{minor} w\n"
    return raw


def _networks(files: NodeFiles, vmid: int, options: dict[str, str]) -> str:
    raw = ""
    for key in sorted(k for k in options if re.fullmatch(r"net\d+", k)):  # `sort keys %$conf`
        index = key[3:]
        net = pveconf.parse_property_string(pveconf.NET_SCHEMA, options[key])
        raw += f"lxc.net.{index}.type = veth\nlxc.net.{index}.veth.pair = veth{vmid}i{index}\n"
        if net.get("hwaddr"):
            raw += f"lxc.net.{index}.hwaddr = {net['hwaddr']}\n"
        if net.get("name"):
            raw += f"lxc.net.{index}.name = {net['name']}\n"
        bridge_mtu = files.read_bridge_mtu(net.get("bridge"))
        mtu = int(net.get("mtu") or 0) or bridge_mtu
        if mtu > bridge_mtu:
            raise PveError(f"{key}: MTU size '{mtu}' is bigger than bridge MTU '{bridge_mtu}'")
        raw += f"lxc.net.{index}.mtu = {mtu}\n"
        if lxc_major() >= 4:
            raw += f"lxc.net.{index}.script.up = /usr/share/lxc/lxcnetaddbr\n"
        if net.get("link_down") != "1" and pveconf.parse_boolean(net.get("host-managed", "0")) == 1:
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


def _seccomp(conf: pveconf.PveConf, vmid: int, directory: Path, unprivileged: bool,
             features: dict[str, str]) -> str:
    """LXC.pm make_seccomp_config (without the experimental mknod feature's syscall proxy)."""
    if any(k == "lxc.seccomp.profile" for k, _ in conf.lxc) or not unprivileged:
        return ""
    rules = {"ioctl": ["errno 1 [1,0x9400,SCMP_CMP_MASKED_EQ,0xff00]"], "keyctl": ["errno 38"],
             "socket": ["errno 97 [0,38,SCMP_CMP_EQ]"]}
    if pveconf.parse_boolean(features.get("keyctl", "0")):
        del rules["keyctl"]
    extra = "\n".join(f"{call} {rule}" for call in sorted(rules) for rule in rules[call]) + "\n"
    common = Path(f"{LXC_CONFIG_PATH}/common.seccomp")
    base = common.read_text() if common.is_file() else ""
    _write_atomically(directory / "rules.seccomp", base + extra)
    return f"lxc.seccomp.profile = /var/lib/lxc/{vmid}/rules.seccomp\n"


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


@functools.cache
def lxc_major() -> int:
    """LXC.pm get_lxc_version: the installed lxc-start's major version (the node's /usr is this machine's)."""
    try:
        out = subprocess.run(["lxc-start", "--version"], capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        out = ""
    match = re.match(r"^(\d+)\.(\d+)", out.strip())
    return int(match.group(1)) if match else 4


def _write_atomically(path: Path, text: str) -> None:
    """pve-common file_set_contents: a temporary file renamed over the target."""
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)
