"""Host facts in and out: the collector's JSON document, facts files, pasted listings.

The collector (``collect-host-facts.sh`` in this folder, `collector_script()` once installed)
writes the document; `load` reads it back (each fact the check's probe reads too through the
parser of its collector function, `readers`), `to_json` writes facts built from pasted output
in the same shape.  Every malformed input raises `ValidationError` naming the file and the
fix (re-run the collector).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from ..core.errors import ValidationError
from ..core.nvidia_nodes import NVIDIA_MODESET, cap_number
from ..core.rules import got
from .boot import BootFacts
from .data import DrmMinor, NodeFacts, NvidiaFacts
from .parsers import (
    parse_group_file,
    parse_ls,
    parse_nvidia_information,
    parse_nvidia_version,
    parse_proc_devices,
    parse_subid,
)
from .readers import BOOT, BY_PATH, DEVICE_NODE, NVIDIA, NVIDIA_RUNTIME, OCI_IMAGE, SUBIDS, collector_script
from .records import DeviceNode, IdRange, NvidiaRuntimeFacts, OciImageFacts, ProcDevices, TemplateFacts

# the record to build: the public HostFacts (model.py) passes itself, as this module may not import it
Facts = TypeVar("Facts", bound=NodeFacts)

SCHEMA = "pve-gpu-lxc/host-facts"
SCHEMA_VERSION = 1


DEFAULT_TARGET = "stacks/facts/<node>.json"


def record_command(target: str | Path = DEFAULT_TARGET, node: str | None = None) -> str:
    """The command that records a node's facts: `pve-gpu-lxc facts` runs the collector over SSH.

    ``node`` defaults to the file's stem (``stacks/facts/pve.json`` -> ``pve``).
    """
    target = str(target)
    if node is not None and target == DEFAULT_TARGET:
        target = f"stacks/facts/{node}.json"
    node = node or Path(target).name.removesuffix(".json")
    out = "" if target == f"stacks/facts/{node}.json" else f" --out {target}"
    return f"pve-gpu-lxc facts --node {node} --ssh root@<host>{out}"


def host_setup_command(node: str, host: str = "<host>", paths: Iterable[str] = ()) -> str:
    """The command that installs the NVIDIA boot set-up on a node (and records its facts again),
    with the options that make `paths` too: --modeset for /dev/nvidia-modeset, --caps for MIG caps."""
    flags = []
    paths = set(paths)
    if NVIDIA_MODESET in paths:
        flags.append("--modeset")
    caps = sorted({n for n in map(cap_number, paths) if n is not None})
    if caps:
        flags.append("--caps " + ",".join(str(c) for c in caps))
    return f"pve-gpu-lxc host-setup --node {node} --ssh root@{host} --apply" + "".join(f" {f}" for f in flags)


def manual_record_command(target: str | Path = DEFAULT_TARGET) -> str:
    """The same by hand: the installed collector piped through ssh."""
    return f"ssh root@<host> sh -s < {collector_script()} > {target}"


def load(path: str | Path, cls: type[Facts]) -> Facts:
    """Read a facts file written by the collector (``stacks/facts/<node>.json``)."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValidationError(
            f"host facts file must be a path such as 'stacks/facts/pve.json', got {got(path)}")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(
            f"host facts file {str(path)!r} does not exist; record it on the node with `{record_command(path)}` "
            f"(or by hand: `{manual_record_command(path)}`)"
        ) from None
    except UnicodeDecodeError as err:
        raise ValidationError(f"host facts file {str(path)!r} is not UTF-8 ({err}); re-run the collector") from None
    except (OSError, ValueError) as err:  # a directory, no permission, a NUL in the name
        raise ValidationError(f"host facts file {str(path)!r} cannot be read: {err}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValidationError(f"host facts file {str(path)!r} is not valid JSON: {err}") from None
    return from_json(data, str(path), cls)


def from_json(data: object, source: str, cls: type[Facts]) -> Facts:
    if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
        raise ValidationError(f"{source} is not a host facts document (expected \"schema\": \"{SCHEMA}\")")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValidationError(
            f"{source} has schema_version {data.get('schema_version')!r}; this library reads "
            f"version {SCHEMA_VERSION}. Re-run the collector of this version of the library: {record_command()}"
        )
    hostname = data.get("hostname")
    if not isinstance(hostname, str) or not hostname:
        raise ValidationError(f"{source} has no hostname")
    doc: Mapping[str, Any] = data
    try:
        return cls(
            hostname=hostname,
            devices=tuple(DEVICE_NODE.parse(d) for d in doc.get("devices", ())),
            dri_by_path=BY_PATH.parse(doc.get("dri_by_path", ())),
            drm=tuple(_drm_from_json(d) for d in doc.get("drm", ())),
            proc_devices=ProcDevices(
                char=tuple((int(m), str(n)) for m, n in doc.get("proc_devices", {}).get("char", ())),
                block=tuple((int(m), str(n)) for m, n in doc.get("proc_devices", {}).get("block", ())),
            ),
            nvidia=_nvidia_checked(NVIDIA.parse(doc.get("nvidia"))),
            nvidia_modprobe=doc.get("nvidia_modprobe"),
            tools_recorded="nvidia_modprobe" in doc,
            nvidia_runtime=NVIDIA_RUNTIME.parse(doc.get("nvidia_runtime")),
            groups=tuple(sorted((k, int(v)) for k, v in (doc.get("groups") or {}).items() if v is not None)),
            subuid=SUBIDS.parse(doc.get("subuid")),
            subgid=SUBIDS.parse(doc.get("subgid")),
            templates=_templates_from_json(doc.get("templates")),
            boot=BOOT.parse(doc.get("boot")),
            kernel=doc.get("kernel"),
            pve_version=doc.get("pve_version"),
            collected_at=doc.get("collected_at"),
            source=source,
        )
    except ValidationError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as err:  # the shape of untrusted JSON
        raise ValidationError(
            f"{source} is malformed ({type(err).__name__}: {err}); re-record it: {record_command()}"
        ) from None


def from_listings(
    cls: type[Facts],
    hostname: str,
    *,
    ls: Iterable[str | tuple[str, str]] = (),
    proc_devices: str | None = None,
    nvidia_version: str | None = None,
    nvidia_information: Mapping[str, str] | None = None,
    group_file: str | None = None,
    subuid: str | None = None,
    subgid: str | None = None,
) -> Facts:
    """Facts from pasted command output (see `HostFacts.from_listings`)."""
    nodes: list[DeviceNode] = []
    for item in ls:
        text, base = (item, None) if isinstance(item, str) else item
        nodes.extend(parse_ls(text, base))
    by_path = tuple((n.path, n.target) for n in nodes if n.type == "l" and "/by-path/" in n.path and n.target)
    devices = tuple(n for n in nodes if "/by-path/" not in n.path)
    groups = parse_group_file(group_file) if group_file else {}
    nvidia = None
    if nvidia_version is not None:
        parse_nvidia_version(nvidia_version)  # fail early on unreadable text
        infos = tuple(parse_nvidia_information(t, pci) for pci, t in (nvidia_information or {}).items())
        nvidia = NvidiaFacts(version_file=nvidia_version, gpus=infos)
    return cls(
        hostname=hostname,
        devices=devices,
        dri_by_path=by_path,
        proc_devices=parse_proc_devices(proc_devices) if proc_devices else ProcDevices(),
        nvidia=nvidia,
        groups=tuple(sorted((g, groups[g]) for g in ("video", "render") if g in groups)),
        subuid=parse_subid(subuid) if subuid is not None else None,
        subgid=parse_subid(subgid) if subgid is not None else None,
        source="pasted listings",
    )


def to_json(facts: NodeFacts) -> dict[str, object]:
    """The collector's document shape (so pasted facts can be saved as a facts file)."""
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "collected_at": facts.collected_at,
        "hostname": facts.hostname,
        "kernel": facts.kernel,
        "pve_version": facts.pve_version,
        "devices": [_device_to_json(d) for d in facts.devices],
        "dri_by_path": [{"link": link, "target": target} for link, target in facts.dri_by_path],
        "drm": [_drm_to_json(m) for m in facts.drm],
        "proc_devices": {"char": [list(p) for p in facts.proc_devices.char],
                         "block": [list(p) for p in facts.proc_devices.block]},
        **({"nvidia_modprobe": facts.nvidia_modprobe} if facts.tools_recorded else {}),
        **({"nvidia_runtime": _nvidia_runtime_to_json(facts.nvidia_runtime)} if facts.nvidia_runtime else {}),
        "nvidia": None if facts.nvidia is None else {
            "version_file": facts.nvidia.version_file,
            "module_version": facts.nvidia.module_version,
            "gpus": [{"pci": g.pci, "device_minor": g.device_minor, "model": g.model, "uuid": g.uuid}
                     for g in facts.nvidia.gpus],
        },
        "groups": {"video": facts.group_gid("video"), "render": facts.group_gid("render")},
        "subuid": _subids_to_json(facts.subuid),
        "subgid": _subids_to_json(facts.subgid),
        **({"templates": [_template_to_json(t) for t in facts.templates]} if facts.templates is not None else {}),
        **({"boot": boot_to_json(facts.boot)} if facts.boot is not None else {}),
    }


# --------------------------------------------------------------------------- JSON helpers


def _hex_or_none(value: Any) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, int):
        return value
    return int(str(value), 16)


def _subids_to_json(value: tuple[IdRange, ...] | None) -> list[dict[str, int]] | None:
    return None if value is None else [{"start": r.start, "count": r.count} for r in value]


def _optional_int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} {value!r} is not a GID")
    return value


def _optional_str(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{what} {value!r} is not a string")
    return value


def _templates_from_json(value: Any) -> tuple[TemplateFacts, ...] | None:
    if value is None:  # recorded before the collector read the template caches
        return None
    templates = []
    for t in value:
        volid = t["volid"]
        if not isinstance(volid, str) or ":vztmpl/" not in volid:
            raise ValueError(f"template volid {volid!r} is not '<storage>:vztmpl/<file>'")
        templates.append(TemplateFacts(
            volid=volid, storage=str(t["storage"]), file=str(t["file"]), path=_optional_str(t.get("path"), "path"),
            video=_optional_int(t.get("video"), f"{volid} video"),
            render=_optional_int(t.get("render"), f"{volid} render"),
            video_member=_optional_str(t.get("video_member"), "video_member"),
            render_member=_optional_str(t.get("render_member"), "render_member"),
            error=_optional_str(t.get("error"), "error"),
            oci=OCI_IMAGE.parse(t.get("oci")),
        ))
    return tuple(templates)


def boot_to_json(boot: BootFacts) -> dict[str, object]:
    """The collector's `boot` section."""
    return {"files": [{"path": f.path, "text": f.text} for f in boot.files],
            "enabled": [{"link": link, "target": target} for link, target in boot.enabled]}


def _template_to_json(t: TemplateFacts) -> dict[str, object]:
    return {"volid": t.volid, "storage": t.storage, "file": t.file, "path": t.path, "video": t.video,
            "render": t.render, "video_member": t.video_member, "render_member": t.render_member, "error": t.error,
            "oci": _oci_to_json(t.oci)}


def _oci_to_json(oci: OciImageFacts | None) -> dict[str, object] | None:
    return None if oci is None else asdict(oci)  # its fields are the document's keys, in its order


def _nvidia_runtime_to_json(runtime: NvidiaRuntimeFacts) -> dict[str, object]:
    return asdict(runtime)  # its fields are the document's keys, in its order


def _device_to_json(n: DeviceNode) -> dict[str, object]:
    out: dict[str, object] = {
        "path": n.path, "type": n.type, "major": n.major, "minor": n.minor, "uid": n.uid, "owner": n.owner,
        "gid": n.gid, "group": n.group, "mode": n.mode_str}
    if n.target is not None:
        out["target"] = n.target
    return out


def _drm_from_json(d: Mapping[str, Any]) -> DrmMinor:
    return DrmMinor(
        name=str(d["name"]), dev=d.get("dev"), bus_id=d.get("bus_id"), subsystem=d.get("subsystem"),
        vendor_id=_hex_or_none(d.get("vendor")), device_id=_hex_or_none(d.get("device")), driver=d.get("driver"),
    )


def _drm_to_json(m: DrmMinor) -> dict[str, object]:
    return {"name": m.name, "dev": m.dev, "bus_id": m.bus_id, "subsystem": m.subsystem,
            "vendor": None if m.vendor_id is None else f"0x{m.vendor_id:04x}",
            "device": None if m.device_id is None else f"0x{m.device_id:04x}", "driver": m.driver}


def _nvidia_checked(facts: NvidiaFacts | None) -> NvidiaFacts | None:
    if facts is not None:
        facts.parsed  # fail at load time, not at first use  # noqa: B018
    return facts
