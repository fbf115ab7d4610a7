"""pve_gpu_lxc_testing.lxc.render: idmap lines, PVE's device owner mapping, subids, LXC config."""

from __future__ import annotations

from pve_gpu_lxc_testing.lxc import IdRange, PassthroughDevice, plan, stand_in_rdev
from pve_gpu_lxc_testing.lxc import render
from pve_gpu_lxc_testing.lxc.model import ContainerSpec

from .lxc_cases import SEED_LINES, seed_plan


def test_device_owner_is_mapped_container_to_host_through_the_idmap() -> None:
    card, render_node = seed_plan().nodes
    assert (card.host_uid, card.host_gid) == (100000, 44)
    assert (render_node.host_uid, render_node.host_gid) == (100000, 108)
    assert (render_node.seen_uid, render_node.seen_gid) == (0, 106)


def test_id_not_covered_by_idmap_passes_unchanged_and_shows_as_overflow() -> None:
    idmap = (IdRange("u", 0, 100000, 1000), IdRange("g", 0, 100000, 1000))
    spec = ContainerSpec("x", 200, True, idmap, (PassthroughDevice("/dev/kfd", uid=5000, gid=5001),))
    (node,) = plan(spec, stand_in_rdev).nodes
    assert (node.host_uid, node.host_gid) == (5000, 5001)
    assert (node.seen_uid, node.seen_gid) == (render.OVERFLOW_ID, render.OVERFLOW_ID)


def test_subid_lines_cover_every_host_range_of_the_map() -> None:
    p = seed_plan()
    assert p.subuid_lines == ("root:100000:65536",)
    assert p.subgid_lines == (
        "root:100000:44", "root:44:1", "root:100045:61", "root:108:1", "root:100107:65429",
    )


def test_lxc_config_binds_each_node_at_its_own_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = render.lxc_config(seed_plan(), "intel", tmp_path / "rootfs", tmp_path / "pt", "/init")
    assert f"lxc.mount.entry = {tmp_path}/pt/dri/renderD128 dev/dri/renderD128 none bind,create=file 0 0" in text
    assert "lxc.net.0.type = empty" in text
    assert [line for line in text.splitlines() if line.startswith("lxc.idmap")] == [
        f"lxc.idmap = {line}" for line in SEED_LINES
    ]
