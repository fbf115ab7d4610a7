"""The LXC checks can fail: broken maps, wrong gids and missing subids are caught, and clean-up still happens."""

from __future__ import annotations

import pytest

from pve_gpu_lxc import IdMap, ValidationError
from pve_gpu_lxc_testing.lxc import LxcHarness, boot_all, boot_specs, plan, ranges_from_entries, stand_in_rdev, subids
from pve_gpu_lxc_testing.lxc.model import ContainerSpec, PassthroughDevice

from .lxc_cases import seed_spec

pytestmark = pytest.mark.lxc

OVERLAPS = {
    # g 44 is mapped twice on the container side
    "container-side": ["u 0 100000 65536", "g 0 100000 65536", "g 44 44 1"],
    # host gid 100044 backs two container gids
    "host-side": ["u 0 100000 65536", "g 0 100000 44", "g 44 100044 1", "g 45 100044 65491"],
}


def raw_spec(name: str, lines: list[str]) -> ContainerSpec:
    blocks = []
    for line in lines:
        kind, ct, host, size = line.split()
        blocks.append({"type": {"u": "uid", "g": "gid"}[kind], "container_id": int(ct), "host_id": int(host), "size": int(size)})
    return seed_spec(name=name, idmap=ranges_from_entries(blocks))


@pytest.mark.parametrize("side", sorted(OVERLAPS))
def test_overlapping_map_fails_in_lxc_and_the_product_rejects_it_first(harness, side: str) -> None:  # type: ignore[no-untyped-def]
    lines = OVERLAPS[side]
    with pytest.raises(ValidationError, match=f"overlap on the {side.split('-')[0]} side"):
        IdMap.from_lxc_lines(lines)
    # Written straight to LXC (what a hand-edited config would do), the start must fail.
    result = boot_specs(harness, raw_spec(f"overlap-{side}", lines))[f"overlap-{side}"]
    assert result.returncode != 0, "LXC started a container with an overlapping idmap:\n" + result.explain()
    assert "Failed to set up id mapping" in result.log, result.explain()
    assert result.report == ""  # the check script never ran
    assert result.problems(), "a container that never started must not pass the checks"


def test_devn_with_the_host_render_gid_is_caught_from_inside(harness) -> None:  # type: ignore[no-untyped-def]
    # Classic mistake: devN gid = host render gid (108) instead of the container's render gid (106).
    spec = seed_spec(name="wrong-gid", devices=(PassthroughDevice("/dev/dri/renderD128", gid=108),))
    result = boot_specs(harness, spec)["wrong-gid"]
    assert result.returncode == 0, result.explain()
    assert result.observed.probes[("in-render", "/dev/dri/renderD128", "r")] is False
    assert any("in-render" in p and "could not open /dev/dri/renderD128" in p for p in result.problems())


def test_missing_subgid_entry_makes_the_start_fail(harness) -> None:  # type: ignore[no-untyped-def]
    spec = seed_spec(name="no-subgid", subgid_lines=("root:100000:65536",))  # lacks root:44:1 and root:108:1
    result = boot_specs(harness, spec)["no-subgid"]
    assert result.returncode != 0, result.explain()
    assert "newgidmap" in result.log


def test_everything_is_cleaned_up_when_a_check_fails_midway(lxc_machine) -> None:  # type: ignore[no-untyped-def]
    before = subids.snapshot()
    harness = LxcHarness()
    with pytest.raises(AssertionError, match="deliberate"):
        with harness:
            p = plan(seed_spec(name="midway"), stand_in_rdev)
            boot_all([("midway", p)], harness)
            assert harness.workdir is not None and any(harness.workdir.rglob("renderD128"))
            raise AssertionError("deliberate failure after boot")
    assert harness.cleanup_report is not None and harness.cleanup_report.clean, harness.cleanup_report
    assert harness.workdir is not None and not harness.workdir.exists()
    assert subids.snapshot() == before
