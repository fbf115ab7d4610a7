"""Containers the LXC tests boot, as bpg resource bodies (what the constructs synthesize).

`SEED_INTEL_BODY` is hand-written from the seed's Intel UHD 630 example, so it
does not depend on the product.  The other cases take their idmap from the
product's `IdMap.passthrough`, turned into bpg `idmap` blocks the way a
synthesized stack carries them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from pve_gpu_lxc import IdMap
from pve_gpu_lxc_testing.lxc import ContainerPlan, ContainerSpec, bpg, plan, stand_in_rdev

# The seed (bookstack.swigg.net "LXC GPU access"): host video 44 and render 108;
# the container's video is 44 and render 106.  Its six lines, verbatim.
SEED_LINES = (
    "u 0 100000 65536",
    "g 0 100000 44",
    "g 44 44 1",
    "g 45 100045 61",
    "g 106 108 1",
    "g 107 100107 65429",
)
SEED_INTEL_BODY: dict[str, Any] = {
    "vm_id": 210,
    "node_name": "pve",
    "unprivileged": True,
    "idmap": [
        {"type": {"u": "uid", "g": "gid"}[k], "container_id": int(c), "host_id": int(h), "size": int(s)}
        for k, c, h, s in (line.split() for line in SEED_LINES)
    ],
    "device_passthrough": [
        {"path": "/dev/dri/card0", "uid": 0, "gid": 44, "mode": "0660", "deny_write": False},
        {"path": "/dev/dri/renderD128", "uid": 0, "gid": 106, "mode": "0660", "deny_write": False},
    ],
}
SEED_ROOTFS_GROUPS = (("video", 44), ("render", 106))


def idmap_blocks(idmap: Any) -> list[dict[str, Any]]:
    """bpg `idmap` blocks from the product's IdMap entries."""
    return [
        {"type": e.bpg_type, "container_id": e.container_id, "host_id": e.host_id, "size": e.size}
        for e in idmap.entries
    ]


def render_device(gid: int, path: str = "/dev/dri/renderD128", uid: int = 0, mode: str = "0660") -> dict[str, Any]:
    return {"path": path, "uid": uid, "gid": gid, "mode": mode, "deny_write": False}


def spec_from_idmap(
    name: str,
    idmap: Any,
    devices: list[dict[str, Any]],
    rootfs_groups: tuple[tuple[str, int], ...] = (),
    vm_id: int = 300,
) -> ContainerSpec:
    body = {"vm_id": vm_id, "unprivileged": True, "idmap": idmap_blocks(idmap), "device_passthrough": devices}
    spec = bpg.spec_from_body(name, body)
    # Install what the product says root needs (base range included), not what the harness would derive.
    return dataclasses.replace(
        spec,
        rootfs_groups=rootfs_groups,
        subuid_lines=tuple(idmap.subuid_lines(include_base=True)),
        subgid_lines=tuple(idmap.subgid_lines(include_base=True)),
        notes={"idmap": idmap},
    )


def idmap_cases() -> Mapping[str, tuple[Any, ContainerSpec]]:
    """The holes the brief asks for, each with a render node owned by a hole gid: name -> (IdMap, spec)."""
    return {name: (spec.notes["idmap"], spec) for name, spec in _idmap_specs().items()}


def _idmap_specs() -> dict[str, ContainerSpec]:
    many = {1000 + 3 * k: 50_000 + k for k in range(100)}  # 100 separate holes -> 201 'g' lines
    return {
        "gid-only": spec_from_idmap(
            "gid-only", IdMap.passthrough(gids={993: 993}), [render_device(993)], (("render", 993),)
        ),
        "adjacent-44-45": spec_from_idmap(
            "adjacent-44-45",
            IdMap.passthrough(gids={44: 44, 45: 45}),
            [render_device(44, "/dev/dri/card0"), render_device(45)],
            (("video", 44), ("render", 45)),
        ),
        "holes-0-65535": spec_from_idmap(
            "holes-0-65535",
            IdMap.passthrough(gids={0: 0, 65535: 65535}),
            [render_device(0, "/dev/dri/card0"), render_device(65535)],
            (("render", 65535),),
        ),
        "many-holes": spec_from_idmap(
            "many-holes", IdMap.passthrough(gids=many), [render_device(1000 + 3 * 57)], (("render", 1171),)
        ),
        "uid-hole": spec_from_idmap(
            "uid-hole",
            IdMap.passthrough(uids={1000: 1000}, gids={993: 993}),
            [render_device(993, uid=1000), render_device(0, "/dev/kfd", uid=1000, mode="0600")],
            (("render", 993),),
        ),
    }


def seed_spec(**changes: Any) -> ContainerSpec:
    """The seed's Intel container from its hand-written bpg body, with the template's groups."""
    spec = bpg.spec_from_body("seed-intel", SEED_INTEL_BODY)
    return dataclasses.replace(spec, rootfs_groups=SEED_ROOTFS_GROUPS, **changes)


def seed_plan(**changes: Any) -> ContainerPlan:
    return plan(seed_spec(**changes), stand_in_rdev)
