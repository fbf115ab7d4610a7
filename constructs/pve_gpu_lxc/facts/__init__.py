"""Recorded host facts: what a node is, as opposed to what to change on it (pure; no cdktf import).

records   the plain values (device nodes, id ranges, /proc/devices, NVIDIA's files)
parsers   command output -> records (ls -l, /proc/devices, /proc/driver/nvidia/*, subuid, /etc/group)
boot      the boot configuration, replayed: which NVIDIA nodes exist when Proxmox starts guests
data      NodeFacts: one node's recorded facts as data, with the plain queries
readers   one reader per node fact the check's probe shares: the collector's shell function and its
          parser; the shipped collector script
io        the collector's JSON document, facts files, pasted listings
selection which PCI GPUs the node has, and picking one by address or id
verify    does a container fit the node as recorded
model     HostFacts: NodeFacts with the entry points of io, selection and verify (imports run
          records -> parsers, boot -> data -> readers -> io, selection -> verify -> model, one way)
"""

from .data import DrmMinor, GpuFacts, NvidiaFacts
from .io import SCHEMA, SCHEMA_VERSION, manual_record_command, record_command
from .model import HostFacts
from .parsers import (
    normalize_pci,
    parse_group_file,
    parse_ls,
    parse_nvidia_information,
    parse_nvidia_version,
    parse_proc_devices,
    parse_subid,
)
from .readers import collector_script
from .records import (
    RECORDED_PREFIXES,
    VENDOR_LABELS,
    DeviceNode,
    IdRange,
    NvidiaGpuInfo,
    NvidiaRuntimeFacts,
    NvidiaVersion,
    OciImageFacts,
    ProcDevices,
    TemplateFacts,
    Vendor,
)

__all__ = [
    "RECORDED_PREFIXES",
    "SCHEMA",
    "SCHEMA_VERSION",
    "VENDOR_LABELS",
    "DeviceNode",
    "DrmMinor",
    "GpuFacts",
    "HostFacts",
    "IdRange",
    "NvidiaFacts",
    "NvidiaGpuInfo",
    "NvidiaRuntimeFacts",
    "NvidiaVersion",
    "OciImageFacts",
    "ProcDevices",
    "TemplateFacts",
    "Vendor",
    "collector_script",
    "manual_record_command",
    "normalize_pci",
    "parse_group_file",
    "parse_ls",
    "parse_nvidia_information",
    "parse_nvidia_version",
    "parse_proc_devices",
    "parse_subid",
    "record_command",
]
