"""pve_gpu_lxc_testing.lxc.probes: who may open what, and judging the container's report."""

from __future__ import annotations

import pytest

from pve_gpu_lxc_testing.lxc import plan, stand_in_rdev
from pve_gpu_lxc_testing.lxc import bpg, probes
from pve_gpu_lxc_testing.lxc.model import ContainerSpec

from .lxc_cases import SEED_INTEL_BODY, SEED_ROOTFS_GROUPS, seed_plan


GOOD_REPORT = """BEGIN
MAP u 0 100000 65536
{gmaps}
NODE /dev/dri/card0 0 44 21b0 1 3
NODE /dev/dri/renderD128 0 106 21b0 1 3
{probes}
END
"""


def good_report(p, probe_list) -> str:  # type: ignore[no-untyped-def]
    gmaps = "\n".join(f"MAP g {r.ct} {r.host} {r.size}" for r in p.ranges("g"))
    lines = "\n".join(
        f"PROBE {pr.user.name} {pr.path} {pr.access} {'OK' if pr.expected else 'DENIED'}" for pr in probe_list
    )
    return GOOD_REPORT.format(gmaps=gmaps, probes=lines)


def test_render_member_may_open_render_node_and_outsider_may_not() -> None:
    p = seed_plan()
    probe_list = probes.probes(p, probes.accounts(p))
    by = {(pr.user.name, pr.path, pr.access): pr.expected for pr in probe_list}
    assert by[("in-render", "/dev/dri/renderD128", "r")] and by[("in-render", "/dev/dri/renderD128", "w")]
    assert not by[("outsider", "/dev/dri/renderD128", "r")] and not by[("outsider", "/dev/dri/renderD128", "w")]


def test_accounts_use_the_rootfs_group_numbers() -> None:
    acc = probes.accounts(seed_plan())
    assert "render:x:106:in-render" in acc.group.splitlines()
    assert "video:x:44:in-video" in acc.group.splitlines()


def test_verify_accepts_a_matching_report() -> None:
    p = seed_plan()
    probe_list = probes.probes(p, probes.accounts(p))
    assert probes.verify(p, probe_list, probes.parse_report(good_report(p, probe_list))) == []


@pytest.mark.parametrize(
    "change, expected",
    [
        (("MAP g 106 108 1", "MAP g 106 100106 1"), "gid_map inside"),
        (("NODE /dev/dri/renderD128 0 106", "NODE /dev/dri/renderD128 0 65534"), "owner 0:65534 inside"),
        (("21b0 1 3\nPROBE", "2180 1 3\nPROBE"), "mode 0600 inside"),
        (("NODE /dev/dri/card0 0 44 21b0 1 3", "NODE /dev/dri/card0 MISSING"), "card0: missing"),
        (("PROBE outsider /dev/dri/renderD128 w DENIED", "PROBE outsider /dev/dri/renderD128 w OK"), "must not"),
        (("PROBE in-render /dev/dri/renderD128 r OK", "PROBE in-render /dev/dri/renderD128 r DENIED"), "should"),
        (("END", ""), "did not finish"),
    ],
)
def test_verify_names_each_kind_of_difference(change: tuple[str, str], expected: str) -> None:
    p = seed_plan()
    probe_list = probes.probes(p, probes.accounts(p))
    report = good_report(p, probe_list)
    assert change[0] in report
    problems = probes.verify(p, probe_list, probes.parse_report(report.replace(change[0], change[1], 1)))
    assert any(expected in problem for problem in problems), problems


def test_intent_probe_catches_a_devn_gid_that_is_not_the_rootfs_render_group() -> None:
    # The classic mistake: the host's render gid (108) in devN instead of the container's (106).
    body = {**SEED_INTEL_BODY, "device_passthrough": [{"path": "/dev/dri/renderD128", "gid": 108}]}
    spec = bpg.spec_from_body("intel", body)
    p = plan(ContainerSpec(**{**spec.__dict__, "rootfs_groups": SEED_ROOTFS_GROUPS}), stand_in_rdev)
    probe_list = probes.probes(p, probes.accounts(p))
    assert [pr.expected for pr in probe_list if pr.user.name == "in-render"] == [True, True]


def test_privileged_container_expects_the_identity_map() -> None:
    p = seed_plan(unprivileged=False, idmap=())
    assert [r.lxc_value() for r in probes.expected_maps(p)["u"]] == ["u 0 0 4294967295"]
    assert (p.nodes[1].host_gid, p.nodes[1].seen_gid) == (106, 106)  # no map: ids pass unchanged
