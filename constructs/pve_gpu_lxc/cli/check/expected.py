"""What a synthesized stack promises for each GPU container (pure: a dict in, dataclasses out).

Read from `cdktf.out/stacks/<stack>/cdk.tf.json`:

* `proxmox_virtual_environment_container` resources with at least one `device_passthrough`
  block (the GPU containers): `node_name`, `vm_id`, the devN list (path, uid, gid, mode,
  deny_write; index i is `dev<i>` on the node, as bpg writes them), the `idmap` blocks as raw
  `lxc.idmap` lines, `unprivileged` (bpg's default: false);
* `hook_script_file_id`: a `${proxmox_virtual_environment_file.<name>.id}` reference resolves
  to that file resource: the volume id `<datastore_id>:snippets/<file_name>` and the script
  text from `source_raw.data` with Terraform's template escapes undone (`$${` -> `${`,
  `%%{` -> `%{`).  A literal volume id is checked for existence and mode only;
* the NVIDIA driver the container is pinned to: the generated hook's pin line, read by the
  rule that writes it (core/nvidia_pin.py; the version the node's pre-start hook enforces);
* ownership (README "What is guarded"): the host name, the tags (with the ownership tag), whether
  the resource has the guard's precondition and whether an `import` block targets it
  (`import_existing=True`); `managed_vmids` lists the vm_ids of every container of the stack;
* the provider block's SSH settings (`ssh.username`, `ssh.node[]`) and endpoint/insecure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...core import names, nvidia_pin

CONTAINER_TYPE = "proxmox_virtual_environment_container"
FILE_TYPE = "proxmox_virtual_environment_file"
# PVE's default map for an unprivileged container without lxc.idmap lines (PVE::LXC).
PVE_DEFAULT_IDMAP = ("u 0 100000 65536", "g 0 100000 65536")

_FILE_REF = re.compile(r"^\$\{" + FILE_TYPE + r"\.([A-Za-z0-9_-]+)\.id\}$")
_TEMPLATE_TOKEN = re.compile(r"\$\$\{|%%\{|\$\{|%\{")
_VOLID = re.compile(rf"^({names.STORAGE_ID.pattern}):(.+)$")


class ExpectedError(ValueError):
    """The synthesized JSON cannot be read as this module expects; str() names what and where."""


@dataclass(frozen=True)
class ExpectedDevice:
    """One `device_passthrough` block: dev<index> on the node."""

    index: int
    path: str
    uid: int = 0
    gid: int = 0
    mode: str | None = None  # four-digit octal as synthesized; None: not set
    deny_write: bool = False

    def pve_value(self) -> str:
        """The devN value for `pct set <vmid> --devN '<this>'`."""
        parts = [f"path={self.path}"]
        if self.deny_write:
            parts.append("deny-write=1")
        parts += [f"uid={self.uid}", f"gid={self.gid}"]
        if self.mode is not None:
            parts.append(f"mode={self.mode}")
        return ",".join(parts)


@dataclass(frozen=True)
class ExpectedHook:
    """The hookscript snippet: its volume id and, when the configuration holds it, its text."""

    volid: str
    content: str | None = None  # None: not known from the configuration (literal id, source_file)
    file_address: str | None = None  # proxmox_virtual_environment_file.<name>
    file_mode: str | None = None
    note: str | None = None  # why the content is unknown

    @property
    def sha256(self) -> str | None:
        return None if self.content is None else hashlib.sha256(self.content.encode()).hexdigest()

    @property
    def storage(self) -> str | None:
        match = _VOLID.match(self.volid)
        return match.group(1) if match else None

    @property
    def snippet(self) -> str | None:
        """The file name for a `<storage>:snippets/<file>` volume id, else None."""
        match = _VOLID.match(self.volid)
        if not match or not match.group(2).startswith("snippets/"):
            return None
        name = match.group(2)[len("snippets/"):]
        return name if name and "/" not in name else None


@dataclass(frozen=True)
class ExpectedContainer:
    stack: str
    name: str  # the resource name (construct id)
    node: str
    vmid: int
    devices: tuple[ExpectedDevice, ...]
    idmap: tuple[str, ...] = ()  # raw lxc.idmap values, in order
    unprivileged: bool = False
    hook: ExpectedHook | None = None
    nvidia_driver: str | None = None
    hostname: str | None = None
    tags: tuple[str, ...] = ()
    guarded: bool = False  # the resource has the guard's precondition
    imported: bool = False  # an `import` block targets it (import_existing=True)

    @property
    def address(self) -> str:
        return f"{CONTAINER_TYPE}.{self.name}"

    @property
    def effective_idmap(self) -> tuple[str, ...]:
        """The map LXC gets: the raw lines, or PVE's default for an unprivileged container."""
        if self.idmap:
            return self.idmap
        return PVE_DEFAULT_IDMAP if self.unprivileged else ()

    @property
    def is_nvidia(self) -> bool:
        return any(d.path.startswith("/dev/nvidia") for d in self.devices)


@dataclass(frozen=True)
class SshNode:
    name: str
    address: str
    port: int | None = None


@dataclass(frozen=True)
class ProviderSettings:
    """The non-secret provider settings the check needs (secrets come from the environment)."""

    endpoint: str | None = None
    insecure: bool | None = None
    ssh_username: str | None = None
    ssh_agent: bool | None = None
    ssh_nodes: tuple[SshNode, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------------------------


def undo_template_escapes(text: str) -> str | None:
    """A Terraform JSON string's literal value: `$${` -> `${`, `%%{` -> `%{`.

    None when the string holds a live interpolation or directive (its value is only known to
    Terraform).
    """
    live = False

    def repl(match: re.Match[str]) -> str:
        nonlocal live
        token = match.group(0)
        if token in ("${", "%{"):
            live = True
            return token
        return token[1:]

    result = _TEMPLATE_TOKEN.sub(repl, text)
    return None if live else result


def containers(stack: str, doc: Mapping[str, Any]) -> list[ExpectedContainer]:
    """Every GPU container of one synthesized stack, in resource-name order."""
    resources = doc.get("resource") or {}
    if not isinstance(resources, Mapping):
        raise ExpectedError(f"{stack}: 'resource' is not an object")
    files = resources.get(FILE_TYPE) or {}
    imported = _import_targets(doc)
    found = []
    for name, body in sorted((resources.get(CONTAINER_TYPE) or {}).items()):
        where = f"{stack}: {CONTAINER_TYPE}.{name}"
        if not isinstance(body, Mapping):
            raise ExpectedError(f"{where} is not an object")
        devices = _list(body.get("device_passthrough"))
        if not devices:
            continue  # not a GPU container
        node = body.get("node_name")
        vmid = body.get("vm_id")
        if not isinstance(node, str) or not node or "${" in node:
            raise ExpectedError(f"{where}: node_name {node!r} is not a literal node name")
        if isinstance(vmid, str) and vmid.isdigit():
            vmid = int(vmid)
        if not isinstance(vmid, int) or isinstance(vmid, bool):
            raise ExpectedError(
                f"{where}: vm_id {vmid!r} is not a literal number (the check finds containers by "
                "node and vm_id; set vm_id on the GpuContainer)")
        hook = _hook(where, body.get("hook_script_file_id"), files)
        init = body.get("initialization")
        init = init[0] if isinstance(init, list) and init else init
        hostname = init.get("hostname") if isinstance(init, Mapping) else None
        lifecycle = body.get("lifecycle")
        lifecycle = lifecycle[0] if isinstance(lifecycle, list) and lifecycle else lifecycle
        found.append(ExpectedContainer(
            stack=stack,
            name=name,
            node=node,
            vmid=vmid,
            devices=tuple(_device(where, i, d) for i, d in enumerate(devices)),
            idmap=tuple(_idmap_line(where, m) for m in _list(body.get("idmap"))),
            unprivileged=_bool(body.get("unprivileged"), False),
            hook=hook,
            nvidia_driver=nvidia_pin.pinned_version(hook.content if hook else None),
            hostname=hostname if isinstance(hostname, str) and "${" not in hostname else None,
            tags=tuple(t for t in _list(body.get("tags")) if isinstance(t, str)),
            guarded=isinstance(lifecycle, Mapping) and bool(lifecycle.get("precondition")),
            imported=f"{CONTAINER_TYPE}.{name}" in imported,
        ))
    return found


def managed_vmids(doc: Mapping[str, Any]) -> set[int]:
    """The literal vm_ids of every container resource of a stack (GPU or not)."""
    resources = doc.get("resource") or {}
    bodies = resources.get(CONTAINER_TYPE) if isinstance(resources, Mapping) else None
    found = set()
    for body in (bodies or {}).values():
        vmid = body.get("vm_id") if isinstance(body, Mapping) else None
        if isinstance(vmid, str) and vmid.isdigit():
            vmid = int(vmid)
        if isinstance(vmid, int) and not isinstance(vmid, bool):
            found.add(vmid)
    return found


def _import_targets(doc: Mapping[str, Any]) -> set[str]:
    """The addresses `import` blocks bring into the state."""
    return {str(block["to"]) for block in _list(doc.get("import")) if isinstance(block, Mapping) and "to" in block}


def provider_settings(doc: Mapping[str, Any]) -> ProviderSettings:
    """The first `provider.proxmox` block's endpoint, insecure and ssh settings."""
    blocks = _list((doc.get("provider") or {}).get("proxmox"))
    if not blocks or not isinstance(blocks[0], Mapping):
        return ProviderSettings()
    block = blocks[0]
    ssh = block.get("ssh")
    ssh = ssh[0] if isinstance(ssh, list) and ssh else ssh
    ssh = ssh if isinstance(ssh, Mapping) else {}
    nodes = []
    for entry in _list(ssh.get("node")):
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str) and isinstance(entry.get("address"), str):
            port = entry.get("port")
            nodes.append(SshNode(entry["name"], entry["address"], int(port) if port is not None else None))
    endpoint = block.get("endpoint")
    return ProviderSettings(
        endpoint=endpoint if isinstance(endpoint, str) and "${" not in endpoint else None,
        insecure=_bool(block.get("insecure"), None),
        ssh_username=ssh.get("username") if isinstance(ssh.get("username"), str) else None,
        ssh_agent=_bool(ssh.get("agent"), None),
        ssh_nodes=tuple(nodes),
    )


# --------------------------------------------------------------------------------------------


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _bool(value: Any, default: Any) -> Any:
    if isinstance(value, bool):
        return value
    if value in ("true", "1", 1):
        return True
    if value in ("false", "0", 0):
        return False
    return default


def _int(where: str, value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise ExpectedError(f"{where}: {value!r} is not a literal number")
    return int(value)


def _device(where: str, index: int, block: Any) -> ExpectedDevice:
    if not isinstance(block, Mapping) or not isinstance(block.get("path"), str):
        raise ExpectedError(f"{where}: device_passthrough[{index}] has no literal path")
    mode = block.get("mode")
    return ExpectedDevice(
        index=index,
        path=block["path"],
        uid=_int(f"{where}: device_passthrough[{index}].uid", block.get("uid"), 0),
        gid=_int(f"{where}: device_passthrough[{index}].gid", block.get("gid"), 0),
        mode=str(mode) if mode is not None else None,
        deny_write=bool(_bool(block.get("deny_write"), False)),
    )


def _idmap_line(where: str, block: Any) -> str:
    if not isinstance(block, Mapping) or block.get("type") not in ("uid", "gid"):
        raise ExpectedError(f"{where}: idmap block {block!r} has no type uid/gid")
    kind = "u" if block["type"] == "uid" else "g"
    numbers = [_int(f"{where}: idmap", block.get(k), -1) for k in ("container_id", "host_id", "size")]
    if min(numbers) < 0:
        raise ExpectedError(f"{where}: idmap block {dict(block)!r} misses container_id, host_id or size")
    return f"{kind} {numbers[0]} {numbers[1]} {numbers[2]}"


def _hook(where: str, value: Any, files: Mapping[str, Any]) -> ExpectedHook | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ExpectedError(f"{where}: hook_script_file_id {value!r} is not a string")
    ref = _FILE_REF.match(value)
    if ref is None:
        if "${" in value:
            raise ExpectedError(f"{where}: hook_script_file_id {value!r} is neither a volume id nor a "
                                f"{FILE_TYPE} reference")
        return ExpectedHook(volid=value, note="a literal volume id: its content is not in the configuration")
    name = ref.group(1)
    body = files.get(name)
    address = f"{FILE_TYPE}.{name}"
    if not isinstance(body, Mapping):
        raise ExpectedError(f"{where}: hook_script_file_id names {address}, which the stack does not have")
    datastore = body.get("datastore_id")
    raw = body.get("source_raw")
    raw = raw[0] if isinstance(raw, list) and raw else raw
    if not isinstance(datastore, str) or not isinstance(raw, Mapping) or not isinstance(raw.get("file_name"), str):
        return ExpectedHook(volid=f"{datastore}:snippets/?", file_address=address,
                            note=f"{address} has no source_raw: content not known")
    volid = f"{datastore}:snippets/{raw['file_name']}"
    data = raw.get("data")
    content = undo_template_escapes(data) if isinstance(data, str) else None
    mode = body.get("file_mode")
    return ExpectedHook(
        volid=volid,
        content=content,
        file_address=address,
        file_mode=str(mode) if mode is not None else None,
        note=None if content is not None else f"{address}: the script text holds a Terraform expression",
    )
