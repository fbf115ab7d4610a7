"""An idmap as a picture: a table of container ranges -> host ranges, and an SVG (pure).

What a recipe's author annotates by hand line by line: which container ids land on which host
ids, and where the passthrough holes are.  Both take the entries of an `IdMap` (or any list of
`IdMapEntry`) and the shifted base (`host_base`, PVE's 100000): an entry whose host id is the
container id plus the base is `shifted`, any other is `passthrough`.

The SVG draws, per kind, the container id space on top and the host ids below, each mapped
range as a band joining its two ranges.  The axes are not to scale: every range between two
boundaries gets a fixed minimum width plus its share of the rest, so a 1-id hole is as readable
as the 65 429 ids after it; unmapped host ids between two mapped ranges are a short dashed gap.
Each band and axis segment carries `data-*` attributes with its ids, so a test (or a reader
with a script) can check the drawing against the map.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from ..model.idmap import DEFAULT_HOST_BASE, KINDS, IdMapEntry, Kind

_KIND_NAMES = {"u": "uid", "g": "gid"}


@dataclass(frozen=True)
class Row:
    """One line of the table: container ids [first, last] -> host ids [first, last]."""

    kind: Kind
    container_first: int
    container_last: int
    host_first: int
    host_last: int
    passthrough: bool

    @property
    def size(self) -> int:
        return self.container_last - self.container_first + 1


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}..{last}"


def rows(entries: Iterable[IdMapEntry], host_base: int = DEFAULT_HOST_BASE) -> list[Row]:
    """The entries as table rows, uids first, each kind by container id."""
    ordered = sorted(entries, key=lambda e: (KINDS.index(e.kind), e.container_id))
    return [Row(e.kind, e.container_id, e.container_end - 1, e.host_id, e.host_end - 1,
                e.host_id != e.container_id + host_base) for e in ordered]


def table(entries: Iterable[IdMapEntry], host_base: int = DEFAULT_HOST_BASE, *,
          host_groups: Mapping[int, str] | None = None) -> str:
    """A fixed-width table; passthrough rows are marked `<- passthrough`, with the host group's
    name for a one-id gid hole when `host_groups` ({gid: name}, e.g. the host facts') knows it."""
    body = [("kind", "container", "host", "size", "")]
    for r in rows(entries, host_base):
        mark = "<- passthrough" if r.passthrough else f"shifted (+{host_base})"
        name = (host_groups or {}).get(r.host_first) if r.kind == "g" and r.size == 1 else None
        if r.passthrough and name:
            mark += f" (host group {name})"
        body.append((_KIND_NAMES[r.kind], _span(r.container_first, r.container_last),
                     _span(r.host_first, r.host_last), str(r.size), mark))
    widths = [max(len(line[i]) for line in body) for i in range(4)]
    lines = []
    for kind, ct, host, size, mark in body:
        lines.append(f"{kind:<{widths[0]}}  {ct:<{widths[1]}}  ->  {host:<{widths[2]}}  "
                     f"{size:>{widths[3]}}  {mark}".rstrip())
    lines[0] = lines[0].replace("  ->  ", "      ")
    return "\n".join(lines) + "\n"


# --- SVG ----------------------------------------------------------------------------------------

WIDTH = 1000
LEFT = 110  # axis names sit left of this
RIGHT = 20
MIN_SEGMENT = 84.0  # px for every range, whatever its size (labels fit)
GAP = 28.0  # px for unmapped host ids between two mapped ranges
PANEL = 210
_COLOURS = {False: ("#cfe3f7", "#4a7fb5"), True: ("#f9c784", "#c8691c")}


@dataclass(frozen=True)
class Segment:
    """One piece of an axis: ids [first, last] drawn from x0 to x1 (mapped or a gap)."""

    first: int
    last: int
    x0: float
    x1: float
    mapped: bool


def _layout(intervals: Sequence[tuple[int, int, bool]]) -> list[Segment]:
    """x positions for consecutive [first, last] intervals (mapped ones get MIN_SEGMENT plus a share)."""
    mapped = [(a, b) for a, b, m in intervals if m]
    gaps = len(intervals) - len(mapped)
    free = WIDTH - LEFT - RIGHT - len(mapped) * MIN_SEGMENT - gaps * GAP
    total = sum(b - a + 1 for a, b in mapped)
    x = float(LEFT)
    out = []
    for first, last, is_mapped in intervals:
        width = MIN_SEGMENT + max(free, 0.0) * (last - first + 1) / total if is_mapped else GAP
        out.append(Segment(first, last, round(x, 2), round(x + width, 2), is_mapped))
        x += width
    return out


def _intervals(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int, bool]]:
    """Sorted, non-overlapping [first, last] ranges with the unmapped stretches between them."""
    out: list[tuple[int, int, bool]] = []
    for first, last in sorted(ranges):
        if out and first > out[-1][1] + 1:
            out.append((out[-1][1] + 1, first - 1, False))
        out.append((first, last, True))
    return out


def _x(segments: Sequence[Segment], first: int, last: int) -> tuple[float, float]:
    for s in segments:
        if s.first == first and s.last == last:
            return s.x0, s.x1
    raise ValueError(f"no axis segment {first}..{last}")  # pragma: no cover - built from the same ranges


def _label(x: float, y: float, text: str, cls: str, anchor: str = "middle") -> str:
    return (f'<text class={quoteattr(cls)} x="{x:.2f}" y="{y:.2f}" text-anchor="{anchor}">'
            f"{escape(text)}</text>")


def _panel(kind: Kind, entries: Sequence[IdMapEntry], host_base: int, top: float) -> list[str]:
    name = _KIND_NAMES[kind]
    y_ct, y_host = top + 62, top + 162
    ct_axis = _layout([(e.container_id, e.container_end - 1, True) for e in entries])
    host_axis = _layout(_intervals([(e.host_id, e.host_end - 1) for e in entries]))
    out = [f'<g class="panel" data-kind="{kind}">',
           _label(LEFT, top + 20, f"{name} map: container {name}s (top) -> host {name}s (bottom)", "title", "start"),
           _label(LEFT - 10, y_ct + 4, f"container {name}", "axis-name", "end"),
           _label(LEFT - 10, y_host + 4, f"host {name}", "axis-name", "end")]
    for side, axis, y, label_y in (("container", ct_axis, y_ct, y_ct - 10), ("host", host_axis, y_host, y_host + 20)):
        for s in axis:
            dash = "" if s.mapped else ' stroke-dasharray="3 3"'
            out.append(f'<line class="axis {side}" data-first="{s.first}" data-last="{s.last}" '
                       f'data-mapped="{int(s.mapped)}" x1="{s.x0:.2f}" y1="{y}" x2="{s.x1:.2f}" y2="{y}" '
                       f'stroke="#333" stroke-width="2"{dash}/>')
            out.append(f'<line class="tick" x1="{s.x0:.2f}" y1="{y - 4}" x2="{s.x0:.2f}" y2="{y + 4}" stroke="#333"/>')
            if s.mapped:
                out.append(_label((s.x0 + s.x1) / 2, label_y, _span(s.first, s.last).replace("..", "\u2013"), "ids"))
        last = axis[-1]
        out.append(f'<line class="tick" x1="{last.x1:.2f}" y1="{y - 4}" x2="{last.x1:.2f}" y2="{y + 4}" '
                   'stroke="#333"/>')
    for e in entries:
        passthrough = e.host_id != e.container_id + host_base
        c0, c1 = _x(ct_axis, e.container_id, e.container_end - 1)
        h0, h1 = _x(host_axis, e.host_id, e.host_end - 1)
        fill, stroke = _COLOURS[passthrough]
        cls = "band passthrough" if passthrough else "band shifted"
        out.append(
            f'<polygon class="{cls}" data-kind="{kind}" data-container-first="{e.container_id}" '
            f'data-container-last="{e.container_end - 1}" data-host-first="{e.host_id}" '
            f'data-host-last="{e.host_end - 1}" points="{c0:.2f},{y_ct + 2} {c1:.2f},{y_ct + 2} '
            f'{h1:.2f},{y_host - 2} {h0:.2f},{y_host - 2}" fill="{fill}" stroke="{stroke}" fill-opacity="0.85"/>')
        mid_x = (c0 + c1 + h0 + h1) / 4
        text = f"{e.container_id}\u2192{e.host_id}" if passthrough and e.size == 1 else \
            "passthrough" if passthrough else f"+{host_base}"
        out.append(_label(mid_x, (y_ct + y_host) / 2 + 4, text, "band-label"))
    out.append("</g>")
    return out


def svg(entries: Iterable[IdMapEntry], host_base: int = DEFAULT_HOST_BASE, *, title: str = "") -> str:
    """The drawing (one panel per kind present), as an SVG document ending in a newline."""
    by_kind = {k: sorted((e for e in entries if e.kind == k), key=lambda e: e.container_id) for k in KINDS}
    kinds = [k for k in KINDS if by_kind[k]]
    height = 40 + PANEL * len(kinds) + 30
    body = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">',
            "<style>.title{font-weight:bold;font-size:13px}.axis-name{fill:#333}.ids{fill:#111}"
            ".band-label{fill:#222;font-size:10px}</style>",
            f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
            _label(LEFT, 24, title, "heading", "start") if title else ""]
    for index, kind in enumerate(kinds):
        body += _panel(kind, by_kind[kind], host_base, 40 + index * PANEL)
    body.append(_label(LEFT, height - 12, "Not to scale: every range gets the same minimum width; dashed: host ids "
                       "no container id maps to. Blue: shifted by the base, orange: passthrough.", "legend", "start"))
    body.append("</svg>")
    return "\n".join(line for line in body if line) + "\n"
