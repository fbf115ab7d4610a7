"""The bpg/proxmox provider schema kept in the repository, and a conformance checker.

`schema_data/bpg-proxmox-0.111.1.schema.json` is what the real provider reports
(`terraform`/`tofu providers schema -json`), filtered to the provider block and the
resource types and data sources the library emits; `make schema` rewrites it from the
provider built in `.tools/` (`pve_gpu_lxc_testing.provider_schema`, whose `--check` a test
runs).  It is the single source for the generated L1 classes (`l1/generated.py`) and for
`check_resource` and `check_data_source`, which the test suite runs on every synthesized bpg
resource and data source: they also refuse what the schema marks deprecated.  No cdktf
import here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from typing import Any

from ..pve.synthesized import PROVIDER, blocks, is_expression

PROVIDER_SOURCE = "registry.terraform.io/bpg/proxmox"
PROVIDER_VERSION = "0.111.1"
SCHEMA_FILE = f"bpg-proxmox-{PROVIDER_VERSION}.schema.json"



def _read(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files(__package__).joinpath("schema_data", name).read_text())
    return data


@lru_cache(maxsize=1)
def provider_schemas() -> dict[str, Any]:
    """The provider entry of the schema file: {data_source_schemas, provider, resource_schemas}."""
    schemas: dict[str, Any] = _read(SCHEMA_FILE)["provider_schemas"][PROVIDER_SOURCE]
    return schemas


def resource_block(resource_type: str) -> dict[str, Any]:
    """The top-level block schema of one resource type."""
    try:
        block: dict[str, Any] = provider_schemas()["resource_schemas"][resource_type]["block"]
    except KeyError:
        known = ", ".join(sorted(provider_schemas()["resource_schemas"]))
        raise KeyError(f"resource type {resource_type!r} is not in the bpg schema (known: {known})") from None
    return block


def data_source_block(data_type: str) -> dict[str, Any]:
    """The top-level block schema of one data source type."""
    try:
        block: dict[str, Any] = provider_schemas()["data_source_schemas"][data_type]["block"]
    except KeyError:
        known = ", ".join(sorted(provider_schemas().get("data_source_schemas", {}))) or "none"
        raise KeyError(f"data source {data_type!r} is not in the kept bpg schema (kept: {known})") from None
    return block


def provider_block() -> dict[str, Any]:
    block: dict[str, Any] = provider_schemas()["provider"]["block"]
    return block


# --- conformance ---------------------------------------------------------------------------

# Terraform meta-arguments (and the "//" comment key) allowed in a resource body besides the schema.
META_ARGUMENTS = frozenset(
    {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection", "//"}
)


def _is_expression(value: Any) -> bool:
    return isinstance(value, str) and is_expression(value)


def _type_errors(value: Any, tf_type: Any, where: str) -> Iterator[str]:
    """Check a JSON value against a Terraform type (cty type in JSON form)."""
    if value is None or _is_expression(value):
        return  # null, or an expression resolved by Terraform
    if tf_type == "string":
        if not isinstance(value, str):
            yield f"{where}: expected string, got {type(value).__name__} {value!r}"
    elif tf_type == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            yield f"{where}: expected number, got {type(value).__name__} {value!r}"
    elif tf_type == "bool":
        if not isinstance(value, bool):
            yield f"{where}: expected bool, got {type(value).__name__} {value!r}"
    elif isinstance(tf_type, list) and tf_type[0] in ("list", "set"):
        if not isinstance(value, list):
            yield f"{where}: expected {tf_type[0]}, got {type(value).__name__} {value!r}"
            return
        for i, item in enumerate(value):
            yield from _type_errors(item, tf_type[1], f"{where}[{i}]")
    elif isinstance(tf_type, list) and tf_type[0] == "map":
        if not isinstance(value, dict):
            yield f"{where}: expected map, got {type(value).__name__} {value!r}"
            return
        for k, item in value.items():
            yield from _type_errors(item, tf_type[1], f"{where}[{k!r}]")
    else:  # pragma: no cover - the bpg schema uses no other types
        yield f"{where}: unsupported schema type {tf_type!r}"


_DEPRECATED = f"deprecated in bpg/proxmox {PROVIDER_VERSION} (Terraform warns on every plan; use its replacement)"


def block_errors(body: Any, block: dict[str, Any], where: str, *, allow_meta: bool = False) -> list[str]:
    """Every way `body` (a JSON object of one block) breaks `block` (a schema block)."""
    if not isinstance(body, dict):
        return [f"{where}: expected an object, got {type(body).__name__}"]
    errors: list[str] = []
    attributes = block.get("attributes", {})
    block_types = block.get("block_types", {})
    for key, value in body.items():
        path = f"{where}.{key}"
        if key in attributes:
            attr = attributes[key]
            if attr.get("computed") and not (attr.get("optional") or attr.get("required")):
                errors.append(f"{path}: attribute is computed by the provider and cannot be set")
            else:
                errors.extend(_type_errors(value, attr["type"], path))
            if attr.get("deprecated"):
                errors.append(f"{path}: {_DEPRECATED}")
        elif key in block_types:
            if block_types[key]["block"].get("deprecated"):
                errors.append(f"{path}: {_DEPRECATED}")
            errors.extend(_nested_block_errors(value, block_types[key], path))
        elif not (allow_meta and key in META_ARGUMENTS):
            errors.append(f"{path}: unknown attribute or block (not in bpg/proxmox {PROVIDER_VERSION})")
    for key, attr in attributes.items():
        if attr.get("required") and key not in body:
            errors.append(f"{where}.{key}: required attribute is missing")
    for key, nested in block_types.items():
        if nested.get("min_items") and key not in body:
            errors.append(f"{where}.{key}: at least {nested['min_items']} block(s) required")
    return errors


def _nested_block_errors(value: Any, nested: dict[str, Any], where: str) -> list[str]:
    # HCL JSON: a nested block may be given as one object or as an array of objects.
    items = value if isinstance(value, list) else [value]
    errors: list[str] = []
    low, high = nested.get("min_items", 0), nested.get("max_items")
    if len(items) < low:
        errors.append(f"{where}: {len(items)} block(s), at least {low} required")
    if high is not None and len(items) > high:
        errors.append(f"{where}: {len(items)} blocks, at most {high} allowed")
    for i, item in enumerate(items):
        errors.extend(block_errors(item, nested["block"], f"{where}[{i}]"))
    return errors


def check_resource(resource_type: str, name: str, body: dict[str, Any]) -> list[str]:
    """Schema errors of one resource body from synthesized JSON (empty when it conforms)."""
    return block_errors(body, resource_block(resource_type), f"{resource_type}.{name}", allow_meta=True)


def check_provider(body: dict[str, Any]) -> list[str]:
    return block_errors(body, provider_block(), f"provider.{PROVIDER}", allow_meta=False)


def check_data_source(data_type: str, name: str, body: dict[str, Any]) -> list[str]:
    """Schema errors of one data source body (empty when it conforms); `data_type` must be kept."""
    return block_errors(body, data_source_block(data_type), f"data.{data_type}.{name}", allow_meta=True)


def check_synthesized(doc: dict[str, Any]) -> list[str]:
    """Schema errors of every bpg resource, data source and provider block in one synthesized stack."""
    errors: list[str] = []
    known = provider_schemas()["resource_schemas"]
    for rtype, instances in doc.get("resource", {}).items():
        if not rtype.startswith("proxmox_"):
            continue
        if rtype not in known:
            errors.append(f"{rtype}: resource type not in bpg/proxmox {PROVIDER_VERSION} schema")
            continue
        if known[rtype]["block"].get("deprecated"):
            errors.append(f"{rtype}: resource type {_DEPRECATED}")
        for name, body in instances.items():
            errors.extend(check_resource(rtype, name, body))
    # The kept schema holds the types this library emits (the guard's container listing): a bpg
    # data source it does not hold cannot be checked, which is reported rather than passed unseen.
    known_data = provider_schemas().get("data_source_schemas", {})
    for dtype, instances in doc.get("data", {}).items():
        if not dtype.startswith("proxmox_"):
            continue
        if dtype not in known_data:
            kept = ", ".join(sorted(known_data)) or "none"
            errors.append(
                f"data.{dtype}: data source type not in the kept bpg/proxmox {PROVIDER_VERSION} schema "
                f"(data sources kept: {kept})"
            )
            continue
        if known_data[dtype]["block"].get("deprecated"):
            errors.append(f"data.{dtype}: data source type {_DEPRECATED}")
        for name, body in instances.items():
            errors.extend(check_data_source(dtype, name, body))
    for body in blocks(doc.get("provider", {}).get(PROVIDER)):
        cleaned = {k: v for k, v in body.items() if k != "alias"}
        errors.extend(check_provider(cleaned))
    return errors

