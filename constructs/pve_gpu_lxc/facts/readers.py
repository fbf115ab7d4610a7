"""One reader per node fact: the collector's shell function that prints it, and its parser (pure).

Two programs read a Proxmox node: the facts collector (``collect-host-facts.sh``, run by
`pve-gpu-lxc facts`) and the probe of `pve-gpu-lxc check` (``cli/check/probe.py``).  Where they
read the same thing -- root's subuid/subgid ranges, the NVIDIA driver, the /dev/dri/by-path
links, a node's `stat`, the boot configuration -- the fact is kept here the way pyinfra keeps
one: the command that reads it (a shell function of the collector, which prints JSON) and
the parser of what it prints, together.  The collector prints the function's JSON into its
document (`io.from_json` parses it with the parser below); the probe carries the same function
text verbatim (`shell`) and sends its JSON back as one record, parsed by the same parser.

The parsers take the decoded JSON value and raise ValueError, KeyError or TypeError on a
malformed one (the caller says where it came from).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Generic, TypeVar

from .boot import BootFacts, BootFile
from .data import NvidiaFacts
from .parsers import normalize_pci
from .records import NODE_TYPES, DeviceNode, IdRange, NvidiaGpuInfo, NvidiaRuntimeFacts, OciImageFacts

T = TypeVar("T")


def collector_script() -> Path:
    """The collector shipped with the package (``ssh root@<node> sh -s < <this path>``)."""
    return Path(__file__).with_name("collect-host-facts.sh")


_DEFINITION = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\(\) \{\n.*?^\}\n", re.MULTILINE | re.DOTALL)


@functools.cache
def functions() -> dict[str, str]:
    """Every function of the collector, name -> its text verbatim, in the script's order."""
    text = collector_script().read_text(encoding="utf-8")
    return {m["name"]: m[0] for m in _DEFINITION.finditer(text)}


def collector_functions(*names: str) -> str:
    """The shell functions `names` of the shipped collector, verbatim, in that order (a name the
    collector lacks is a KeyError)."""
    texts = functions()
    return "".join(texts[name] for name in names)


def _calls(body: str, name: str) -> bool:
    return re.search(rf"(?<![\w$-]){re.escape(name)}(?![\w-])", body) is not None


def shell(*names: str) -> str:
    """The collector functions `names` and every collector function they call, transitively,
    verbatim and in the collector's order: what a script needs to run them.  They expect the
    collector's globals ROOT (the root prefix, '' on a node) and NL (a newline)."""
    texts = functions()
    wanted: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        body = texts[name]
        todo += [other for other in texts if other not in wanted and other != name and _calls(body, other)]
    return "".join(text for name, text in texts.items() if name in wanted)


# --------------------------------------------------------------------------- the parsers


def subids_from_json(value: Any) -> tuple[IdRange, ...] | None:
    """`subid_json`: root's ranges.  null: the collector never prints it (a facts document without
    the key: not recorded); the probe passes it for a missing file."""
    return None if value is None else tuple(IdRange(int(r["start"]), int(r["count"])) for r in value)


def by_path_from_json(value: Any) -> tuple[tuple[str, str], ...]:
    """`by_path_json`: (link, target as readlink prints it) for every /dev/dri/by-path link."""
    return tuple((b["link"], b["target"]) for b in value or ())


def device_from_json(d: Mapping[str, Any]) -> DeviceNode:
    """`node_json`: one node as `stat` saw it (decimal major and minor, octal mode text)."""
    node_type = d["type"]
    if node_type not in NODE_TYPES:
        raise ValueError(f"device {d.get('path')!r} has unknown type {node_type!r}")
    mode = d.get("mode")
    return DeviceNode(
        path=str(d["path"]), type=node_type, major=d.get("major"), minor=d.get("minor"),
        mode=int(mode, 8) if isinstance(mode, str) else mode,
        uid=d.get("uid"), owner=d.get("owner"), gid=d.get("gid"), group=d.get("group"), target=d.get("target"),
    )


def nvidia_from_json(d: Mapping[str, Any] | None) -> NvidiaFacts | None:
    """`nvidia_json`: the version file's text, the loaded module's version and the GPUs; None
    without /proc/driver/nvidia/version (the module is not loaded).  The version text is parsed
    on use (`NvidiaFacts.parsed`), not here."""
    if d is None:
        return None
    gpus = tuple(
        NvidiaGpuInfo(pci=normalize_pci(g["pci"], "NVIDIA GPU PCI address"), device_minor=g.get("device_minor"),
                      model=g.get("model"), uuid=g.get("uuid"))
        for g in d.get("gpus", ())
    )
    return NvidiaFacts(version_file=str(d["version_file"]), module_version=d.get("module_version"), gpus=gpus)


def boot_from_json(value: Any) -> BootFacts | None:
    """`boot_json`: the boot configuration (None: recorded before the collector read it)."""
    if value is None:  # recorded before the collector read the boot configuration
        return None
    files = []
    for f in value["files"]:
        path, text = f["path"], f["text"]
        if not isinstance(path, str) or not path.startswith("/") or not isinstance(text, str):
            raise ValueError(f"boot file {path!r} is not an absolute path with its text")
        files.append(BootFile(path, text))
    enabled = []
    for e in value["enabled"]:
        link, target = e["link"], e["target"]
        if not isinstance(link, str) or not isinstance(target, str):
            raise ValueError(f"enabled unit link {link!r} -> {target!r} is not two strings")
        enabled.append((link, target))
    return BootFacts(tuple(files), tuple(enabled))


def _optional_text(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{what} {value!r} is not a string")
    return value


def oci_image_from_json(value: Any) -> OciImageFacts | None:
    """`oci_image_json`: an OCI image archive's manifest digest, config text, User and the passwd and
    group lines that resolve it (None: the template is no OCI image, or was recorded before the
    collector read them)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"oci {value!r} is not an object")
    return OciImageFacts(**{f.name: _optional_text(value.get(f.name), f"oci {f.name}") for f in fields(OciImageFacts)})


def nvidia_runtime_from_json(value: Any) -> NvidiaRuntimeFacts | None:
    """`nvidia_runtime_json`: nvidia-container-cli, LXC's nvidia hook, the LXC package (None:
    recorded before the collector read them)."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("lxc_hook"), bool):
        raise ValueError(f"nvidia_runtime {value!r} is not an object with a boolean lxc_hook")
    return NvidiaRuntimeFacts(
        cli=_optional_text(value.get("cli"), "nvidia_runtime cli"),
        cli_version=_optional_text(value.get("cli_version"), "nvidia_runtime cli_version"),
        lxc_hook=value["lxc_hook"],
        lxc_package=_optional_text(value.get("lxc_package"), "nvidia_runtime lxc_package"),
        lxc_version=_optional_text(value.get("lxc_version"), "nvidia_runtime lxc_version"),
    )


# --------------------------------------------------------------------------- the facts


@dataclass(frozen=True)
class NodeFact(Generic[T]):
    """A node fact: the collector function that prints it as JSON, and the parser of that JSON."""

    what: str
    function: str  # its shell function in collect-host-facts.sh
    parse: Callable[[Any], T]  # the decoded JSON -> the record

    def read(self, text: str) -> T:
        """The function's output, as a record (ValueError, KeyError or TypeError when malformed)."""
        return self.parse(json.loads(text))


SUBIDS = NodeFact("root's ranges in /etc/subuid or /etc/subgid (the file: the function's argument)",
                  "subid_json", subids_from_json)
NVIDIA = NodeFact("the NVIDIA driver: /proc/driver/nvidia/version, /sys/module/nvidia/version, the GPUs",
                  "nvidia_json", nvidia_from_json)
BY_PATH = NodeFact("udev's /dev/dri/by-path links", "by_path_json", by_path_from_json)
DEVICE_NODE = NodeFact("one node's stat: type, major:minor, owner, group, mode (-L: what a symlink points to)",
                       "node_json", device_from_json)
BOOT = NodeFact("the boot configuration that makes NVIDIA's on-demand nodes", "boot_json", boot_from_json)

OCI_IMAGE = NodeFact("an OCI image archive in a template cache: its config and the passwd/group lines of its User",
                     "oci_image_json", oci_image_from_json)
NVIDIA_RUNTIME = NodeFact("NVIDIA's container runtime: nvidia-container-cli, LXC's nvidia hook, the LXC package",
                          "nvidia_runtime_json", nvidia_runtime_from_json)

# What the check's probe reads with the collector's functions (every fact the two programs share).
SHARED: tuple[NodeFact[Any], ...] = (SUBIDS, NVIDIA, BY_PATH, DEVICE_NODE, BOOT, NVIDIA_RUNTIME)
