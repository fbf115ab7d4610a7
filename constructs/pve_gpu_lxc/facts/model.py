"""Recorded host facts: what a Proxmox node's GPUs look like (pure; no cdktf import).

Facts are files committed next to the stacks (``stacks/facts/<node>.json``), written by the
collector shipped in this folder (``collect-host-facts.sh``) run on the node.  They can also
be built from pasted ``ls -l /dev/dri`` / ``ls -l /dev/nvidia*``, ``/proc/devices`` and
``/proc/driver/nvidia/version`` text (`HostFacts.from_listings`).  `HostFacts` answers the
questions the model asks at synth time: which ``cardN``/``renderDNNN``/``nvidiaN`` belongs to a
PCI address (`selection`), whether a path is a char device on the node, which driver version
the node runs and whether root's subuid/subgid allow an idmap's host ranges (`verify`).
Nothing here reads the host; ``HostFacts.load`` reads one facts file (`io`).

`HostFacts` is the record (`data.NodeFacts`) with those modules' entry points: they work on the
record and never import this module, so the imports run one way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from . import io, selection, verify
from .data import GpuFacts, NodeFacts
from .records import DeviceNode, IdRange, Vendor


@dataclass(frozen=True)
class HostFacts(NodeFacts):
    """Everything recorded about one node.  Build with `load`, `from_json` or `from_listings`."""

    # ---------------------------------------------------------------- construction (io.py)

    @classmethod
    def load(cls, path: str | Path) -> HostFacts:
        """Read a facts file written by the collector (``stacks/facts/<node>.json``)."""

        return io.load(path, cls)

    @classmethod
    def from_json(cls, data: Mapping[str, object], source: str = "(in memory)") -> HostFacts:

        return io.from_json(data, source, cls)

    @classmethod
    def from_listings(
        cls,
        hostname: str,
        *,
        ls: Iterable[str | tuple[str, str]] = (),
        proc_devices: str | None = None,
        nvidia_version: str | None = None,
        nvidia_information: Mapping[str, str] | None = None,
        group_file: str | None = None,
        subuid: str | None = None,
        subgid: str | None = None,
    ) -> HostFacts:
        """Facts from pasted command output, when the collector cannot be run.

        ``ls`` items are ``ls -l`` texts, or ``(text, base_directory)`` pairs.  Listings of
        ``/dev/dri/by-path`` give the PCI mapping; there are no sysfs vendor ids then.
        """

        return io.from_listings(
            cls, hostname, ls=ls, proc_devices=proc_devices, nvidia_version=nvidia_version,
            nvidia_information=nvidia_information, group_file=group_file, subuid=subuid, subgid=subgid,
        )

    def to_json(self) -> dict[str, object]:
        """The collector's document shape (so pasted facts can be saved as a facts file)."""

        return io.to_json(self)

    # ---------------------------------------------------------------- GPU selection (selection.py)

    def gpus(self) -> tuple[GpuFacts, ...]:
        """PCI GPUs from sysfs DRM entries, by-path links and NVIDIA's proc files, by address."""

        return selection.gpus(self)

    def describe_gpus(self) -> str:

        return selection.describe_gpus(self)

    def select_gpu(
        self,
        vendor: Vendor,
        *,
        pci: str | None = None,
        vendor_id: int | None = None,
        product_id: int | None = None,
    ) -> GpuFacts:
        """The one GPU of ``vendor`` matching every given filter (Incus' pci/vendorid/productid).

        No filter selects the vendor's only GPU; several matches are an error, as is none.
        """

        return selection.select_gpu(self, vendor, pci=pci, vendor_id=vendor_id, product_id=product_id)

    # ---------------------------------------------------------------- checks (verify.py)

    def require_char_device(self, path: str, why: str = "") -> DeviceNode:
        """The node at ``path``, which must be a char device on the node."""

        return verify.require_char_device(self, path, why)

    def missing_nvidia_control_nodes(self) -> tuple[str, ...]:
        """Control nodes userspace creates on demand (nvidia-modprobe) that the node lacks."""

        return verify.missing_nvidia_control_nodes(self)

    def uncovered_subids(self, kind: Literal["u", "g"], ranges: Iterable[tuple[int, int]]) -> tuple[IdRange, ...]:
        """Parts of host ranges ``(start, count)`` root may not map per the recorded subuid/subgid."""

        return verify.uncovered_subids(self, kind, ranges)

    def verify_container(
        self,
        *,
        node_name: str,
        device_paths: Iterable[str] = (),
        own_boot_nodes: Iterable[str] = (),
        nvidia_driver: str | None = None,
        nvidia_runtime: bool = False,
        idmap: Iterable[tuple[Literal["u", "g"], int, int]] = (),
    ) -> None:
        """Raise one ValidationError listing every way a container would not fit this node (verify.py)."""

        verify.verify_container(self, node_name=node_name, device_paths=device_paths, own_boot_nodes=own_boot_nodes,
                                nvidia_driver=nvidia_driver, nvidia_runtime=nvidia_runtime, idmap=idmap)
