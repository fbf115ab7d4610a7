"""The stand-in's Terraform schema, generated at run time from the product's schema data.

The same `schema_data/bpg-proxmox-0.111.1.*.json` that the product's L1 layer and
conformance checker read (`pve_gpu_lxc.l1.schema`) is turned into `tf` schema
objects here, so the stand-in accepts exactly what bpg/proxmox 0.111.1 accepts.

`tf` 1.2.0 only knows SET and SINGLE nested blocks; bpg uses LIST blocks
(`device_passthrough`, `idmap`, `network_interface`, ...), hence `ListNestedBlock`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from tf.gen import tfplugin_pb2 as pb
from tf.schema import Attribute, Block, NestedBlock, NestMode, Schema, TextFormat

from pve_gpu_lxc.l1.schema import PROVIDER_VERSION, provider_block, provider_schemas

# Test data, not product: defaults, ForceNew flags and validators hand-derived from bpg's Go source.
EXTRAS_FILE = Path(__file__).with_name(f"bpg-proxmox-{PROVIDER_VERSION}.extras.json")


@lru_cache(maxsize=1)
def extras() -> dict[str, Any]:
    """Defaults, ForceNew flags and validators per attribute (not in Terraform's format)."""
    return json.loads(EXTRAS_FILE.read_text())

PROVIDER_ADDRESS = "registry.terraform.io/bpg/proxmox"

_NESTING = {
    "list": pb.Schema.NestedBlock.NestingMode.LIST,
    "set": pb.Schema.NestedBlock.NestingMode.SET,
    "single": pb.Schema.NestedBlock.NestingMode.SINGLE,
    "group": pb.Schema.NestedBlock.NestingMode.GROUP,
    "map": pb.Schema.NestedBlock.NestingMode.MAP,
}


class RawType:
    """A Terraform type given in its JSON form (`"string"`, `["list","string"]`, ...)."""

    def __init__(self, json_type: Any):
        self.json_type = json_type

    def tf_type(self) -> bytes:
        return json.dumps(self.json_type, separators=(",", ":")).encode()

    def encode(self, value: Any) -> Any:
        return value

    def decode(self, value: Any) -> Any:
        return value

    def semantically_equal(self, a: Any, b: Any) -> bool:
        return a == b


class ListNestedBlock(NestedBlock):
    """A nested block with LIST nesting (or any mode `tf` has no enum member for)."""

    def __init__(self, type_name: str, block: Block, nesting: str = "list",
                 min_items: int | None = None, max_items: int | None = None):
        super().__init__(type_name, NestMode.Set, block, min_items=min_items, max_items=max_items)
        self.nesting = nesting

    def to_pb(self) -> pb.Schema.NestedBlock:
        return pb.Schema.NestedBlock(
            type_name=self.type_name,
            block=self.block.to_pb(),
            min_items=self.min_items or 0,
            max_items=self.max_items or 0,
            nesting=_NESTING[self.nesting],
        )

    def encode(self, value: Any) -> Any:
        return value

    def decode(self, value: Any) -> Any:
        return value

    def semantically_equal(self, a: Any, b: Any) -> bool:
        return a == b  # positional, like SDKv2 lists


def _kind(value: str | None) -> TextFormat:
    return TextFormat.Markdown if value == "markdown" else TextFormat.Plain


def _attribute(name: str, spec: dict[str, Any]) -> Attribute:
    return Attribute(
        name,
        RawType(spec["type"]),  # type: ignore[arg-type]
        description=spec.get("description"),
        required=spec.get("required", False),
        optional=spec.get("optional", False),
        computed=spec.get("computed", False),
        sensitive=spec.get("sensitive", False),
        description_kind=_kind(spec.get("description_kind")),
        deprecated=spec.get("deprecated"),
    )


def to_block(spec: dict[str, Any]) -> Block:
    return Block(
        attributes=[_attribute(n, a) for n, a in sorted(spec.get("attributes", {}).items())],
        block_types=[
            ListNestedBlock(n, to_block(b["block"]), b["nesting_mode"], b.get("min_items"), b.get("max_items"))
            for n, b in sorted(spec.get("block_types", {}).items())
        ],
        description=spec.get("description"),
        description_kind=_kind(spec.get("description_kind")),
        deprecated=spec.get("deprecated"),
    )


def to_schema(entry: dict[str, Any]) -> Schema:
    block = to_block(entry["block"])
    return Schema(
        attributes=block.attributes,
        block_types=block.block_types,
        version=entry.get("version", 0),
        description=block.description,
        description_kind=block.description_kind,
        deprecated=block.deprecated,
    )


@lru_cache(maxsize=None)
def resource_schema(type_name: str) -> Schema:
    return to_schema(provider_schemas()["resource_schemas"][type_name])


@lru_cache(maxsize=None)
def data_source_schema(type_name: str) -> Schema:
    return to_schema(provider_schemas()["data_source_schemas"][type_name])


@lru_cache(maxsize=1)
def provider_schema() -> Schema:
    return to_schema({"version": 0, "block": provider_block()})


def resource_block_spec(type_name: str) -> dict[str, Any]:
    return provider_schemas()["resource_schemas"][type_name]["block"]


def data_source_block_spec(type_name: str) -> dict[str, Any]:
    return provider_schemas()["data_source_schemas"][type_name]["block"]


@lru_cache(maxsize=None)
def resource_extras(type_name: str) -> dict[str, dict[str, Any]]:
    """Per dotted attribute path: SDK Default / ForceNew / plan_modifiers from the extras file."""
    for section, fields in extras().items():
        head = section.split(" ", 1)[0]
        if head == f"resource.{type_name}" or (
            type_name == "proxmox_download_file" and head == "resource.proxmox_virtual_environment_download_file"
        ):
            return fields
    return {}


def is_framework(type_name: str) -> bool:
    return type_name in ("proxmox_virtual_environment_download_file", "proxmox_download_file")
