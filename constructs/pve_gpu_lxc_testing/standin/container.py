"""`proxmox_virtual_environment_container`: bpg's mapping between state and the PVE config.

The mapping functions (`create_conf`, `update_conf`, `read_state`) are pure; the
`Container` class adds the node I/O.  What bpg 0.111.1 does, and so what this does:

* create sends the options through the API (PVE writes them sorted), then appends the
  `lxc.idmap` lines over SSH;
* update rewrites only the options whose attributes changed; `devN` beyond the new
  list length are never deleted; a changed `idmap` drops every `lxc.idmap` line and
  appends the new set at the end of the file;
* read re-reads most options, but keeps the state's `device_passthrough` when the
  config has no `devN` at all, never re-reads `operating_system.template_file_id`,
  passwords/keys, `pool_id`, timeouts; a missing config means "gone" (plan create).
"""

from __future__ import annotations

import hashlib
import re
from copy import deepcopy
from typing import Any

from tf.types import Unknown

from . import pveconf
from .node import Node, PveError
from .planning import Obj

TYPE = "proxmox_virtual_environment_container"
MAX_DEVICES = 128
MAX_NETS = 10
MAX_MOUNTS = 256


class ReadError(PveError):
    pass


# --- small helpers ----------------------------------------------------------------------------

def _b01(value: Any) -> str:
    return "1" if value else "0"


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _first(state: Obj, name: str) -> Obj | None:
    items = state.get(name) or []
    return items[0] if items else None


def _get(block: Obj | None, key: str, default: Any) -> Any:
    """bpg's DefaultFunc blocks: an absent block or null value reads as the schema default."""
    if block is None or block.get(key) is None or block.get(key) is Unknown:
        return default
    return block[key]


def normalize_description(value: Any) -> Any:
    """bpg stores the description trimmed with exactly one trailing newline (PVE adds it back)."""
    if value is None or value is Unknown or value == "":
        return value
    return value.strip() + "\n"


def hwaddr(vmid: int, index: int) -> str:
    """PVE assigns a random BC:24:11 MAC; the stand-in derives one so re-creates are byte-identical."""
    digest = hashlib.sha256(f"{vmid}/net{index}".encode()).digest()
    return "BC:24:11:" + ":".join(f"{b:02X}" for b in digest[:3])


def rootfs_volume(datastore_id: str, vmid: int) -> str:
    if datastore_id == "local":  # directory storage: raw image file
        return f"{vmid}/vm-{vmid}-disk-0.raw"
    return f"vm-{vmid}-disk-0"


# --- encoders (state -> PVE option strings) ------------------------------------------------------

def device_string(dev: Obj) -> str:
    """Exactly bpg's order: `deny-write=0,path=/dev/x,uid=0,gid=0,mode=0660`."""
    return pveconf.print_property_string([
        ("deny-write", _b01(dev.get("deny_write"))),
        ("path", dev["path"]),
        ("uid", _num(_get(dev, "uid", 0))),
        ("gid", _num(_get(dev, "gid", 0))),
        ("mode", _get(dev, "mode", "0660")),
    ])


def idmap_line(entry: Obj) -> str:
    kind = {"uid": "u", "gid": "g"}.get(entry["type"])
    if kind is None:
        raise PveError(f"idmap type {entry['type']!r} is invalid: expected 'uid' or 'gid'")
    return f"{kind} {_num(entry['container_id'])} {_num(entry['host_id'])} {_num(entry['size'])}"


def features_string(features: Obj | None, *, update: bool) -> str | None:
    """Create sends only true flags (and mount); update sends all four flags."""
    pairs: list[tuple[str, str]] = []
    mounts = [m for m in (_get(features, "mount", []) or [])]
    for flag in ("fuse", "keyctl"):
        if update or _get(features, flag, False):
            pairs.append((flag, _b01(_get(features, flag, False))))
    if mounts:
        pairs.append(("mount", ";".join(mounts)))
    for flag in ("nesting", "mknod"):
        if update or _get(features, flag, False):
            pairs.append((flag, _b01(_get(features, flag, False))))
    return pveconf.print_property_string(pairs) if pairs else None


def net_string(nic: Obj, ip_config: Obj | None, vmid: int, index: int) -> str:
    """PVE reprints netN: `name=` first, then the keys sorted, with `hwaddr` and `type=veth` added."""
    props: dict[str, str] = {
        "bridge": _get(nic, "bridge", "vmbr0"),
        "firewall": _b01(_get(nic, "firewall", False)),
        "hwaddr": _get(nic, "mac_address", None) or hwaddr(vmid, index),
        "type": "veth",
    }
    if _get(nic, "host_managed", False):
        props["host-managed"] = "1"
    if _get(nic, "mtu", 0):
        props["mtu"] = _num(nic["mtu"])
    if _get(nic, "rate_limit", 0):
        props["rate"] = f"{float(nic['rate_limit']):.2f}"
    if _get(nic, "vlan_id", 0):
        props["tag"] = _num(nic["vlan_id"])
    ipv4, ipv6 = _first(ip_config or {}, "ipv4"), _first(ip_config or {}, "ipv6")
    for key, block, attr in (("ip", ipv4, "address"), ("gw", ipv4, "gateway"),
                             ("ip6", ipv6, "address"), ("gw6", ipv6, "gateway")):
        if _get(block, attr, ""):
            props[key] = block[attr]  # type: ignore[index]
    return pveconf.print_property_string([("name", nic["name"])] + sorted(props.items()))


def rootfs_string(disk: Obj | None, vmid: int) -> str:
    datastore = _get(disk, "datastore_id", "local")
    pairs = []
    if _get(disk, "acl", False):
        pairs.append(("acl", "1"))
    if _get(disk, "mount_options", []):
        pairs.append(("mountoptions", ";".join(disk["mount_options"])))  # type: ignore[index]
    if _get(disk, "quota", False):
        pairs.append(("quota", "1"))
    if _get(disk, "replicate", False):
        pairs.append(("replicate", "1"))
    pairs.append(("size", f"{_num(_get(disk, 'size', 4))}G"))
    return f"{datastore}:{rootfs_volume(datastore, vmid)}," + pveconf.print_property_string(pairs)


def mount_string(mp: Obj, vmid: int, index: int) -> str:
    volume = mp["volume"]
    size = _get(mp, "size", "")
    if ":" not in volume and not volume.startswith("/"):
        volume = f"{volume}:vm-{vmid}-disk-{index + 1}"  # a bare storage ID: PVE allocates a volume
    pairs = []
    for flag, key, default in (("acl", "acl", False), ("backup", "backup", False)):
        if _get(mp, flag, default):
            pairs.append((key, "1"))
    if _get(mp, "mount_options", []):
        pairs.append(("mountoptions", ";".join(mp["mount_options"])))
    pairs.append(("mp", mp["path"]))
    if _get(mp, "quota", False):
        pairs.append(("quota", "1"))
    if not _get(mp, "replicate", True):
        pairs.append(("replicate", "0"))
    if _get(mp, "read_only", False):
        pairs.append(("ro", "1"))
    if _get(mp, "shared", False):
        pairs.append(("shared", "1"))
    if size:
        pairs.append(("size", size if size[-1].isalpha() else f"{size}G"))
    return volume + "," + pveconf.print_property_string(pairs)


def startup_string(startup: Obj | None) -> str | None:
    pairs = [(key, _num(_get(startup, attr, -1))) for key, attr in
             (("down", "down_delay"), ("order", "order"), ("up", "up_delay")) if _get(startup, attr, -1) >= 0]
    return pveconf.print_property_string(pairs) if pairs else None


# --- option groups: which conf keys each attribute owns -------------------------------------------

def _group_options(state: Obj, vmid: int, *, update: bool) -> dict[str, dict[str, str | None]]:
    """Per top-level attribute: the options it sets (None = absent / deleted)."""
    cpu, memory, console = _first(state, "cpu"), _first(state, "memory"), _first(state, "console")
    init = _first(state, "initialization")
    dns = _first(init or {}, "dns")
    ip_configs = (init or {}).get("ip_config") or []
    nics = state.get("network_interface") or []
    units = _get(cpu, "units", 0)
    limit = _get(cpu, "limit", 0)
    tags = sorted({t.strip() for t in (state.get("tags") or []) if t and t.strip()})
    servers = _get(dns, "servers", []) or ([dns["server"]] if _get(dns, "server", "") else [])
    os_block = _first(state, "operating_system")
    groups: dict[str, dict[str, str | None]] = {
        "description": {"description": state.get("description") or None},
        "tags": {"tags": ";".join(tags) or None},
        "hook_script_file_id": {"hookscript": state.get("hook_script_file_id") or None},
        "unprivileged": {"unprivileged": "1" if state.get("unprivileged") else None},
        "protection": {"protection": "1" if state.get("protection") else None},
        "template": {"template": "1" if state.get("template") else None},
        "start_on_boot": {"onboot": _b01(_get(state, "start_on_boot", True))},
        "features": {"features": features_string(_first(state, "features"), update=update)},
        "cpu": {
            "arch": _get(cpu, "architecture", "amd64"),
            "cores": _num(_get(cpu, "cores", 1)),
            "cpulimit": _num(limit) if limit else None,
            "cpuunits": _num(units) if units else None,
        },
        "memory": {"memory": _num(_get(memory, "dedicated", 512)), "swap": _num(_get(memory, "swap", 0))},
        "console": {
            "cmode": _get(console, "type", "tty"),
            "console": _b01(_get(console, "enabled", True)),
            "tty": _num(_get(console, "tty_count", 2)),
        },
        "startup": {"startup": startup_string(_first(state, "startup"))},
        "initialization": {
            "hostname": _get(init, "hostname", "") or None,
            "nameserver": " ".join(servers) or None,
            "searchdomain": _get(dns, "domain", "") or None,
        },
        "operating_system": {"ostype": _get(os_block, "type", "unmanaged")} if os_block else {},
        "network_interface": {
            f"net{i}": (net_string(nic, ip_configs[i] if i < len(ip_configs) else None, vmid, i)
                        if _get(nic, "enabled", True) or not update else None)
            for i, nic in enumerate(nics)
        },
        "device_passthrough": {f"dev{i}": device_string(d) for i, d in enumerate(state.get("device_passthrough") or [])},
        "mount_point": {f"mp{i}": mount_string(m, vmid, i) for i, m in enumerate(state.get("mount_point") or [])},
        "disk": {"rootfs": rootfs_string(_first(state, "disk"), vmid)},
    }
    if update:  # update deletes NICs from len(list) to 9
        for i in range(len(nics), MAX_NETS):
            groups["network_interface"][f"net{i}"] = None
    return groups


def create_conf(planned: Obj, vmid: int) -> pveconf.PveConf:
    conf = pveconf.PveConf()
    for options in _group_options(planned, vmid, update=False).values():
        for key, value in options.items():
            if value is None:
                continue
            if key == "description":
                conf.description = value
            else:
                conf.options[key] = value
    conf.replace_lxc("lxc.idmap", [idmap_line(e) for e in planned.get("idmap") or []])
    return conf


# attributes whose change bpg sends in the update PUT (initialization's ip_config lives in netN)
_NET_LINKED = ("network_interface", "initialization")


def update_conf(conf: pveconf.PveConf, prior: Obj, planned: Obj, vmid: int) -> None:
    """Apply the changed attribute groups to `conf` in place, the way bpg's update does."""
    groups = _group_options(planned, vmid, update=True)
    for name, options in groups.items():
        if prior.get(name) == planned.get(name):
            if not (name == "network_interface" and prior.get("initialization") != planned.get("initialization")):
                continue
        for key, value in options.items():
            if key == "description":
                conf.description = value
            elif value is None:
                conf.options.pop(key, None)
            else:
                conf.options[key] = value
    # bpg never deletes devN / mpN beyond the new list length: nothing to do for them here.
    if prior.get("idmap") != planned.get("idmap"):
        conf.replace_lxc("lxc.idmap", [idmap_line(e) for e in planned.get("idmap") or []])


# --- reader (PVE config -> state) ---------------------------------------------------------------------

def _indexed(conf: pveconf.PveConf, prefix: str, limit: int) -> list[str]:
    return [conf.options[f"{prefix}{i}"] for i in range(limit) if f"{prefix}{i}" in conf.options]


def _int(value: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ReadError(f"{where}: {value!r} is not an integer") from None


def parse_device(value: str) -> Obj:
    props = pveconf.parse_property_string(value, default_key="path")
    return {
        "path": props.get("path"),
        "uid": _int(props.get("uid", "0"), "uid"),
        "gid": _int(props.get("gid", "0"), "gid"),
        "mode": props.get("mode", "0660"),
        "deny_write": props.get("deny-write", "0") == "1",
    }


def parse_idmap(value: str) -> Obj:
    """bpg fails the whole read on a malformed line (not 4 fields, or type not u/g)."""
    fields = value.split()
    if len(fields) != 4 or fields[0] not in ("u", "g"):
        raise ReadError(f"failed to parse lxc.idmap entry {value!r}: expected 'u|g <container_id> <host_id> <size>'")
    return {
        "type": "uid" if fields[0] == "u" else "gid",
        "container_id": _int(fields[1], "lxc.idmap container_id"),
        "host_id": _int(fields[2], "lxc.idmap host_id"),
        "size": _int(fields[3], "lxc.idmap size"),
    }


def _parse_features(value: str | None) -> Obj:
    props = pveconf.parse_property_string(value or "")
    mounts = [m for m in props.get("mount", "").split(";") if m]
    return {
        "fuse": props.get("fuse") == "1", "keyctl": props.get("keyctl") == "1",
        "mknod": props.get("mknod") == "1", "nesting": props.get("nesting") == "1",
        "mount": mounts,
    }


def _keep_or_default(prior_items: list, read: Obj, defaults: Obj) -> list:
    """bpg sets an optional block only when the state had it or PVE holds non-default values."""
    if prior_items:
        merged = deepcopy(prior_items[0])
        merged.update(read)
        return [merged]
    if any(read.get(k) != v for k, v in defaults.items()):
        return [read]
    return []


def _same_members(a: list | None, b: list | None) -> bool:
    return sorted(a or []) == sorted(b or [])


def read_state(prior: Obj, conf: pveconf.PveConf, status: str) -> Obj:
    """The state bpg's containerRead produces from `prior` and the node's config."""
    st = deepcopy(prior)
    opts = conf.options
    st["description"] = normalize_description(conf.description or "")
    tags = sorted(t for t in (opts.get("tags") or "").replace(",", ";").split(";") if t)
    if not _same_members(tags, prior.get("tags")):  # DiffSuppress: order-insensitive
        st["tags"] = tags if (tags or prior.get("tags") is not None) else prior.get("tags")
    st["hook_script_file_id"] = opts.get("hookscript", "")
    st["unprivileged"] = opts.get("unprivileged") == "1"
    st["protection"] = opts.get("protection") == "1"
    st["template"] = opts.get("template") == "1"
    st["start_on_boot"] = opts.get("onboot") == "1"
    st["started"] = status == "running"

    feats = _parse_features(opts.get("features"))
    prior_feats = prior.get("features") or []
    if prior_feats or any(feats[f] for f in ("fuse", "keyctl", "mknod", "nesting")) or feats["mount"]:
        merged = deepcopy(prior_feats[0]) if prior_feats else {}
        merged.update(feats)
        if not feats["mount"] and not (merged.get("mount") or []):
            merged["mount"] = (prior_feats[0].get("mount") if prior_feats else None)
        st["features"] = [merged]

    devices = _indexed(conf, "dev", MAX_DEVICES)
    if devices:  # blind spot: with no devN at all, bpg keeps whatever the state had
        st["device_passthrough"] = [parse_device(d) for d in devices]
    st["idmap"] = [parse_idmap(v) for v in conf.lxc_values("lxc.idmap")]

    cpu_read = {
        "architecture": opts.get("arch", "amd64"),
        "cores": _int(opts.get("cores", "1"), "cores"),
        "limit": float(opts.get("cpulimit", "0")),
        "units": _int(opts["cpuunits"], "cpuunits") if "cpuunits" in opts else _get(_first(prior, "cpu"), "units", None),
    }
    st["cpu"] = _keep_or_default(prior.get("cpu") or [], cpu_read,
                                 {"architecture": "amd64", "cores": 1, "limit": 0.0})
    mem_read = {"dedicated": _int(opts.get("memory", "512"), "memory"), "swap": _int(opts.get("swap", "0"), "swap")}
    st["memory"] = _keep_or_default(prior.get("memory") or [], mem_read, {"dedicated": 512, "swap": 0})
    console_read = {"enabled": opts.get("console", "1") == "1", "type": opts.get("cmode", "tty"),
                    "tty_count": _int(opts.get("tty", "2"), "tty")}
    st["console"] = _keep_or_default(prior.get("console") or [], console_read,
                                     {"enabled": True, "type": "tty", "tty_count": 2})
    if "startup" in opts or prior.get("startup"):
        props = pveconf.parse_property_string(opts.get("startup", ""))
        st["startup"] = _keep_or_default(prior.get("startup") or [], {
            "order": _int(props.get("order", "-1"), "startup order"),
            "up_delay": _int(props.get("up", "-1"), "startup up"),
            "down_delay": _int(props.get("down", "-1"), "startup down"),
        }, {})
    if prior.get("operating_system") or "ostype" in opts:
        os_read = {"type": opts.get("ostype", "unmanaged")}
        st["operating_system"] = _keep_or_default(prior.get("operating_system") or [], os_read, {})
    st["disk"] = _read_disk(prior, opts)
    _read_network(st, prior, conf)
    mounts = _indexed(conf, "mp", MAX_MOUNTS)
    if mounts:  # same gap as devices: no mpN at all keeps the state
        st["mount_point"] = [_read_mount(m, prior.get("mount_point") or [], i) for i, m in enumerate(mounts)]
    return st


def _read_disk(prior: Obj, opts: dict[str, str]) -> list:
    if "rootfs" not in opts:
        return prior.get("disk") or []
    props = pveconf.parse_property_string(opts["rootfs"], default_key="volume")
    storage, _, path = props["volume"].partition(":")
    size = props.get("size", "4G")
    read = {
        "datastore_id": storage,
        "size": _int(size.rstrip("G"), "rootfs size") if size.endswith("G") else _int(size, "rootfs size"),
        "acl": props.get("acl") == "1",
        "quota": props.get("quota") == "1",
        "replicate": props.get("replicate") == "1",
        "path_in_datastore": path,
        "mount_options": [m for m in props.get("mountoptions", "").split(";") if m] or None,
    }
    prior_disk = prior.get("disk") or []
    if prior_disk and read["mount_options"] is None and not prior_disk[0].get("mount_options"):
        read["mount_options"] = prior_disk[0].get("mount_options")
    return _keep_or_default(prior_disk, read, {"datastore_id": "local", "size": 4})


def _read_network(st: Obj, prior: Obj, conf: pveconf.PveConf) -> None:
    opts = conf.options
    nics, ip_configs = [], []
    prior_nics = prior.get("network_interface") or []
    for i in range(MAX_NETS):
        if f"net{i}" not in opts:
            continue
        props = pveconf.parse_property_string(opts[f"net{i}"])
        nic = deepcopy(prior_nics[len(nics)]) if len(nics) < len(prior_nics) else {}
        nic.update({
            "name": props.get("name"),
            "bridge": props.get("bridge", ""),
            "enabled": True,
            "firewall": props.get("firewall") == "1",
            "host_managed": props.get("host-managed") == "1",
            "mac_address": props.get("hwaddr"),
            "mtu": _int(props.get("mtu", "0"), "mtu"),
            "rate_limit": float(props.get("rate", "0")),
            "vlan_id": _int(props.get("tag", "0"), "tag"),
        })
        nics.append(nic)
        ipv4 = [{"address": props.get("ip", ""), "gateway": props.get("gw", "")}] if ("ip" in props or "gw" in props) else []
        ipv6 = [{"address": props.get("ip6", ""), "gateway": props.get("gw6", "")}] if ("ip6" in props or "gw6" in props) else []
        ip_configs.append({"ipv4": ipv4, "ipv6": ipv6})
    if nics or prior_nics:
        st["network_interface"] = nics
    init_prior = _first(prior, "initialization")
    dns_prior = _first(init_prior or {}, "dns")
    servers = opts.get("nameserver", "").split()
    dns = []
    if dns_prior or servers or opts.get("searchdomain"):
        entry = deepcopy(dns_prior) if dns_prior else {"server": ""}
        entry["domain"] = opts.get("searchdomain", "")
        if servers or (dns_prior and dns_prior.get("servers") is not None):
            entry["servers"] = servers
        else:
            entry["servers"] = None
        dns = [entry]
    while ip_configs and not ip_configs[-1]["ipv4"] and not ip_configs[-1]["ipv6"]:
        ip_configs.pop()
    read = {"hostname": opts.get("hostname", ""), "dns": dns, "ip_config": ip_configs}
    if init_prior or read["hostname"] or dns or ip_configs:
        merged = deepcopy(init_prior) if init_prior else {"entrypoint": "", "user_account": []}
        merged.update(read)
        st["initialization"] = [merged]


_MP_DEFAULTS = {"acl": False, "backup": False, "quota": False, "read_only": False, "replicate": True, "shared": False}


def _read_mount(value: str, prior_mounts: list, index: int) -> Obj:
    props = pveconf.parse_property_string(value, default_key="volume")
    prior = deepcopy(prior_mounts[index]) if index < len(prior_mounts) else {}
    volume = props["volume"]
    storage, _, path = volume.partition(":")
    allocated = re.fullmatch(r"vm-\d+-disk-\d+", path or "")
    prior.update({
        # an allocated volume stays `storage` in bpg's state (DiffSuppress on volume)
        "volume": prior.get("volume", storage) if allocated else volume,
        "path": props.get("mp"),
        "acl": props.get("acl") == "1",
        "backup": props.get("backup") == "1",
        "quota": props.get("quota") == "1",
        "read_only": props.get("ro") == "1",
        "replicate": props.get("replicate", "1") == "1",
        "shared": props.get("shared") == "1",
        "path_in_datastore": path if allocated else volume,
    })
    if "size" in props:
        prior["size"] = prior.get("size") or props["size"]
    return prior


def scrub_unknown(value: Any) -> Any:
    """Computed values bpg leaves unset are null after apply, never unknown."""
    if value is Unknown:
        return None
    if isinstance(value, dict):
        return {k: scrub_unknown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_unknown(v) for v in value]
    return value


# --- CRUD over a node -----------------------------------------------------------------------------------

class Container:
    type_name = TYPE

    def __init__(self, node: Node):
        self.node = node

    def create(self, planned: Obj) -> Obj:
        self.node.check_node(planned["node_name"])
        vmid = planned.get("vm_id")
        if vmid is None or vmid is Unknown:
            vmid = self.node.next_vmid()
        vmid = int(vmid)
        if self.node.conf_path(vmid).exists():
            raise PveError(f"unable to create CT {vmid} - CT {vmid} already exists on node '{self.node.name}'")
        os_block = _first(planned, "operating_system")
        if os_block is None and not planned.get("clone"):
            raise PveError("an `operating_system` block is required when creating a container (bpg runtime check)")
        if planned.get("clone"):
            raise PveError("clone is not modelled by the stand-in provider")
        template = os_block["template_file_id"]
        if not self.node.volume_path(template).exists():
            raise PveError(f"volume '{template}' does not exist (put the template on the node first)")
        self._check_hookscript(planned.get("hook_script_file_id"))
        state = deepcopy(planned)
        state["vm_id"] = vmid
        state["id"] = str(vmid)
        conf = create_conf(state, vmid)
        self.node.write_conf(vmid, conf)
        self.node.set_status(vmid, "running" if _get(planned, "started", True) and not planned.get("template") else "stopped")
        return self._finish(state, vmid)

    def read(self, current: Obj) -> Obj | None:
        vmid = self._vmid(current)
        conf = self.node.read_conf(vmid)
        if conf is None:
            return None  # PVE: "Configuration file ... does not exist" -> bpg clears the ID
        return read_state(current, conf, self.node.status(vmid))

    def update(self, prior: Obj, planned: Obj) -> Obj:
        vmid = self._vmid(prior)
        conf = self.node.read_conf(vmid)
        if conf is None:
            raise PveError(f"Configuration file 'nodes/{self.node.name}/lxc/{vmid}.conf' does not exist")
        if planned.get("hook_script_file_id") != prior.get("hook_script_file_id"):
            self._check_hookscript(planned.get("hook_script_file_id"))
        update_conf(conf, prior, planned, vmid)
        self.node.write_conf(vmid, conf)
        if planned.get("started") != prior.get("started"):
            self.node.set_status(vmid, "running" if planned.get("started") else "stopped")
        return self._finish(deepcopy(planned), vmid)

    def delete(self, prior: Obj) -> None:
        self.node.delete_conf(self._vmid(prior))

    def _finish(self, state: Obj, vmid: int) -> Obj:
        state["ipv4"] = state.get("ipv4") if state.get("ipv4") not in (None, Unknown) else {}
        state["ipv6"] = state.get("ipv6") if state.get("ipv6") not in (None, Unknown) else {}
        fresh = self.read(state)
        if fresh is None:
            raise PveError(f"CT {vmid} vanished right after it was written")
        return scrub_unknown(fresh)

    def _check_hookscript(self, volid: Any) -> None:
        if not volid or volid is Unknown:
            return
        path = self.node.volume_path(volid)
        if not path.exists():
            raise PveError(f"hookscript: script '{volid}' does not exist")
        if not path.stat().st_mode & 0o111:
            raise PveError(f"hookscript: script '{volid}' is not executable (upload it with file_mode = \"0700\")")

    @staticmethod
    def _vmid(state: Obj) -> int:
        raw = state.get("id") or state.get("vm_id")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise PveError(f"container state has no usable ID ({raw!r})") from None
