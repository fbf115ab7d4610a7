"""cli/idmap_picture.py (drawn by `explain`): the idmap table and the SVG, checked against the map they draw."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pve_gpu_lxc.model.idmap import IdMap, IdMapEntry
from pve_gpu_lxc.cli.idmap_picture import GAP, MIN_SEGMENT, rows, svg, table

SVG = "{http://www.w3.org/2000/svg}"
RECIPE = IdMap.passthrough(gids={44: 44, 106: 108})  # the seed recipe: video 44 -> 44, render 106 -> 108


def test_the_table_lists_every_range_and_marks_only_the_holes() -> None:
    assert table(RECIPE.entries) == (
        "kind  container       host             size\n"
        "uid   0..65535    ->  100000..165535  65536  shifted (+100000)\n"
        "gid   0..43       ->  100000..100043     44  shifted (+100000)\n"
        "gid   44          ->  44                  1  <- passthrough\n"
        "gid   45..105     ->  100045..100105     61  shifted (+100000)\n"
        "gid   106         ->  108                 1  <- passthrough\n"
        "gid   107..65535  ->  100107..165535  65429  shifted (+100000)\n"
    )


def test_one_id_gid_holes_name_the_host_group_when_known() -> None:
    lines = table(RECIPE.entries, host_groups={44: "video", 108: "render", 100000: "nobody"}).splitlines()
    assert lines[3].endswith("<- passthrough (host group video)")
    assert lines[5].endswith("<- passthrough (host group render)")
    assert lines[2].endswith("shifted (+100000)")  # only holes are named


def test_rows_follow_the_entries_and_the_base() -> None:
    entries = [IdMapEntry("g", 0, 200000, 10), IdMapEntry("g", 10, 10, 1), IdMapEntry("g", 11, 200011, 65525)]
    assert [(r.container_first, r.container_last, r.host_first, r.host_last, r.passthrough)
            for r in rows(entries, host_base=200000)] == [
        (0, 9, 200000, 200009, False), (10, 10, 10, 10, True), (11, 65535, 200011, 265535, False)]
    # with PVE's base every row of that map is off the shifted line
    assert all(r.passthrough for r in rows(entries)[::2])


def _panels(document: str) -> dict[str, ET.Element]:
    root = ET.fromstring(document)
    return {g.get("data-kind", ""): g for g in root.iter(f"{SVG}g") if g.get("class") == "panel"}


def _axis(panel: ET.Element, side: str) -> list[tuple[int, int, float, float, bool]]:
    return [(int(a.get("data-first", "")), int(a.get("data-last", "")), float(a.get("x1", "")),
             float(a.get("x2", "")), a.get("data-mapped") == "1")
            for a in panel.iter(f"{SVG}line") if a.get("class") == f"axis {side}"]


def _points(band: ET.Element) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in band.get("points", "").split())]


def check_drawing(idmap: IdMap) -> None:
    """Every entry is one band whose four corners sit on the ends of its ranges on both axes."""
    panels = _panels(svg(idmap.entries, title="t"))
    assert set(panels) == {e.kind for e in idmap.entries}
    for kind, panel in panels.items():
        entries = idmap.of_kind(kind)  # type: ignore[arg-type]
        bands = [b for b in panel.iter(f"{SVG}polygon") if "band" in b.get("class", "")]
        assert [(int(b.get("data-container-first", "")), int(b.get("data-container-last", "")),
                 int(b.get("data-host-first", "")), int(b.get("data-host-last", ""))) for b in bands] == [
            (e.container_id, e.container_end - 1, e.host_id, e.host_end - 1) for e in entries]
        container_axis, host_axis = _axis(panel, "container"), _axis(panel, "host")
        for axis in (container_axis, host_axis):  # contiguous, left to right, each range readable
            assert all(a[3] == b[2] and a[1] + 1 == b[0] for a, b in zip(axis, axis[1:], strict=False))
            assert all(x1 - x0 >= (MIN_SEGMENT if mapped else GAP) - 0.02 for _, _, x0, x1, mapped in axis)
        # the host axis shows exactly the mapped host ids, gaps between them unmapped
        mapped_host = {(f, last) for f, last, _, _, m in host_axis if m}
        assert mapped_host == {(e.host_id, e.host_end - 1) for e in entries}
        assert not any(m for f, last, _, _, m in host_axis
                       for e in entries if not m and e.host_id <= last and f < e.host_end)
        ct_x = {(f, last): (x0, x1) for f, last, x0, x1, _ in container_axis}
        host_x = {(f, last): (x0, x1) for f, last, x0, x1, _ in host_axis}
        for band, e in zip(bands, entries, strict=True):
            (tl, ty), (tr, _), (br, by), (bl, _) = _points(band)
            assert (tl, tr) == ct_x[(e.container_id, e.container_end - 1)]
            assert (bl, br) == host_x[(e.host_id, e.host_end - 1)]
            assert ty < by  # container on top, host below
            passthrough = e.host_id != e.container_id + idmap.host_base
            assert band.get("class") == ("band passthrough" if passthrough else "band shifted")


def test_the_recipe_drawing_matches_its_map() -> None:
    check_drawing(RECIPE)
    gid = _panels(svg(RECIPE.entries))["g"]
    # the two holes leave host ids 100044 and 100106 unmapped: drawn as gaps
    gaps = [(f, last) for f, last, _, _, m in _axis(gid, "host") if not m]
    assert gaps == [(45, 107), (109, 99999), (100044, 100044), (100106, 100106)]


def test_the_svg_is_labelled() -> None:
    root = ET.fromstring(svg(RECIPE.entries, title="intel-jellyfin/jellyfin"))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "intel-jellyfin/jellyfin" in texts
    assert {"44\u219244", "106\u2192108", "+100000", "107\u201365535", "100107\u2013165535"} <= set(texts)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.integers(0, 65535), st.integers(0, 99999), max_size=6),
       st.dictionaries(st.integers(0, 65535), st.integers(0, 99999), max_size=6))
def test_any_passthrough_map_is_drawn_as_mapped(uids: dict[int, int], gids: dict[int, int]) -> None:
    try:
        idmap = IdMap.passthrough(uids=uids, gids=gids)
    except ValueError:
        return  # IdMap refuses it (two container ids on one host id): nothing to draw
    check_drawing(idmap)


@pytest.mark.parametrize("kinds", [("u",), ("g",), ("u", "g")])
def test_one_panel_per_kind_present(kinds: tuple[str, ...]) -> None:
    entries = [e for e in RECIPE.entries if e.kind in kinds]
    assert set(_panels(svg(entries))) == set(kinds)
