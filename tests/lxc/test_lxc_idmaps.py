"""Boot real unprivileged LXC containers and check idmaps and device ownership from inside."""

from __future__ import annotations

from typing import Any

import pytest

from pve_gpu_lxc_testing.lxc import IdRange, boot_specs
from pve_gpu_lxc_testing.lxc.runner import BootResult

from .lxc_cases import SEED_LINES, idmap_cases, seed_spec

pytestmark = pytest.mark.lxc

CASES = idmap_cases()


def assert_booted_clean(result: BootResult) -> None:
    assert result.returncode == 0, result.explain()
    problems = result.problems()
    assert problems == [], "\n".join(problems) + "\n" + result.explain()


def observed_open(result: BootResult, user: str, path: str) -> tuple[bool, bool]:
    probes = result.observed.probes
    return probes[(user, path, "r")], probes[(user, path, "w")]


def ranges_of(idmap: Any, kind: str) -> list[IdRange]:
    """The product's IdMap entries of one kind, as the kernel should list them."""
    return [IdRange(e.kind, e.container_id, e.host_id, e.size) for e in idmap.entries if e.kind == kind]


def test_seed_intel_example_maps_exactly_its_six_lines_and_render_group_opens_render_node(harness) -> None:  # type: ignore[no-untyped-def]
    spec = seed_spec()
    result = boot_specs(harness, spec)["seed-intel"]
    assert_booted_clean(result)
    seen = result.observed
    assert [r.lxc_value() for r in seen.maps["u"] + seen.maps["g"]] == list(SEED_LINES)
    # host render 108 shows inside as the container's render 106; host video 44 stays 44
    assert seen.nodes["/dev/dri/renderD128"][:2] == (0, 106)
    assert seen.nodes["/dev/dri/card0"][:2] == (0, 44)
    assert observed_open(result, "in-render", "/dev/dri/renderD128") == (True, True)
    assert observed_open(result, "outsider", "/dev/dri/renderD128") == (False, False)
    assert observed_open(result, "in-video", "/dev/dri/card0") == (True, True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_product_idmap_is_what_the_container_gets(harness, name: str) -> None:  # type: ignore[no-untyped-def]
    idmap, spec = CASES[name]
    result = boot_specs(harness, spec)[name]
    assert_booted_clean(result)
    # compared with the product's entries directly, not with the harness's copy of them
    assert result.observed.maps["u"] == ranges_of(idmap, "u")
    assert result.observed.maps["g"] == ranges_of(idmap, "g")
    (render_gid,) = [gid for group, gid in spec.rootfs_groups if group == "render"]
    assert result.observed.nodes["/dev/dri/renderD128"][1] == render_gid
    assert observed_open(result, "in-render", "/dev/dri/renderD128") == (True, True)
    assert observed_open(result, "outsider", "/dev/dri/renderD128") == (False, False)


def test_uid_hole_owner_opens_its_0600_node_and_nobody_else_does(harness) -> None:  # type: ignore[no-untyped-def]
    _, spec = CASES["uid-hole"]
    result = boot_specs(harness, spec)["uid-hole"]
    assert_booted_clean(result)
    assert result.observed.nodes["/dev/kfd"][:2] == (1000, 0)
    assert observed_open(result, "owner-1000", "/dev/kfd") == (True, True)
    assert observed_open(result, "outsider", "/dev/kfd") == (False, False)


def test_many_holes_case_really_has_many_lines() -> None:
    idmap, _ = CASES["many-holes"]
    assert len(ranges_of(idmap, "g")) > 200  # keeps the case honest if the product's merging changes


def test_all_cases_boot_side_by_side_with_their_subids_merged(harness) -> None:  # type: ignore[no-untyped-def]
    # One /etc/subgid holds every case's entries at once, and the containers start in parallel.
    specs = [spec for _, spec in CASES.values()]
    results = boot_specs(harness, *specs)
    assert sorted(results) == sorted(CASES)
    for name, result in results.items():
        assert result.returncode == 0, result.explain()
        assert result.problems() == [], f"{name}: " + "\n".join(result.problems())
