"""A container's configuration: reading it, changing it, and its pending changes.

PVE: pve-container `src/PVE/API2/LXC/Config.pm` (vm_config, update_vm),
`src/PVE/LXC/Config.pm` (json_config_properties, update_pct_config, vmconfig_hotplug_pending,
vmconfig_apply_pending, print_lxc_network, classify_mountpoint), pve-guest-common
`PVE/AbstractConfig.pm` (load_config, check_lock, check_protection, cleanup_pending,
add_unused_volume), and the pieces of `src/PVE/LXC.pm` that creating and changing a container
share (check_ct_modify_config_perm, create_disks, `PVE/LXC/Tools.pm` get_device_mode_and_rdev,
pve-guest-common `PVE/GuestHelpers.pm` check_hookscript).  The file itself is the node's
`etc/pve/lxc/<vmid>.conf`, read and written with the product's `pve_gpu_lxc.pve.conf`.

A running container takes the FASTPLUG options at once; what it cannot take stays in
`[pve:pending]` until lxc_status.py's start applies it (`apply_pending`).  Parameters reach the
handlers checked against PVE's API description (server.py, apischema.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from typing import Any

from pve_gpu_lxc.pve import conf as pveconf
from pve_gpu_lxc.pve.conf import PropertyStringError, format_size, unique_tags

from .access import ROOT
from .lxc_generate import get_device_mode_and_rdev, parse_device, update_lxc_config
from .node import NodeFiles, PveError, param_error, parse_volume_id, perm_error
from .router import Request, Router
from .storage import StorageApi

MAC_PREFIX = "BC:24:11"  # PVE's default datacenter mac_prefix
NEW_DISK_RE = re.compile(r"^(?:([^/:\s]+):)?(\d+(\.\d+)?)$")

# options a running container takes at once (Config.pm $LXC_FASTPLUG_OPTIONS)
FASTPLUG = frozenset({"description", "onboot", "startup", "protection", "hostname", "hookscript", "cores",
                      "tags", "lock"})

_MAX_NETS, _MAX_MPS, _MAX_DEVS = 32, 256, 256
_INDEXED = re.compile(r"^(net|mp|unused|dev)(\d+)$")

# pve-container src/PVE/LXC/Config.pm $confdesc: the options (option_exists, which update_vm asks
# for every `delete` and `revert` item); their types and formats are checked against PVE's API
# description before any handler runs (apischema.py)
LXC_OPTIONS = frozenset({
    "lock", "onboot", "startup", "template", "arch", "ostype", "console", "tty", "cores", "cpulimit", "cpuunits",
    "memory", "swap", "hostname", "description", "searchdomain", "nameserver", "timezone", "rootfs", "parent",
    "snaptime", "cmode", "protection", "unprivileged", "features", "hookscript", "tags", "debug", "entrypoint",
    "env",
})


def option_exists(key: str) -> bool:
    """Config.pm option_exists: a $confdesc key, or netN / mpN / unusedN / devN below their maxima."""
    if key in LXC_OPTIONS:
        return True
    match = _INDEXED.match(key)
    if match:
        limit = {"net": _MAX_NETS, "mp": _MAX_MPS, "unused": _MAX_MPS, "dev": _MAX_DEVS}[match.group(1)]
        return int(match.group(2)) < limit and not (len(match.group(2)) > 1 and match.group(2).startswith("0"))
    return False


class LxcConfig:
    def __init__(self, files: NodeFiles, storage: StorageApi, log: logging.Logger, lock: threading.RLock):
        self.files = files
        self.node = files.name
        self.storage = storage
        self.log = log
        self.lock = lock  # held around every read-modify-write of a container's file

    def register(self, router: Router) -> None:
        router.add("GET", "/nodes/{node}/lxc/{vmid}/config", self.vm_config)
        router.add("PUT", "/nodes/{node}/lxc/{vmid}/config", self.update_vm)

    # --- the container and its file ----------------------------------------------------------------
    @staticmethod
    def vmid(raw: str) -> int:
        if not re.fullmatch(r"\d+", raw) or not 100 <= int(raw) <= 999999999:
            raise param_error({"vmid": "invalid format - value does not look like a valid VM ID"})
        return int(raw)

    def load_conf(self, vmid: int) -> pveconf.PveConf:
        """AbstractConfig.pm load_config."""
        conf = self.files.read_conf(vmid)
        if conf is None:
            raise PveError(f"Configuration file 'nodes/{self.node}/lxc/{vmid}.conf' does not exist")
        return conf

    def is_running(self, vmid: int) -> bool:
        return self.files.status(vmid) == "running"

    @staticmethod
    def check_lock(conf: pveconf.PveConf) -> None:
        if conf.options.get("lock"):
            raise PveError(f"CT is locked ({conf.options['lock']})")

    @staticmethod
    def check_protection(conf: pveconf.PveConf, message: str) -> None:
        if pveconf.parse_boolean(conf.options.get("protection", "0") or "0"):
            raise PveError(f"{message} - protection mode enabled")

    # --- handlers (API2/LXC/Config.pm) ---------------------------------------------------------
    def vm_config(self, req: Request, vmid: str) -> object:
        """API2/LXC/Config.pm vm_config (load_current_config unless current=1)."""
        vm = self.vmid(vmid)
        text = self.files.conf_text(vm)
        if text is None:
            raise PveError(f"Configuration file 'nodes/{self.node}/lxc/{vm}.conf' does not exist")
        conf = pveconf.parse(text, vm)
        for warning in conf.warnings:
            self.log.warning("%s", warning)
        if req.params.get("snapshot"):
            raise PveError(f"snapshot '{req.params['snapshot']}' does not exist")
        current = pveconf.parse_boolean(req.params.get("current", "0")) == 1
        options = dict(conf.options) if current else conf.current()
        data: dict[str, Any] = {key: pveconf.typed_value(key, value) for key, value in options.items()}
        # AbstractConfig.pm load_current_config takes pending values in but skips references
        # (`next if ref($value)`): raw lxc.* lines under [pve:pending] (where bpg's `tee -a` lands
        # when the file has that section) are not returned; the main section's are
        if conf.lxc:
            data["lxc"] = [[k, v] for k, v in conf.lxc]
        data["digest"] = hashlib.sha1(text.encode()).hexdigest()
        return data

    def update_vm(self, req: Request, vmid: str) -> object:
        """API2/LXC/Config.pm update_vm."""
        vm = self.vmid(vmid)
        params = dict(req.params)
        params.pop("node", None)
        params.pop("vmid", None)
        digest = params.pop("digest", None)
        if not params:
            raise PveError("no options specified")
        delete = pveconf.split_list(params.pop("delete", ""))
        revert = pveconf.split_list(params.pop("revert", ""))
        if "cpuunits" in params:
            params["cpuunits"] = str(min(int(params["cpuunits"]), 10000) or 1)
        with self.lock:
            conf = self.load_conf(vm)
            self.check_lock(conf)
            text = self.files.conf_text(vm) or ""
            if digest and digest != hashlib.sha1(text.encode()).hexdigest():
                raise PveError("detected modified configuration - file changed by other user? Try again.")
            unprivileged = pveconf.parse_boolean(conf.options.get("unprivileged", "0") or "0") == 1
            self.check_ct_modify_config_perm(req.user, conf.options, {}, delete, unprivileged)
            self.check_ct_modify_config_perm(req.user, conf.options, {}, revert, unprivileged)
            for opt in revert:
                if not option_exists(opt):
                    raise param_error({"revert": f"unknown option '{opt}'"})
                if opt in params:
                    raise param_error({"revert": f"you can't use '-{opt}' and '-revert {opt}' at the same time"})
            for opt in delete:
                if not option_exists(opt):
                    raise param_error({"delete": f"unknown option '{opt}'"})
                if opt in params:
                    raise param_error({"delete": f"you can't use '-{opt}' and -delete {opt}' at the same time"})
                if opt in revert:
                    raise param_error({"delete": f"you can't use '-delete {opt}' and '-revert {opt}' at the same time"})
            self.check_ct_modify_config_perm(req.user, conf.options, params, [], unprivileged)
            errors = self.update_pct_config(vm, conf, self.is_running(vm), params, delete, revert)
            if errors:
                raise param_error(errors)
            self.files.write_conf(vm, conf)
            # API2/LXC/Config.pm update_vm: write_config, load_config, then update_lxc_config, whose
            # refusal fails the request with the change already written (as on a node)
            update_lxc_config(self.files, vm, self.load_conf(vm))
        return None

    # --- permissions and checks ------------------------------------------------------------------
    def check_ct_modify_config_perm(self, user: str, oldconf: dict[str, str] | None, newconf: dict[str, str],
                                    delete: list[str], unprivileged: bool) -> None:
        """PVE::LXC::check_ct_modify_config_perm: the root@pam-only options.  (The simulated node
        grants every other privilege, as to a token without privilege separation.)"""
        if user == ROOT:
            return

        def check(opt: str, is_delete: bool) -> None:
            if opt == "rootfs" or re.fullmatch(r"mp\d+", opt):
                if is_delete:
                    return
                schema = pveconf.ROOTFS_SCHEMA if opt == "rootfs" else pveconf.MP_SCHEMA
                volume = pveconf.parse_property_string(schema, newconf[opt]).get("volume", "")
                kind = classify_mountpoint(volume)
                if kind != "volume":
                    raise perm_error(f"mount point type {kind} is only allowed for root@pam")
            elif re.fullmatch(r"dev\d+", opt):
                raise perm_error("configuring device passthrough is only allowed for root@pam")
            elif opt == "features":
                if not unprivileged:
                    raise perm_error("changing feature flags for privileged container is only allowed for root@pam")
                other_changed = False
                old = (oldconf or {}).get(opt)
                if not is_delete:
                    features = pveconf.parse_property_string(pveconf.FEATURES_SCHEMA, newconf[opt])
                    if old:
                        old_features = pveconf.parse_property_string(pveconf.FEATURES_SCHEMA, old)
                        for feature in [*old_features, *features]:
                            # nesting alone may be changed by VM.Allocate; every other flag is root@pam only
                            if feature != "nesting" and old_features.get(feature, "") != features.get(feature, ""):
                                other_changed = True
                                break
                    elif features and not (len(features) == 1 and pveconf.parse_boolean(features.get("nesting", "0"))):
                        other_changed = True
                else:
                    features = pveconf.parse_property_string(pveconf.FEATURES_SCHEMA, old or "")
                    if features and not (len(features) == 1 and pveconf.parse_boolean(features.get("nesting", "0"))):
                        other_changed = True
                if other_changed:
                    raise perm_error("changing feature flags (except nesting) is only allowed for root@pam")
            elif opt == "hookscript":
                raise perm_error("changing the hookscript is only allowed for root@pam")

        for opt in newconf:
            check(opt, False)
        for opt in delete:
            check(opt, True)

    def check_hookscript(self, volid: str) -> None:
        """pve-guest-common PVE::GuestHelpers::check_hookscript."""
        vol = self.files.volume(volid)
        if vol.vtype != "snippets":
            raise PveError(f"'{volid}' is not in the snippets directory")
        path = self.files.path(vol.node_path)
        if not path.is_file():
            raise PveError(f"script '{volid}' does not exist")
        if not os.access(path, os.X_OK):
            raise PveError(f"script '{volid}' is not executable")

    # --- changes (Config.pm update_pct_config & co) ----------------------------------------------
    def update_pct_config(self, vmid: int, conf: pveconf.PveConf, running: bool, params: dict[str, str],
                          delete: list[str], revert: list[str]) -> dict[str, str]:
        """Config.pm update_pct_config: changes go to [pve:pending], then only the options this
        request modified (`$modified`) are applied (stopped) or hot-plugged (running)."""
        pending = conf.pending.options
        modified: set[str] = set()
        for opt in revert:
            pending.pop(opt, None)
            pdel = conf.pending_delete()
            pdel.pop(opt, None)
            conf.set_pending_delete(pdel)
        for opt in delete:
            if opt not in conf.options and opt not in pending:
                self.log.warning("cannot delete '%s' - not set in current configuration!", opt)
                continue
            modified.add(opt)
            if opt in ("memory", "rootfs", "ostype"):
                raise PveError(f"unable to delete required option '{opt}'")
            if re.fullmatch(r"(unused|mp)\d+", opt):
                self.check_protection(conf, f"can't remove CT {vmid} drive '{opt}'")
            elif opt == "unprivileged":
                raise PveError(f"unable to delete read-only option: '{opt}'")
            pdel = conf.pending_delete()
            pdel[opt] = False
            conf.set_pending_delete(pdel)
        for opt in sorted(params):
            modified.add(opt)
            value = params[opt]
            if re.fullmatch(r"mp\d+", opt) or opt == "rootfs":
                self.check_protection(conf, f"can't update CT {vmid} drive '{opt}'")
                schema = pveconf.ROOTFS_SCHEMA if opt == "rootfs" else pveconf.MP_SCHEMA
                volume = pveconf.parse_property_string(schema, value)["volume"]
                if classify_mountpoint(volume) == "volume":
                    match = NEW_DISK_RE.match(volume)
                    sid = match.group(1) if match else parse_volume_id(volume)[0]
                    if sid and "rootdir" not in self.files.storage(sid).content:
                        raise PveError(f"storage '{sid}' does not allow content type 'rootdir' (Container)")
            elif opt == "hookscript":
                self.check_hookscript(value)
            elif opt in ("nameserver", "searchdomain"):
                value = " ".join(pveconf.split_list(value))
            elif opt == "unprivileged":
                raise PveError(f"unable to modify read-only option: '{opt}'")
            elif opt == "tags":  # GuestHelpers.pm get_unique_tags, with datacenter.cfg's tag-style
                case_sensitive, ordering = self.files.tag_style()
                value = unique_tags(value, case_sensitive=case_sensitive, ordering=ordering)
            elif re.fullmatch(r"net\d+", opt):
                net = pveconf.parse_property_string(pveconf.NET_SCHEMA, value)
                if net.get("mtu") and int(net["mtu"]):
                    bridge_mtu = self.files.read_bridge_mtu(net.get("bridge"))
                    if int(net["mtu"]) > bridge_mtu:
                        raise PveError(f"{opt}: MTU size '{net['mtu']}' is bigger than bridge MTU '{bridge_mtu}'")
                host_managed = pveconf.parse_boolean(net.get("host-managed", "0")) == 1
                if net.get("link_down") != "1" and host_managed and net.get("ip6") == "auto":
                    raise PveError(f"{opt}: SLAAC is not supported for host-managed network configuration.")
            elif re.fullmatch(r"dev\d+", opt):
                device = parse_device(value)
                get_device_mode_and_rdev(self.files, device["path"])
            pending[opt] = value
            pdel = conf.pending_delete()
            pdel.pop(opt, None)
            conf.set_pending_delete(pdel)
        self.cleanup_pending(conf)
        errors: dict[str, str] = {}
        if running:
            self.hotplug_pending(vmid, conf, errors, modified)
        else:
            self.apply_pending(vmid, conf, errors, modified)
        return errors

    @staticmethod
    def cleanup_pending(conf: pveconf.PveConf) -> None:
        pending = conf.pending.options
        for opt in [k for k in pending if k != "delete"]:
            if opt in conf.options and conf.options[opt] == pending[opt]:
                del pending[opt]
        conf.set_pending_delete({k: f for k, f in conf.pending_delete().items() if k in conf.options})

    def apply_pending(self, vmid: int, conf: pveconf.PveConf, errors: dict[str, str],
                      selection: set[str] | None = None) -> None:
        """Config.pm vmconfig_apply_pending: a stopped container's PUT applies the options it
        modified (`selection`), the start applies all (`selection` None)."""
        for opt in sorted(conf.pending_delete()):
            if selection is not None and opt not in selection:
                continue
            if re.fullmatch(r"mp\d+", opt) and opt in conf.options:
                try:
                    volume = pveconf.parse_property_string(pveconf.MP_SCHEMA, conf.options[opt])["volume"]
                    if classify_mountpoint(volume) == "volume":
                        add_unused_volume(conf, volume)
                except PropertyStringError:
                    pass
            elif re.fullmatch(r"unused\d+", opt) and opt in conf.options:
                self.storage.free_volume(conf.options[opt])
            conf.options.pop(opt, None)
            pdel = conf.pending_delete()
            pdel.pop(opt, None)
            conf.set_pending_delete(pdel)
        self.cleanup_pending(conf)
        for opt in sorted(k for k in conf.pending.options if k != "delete"):
            if selection is not None and opt not in selection:
                continue
            value = conf.pending.options[opt]
            if re.fullmatch(r"mp\d+", opt):
                value = self.apply_pending_mountpoint(vmid, conf, opt, value)
            elif re.fullmatch(r"net\d+", opt):
                value = print_lxc_network(vmid, opt, value)
            conf.options[opt] = value
            del conf.pending.options[opt]

    def hotplug_pending(self, vmid: int, conf: pveconf.PveConf, errors: dict[str, str],
                        selection: set[str] | None = None) -> None:
        """Config.pm vmconfig_hotplug_pending (a running container), for the options the PUT
        modified (`selection`): what cannot be hotplugged stays pending."""
        pending = conf.pending.options
        for opt in sorted(k for k in pending if k in FASTPLUG):
            if selection is None or opt in selection:
                conf.options[opt] = pending.pop(opt)
        for opt in sorted(conf.pending_delete()):
            if selection is not None and opt not in selection:
                continue
            if opt in FASTPLUG or opt in ("swap", "cpulimit", "cpuunits") or re.fullmatch(r"net\d+", opt):
                pass
            elif re.fullmatch(r"unused\d+", opt):
                self.storage.free_volume(conf.options.get(opt, ""))
            else:
                continue  # not hot-pluggable: stays a pending delete
            conf.options.pop(opt, None)
            pdel = conf.pending_delete()
            pdel.pop(opt, None)
            conf.set_pending_delete(pdel)
        for opt in sorted(k for k in pending if k != "delete"):
            if selection is not None and opt not in selection:
                continue
            value = pending[opt]
            if opt in ("cpulimit", "cpuunits", "memory", "swap"):
                pass
            elif re.fullmatch(r"net\d+", opt):
                value = print_lxc_network(vmid, opt, value)
            elif re.fullmatch(r"mp\d+", opt):
                if opt in conf.options:
                    continue
                value = self.apply_pending_mountpoint(vmid, conf, opt, value)
            elif re.fullmatch(r"dev\d+", opt):
                if opt in conf.options:
                    continue
            else:
                continue
            conf.options[opt] = value
            del pending[opt]

    def apply_pending_mountpoint(self, vmid: int, conf: pveconf.PveConf, opt: str, value: str) -> str:
        data = pveconf.parse_property_string(pveconf.MP_SCHEMA, value)
        old = conf.options.get(opt)
        if classify_mountpoint(data["volume"]) == "volume" and NEW_DISK_RE.match(data["volume"]):
            value = self.create_disk(vmid, opt, data, conf)
        else:
            if classify_mountpoint(data["volume"]) == "volume":
                size = self.storage.volume_size(data["volume"])
                if size is not None:
                    data["size"] = format_size(size)
            value = pveconf.print_property_string(pveconf.MP_SCHEMA, data)
        if old:
            try:
                old_volume = pveconf.parse_property_string(pveconf.MP_SCHEMA, old)["volume"]
                if classify_mountpoint(old_volume) == "volume" and old_volume != data["volume"]:
                    add_unused_volume(conf, old_volume)
            except PropertyStringError:
                pass
        return value

    # --- volumes ---------------------------------------------------------------------------------
    def create_disk(self, vmid: int, key: str, data: dict[str, str], conf: pveconf.PveConf) -> str:
        """PVE::LXC::create_disks for one `STORAGE:SIZE_GiB` volume; returns the printed mount point."""
        match = NEW_DISK_RE.match(data["volume"])
        assert match is not None
        sid = match.group(1) or "local"
        size_kb = int(float(match.group(2)) * 1024 * 1024)
        storage = self.files.storage(sid)
        taken = set(self.all_volids(conf))
        n = 0
        while True:
            if storage.path is not None:
                volname = f"{vmid}/vm-{vmid}-disk-{n}.raw"
            else:
                volname = f"vm-{vmid}-disk-{n}"
            volid = f"{sid}:{volname}"
            if volid not in taken and not self.files.path(self.files.volume(volid).node_path).exists():
                break
            n += 1
        self.storage.check_space(storage, vmid, volname, size_kb)  # vdisk_alloc on a full storage
        path = self.files.path(self.files.volume(volid).node_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.truncate(size_kb * 1024)
        data = dict(data)
        data["volume"] = volid
        data["size"] = format_size(size_kb * 1024)
        skip = ("mp",) if key == "rootfs" else ()
        schema = pveconf.ROOTFS_SCHEMA if key == "rootfs" else pveconf.MP_SCHEMA
        return pveconf.print_property_string(schema, data, skip)

    @staticmethod
    def all_volids(conf: pveconf.PveConf) -> list[str]:
        """Config.pm get_vm_volumes, pending ones included."""
        result = []
        for key, value in {**conf.options, **{k: v for k, v in conf.pending.options.items() if k != "delete"}}.items():
            if key == "rootfs" or re.fullmatch(r"mp\d+", key):
                try:
                    schema = pveconf.ROOTFS_SCHEMA if key == "rootfs" else pveconf.MP_SCHEMA
                    result.append(pveconf.parse_property_string(schema, value)["volume"])
                except PropertyStringError:
                    pass
            elif re.fullmatch(r"unused\d+", key):
                result.append(value)
        return result


def classify_mountpoint(volume: str) -> str:
    """Config.pm classify_mountpoint."""
    if volume.startswith("/"):
        return "device" if volume.startswith("/dev/") else "bind"
    return "volume"


def add_unused_volume(conf: pveconf.PveConf, volid: str) -> None:
    """AbstractConfig.pm add_unused_volume."""
    if volid in conf.options.values():
        return
    n = 0
    while f"unused{n}" in conf.options:
        n += 1
    conf.options[f"unused{n}"] = volid


def mac_address(vmid: int, index: int) -> str:
    """A stable `BC:24:11:xx:xx:xx` per container and interface (PVE draws it at random)."""
    digest = hashlib.sha256(f"pvesim:{vmid}:net{index}".encode()).digest()
    return MAC_PREFIX + "".join(f":{b:02X}" for b in digest[:3])


def print_lxc_network(vmid: int, key: str, value: str) -> str:
    """Config.pm parse_lxc_network + print_lxc_network: type=veth and a hwaddr are added."""
    data = pveconf.parse_property_string(pveconf.NET_SCHEMA, value)
    data["type"] = "veth"
    if not data.get("hwaddr"):
        data["hwaddr"] = mac_address(vmid, int(key[3:]))
    return pveconf.print_property_string(pveconf.NET_SCHEMA, data)
