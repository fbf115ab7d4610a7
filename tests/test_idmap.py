"""IdMap: exact lines for known cases, properties for all cases, exact error messages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pve_gpu_lxc import IdMap, IdMapEntry, ValidationError

SEED_LINES = [
    "lxc.idmap: u 0 100000 65536",
    "lxc.idmap: g 0 100000 44",
    "lxc.idmap: g 44 44 1",
    "lxc.idmap: g 45 100045 61",
    "lxc.idmap: g 106 108 1",
    "lxc.idmap: g 107 100107 65429",
]


@pytest.mark.parametrize(
    ("kwargs", "lines"),
    [
        pytest.param(dict(gids={44: 44, 106: 108}), SEED_LINES, id="seed-intel"),
        pytest.param({}, ["lxc.idmap: u 0 100000 65536", "lxc.idmap: g 0 100000 65536"], id="default"),
        pytest.param(
            dict(gids={44: 44, 45: 45}),
            ["lxc.idmap: u 0 100000 65536", "lxc.idmap: g 0 100000 44", "lxc.idmap: g 44 44 2", "lxc.idmap: g 46 100046 65490"],
            id="adjacent-holes-merge",
        ),
        pytest.param(
            dict(gids={0: 500, 65535: 501}),
            ["lxc.idmap: u 0 100000 65536", "lxc.idmap: g 0 500 1", "lxc.idmap: g 1 100001 65534", "lxc.idmap: g 65535 501 1"],
            id="holes-at-both-ends",
        ),
        pytest.param(
            dict(uids={1000: 1000}),
            ["lxc.idmap: u 0 100000 1000", "lxc.idmap: u 1000 1000 1", "lxc.idmap: u 1001 101001 64535", "lxc.idmap: g 0 100000 65536"],
            id="uid-hole-keeps-full-g-map",
        ),
        pytest.param(
            dict(gids={5: 100005}),
            ["lxc.idmap: u 0 100000 65536", "lxc.idmap: g 0 100000 65536"],
            id="identity-hole-merges-away",
        ),
        pytest.param(
            dict(gids={10: 100011, 11: 100010}),
            [
                "lxc.idmap: u 0 100000 65536",
                "lxc.idmap: g 0 100000 10",
                "lxc.idmap: g 10 100011 1",
                "lxc.idmap: g 11 100010 1",
                "lxc.idmap: g 12 100012 65524",
            ],
            id="swap-inside-base-range",
        ),
        pytest.param(
            dict(gids={1: 2}, host_base=200000, size=4),
            ["lxc.idmap: u 0 200000 4", "lxc.idmap: g 0 200000 1", "lxc.idmap: g 1 2 1", "lxc.idmap: g 2 200002 2"],
            id="custom-base-and-size",
        ),
    ],
)
def test_passthrough_lines(kwargs: dict, lines: list[str]) -> None:
    assert IdMap.passthrough(**kwargs).lxc_lines() == lines


def test_seed_subgid_lines_are_the_seeds() -> None:
    idmap = IdMap.passthrough(gids={44: 44, 106: 108})
    assert idmap.subgid_lines() == ["root:44:1", "root:108:1"]
    assert idmap.subuid_lines() == []
    assert idmap.subgid_lines(include_base=True) == ["root:44:1", "root:108:1", "root:100000:65536"]
    assert idmap.subuid_lines(include_base=True) == ["root:100000:65536"]


def test_subgid_lines_merge_adjacent_host_ids() -> None:
    assert IdMap.passthrough(gids={44: 44, 45: 45, 106: 108}).subgid_lines() == ["root:44:2", "root:108:1"]


def test_entries_carry_bpg_types() -> None:
    entries = IdMap.passthrough(gids={44: 44}).entries
    assert entries[0] == IdMapEntry("u", 0, 100000, 65536)
    assert [e.bpg_type for e in entries] == ["uid", "gid", "gid", "gid"]


def test_from_lxc_lines_round_trips_the_seed() -> None:
    assert IdMap.from_lxc_lines(SEED_LINES) == IdMap.passthrough(gids={44: 44, 106: 108})
    assert IdMap.from_lxc_lines(SEED_LINES).holes("g") == {44: 44, 106: 108}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(gids={44: 7, 45: 7}), "idmap: container gids 44 and 45 both map to host gid 7; a host id can back only one container id (the ranges would overlap on the host side)"),
        (dict(gids={65536: 44}), "idmap: container gid is 65536, outside the allowed range 0..65535"),
        (dict(uids={-1: 44}), "idmap: container uid is -1, outside the allowed range 0..65535"),
        (dict(gids={44: 4294967295}), "idmap: host gid for container gid 44 is 4294967295, outside the allowed range 0..4294967294"),
        (dict(gids={"44": 44}), "idmap: container gid must be an integer, got '44'"),
        (
            dict(gids={44: 100050}),
            "idmap: container gid 44 -> host gid 100050 collides with the shifted range, where container gid 50 "
            "already maps to host 100050 (100000..165535 backs container ids 0..65535); use a host id outside "
            "that range (e.g. the host group's own id)",
        ),
    ],
)
def test_passthrough_rejects(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        IdMap.passthrough(**kwargs)
    assert str(err.value) == message


def test_hand_written_overlap_is_rejected_with_both_entries() -> None:
    lines = ["u 0 100000 65536", "g 0 100000 65536", "g 44 44 1"]
    with pytest.raises(ValidationError) as err:
        IdMap.from_lxc_lines(lines)
    assert str(err.value) == (
        "idmap: entries 'g 0 100000 65536' and 'g 44 44 1' overlap on the container side; the kernel refuses "
        "overlapping gid ranges ('Failed to write mapping'). Give each container id and each host id exactly one mapping"
    )


def test_hand_written_host_overlap_is_rejected() -> None:
    with pytest.raises(ValidationError, match="overlap on the host side"):
        IdMap.from_lxc_lines(["u 0 100000 65536", "g 0 100000 10", "g 10 100005 65526"])


def test_missing_u_map_is_rejected() -> None:
    with pytest.raises(ValidationError) as err:
        IdMap.from_lxc_lines(["g 0 100000 65536"])
    assert str(err.value) == (
        "idmap: container uids 0..65535 are not mapped; once a container has any lxc.idmap line Proxmox adds "
        "no defaults, so the 'u' map must cover 0..65535"
    )


def test_gap_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"container gids 44\.\.44 are not mapped"):
        IdMap.from_lxc_lines(["u 0 100000 65536", "g 0 100000 44", "g 45 100045 65491"])


def test_unparsable_line() -> None:
    with pytest.raises(ValidationError, match=r"cannot parse 'lxc.idmap: x 0 1 2'"):
        IdMap.from_lxc_lines(["lxc.idmap: x 0 1 2"])


def test_too_many_lines_for_the_kernel() -> None:
    holes = {ct: 1_000_000 + ct for ct in range(0, 700, 2)}  # 350 holes -> ~700 lines
    with pytest.raises(ValidationError, match=r"exceed the kernel's limit of 340 per map"):
        IdMap.passthrough(gids=holes)


# --- properties -----------------------------------------------------------------------------

SIZE = 65536
container_ids = st.integers(min_value=0, max_value=SIZE - 1)
# Host ids outside the shifted range, so any combination is valid.
host_ids = st.integers(min_value=0, max_value=99_999)
hole_maps = st.dictionaries(container_ids, host_ids, max_size=40).filter(lambda d: len(set(d.values())) == len(d))


def _expand(idmap: IdMap, kind: str) -> dict[int, int]:
    """Container id -> host id, by walking the entries (independent of IdMap.to_host)."""
    out: dict[int, int] = {}
    for e in idmap.of_kind(kind):  # type: ignore[arg-type]
        for i in range(e.size):
            assert e.container_id + i not in out, "container id mapped twice"
            out[e.container_id + i] = e.host_id + i
    return out


@settings(max_examples=60, deadline=None)
@given(uids=hole_maps, gids=hole_maps)
def test_every_container_id_maps_to_exactly_one_host_id(uids: dict, gids: dict) -> None:
    idmap = IdMap.passthrough(uids=uids, gids=gids)
    for kind, holes in (("u", uids), ("g", gids)):
        mapping = _expand(idmap, kind)
        assert sorted(mapping) == list(range(SIZE))  # complete, each exactly once
        assert len(set(mapping.values())) == SIZE  # injective
        for ct, host in holes.items():  # holes honoured
            assert mapping[ct] == host
        for ct in set(range(SIZE)) - set(holes):  # everything else shifted
            assert mapping[ct] == 100000 + ct


@settings(max_examples=60, deadline=None)
@given(gids=hole_maps)
def test_lines_are_merged_and_nonzero(gids: dict) -> None:
    entries = IdMap.passthrough(gids=gids).of_kind("g")
    assert all(e.size > 0 for e in entries)
    for a, b in zip(entries, entries[1:]):
        assert not (a.container_end == b.container_id and a.host_end == b.host_id), f"{a} and {b} not merged"


@settings(max_examples=60, deadline=None)
@given(gids=hole_maps)
def test_subgid_lines_cover_exactly_the_holes_outside_the_base(gids: dict) -> None:
    covered: set[int] = set()
    for line in IdMap.passthrough(gids=gids).subgid_lines():
        user, start, count = line.split(":")
        assert user == "root"
        covered |= set(range(int(start), int(start) + int(count)))
    assert covered == set(gids.values())


@settings(max_examples=40, deadline=None)
@given(gids=hole_maps)
def test_lxc_lines_round_trip(gids: dict) -> None:
    idmap = IdMap.passthrough(gids=gids)
    assert IdMap.from_lxc_lines(idmap.lxc_lines()) == idmap
