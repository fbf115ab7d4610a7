"""The create request bpg/proxmox 0.111.1 sends for a container resource (pure).

Input: one `proxmox_virtual_environment_container` body of a synthesized `cdk.tf.json`
(attribute names as in the schema, blocks as objects or one-element lists), with Terraform's
template escapes still in its strings.  Output: the form parameters of
`POST /nodes/<node>/lxc`, as bpg's `containerCreateCustom` builds them (schema defaults
applied the way SDKv2 applies them at plan time), plus the `lxc.idmap` lines bpg appends over
SSH afterwards.

Values Terraform only knows at apply time (a `${...}` reference other than the hookscript,
whose volume id the caller resolves) and attributes this module does not model are reported in
`CreateRequest.unmodelled`; `explain` prints them next to the predicted file instead of
guessing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .oci import env_option
from .synthesized import block as _block
from .synthesized import blocks, undo_template_escapes
from .version import DEFAULT_PVE_VERSION

# Attributes that never reach the create request or the config file.
_NO_EFFECT = frozenset({
    "//", "node_name", "vm_id", "timeout_clone", "timeout_create", "timeout_delete", "timeout_start",
    "timeout_update", "wait_for_ip", "lifecycle", "depends_on", "provider", "count", "for_each",
    "connection", "provisioner",
})
# Attributes (and block fields) modelled below.
_MODELLED = frozenset({
    "unprivileged", "started", "start_on_boot", "description", "tags", "cpu", "memory", "disk",
    "features", "initialization", "network_interface", "operating_system", "device_passthrough",
    "idmap", "hook_script_file_id", "protection", "template", "console", "environment_variables",
})
_BLOCK_FIELDS: dict[str, frozenset[str]] = {
    "cpu": frozenset({"architecture", "cores", "limit", "units"}),
    "memory": frozenset({"dedicated", "swap"}),
    "disk": frozenset({"datastore_id", "size"}),
    "features": frozenset({"nesting", "keyctl", "fuse", "mknod", "mount"}),
    "initialization": frozenset({"hostname", "ip_config", "dns", "user_account", "entrypoint"}),
    "console": frozenset({"enabled", "type", "tty_count"}),
    "operating_system": frozenset({"template_file_id", "type"}),
    "network_interface": frozenset({"bridge", "enabled", "firewall", "host_managed", "mac_address", "mtu", "name",
                                    "rate_limit", "vlan_id"}),
    "device_passthrough": frozenset({"path", "uid", "gid", "mode", "deny_write"}),
    "idmap": frozenset({"type", "container_id", "host_id", "size"}),
}
_DNS_FIELDS = frozenset({"domain", "server", "servers"})
_ACCOUNT_FIELDS = frozenset({"keys", "password"})
DISK_SIZE_DEFAULT = 4  # GiB: bpg sends no rootfs for it, and PVE's create uses `<storage>:4`


class Unknown(Exception):
    """A value Terraform knows only at apply time (or one this module cannot read)."""


@dataclass(frozen=True)
class CreateRequest:
    vmid: int
    params: dict[str, str]  # the form body of POST /nodes/<node>/lxc (vmid included)
    idmap_lines: tuple[str, ...]  # `u 0 100000 65536` values, in order, appended over SSH
    unmodelled: tuple[str, ...]  # attributes whose effect on the file is not predicted


def literal(text: str) -> str:
    """A Terraform JSON string's value (synthesized.undo_template_escapes); Unknown when it holds
    an interpolation or directive."""
    value = undo_template_escapes(text)
    if value is None:
        raise Unknown(f"{text!r} is only known at apply time")
    return value


def _blocks(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in blocks(value) if isinstance(item, Mapping)]


def _str(value: Any, default: str = "") -> str:
    if value is None:
        return default
    if isinstance(value, bool):
        raise Unknown(f"{value!r} is not a string")
    return literal(str(value))


def _int(value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool):
        raise Unknown(f"{value!r} is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = literal(str(value))
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    raise Unknown(f"{value!r} is not a whole number")


def _number(value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool):
        raise Unknown(f"{value!r} is not a number")
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(literal(str(value)))
    except ValueError:
        raise Unknown(f"{value!r} is not a number") from None


def _bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = literal(str(value))
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise Unknown(f"{value!r} is not a boolean")


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _number_text(value: float) -> str:
    """Go's strconv.FormatFloat(v, 'f', -1, 64) for the values bpg sends (`0`, `1.5`)."""
    return str(int(value)) if value.is_integer() else repr(value)


def _unmodelled(body: Mapping[str, Any]) -> list[str]:
    """Set attributes (and block fields, one level down) this module does not predict."""
    found = []
    for key, value in body.items():
        if key in _NO_EFFECT or value in (None, [], {}):
            continue
        if key not in _MODELLED:
            found.append(key)
            continue
        fields = _BLOCK_FIELDS.get(key)
        if fields is None:
            continue
        for block in _blocks(value):
            found += [f"{key}.{k}" for k, v in block.items() if k not in fields and v not in (None, [], {})]
    init = _block(body.get("initialization")) or {}
    for name, block_fields in (("dns", _DNS_FIELDS), ("user_account", _ACCOUNT_FIELDS)):
        for block in _blocks(init.get(name)):
            found += [f"initialization.{name}.{k}" for k, v in block.items()
                      if k not in block_fields and v not in (None, [], {})]
    return sorted(set(found))


def entrypoint(body: Mapping[str, Any]) -> str:
    """`initialization.entrypoint` ("" when unset: bpg then sends none)."""
    return _str((_block(body.get("initialization")) or {}).get("entrypoint"))


def environment(body: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """`environment_variables` as bpg sends them: (name, value) sorted by name (Go's sort.Strings:
    byte order, which is code point order), as containerGetEnvironmentVariables and
    CustomEnvironmentVariables.EncodeValues build the create's and the update's `env`."""
    value = body.get("environment_variables")
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise Unknown(f"environment_variables {value!r} is not a literal map")
    return tuple(sorted((literal(str(name)), _str(text)) for name, text in value.items()))


def create_request(body: Mapping[str, Any], *, hookscript: str | None = None, template: str | None = None,
                   pve_version: tuple[int, int] = DEFAULT_PVE_VERSION) -> CreateRequest:
    """bpg's create body for `body`; `hookscript` is the resolved `hook_script_file_id`, `template` the
    resolved `operating_system.template_file_id` (a `proxmox_oci_image`'s volume id, say).

    `pve_version` matters for one parameter: bpg sends `host-managed` on a NIC only to
    PVE >= 9.1 (it asks `GET /version` first).  Raises Unknown for a value Terraform only
    knows at apply time.
    """
    vmid = _int(body.get("vm_id"), -1)
    if vmid < 0:
        raise Unknown("vm_id is not set: PVE picks the next free id at apply time")
    p: dict[str, str] = {}
    console = _block(body.get("console")) or {}
    p["console"] = _flag(_bool(console.get("enabled"), True))
    p["cmode"] = _str(console.get("type"), "tty")
    p["tty"] = str(_int(console.get("tty_count"), 2))
    cpu = _block(body.get("cpu")) or {}
    p["arch"] = _str(cpu.get("architecture"), "amd64")
    p["cores"] = str(_int(cpu.get("cores"), 1))
    p["cpulimit"] = _number_text(_number(cpu.get("limit"), 0.0))
    units = _int(cpu.get("units"), 0)
    if units > 0:
        p["cpuunits"] = str(units)
    description = _str(body.get("description"))
    if description:
        p["description"] = description
    disk = _block(body.get("disk")) or {}
    datastore = _str(disk.get("datastore_id"), "local")
    p["storage"] = datastore
    size = _int(disk.get("size"), DISK_SIZE_DEFAULT)
    if size != DISK_SIZE_DEFAULT and datastore:
        p["rootfs"] = f"volume={datastore}:{size}"
    for index, device in enumerate(_blocks(body.get("device_passthrough"))):
        p[f"dev{index}"] = (
            f"deny-write={_flag(_bool(device.get('deny_write'), False))},path={_str(device.get('path'))},"
            f"uid={_int(device.get('uid'), 0)},gid={_int(device.get('gid'), 0)},mode={_str(device.get('mode'), '0660')}"
        )
    features = _block(body.get("features"))
    if features is not None:
        parts = [f"{name}=1" for name in ("fuse", "keyctl") if _bool(features.get(name), False)]
        mounts = [_str(m) for m in (features.get("mount") or [])]
        if mounts:
            parts.append("mount=" + ";".join(mounts))
        parts += [f"{name}=1" for name in ("nesting", "mknod") if _bool(features.get(name), False)]
        if parts:
            p["features"] = ",".join(parts)
    if hookscript:
        p["hookscript"] = hookscript
    init = _block(body.get("initialization")) or {}
    command = entrypoint(body)
    if command:  # containerCreate: `if initializationEntrypoint != ""`
        p["entrypoint"] = command
    env = environment(body)
    if env:  # CustomEnvironmentVariables.EncodeValues: NAME=value sorted by name, NUL-joined
        p["env"] = env_option(env)
    hostname = _str(init.get("hostname"))
    if hostname:
        p["hostname"] = hostname
    dns = _block(init.get("dns"))
    if dns is not None:
        domain = _str(dns.get("domain"))
        if domain:
            p["searchdomain"] = domain
        servers = [_str(s) for s in (dns.get("servers") or [])]
        server = " ".join(servers) if servers else _str(dns.get("server"))
        if server:
            p["nameserver"] = server
    account = _block(init.get("user_account"))
    if account is not None:
        keys = [_str(k) for k in (account.get("keys") or [])]
        if keys:
            p["ssh-public-keys"] = "\n".join(keys)
        if _str(account.get("password")):
            p["password"] = "(secret)"  # never in the file; the value is not needed here
    memory = _block(body.get("memory")) or {}
    p["memory"] = str(_int(memory.get("dedicated"), 512))
    p["swap"] = str(_int(memory.get("swap"), 0))
    ip_configs = _blocks(init.get("ip_config"))
    for index, nic in enumerate(_blocks(body.get("network_interface"))):
        parts = []
        bridge = _str(nic.get("bridge"), "vmbr0")
        if bridge:
            parts.append(f"bridge={bridge}")
        if _bool(nic.get("firewall"), False):
            parts.append("firewall=1")
        if pve_version >= (9, 1) or _bool(nic.get("host_managed"), False):
            parts.append(f"host-managed={_flag(_bool(nic.get('host_managed'), False))}")
        ip = ip_configs[index] if index < len(ip_configs) else {}
        for family, address_key, gateway_key in (("ipv4", "ip", "gw"), ("ipv6", "ip6", "gw6")):
            block = _block(ip.get(family)) or {}
            if _str(block.get("address")):
                parts.append(f"{address_key}={_str(block.get('address'))}")
            if _str(block.get("gateway")):
                parts.append(f"{gateway_key}={_str(block.get('gateway'))}")
        mac = _str(nic.get("mac_address"))
        if mac:
            parts.append(f"hwaddr={mac}")
        mtu = _int(nic.get("mtu"), 0)
        if mtu:
            parts.append(f"mtu={mtu}")
        parts.append(f"name={_str(nic.get('name'))}")
        rate = _number(nic.get("rate_limit"), 0.0)
        if rate:
            parts.append(f"rate={rate:.2f}")
        vlan = _int(nic.get("vlan_id"), 0)
        if vlan:
            parts.append(f"tag={vlan}")
        p[f"net{index}"] = ",".join(parts)
    os_block = _block(body.get("operating_system")) or {}
    p["ostemplate"] = template if template is not None else _str(os_block.get("template_file_id"))
    p["ostype"] = _str(os_block.get("type"), "unmanaged")
    p["start"] = _flag(_bool(body.get("started"), True))
    p["onboot"] = _flag(_bool(body.get("start_on_boot"), True))
    p["protection"] = _flag(_bool(body.get("protection"), False))
    tags = sorted({_str(t).strip() for t in (body.get("tags") or []) if _str(t).strip()})
    if tags:
        p["tags"] = ";".join(tags)
    p["template"] = _flag(_bool(body.get("template"), False))
    p["unprivileged"] = _flag(_bool(body.get("unprivileged"), False))
    p["vmid"] = str(vmid)
    idmap = []
    for block in _blocks(body.get("idmap")):
        kind = {"uid": "u", "gid": "g"}.get(_str(block.get("type")))
        if kind is None:
            raise Unknown(f"idmap block {dict(block)!r} has no type uid or gid")
        idmap.append(f"{kind} {_int(block.get('container_id'), -1)} {_int(block.get('host_id'), -1)} "
                     f"{_int(block.get('size'), -1)}")
    return CreateRequest(vmid, p, tuple(idmap), tuple(_unmodelled(body)))
