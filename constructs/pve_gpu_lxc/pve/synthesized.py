"""The synthesized Terraform JSON (`cdktf.out/stacks/<stack>/cdk.tf.json`), read in one place (pure).

Everything that reads a stack's document reads it here: `check` and `explain` (cli), the
helpers for users' tests (`pve_gpu_lxc.testing`) and the test harnesses.  No I/O but `load`,
no engine; the constructs and the L1 code generator take the type names and the escaping
from here too, so what is written and what is read cannot drift apart.

* the bpg/proxmox type names (`CONTAINER_TYPE`, `FILE_TYPE`, ...) and the provider's name;
* Terraform's template escapes: in Terraform JSON every string is a template, so a literal
  `${` is written `$${` and a literal `%{` `%%{` (`escape_literal`); `undo_template_escapes`
  gives a string's value back, or None when it holds a live interpolation or directive;
* `hook_script_file_id`: a `${proxmox_virtual_environment_file.<name>.id}` reference
  (`file_reference`) resolves to that file resource: the volume id
  `<datastore_id>:snippets/<file_name>`, its mode, and the script text from `source_raw.data`
  with the escapes undone.  A literal volume id is checked for existence and mode only;
* per GPU container (a `proxmox_virtual_environment_container` with at least one
  `device_passthrough` block) an `ExpectedContainer`: `node_name`, `vm_id`, the devN list
  (path, uid, gid, mode, deny_write; index i is `dev<i>` on the node, as bpg writes them), the
  `idmap` blocks as raw `lxc.idmap` lines, `unprivileged` (bpg's default: false), the hook,
  the NVIDIA driver the hook pins (core/nvidia_pin.py: the version the node's pre-start hook
  enforces), and ownership (README "What is guarded"): the host name, the tags (with the
  ownership tag), whether the resource has the guard's precondition and whether an `import`
  block targets it (`import_existing=True`); `managed_vmids` lists the vm_ids of every
  container of the stack;
* the provider block's non-secret settings (`ssh.username`, `ssh.node[]`, endpoint, insecure).

HCL JSON writes a nested block as one object or as a list of objects: `block` and `blocks`
read either.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import nvidia_pin
from ..core.names import STORAGE_ID

# --- the names ---------------------------------------------------------------------------------

PROVIDER = "proxmox"  # the provider's local name: `provider.proxmox`, `required_providers.proxmox`
CONTAINER_TYPE = "proxmox_virtual_environment_container"
FILE_TYPE = "proxmox_virtual_environment_file"
DOWNLOAD_FILE_TYPE = "proxmox_download_file"
# bpg 0.111.1 deprecates this name of DOWNLOAD_FILE_TYPE ("will be removed in v1.0"); earlier
# versions of this package emitted it, so the constructs write a `moved` block from it
LEGACY_DOWNLOAD_FILE_TYPE = "proxmox_virtual_environment_download_file"
CONTAINERS_DATA_TYPE = "proxmox_virtual_environment_containers"  # a data source: the cluster's containers
OCI_IMAGE_TYPE = "proxmox_oci_image"  # an OCI image pulled into a vztmpl .tar (PVE >= 9.1)

# PVE's default map for an unprivileged container without lxc.idmap lines (PVE::LXC).
PVE_DEFAULT_IDMAP = ("u 0 100000 65536", "g 0 100000 65536")

_FILE_REF = re.compile(r"^\$\{" + re.escape(FILE_TYPE) + r"\.([A-Za-z0-9_-]+)\.id\}$")
_OCI_IMAGE_REF = re.compile(r"^\$\{" + re.escape(OCI_IMAGE_TYPE) + r"\.([A-Za-z0-9_-]+)\.id\}$")
# an escaped interpolation or directive, or a live one; scanned left to right as Terraform does
_TEMPLATE_TOKEN = re.compile(r"\$\$\{|%%\{|\$\{|%\{")
_VOLID = re.compile(rf"^({STORAGE_ID.pattern}):(.+)$")


class ExpectedError(ValueError):
    """The synthesized JSON cannot be read as this module expects; str() names what and where."""


# --- Terraform's template escapes ----------------------------------------------------------------


def escape_literal(text: str) -> str:
    """`text` as a Terraform JSON string whose value is `text` (`${` -> `$${`, `%{` -> `%%{`).

    In Terraform JSON every string is a template: `${` and `%{` would be evaluated.  Use for
    free text such as hook scripts and descriptions.
    """
    return text.replace("${", "$${").replace("%{", "%%{")


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


def is_expression(text: str) -> bool:
    """The string holds a live interpolation or directive: Terraform computes its value."""
    return undo_template_escapes(text) is None


def file_reference(value: str) -> str | None:
    """The file resource's name in `${proxmox_virtual_environment_file.<name>.id}`, else None."""
    match = _FILE_REF.match(value)
    return match.group(1) if match else None


def oci_image_reference(value: str) -> str | None:
    """The image resource's name in `${proxmox_oci_image.<name>.id}`, else None."""
    match = _OCI_IMAGE_REF.match(value)
    return match.group(1) if match else None


# --- the records -------------------------------------------------------------------------------


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
    nvidia_runtime: str | None = None  # NvidiaGpu(runtime="host")'s capabilities, from the hookscript
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
class OciImage:
    """A `proxmox_oci_image` resource: the image bpg has PVE pull (`oci-registry-pull`) into
    `<datastore_id>:vztmpl/<file_name>`, the resource's id (bpg fwprovider/nodes/resource_oci_image.go
    Create: `<datastore>:vztmpl/<file_name>`; without `file_name`, the reference's last path part with
    ':' -> '_' and `.tar` appended).  A value Terraform computes is None."""

    name: str  # the resource name
    node: str | None
    datastore_id: str | None
    reference: str | None
    file_name: str | None

    @property
    def address(self) -> str:
        return f"{OCI_IMAGE_TYPE}.{self.name}"

    @property
    def volid(self) -> str | None:
        """The pulled archive's volume id (the container's `ostemplate`), None when not literal."""
        if self.datastore_id is None or self.file_name is None:
            return None
        return f"{self.datastore_id}:vztmpl/{self.file_name}"


def oci_image_file_name(reference: str) -> str:
    """bpg's default `file_name` of a `proxmox_oci_image` (resource_oci_image.go Create):
    `docker.io/library/ubuntu:24.04` -> `ubuntu_24.04.tar`."""
    return reference.rsplit("/", 1)[-1].replace(":", "_") + ".tar"


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


# --- reading -----------------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    """The document at `path`, parsed (OSError when unreadable, ValueError when not a JSON object)."""
    doc = json.loads(Path(path).read_text())
    if not isinstance(doc, dict):
        raise ExpectedError(f"{path}: the document is not a JSON object")
    return doc


def resources(doc: Mapping[str, Any], type_name: str, *, stack: str = "the document") -> dict[str, Any]:
    """Every resource of `type_name`: its name -> its JSON body."""
    found = doc.get("resource") or {}
    if not isinstance(found, Mapping):
        raise ExpectedError(f"{stack}: 'resource' is not an object")
    of_type = found.get(type_name) or {}
    if not isinstance(of_type, Mapping):
        raise ExpectedError(f"{stack}: 'resource.{type_name}' is not an object")
    return dict(of_type)


def containers(stack: str, doc: Mapping[str, Any]) -> list[ExpectedContainer]:
    """Every GPU container of one synthesized stack, in resource-name order."""
    files = resources(doc, FILE_TYPE, stack=stack)
    imported = _import_targets(doc)
    found = []
    for name, body in sorted(resources(doc, CONTAINER_TYPE, stack=stack).items()):
        where = f"{stack}: {CONTAINER_TYPE}.{name}"
        if not isinstance(body, Mapping):
            raise ExpectedError(f"{where} is not an object")
        if not blocks(body.get("device_passthrough")):
            continue  # not a GPU container
        node = body.get("node_name")
        if not isinstance(node, str) or not node or "${" in node:
            raise ExpectedError(f"{where}: node_name {node!r} is not a literal node name")
        vmid = _vmid(body.get("vm_id"))
        if vmid is None:
            raise ExpectedError(
                f"{where}: vm_id {body.get('vm_id')!r} is not a literal number (the check finds containers by "
                "node and vm_id; set vm_id on the GpuContainer)")
        script = hook(where, body.get("hook_script_file_id"), files)
        init = block(body.get("initialization"))
        hostname = init.get("hostname") if init is not None else None
        lifecycle = block(body.get("lifecycle"))
        found.append(ExpectedContainer(
            stack=stack,
            name=name,
            node=node,
            vmid=vmid,
            devices=devices(where, body),
            idmap=idmap_lines(where, body),
            unprivileged=unprivileged(body),
            hook=script,
            nvidia_driver=nvidia_pin.pinned_version(script.content if script else None),
            nvidia_runtime=nvidia_pin.host_runtime(script.content if script else None),
            hostname=hostname if isinstance(hostname, str) and "${" not in hostname else None,
            tags=tuple(t for t in blocks(body.get("tags")) if isinstance(t, str)),
            guarded=lifecycle is not None and bool(lifecycle.get("precondition")),
            imported=f"{CONTAINER_TYPE}.{name}" in imported,
        ))
    return found


def managed_vmids(doc: Mapping[str, Any]) -> set[int]:
    """The literal vm_ids of every container resource of a stack (GPU or not)."""
    bodies = resources(doc, CONTAINER_TYPE)
    found = set()
    for body in bodies.values():
        vmid = _vmid(body.get("vm_id")) if isinstance(body, Mapping) else None
        if vmid is not None:
            found.add(vmid)
    return found


def oci_image(where: str, body: Mapping[str, Any], doc: Mapping[str, Any]) -> OciImage | None:
    """The `proxmox_oci_image` a container body's `operating_system.template_file_id` refers to
    (`${proxmox_oci_image.<name>.id}`), or None when it names another template."""
    os_block = block(body.get("operating_system")) or {}
    value = os_block.get("template_file_id")
    name = oci_image_reference(value) if isinstance(value, str) else None
    if name is None:
        return None
    image = resources(doc, OCI_IMAGE_TYPE, stack=where).get(name)
    if not isinstance(image, Mapping):
        raise ExpectedError(f"{where}: operating_system.template_file_id names {OCI_IMAGE_TYPE}.{name}, which the "
                            "stack does not have")

    def text(key: str) -> str | None:
        value = image.get(key)
        return undo_template_escapes(value) if isinstance(value, str) else None

    reference, file_name = text("reference"), text("file_name")
    if image.get("file_name") is None and reference is not None:
        file_name = oci_image_file_name(reference)
    return OciImage(name=name, node=text("node_name"), datastore_id=text("datastore_id"), reference=reference,
                    file_name=file_name)


def provider_settings(doc: Mapping[str, Any]) -> ProviderSettings:
    """The first `provider.proxmox` block's endpoint, insecure and ssh settings."""
    first = block((doc.get("provider") or {}).get(PROVIDER))
    if first is None:
        return ProviderSettings()
    ssh = block(first.get("ssh")) or {}
    nodes = []
    for entry in blocks(ssh.get("node")):
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str) and isinstance(entry.get("address"), str):
            port = entry.get("port")
            nodes.append(SshNode(entry["name"], entry["address"], int(port) if port is not None else None))
    endpoint = first.get("endpoint")
    return ProviderSettings(
        endpoint=endpoint if isinstance(endpoint, str) and "${" not in endpoint else None,
        insecure=flag(first.get("insecure"), None),
        ssh_username=ssh.get("username") if isinstance(ssh.get("username"), str) else None,
        ssh_agent=flag(ssh.get("agent"), None),
        ssh_nodes=tuple(nodes),
    )


# --- one container body ------------------------------------------------------------------------


def devices(where: str, body: Mapping[str, Any]) -> tuple[ExpectedDevice, ...]:
    """The `device_passthrough` blocks, in order (index i is dev<i> on the node)."""
    return tuple(_device(where, i, d) for i, d in enumerate(blocks(body.get("device_passthrough"))))


def idmap_lines(where: str, body: Mapping[str, Any]) -> tuple[str, ...]:
    """The `idmap` blocks as raw `lxc.idmap` values (`u 0 100000 65536`), in order."""
    return tuple(idmap_line(where, b) for b in blocks(body.get("idmap")))


def idmap_line(where: str, item: Any) -> str:
    """One `idmap` block ({type: uid|gid, container_id, host_id, size}) as an `lxc.idmap` value."""
    if not isinstance(item, Mapping) or item.get("type") not in ("uid", "gid"):
        raise ExpectedError(f"{where}: idmap block {item!r} has no type uid/gid")
    kind = "u" if item["type"] == "uid" else "g"
    numbers = [_int(f"{where}: idmap", item.get(k), -1) for k in ("container_id", "host_id", "size")]
    if min(numbers) < 0:
        raise ExpectedError(f"{where}: idmap block {dict(item)!r} misses container_id, host_id or size")
    return f"{kind} {numbers[0]} {numbers[1]} {numbers[2]}"


def unprivileged(body: Mapping[str, Any]) -> bool:
    """`unprivileged`, with bpg's default (false)."""
    return bool(flag(body.get("unprivileged"), False))


def hook(where: str, value: Any, files: Mapping[str, Any]) -> ExpectedHook | None:
    """A `hook_script_file_id` (None when unset), its file reference resolved against `files`
    (the stack's `proxmox_virtual_environment_file` resources)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ExpectedError(f"{where}: hook_script_file_id {value!r} is not a string")
    name = file_reference(value)
    if name is None:
        if "${" in value:
            raise ExpectedError(f"{where}: hook_script_file_id {value!r} is neither a volume id nor a "
                                f"{FILE_TYPE} reference")
        return ExpectedHook(volid=value, note="a literal volume id: its content is not in the configuration")
    body = files.get(name)
    address = f"{FILE_TYPE}.{name}"
    if not isinstance(body, Mapping):
        raise ExpectedError(f"{where}: hook_script_file_id names {address}, which the stack does not have")
    datastore = body.get("datastore_id")
    raw = block(body.get("source_raw"))
    if not isinstance(datastore, str) or raw is None or not isinstance(raw.get("file_name"), str):
        return ExpectedHook(volid=f"{datastore}:snippets/?", file_address=address,
                            note=f"{address} has no source_raw: content not known")
    volid = f"{datastore}:snippets/{raw['file_name']}"
    data = raw.get("data")
    content = undo_template_escapes(data) if isinstance(data, str) else None
    mode = body.get("file_mode")
    if content is not None:
        note = None
    elif isinstance(data, str):
        note = f"{address}: the script text holds a Terraform expression"
    else:
        note = f"{address} has no source_raw.data: content not known"
    return ExpectedHook(volid=volid, content=content, file_address=address,
                        file_mode=str(mode) if mode is not None else None, note=note)


# --- values ------------------------------------------------------------------------------------


def block(value: Any) -> Mapping[str, Any] | None:
    """A nested block written as an object or a one-element list; None when absent."""
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, Mapping) else None


def blocks(value: Any) -> list[Any]:
    """A repeated block (or list attribute) written as a list or as one object; [] when absent."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def flag(value: Any, default: Any) -> Any:
    """A bool as Terraform JSON may write it (true, "true", 1, "1", ...); `default` otherwise."""
    if isinstance(value, bool):
        return value
    if value in ("true", "1", 1):
        return True
    if value in ("false", "0", 0):
        return False
    return default


def _vmid(value: Any) -> int | None:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


vmid_of = _vmid  # a literal vm_id (an int, or a string of digits; not a bool), else None: also PVE's and bpg's listings


def _int(where: str, value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise ExpectedError(f"{where}: {value!r} is not a literal number")
    return int(value)


def _device(where: str, index: int, item: Any) -> ExpectedDevice:
    if not isinstance(item, Mapping) or not isinstance(item.get("path"), str):
        raise ExpectedError(f"{where}: device_passthrough[{index}] has no literal path")
    mode = item.get("mode")
    return ExpectedDevice(
        index=index,
        path=item["path"],
        uid=_int(f"{where}: device_passthrough[{index}].uid", item.get("uid"), 0),
        gid=_int(f"{where}: device_passthrough[{index}].gid", item.get("gid"), 0),
        mode=str(mode) if mode is not None else None,
        deny_write=bool(flag(item.get("deny_write"), False)),
    )


def _import_targets(doc: Mapping[str, Any]) -> set[str]:
    """The addresses `import` blocks bring into the state."""
    return {str(item["to"]) for item in blocks(doc.get("import")) if isinstance(item, Mapping) and "to" in item}
