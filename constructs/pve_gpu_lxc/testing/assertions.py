"""Lookups and assertions on a synthesized stack (the dict `synth` returns); pure, no engine.

Containers are keyed by their Terraform resource name: for a `GpuContainer` that is its
construct id, unique within its stack.  Where a container is asked for, its `vm_id` (an
int) works too, as long as one container of the stack has it (a vm_id is unique per node,
not per stack).  Failures are `AssertionError`s that show what was expected and all the
container has, so a failing test explains itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..pve import synthesized

# "u 0 100000 65536", optionally as written in a PVE config ("lxc.idmap: ...") or an LXC one ("lxc.idmap = ...")
_IDMAP_LINE = re.compile(r"(?:lxc\.idmap\s*[:=]\s*)?([ug]) (\d+) (\d+) (\d+)")
_MODE = re.compile(r"[0-7]{4}")


def containers(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every container resource of the stack: Terraform resource name -> its JSON body."""
    if not isinstance(doc, Mapping):
        raise TypeError(f"doc must be the dict synth() returns, got {type(doc).__name__}")
    return synthesized.resources(doc, synthesized.CONTAINER_TYPE)


def container(doc: Mapping[str, Any], key: str | int) -> dict[str, Any]:
    """One container's JSON body, by resource name (its construct id) or by vm_id (an int)."""
    __tracebackhide__ = True  # pytest shows the caller's line, not this helper's
    return _find(doc, key)[1]


def assert_device(
    doc: Mapping[str, Any],
    container: str | int,
    path: str,
    *,
    gid: int | None = None,
    uid: int | None = None,
    mode: str | None = None,
    deny_write: bool | None = None,
) -> dict[str, Any]:
    """The container passes the device `path` once, with these values where given; returns its block.

    `mode` is the four-digit octal string bpg takes (`"0660"`).  A value left as None is not
    compared.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this helper's
    if not isinstance(path, str) or not path:
        raise TypeError(f"path must be a device path such as '/dev/dri/renderD128', got {path!r}")
    for name, value in (("gid", gid), ("uid", uid)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if mode is not None and not (isinstance(mode, str) and _MODE.fullmatch(mode)):
        raise TypeError(f"mode must be a four-digit octal string as bpg takes it (e.g. '0660'), got {mode!r}")
    if deny_write is not None and not isinstance(deny_write, bool):
        raise TypeError(f"deny_write must be a bool, got {type(deny_write).__name__} {deny_write!r}")

    name, body = _find(doc, container)
    devices = _blocks(body.get("device_passthrough"))
    matching = [d for d in devices if d.get("path") == path]
    label = _label(name, body)
    if not matching:
        raise AssertionError(f"{label} has no device {path}; its devices:\n{_device_list(devices)}")
    if len(matching) > 1:
        raise AssertionError(f"{label} passes {path} {len(matching)} times; its devices:\n{_device_list(devices)}")
    device = matching[0]
    given = (("uid", uid), ("gid", gid), ("mode", mode), ("deny_write", deny_write))
    expected = {k: v for k, v in given if v is not None}
    wrong = [k for k, v in expected.items() if not _same(device.get(k, _NOT_SET), v)]
    if wrong:
        want = " ".join(f"{k}={_show(expected[k])}" for k in wrong)
        has = " ".join(f"{k}={_show(device.get(k, _NOT_SET))}" for k in wrong)
        raise AssertionError(
            f"{label}, device {path}: expected {want}, has {has}; its devices:\n{_device_list(devices)}"
        )
    return device


def assert_idmap(doc: Mapping[str, Any], container: str | int, lines: Iterable[str]) -> None:
    """The container's idmap is exactly `lines`, in order (as in lxc.idmap: "u 0 100000 65536").

    A line may carry the config key as PVE (`lxc.idmap: u 0 100000 65536`) or LXC
    (`lxc.idmap = u 0 100000 65536`) writes it.  An empty list asserts there is no idmap.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this helper's
    if isinstance(lines, str):
        raise TypeError(f"lines must be a list of idmap lines, got one string {lines!r}")
    expected = [_idmap_line(line) for line in lines]
    name, body = _find(doc, container)
    has = [_block_line(b) for b in _blocks(body.get("idmap"))]
    if expected == has:
        return
    missing = [line for line in expected if line not in has]
    extra = [line for line in has if line not in expected]
    parts = [f"{_label(name, body)}: its idmap differs", "expected:", *_indent(expected), "has:", *_indent(has)]
    if missing:
        parts += ["missing:", *_indent(missing)]
    if extra:
        parts += ["not expected:", *_indent(extra)]
    if not missing and not extra:
        parts.append("(the same lines in another order)")
    raise AssertionError("\n".join(parts))


# --- internals -----------------------------------------------------------------------------

class _NotSet:
    def __repr__(self) -> str:
        return "<not set>"


_NOT_SET = _NotSet()


def _find(doc: Mapping[str, Any], key: str | int) -> tuple[str, dict[str, Any]]:
    __tracebackhide__ = True  # pytest shows the caller's line, not this helper's
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise TypeError(f"a container is named by its resource name (str) or vm_id (int), got {key!r}")
    found = containers(doc)
    if isinstance(key, str):
        if key in found:
            return key, found[key]
        raise AssertionError(f"the stack has no container named {key!r}; its containers: {_container_list(found)}")
    names = [name for name, body in found.items() if _same(body.get("vm_id"), key)]
    if len(names) == 1:
        return names[0], found[names[0]]
    if not names:
        raise AssertionError(f"the stack has no container with vm_id {key}; its containers: {_container_list(found)}")
    raise AssertionError(
        f"vm_id {key} is used by {len(names)} containers of the stack (on different nodes): "
        f"{', '.join(map(repr, names))}; name the container instead"
    )


def _blocks(value: Any) -> list[dict[str, Any]]:
    return synthesized.blocks(value)  # HCL JSON allows one object or a list of objects for a repeated block


def _same(actual: Any, expected: Any) -> bool:
    return bool(actual == expected) and isinstance(actual, bool) == isinstance(expected, bool)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, (int, _NotSet)) else repr(value)


def _label(name: str, body: Mapping[str, Any]) -> str:
    return f"container {name!r} (vm_id {body.get('vm_id')} on node {body.get('node_name')})"


def _container_list(found: Mapping[str, Mapping[str, Any]]) -> str:
    if not found:
        return "none"
    return ", ".join(_label(name, body).removeprefix("container ") for name, body in found.items())


def _device_list(devices: list[dict[str, Any]]) -> str:
    if not devices:
        return "  (none)"
    keys = ("uid", "gid", "mode", "deny_write")
    return "\n".join(f"  {d.get('path')}  " + " ".join(f"{k}={_show(d.get(k, _NOT_SET))}" for k in keys)
                     for d in devices)


def _idmap_line(line: object) -> str:
    match = _IDMAP_LINE.fullmatch(" ".join(line.split())) if isinstance(line, str) else None
    if match is None:
        raise ValueError(
            f"idmap line {line!r} is not 'u|g <container id> <host id> <size>' as in lxc.idmap "
            "(e.g. 'u 0 100000 65536')"
        )
    kind, ct_id, host_id, size = match.groups()
    return f"{kind} {int(ct_id)} {int(host_id)} {int(size)}"


def _block_line(block: Mapping[str, Any]) -> str:
    try:
        return synthesized.idmap_line("", block)
    except synthesized.ExpectedError:  # not a valid block: shown as it is, for the assertion's message
        kind = str(block.get("type", "?"))[:1]
        return f"{kind} {block.get('container_id')} {block.get('host_id')} {block.get('size')}"


def _indent(lines: list[str]) -> list[str]:
    return [f"  {line}" for line in lines] or ["  (none)"]
