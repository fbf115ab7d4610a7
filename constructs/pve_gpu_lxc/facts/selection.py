"""GPU selection: which PCI GPUs a node has, with their canonical nodes, and picking one (pure).

Indexes shift (``card0`` becomes ``card1`` after a kernel update); a PCI address does not.
The facts join three sources by address: sysfs DRM entries, ``/dev/dri/by-path`` links and
NVIDIA's ``/proc/driver/nvidia/gpus/<pci>/information`` files.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from ..core.errors import ValidationError
from .data import GpuFacts, NodeFacts
from .parsers import normalize_pci
from .records import DRIVER_VENDORS, VENDOR_IDS, VENDOR_LABELS, Vendor

_BY_PATH = re.compile(r"^pci-(?P<pci>[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])-(?P<kind>card|render)$")


def _vendor_of(vendor_id: int | None, driver: str | None) -> Vendor | None:
    if vendor_id is not None and vendor_id in VENDOR_IDS:
        return VENDOR_IDS[vendor_id]
    return DRIVER_VENDORS.get(driver or "")


def gpus(facts: NodeFacts) -> tuple[GpuFacts, ...]:
    """PCI GPUs from sysfs DRM entries, by-path links and NVIDIA's proc files, by address."""
    found: dict[str, dict[str, Any]] = {}

    def entry(pci: str) -> dict[str, Any]:
        return found.setdefault(pci, {"pci": pci, "vendor_id": None, "device_id": None, "driver": None,
                                      "card": None, "render": None, "nvidia_minor": None, "model": None})

    for minor in facts.drm:
        if minor.pci is None:
            continue
        gpu = entry(minor.pci)
        for key in ("vendor_id", "device_id", "driver"):
            gpu[key] = gpu[key] if gpu[key] is not None else getattr(minor, key)
        kind = "card" if minor.name.startswith("card") else "render" if minor.name.startswith("renderD") else None
        if kind:
            gpu[kind] = gpu[kind] or f"/dev/dri/{minor.name}"
    for link, target in facts.dri_by_path:
        match = _BY_PATH.match(posixpath.basename(link))
        if match:
            gpu = entry(normalize_pci(match["pci"]))
            gpu[match["kind"]] = gpu[match["kind"]] or posixpath.normpath(
                posixpath.join(posixpath.dirname(link), target))
    for info in facts.nvidia.gpus if facts.nvidia else ():
        gpu = entry(info.pci)
        gpu["nvidia_minor"], gpu["model"] = info.device_minor, info.model
        gpu["vendor_id"] = gpu["vendor_id"] if gpu["vendor_id"] is not None else 0x10DE
    return tuple(
        GpuFacts(vendor=_vendor_of(g["vendor_id"], g["driver"]), **g) for _, g in sorted(found.items())
    )


def describe_gpus(facts: NodeFacts) -> str:
    found = gpus(facts)
    if not found:
        return "no GPUs recorded"
    return "GPUs recorded: " + "; ".join(g.describe() for g in found)


def select_gpu(
    facts: NodeFacts,
    vendor: Vendor,
    *,
    pci: str | None = None,
    vendor_id: int | None = None,
    product_id: int | None = None,
) -> GpuFacts:
    """The one GPU of ``vendor`` matching every given filter (Incus' pci/vendorid/productid).

    No filter selects the vendor's only GPU; several matches are an error, as is none.
    """
    if pci is not None and product_id is not None:
        raise ValidationError("select a GPU by pci OR by vendor_id/product_id, not both (pci already names one GPU)")
    wanted = normalize_pci(pci) if pci is not None else None
    recorded = gpus(facts)
    # GPUs of unknown vendor (facts from pasted by-path listings) count when named by address
    candidates = [g for g in recorded if g.vendor == vendor or (g.vendor is None and g.pci == wanted)]
    matches = [
        g for g in candidates
        if (wanted is None or g.pci == wanted)
        and (vendor_id is None or g.vendor_id == vendor_id)
        and (product_id is None or g.device_id == product_id)
    ]
    selector = ", ".join(
        part for part in (
            f"pci {wanted}" if wanted else "",
            f"vendor_id 0x{vendor_id:04x}" if vendor_id is not None else "",
            f"product_id 0x{product_id:04x}" if product_id is not None else "",
        ) if part
    )
    label = VENDOR_LABELS[vendor]
    if not matches:
        hint = ""
        other = next((g for g in recorded if wanted and g.pci == wanted), None)
        if other is not None:
            hint = f" (that address is {other.describe()})"
        problem = f"no {label} GPU matches {selector}" if selector else f"no {label} GPU is recorded"
        raise ValidationError(
            f"{facts.label}: {problem}{hint}. {describe_gpus(facts)}. "
            "Pick one of these PCI addresses, or re-record the facts if the hardware changed"
        )
    if len(matches) > 1:
        raise ValidationError(
            f"{facts.label}: {len(matches)} {label} GPUs match {selector or 'the selection'}: "
            + "; ".join(g.describe() for g in matches)
            + ". Select one by pci='<address>'"
        )
    return matches[0]
