"""A container's life: create (with its disks), resize a disk, destroy.

PVE: pve-container `src/PVE/API2/LXC.pm` (create_vm, resize_vm, destroy_vm), `src/PVE/LXC.pm`
create_disks (lxc_config.py `LxcConfig.create_disk`, which pending mount points share),
`src/PVE/LXC/Create.pm` (the template's extraction, here only read and logged; an OCI image's
restore_oci_archive: lxc_oci.py), pve-cluster
PVE::Cluster::check_vmid_unused.  Create checks its parameters and permissions, writes a
`lock: create` config, then its task allocates the disks and writes the real config; with
`start=1` it starts the container through lxc_status.py's start path.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from pve_gpu_lxc.pve import conf as pveconf
from pve_gpu_lxc.pve.conf import format_size, parse_size

from . import lxc_oci
from .access import ROOT
from .lxc_config import NEW_DISK_RE, LxcConfig, classify_mountpoint
from .lxc_status import LxcStatus
from .node import PveError, param_error, parse_volume_id, perm_error
from .router import Request, Router
from .storage import StorageApi
from .tasks import Task, Tasks


class LxcCreate:
    def __init__(self, config: LxcConfig, status: LxcStatus, storage: StorageApi, tasks: Tasks):
        self.config = config
        self.status = status
        self.storage = storage
        self.tasks = tasks
        self.files = config.files
        self.node = config.node
        self.log = config.log

    def register(self, router: Router) -> None:
        router.add("POST", "/nodes/{node}/lxc", self.create_vm)
        router.add("PUT", "/nodes/{node}/lxc/{vmid}/resize", self.resize_vm)
        router.add("DELETE", "/nodes/{node}/lxc/{vmid}", self.destroy_vm)

    def check_vmid_unused(self, vmid: int) -> None:
        """PVE::Cluster::check_vmid_unused."""
        if self.files.conf_path(vmid).exists():
            raise PveError(f"CT {vmid} already exists on node '{self.node}'")
        if (self.files.root / "etc/pve/qemu-server" / f"{vmid}.conf").exists():
            raise PveError(f"VM {vmid} already exists on node '{self.node}'")

    def check_storage_rootdir(self, sid: str) -> None:
        """create_vm's check_and_activate_storage."""
        scfg = self.files.storage_check_enabled(sid)
        if "rootdir" not in scfg.content:
            raise param_error({"storage": f"storage '{sid}' does not support container directories"})

    def create_vm(self, req: Request) -> object:
        """API2/LXC.pm create_vm (no restore)."""
        config = self.config
        params = dict(req.params)
        params.pop("node", None)
        user = req.user
        vmid = int(params.pop("vmid"))
        for key in ("ignore-unpack-errors", "bwlimit", "ha-managed", "unique", "force"):
            params.pop(key, None)
        start_after_create = pveconf.parse_boolean(params.pop("start", "0")) == 1
        unprivileged_raw = params.pop("unprivileged", None)
        if params.pop("restore", None) not in (None, "0"):
            raise PveError("restore is not supported by the simulated node")
        unprivileged = True if unprivileged_raw is None else pveconf.parse_boolean(unprivileged_raw) == 1
        if "cpuunits" in params:
            params["cpuunits"] = str(min(int(params["cpuunits"]), 10000) or 1)
        self.check_vmid_unused(vmid)
        params.pop("password", None)
        ssh_keys = params.pop("ssh-public-keys", None)
        if ssh_keys is not None:
            for line in ssh_keys.split("\n"):
                if line.strip() and not re.match(r"^(\S+\s+)?(ssh-|ecdsa-|sk-)\S+\s+\S+", line.strip()):
                    raise PveError(f"SSH public key validation error: invalid key '{line.strip()}'")
        pool = params.pop("pool", None)
        if pool:
            raise perm_error(f"pool '{pool}' does not exist")
        ostemplate = params.pop("ostemplate")
        storage = params.pop("storage", None) or "local"
        config.check_ct_modify_config_perm(user, None, params, [], unprivileged)
        if ostemplate == "-":
            raise PveError("pipe requires cli environment")
        self.storage.check_volume_access(user, ostemplate, "vztmpl")
        mp_param: dict[str, str] = {}
        no_disk_param: dict[str, str] = {}
        for opt, value in params.items():
            if opt == "rootfs" or re.fullmatch(r"mp\d+", opt):
                mp_param[opt] = f"{storage}:{value}" if re.fullmatch(r"\d+(\.\d+)?", value) else value
            elif re.fullmatch(r"unused\d+", opt):
                self.log.warning("ignoring '%s', cannot create/restore with unused volume", opt)
            else:
                no_disk_param[opt] = value
        if mp_param and "rootfs" not in mp_param:
            raise PveError("mount points configured, but 'rootfs' not set - aborting")
        for opt, value in mp_param.items():
            schema = pveconf.ROOTFS_SCHEMA if opt == "rootfs" else pveconf.MP_SCHEMA
            volume = pveconf.parse_property_string(schema, value)["volume"]
            if classify_mountpoint(volume) != "volume":
                if user != ROOT:
                    raise PveError("Only root can pass arbitrary filesystem paths.")
            else:
                match = NEW_DISK_RE.match(volume)
                if match:
                    self.check_storage_rootdir(match.group(1) or storage)
                else:
                    self.check_storage_rootdir(parse_volume_id(volume)[0])
        if "rootfs" not in mp_param:
            self.check_storage_rootdir(storage)
        conf = pveconf.PveConf()
        with config.lock:
            config.update_pct_config(vmid, conf, False, no_disk_param, [], [])
            if unprivileged:
                conf.options["unprivileged"] = "1"
            # create_and_lock_config
            self.check_vmid_unused(vmid)
            self.files.write_conf(vmid, pveconf.PveConf(options={"lock": "create"}))

        def worker(task: Task) -> None:
            created: list[str] = []
            try:
                archive = self.storage.abs_filesystem_path(ostemplate)
                if not mp_param:
                    mp_param["rootfs"] = f"{storage}:4"
                for key in sorted(mp_param, key=lambda k: (k != "rootfs", int(k[2:]) if k != "rootfs" else 0)):
                    schema = pveconf.ROOTFS_SCHEMA if key == "rootfs" else pveconf.MP_SCHEMA
                    data = pveconf.parse_property_string(schema, mp_param[key])
                    new_disk = NEW_DISK_RE.match(data["volume"])
                    if classify_mountpoint(data["volume"]) == "volume" and new_disk:
                        if not new_disk.group(1):
                            data["volume"] = f"{storage}:{data['volume']}"
                        conf.options[key] = config.create_disk(vmid, key, data, conf)
                        created.append(pveconf.parse_property_string(schema, conf.options[key])["volume"])
                    else:
                        conf.options[key] = pveconf.print_property_string(
                            schema, data, ("mp",) if key == "rootfs" else ())
                wanted_ostype = conf.options.get("ostype")
                if lxc_oci.archive_is_oci_format(archive):
                    # create_vm: not a restore, and Create.pm archive_is_oci_format says so
                    task.log("Detected OCI archive")
                    conf.options["ostype"] = lxc_oci.restore_into_scratch(
                        archive, conf, task.log, lambda rootdir: setup_ostype_in(rootdir, wanted_ostype, task))
                else:
                    archive_node = "/" + str(archive.relative_to(self.files.root))
                    task.log(f"extracting archive '{archive_node}'")
                    task.log(f"Total bytes read: {archive.stat().st_size} ({format_size(archive.stat().st_size)}iB)")
                    conf.options["ostype"] = setup_ostype(archive, ostemplate, wanted_ostype, task)
                conf.options.setdefault("arch", "amd64")
                if not conf.options.get("hostname"):
                    conf.options["hostname"] = f"CT{vmid}"
                if not conf.options.get("memory"):
                    conf.options["memory"] = "512"
                conf.options.setdefault("swap", "512")
                with config.lock:
                    self.files.write_conf(vmid, conf)
            except PveError as err:
                for volid in created:
                    self.storage.free_volume(volid)
                self.files.delete_conf(vmid)
                raise PveError(f"unable to create CT {vmid} - {err.message}") from None

        upid = self.tasks.run("vzcreate", vmid, user, worker)
        if start_after_create and self.tasks.by_upid[upid].exitstatus == "OK":
            self.status.start_task(vmid, user)
        return upid

    def resize_vm(self, req: Request, vmid: str) -> object:
        """API2/LXC.pm resize_vm."""
        config = self.config
        vm = config.vmid(vmid)
        disk, size = req.params.get("disk", ""), req.params.get("size", "")
        errors = {}
        if disk != "rootfs" and not re.fullmatch(r"mp\d+", disk):
            errors["disk"] = f"value '{disk}' does not have a value in the enumeration 'rootfs, mp0, ...'"
        if not re.fullmatch(r"\+?\d+(\.\d+)?[KMGT]?", size):
            errors["size"] = "value does not match the regex pattern"
        if errors:
            raise param_error(errors)
        conf = config.load_conf(vm)
        config.check_lock(conf)
        if disk not in conf.options:
            raise PveError(f"no disk '{disk}'")
        schema = pveconf.ROOTFS_SCHEMA if disk == "rootfs" else pveconf.MP_SCHEMA
        data = pveconf.parse_property_string(schema, conf.options[disk])
        volid = data["volume"]
        current = self.storage.volume_size(volid)
        if current is None:
            raise PveError(f"unable to determine size of volume '{volid}'")
        ext = re.fullmatch(r"(\+)?(\d+(?:\.\d+)?)([KMGT])?", size)
        assert ext is not None
        amount = parse_size(ext.group(2) + (ext.group(3) or "")) or 0
        new = current + amount if ext.group(1) else amount
        if new < current:
            raise PveError("unable to shrink disk size")
        if new == current:
            return None

        def worker(task: Task) -> None:
            path = self.files.path(self.files.volume(volid).node_path)
            with open(path, "r+b") as f:
                f.truncate(new)
            with config.lock:
                conf2 = config.load_conf(vm)
                data2 = pveconf.parse_property_string(schema, conf2.options[disk])
                data2["size"] = format_size(new)
                conf2.options[disk] = pveconf.print_property_string(schema, data2, ("mp",) if disk == "rootfs" else ())
                self.files.write_conf(vm, conf2)
            task.log(f"Size of logical volume changed to {format_size(new)}.")

        return self.tasks.run("resize", vm, req.user, worker)

    def destroy_vm(self, req: Request, vmid: str) -> object:
        """API2/LXC.pm destroy_vm."""
        config = self.config
        vm = config.vmid(vmid)
        conf = config.load_conf(vm)
        config.check_protection(conf, f"can't remove CT {vm}")
        config.check_lock(conf)
        force = pveconf.parse_boolean(req.params.get("force", "0")) == 1
        if not force and config.is_running(vm):
            raise PveError(f"unable to destroy CT {vm} - container is running")

        def worker(task: Task) -> None:
            with config.lock:
                current = config.load_conf(vm)
                for volid in config.all_volids(current):
                    if classify_mountpoint(volid) != "volume":
                        continue
                    try:
                        vol = self.files.volume(volid)
                    except PveError:
                        continue
                    if vol.vmid == vm:
                        self.storage.free_volume(volid)
                        if vol.storage.type in ("lvmthin", "lvm"):
                            task.log(f'  Logical volume "{vol.volname}" successfully removed.')
                self.files.delete_conf(vm)

        return self.tasks.run("vzdestroy", vm, req.user, worker)


# pve-container src/PVE/LXC/Setup.pm $plugins and $plugin_alias (os-release IDs)
_OS_PLUGINS = ("alpine", "archlinux", "centos", "debian", "devuan", "fedora", "gentoo", "openeuler", "opensuse",
               "ubuntu", "nixos", "unmanaged")
_OS_ALIASES = {"opensuse-leap": "opensuse", "opensuse-tumbleweed": "opensuse", "opensuse-slowroll": "opensuse",
               "openEuler": "openeuler", "arch": "archlinux", "sles": "opensuse", "rocky": "centos",
               "almalinux": "centos"}
# Setup.pm $autodetect_type's fallback files, in its order
_OS_FILES = (("etc/debian_version", "debian"), ("etc/devuan_version", "devuan"), ("etc/SuSE-brand", "opensuse"),
             ("etc/SuSE-release", "opensuse"), ("etc/fedora-release", "fedora"), ("etc/centos-release", "centos"),
             ("etc/redhat-release", "centos"), ("etc/arch-release", "archlinux"),
             ("etc/alpine-release", "alpine"), ("etc/gentoo-release", "gentoo"))
_OS_READ = ("etc/os-release", "usr/lib/os-release", "etc/lsb-release")


def _unescape(match: re.Match[str]) -> str:
    return {"n": "\n", "t": "\t"}.get(match.group(1), match.group(1))


def parse_os_release(data: str) -> dict[str, str]:
    """Setup.pm $parse_os_release: `VAR=value`, 'single', "double" (backslash escapes) or a bare word."""
    variables: dict[str, str] = {}
    for line in data.split("\n"):
        match = re.match(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)=(.*)$", line)
        if not match:
            continue
        var, content = match.groups()
        single = re.match(r"^'([^']*)'", content)
        double = re.match(r'^"((?:[^"\\]|\\.)*)"', content)
        if single:
            variables[var] = single.group(1)
        elif double:
            variables[var] = re.sub(r"\\([\"'`nt$\\])", _unescape, double.group(1))
        else:
            bare = re.match(r"^([A-Za-z0-9]*)", content)
            variables[var] = bare.group(1) if bare else ""
    return variables


def template_rootfs(archive: Path, into: Path) -> set[str] | None:
    """What Setup.pm's OS detection reads from the extracted rootfs, taken from the template with
    tar, the program PVE's restore_archive extracts it with (GNU tar picks the decompressor):
    the archive's member names (`./` stripped), and the os-release/lsb-release files extracted
    under `into`.  None when tar cannot read the file (not a template archive)."""
    listing = subprocess.run(["tar", "-tf", str(archive)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if listing.returncode != 0:
        return None
    members = listing.stdout.splitlines()
    names = {re.sub(r"^\./", "", m).rstrip("/") for m in members}
    wanted = [m for m in members if re.sub(r"^\./", "", m) in _OS_READ]
    if wanted:
        subprocess.run(["tar", "-xf", str(archive), "-C", str(into), "--no-same-owner", "--no-same-permissions",
                        *wanted], capture_output=True, stdin=subprocess.DEVNULL)
    return names


def _read_in_rootfs(rootdir: Path, name: str) -> str | None:
    """A file of the extracted rootfs, symlinks resolved inside it (as Setup.pm's protected_call chroots)."""
    path = rootdir / name
    for _ in range(8):
        if not path.is_symlink():
            break
        target = os.readlink(path)
        path = rootdir / target.lstrip("/") if target.startswith("/") else path.parent / target
    try:
        return path.read_text(errors="replace") if path.is_file() else None
    except OSError:
        return None


def autodetect_ostype(rootdir: Path, names: set[str], task: Task) -> str:
    """pve-container Setup.pm $autodetect_type over the files `template_rootfs` found."""
    os_release = parse_os_release(_read_in_rootfs(rootdir, "etc/os-release")
                                  or _read_in_rootfs(rootdir, "usr/lib/os-release") or "")
    os_id = os_release.get("ID")
    if os_id:
        if os_id in _OS_PLUGINS:
            return os_id
        if os_id in _OS_ALIASES:
            return _OS_ALIASES[os_id]
        task.log(f"unknown ID '{os_id}' in /etc/os-release file, trying fallback detection")
    lsb = _read_in_rootfs(rootdir, "etc/lsb-release")
    if lsb is not None and re.search(r"^DISTRIB_ID=Ubuntu$", lsb, re.M | re.I):
        return "ubuntu"
    for name, ostype in _OS_FILES:
        if name in names:
            return ostype
    if "nix/store" in names:
        return "nixos"
    if "etc/openEuler-release" in names:
        return "openeuler"
    if "etc/os-release" in names:
        raise PveError("unable to detect OS distribution")
    task.log("/etc/os-release file not found and autodetection failed, falling back to 'unmanaged'")
    return "unmanaged"


def setup_ostype(archive: Path, ostemplate: str, wanted: str | None, task: Task) -> str:
    """The ostype PVE writes after PVE::LXC::Setup->new (API2/LXC.pm create_vm): `unmanaged` when
    asked for, else the detected type, which the OS plugin's constructor writes over whatever the
    request said (Setup/Debian.pm etc. `$conf->{ostype} = "debian"`), with Setup.pm's warning when
    they differ."""
    if wanted == "unmanaged":
        return "unmanaged"
    with tempfile.TemporaryDirectory(prefix="pvesim-rootfs-") as tmp:
        names = template_rootfs(archive, Path(tmp))
        detected = autodetect_ostype(Path(tmp), names, task) if names is not None else detect_ostype(ostemplate)
    if wanted and wanted != detected:
        task.log(f"got unexpected ostype ({detected} != {wanted})")
    return detected


def setup_ostype_in(rootdir: Path, wanted: str | None, task: Task) -> str:
    """`setup_ostype` over an extracted rootfs (an OCI image's, which create_vm detects after
    restore_oci_archive unpacked it)."""
    if wanted == "unmanaged":
        return "unmanaged"
    candidates = [name for name, _ in _OS_FILES] + ["nix/store", "etc/openEuler-release", "etc/os-release"]
    names = {name for name in candidates if (rootdir / name).exists() or (rootdir / name).is_symlink()}
    detected = autodetect_ostype(rootdir, names, task)
    if wanted and wanted != detected:
        task.log(f"got unexpected ostype ({detected} != {wanted})")
    return detected


def detect_ostype(ostemplate: str) -> str:
    """A stand-in's ostype: a template the tests seed that is no tar archive (a real node would fail
    to extract it) is named after its distribution, so its name decides."""
    name = ostemplate.rsplit("/", 1)[-1].lower()
    for ostype in ("debian", "devuan", "ubuntu", "centos", "fedora", "opensuse", "archlinux", "alpine", "gentoo",
                   "nixos"):
        if name.startswith(ostype):
            return ostype
    if name.startswith(("rockylinux", "almalinux", "rocky", "alma")):
        return "centos"
    return "unmanaged"
