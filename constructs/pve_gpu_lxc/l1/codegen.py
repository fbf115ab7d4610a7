"""Generates `generated.py`, the typed L1 layer, from the bpg schema data.

    python -m pve_gpu_lxc.l1.codegen          # rewrite generated.py
    python -m pve_gpu_lxc.l1.codegen --check  # exit 1 when it is stale

One class per resource, per data source and per nested block, field types from the
schema, `Optional` for everything not required, docstrings from the descriptions.
A test fails when generated.py differs from what this module produces.
"""

from __future__ import annotations

import keyword
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

from ..pve.synthesized import CONTAINER_TYPE, CONTAINERS_DATA_TYPE, DOWNLOAD_FILE_TYPE, FILE_TYPE, OCI_IMAGE_TYPE
from .schema import PROVIDER_VERSION, SCHEMA_FILE, data_source_block, provider_block, resource_block

# resource type -> (class name, prefix of its block classes)
RESOURCES = {
    CONTAINER_TYPE: ("VirtualEnvironmentContainer", "Container"),
    FILE_TYPE: ("VirtualEnvironmentFile", "File"),
    DOWNLOAD_FILE_TYPE: ("DownloadFile", "DownloadFile"),
    OCI_IMAGE_TYPE: ("OciImage", "OciImage"),
}
# data source type -> (class name, prefix of its block classes)
DATA_SOURCES = {
    CONTAINERS_DATA_TYPE: ("DataVirtualEnvironmentContainers", "DataContainers"),
}
PROVIDER_CLASS, PROVIDER_PREFIX = "BpgProxmoxProvider", "Provider"
# Terraform meta-arguments accepted by every resource and data source constructor, and the provider's alias.
RESOURCE_META = (
    ("depends_on", "Optional[Sequence[ITerraformDependable]]"),
    ("count", "Optional[Union[Number, TerraformCount]]"),
    ("provider", "Optional[TerraformProvider]"),
    ("lifecycle", "Optional[TerraformResourceLifecycle]"),
)
PROVIDER_META = (("alias", "Optional[str]"),)
# A computed attribute's reference: the engine's getter and what it returns, by schema type.
REFERENCE_GETTERS = {
    "string": ("get_string_attribute", "str"),
    "number": ("get_number_attribute", "Number"),
    "bool": ("get_boolean_attribute", "IResolvable"),
    "list": ("get_list_attribute", "List[str]"),
    "set": ("get_list_attribute", "List[str]"),
    "map": ("get_any_map_attribute", "Mapping[str, Any]"),
}
# A list, set or map of objects has no typed getter: a token for the whole value, for expressions.
OBJECT_REFERENCE = ("interpolation_for_attribute", "IResolvable")
TARGET = Path(__file__).with_name("generated.py")


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _py_type(tf_type: Any) -> str:
    if tf_type == "string":
        return "str"
    if tf_type == "number":
        return "Number"
    if tf_type == "bool":
        return "bool"
    kind, inner = tf_type
    if kind in ("list", "set"):
        return f"Sequence[{_py_type(inner)}]"
    if kind == "map":
        return f"Mapping[str, {_py_type(inner)}]"
    raise ValueError(f"unsupported type {tf_type!r}")  # pragma: no cover


def _doc(text: str, indent: str) -> str:
    body = textwrap.fill(" ".join(text.split()), 96 - len(indent)) if text else ""
    return textwrap.indent(f'"""{body}"""' if body else '""" """', indent)


class _Generator:
    def __init__(self) -> None:
        self.classes: list[str] = []

    def fields(
        self, block: dict[str, Any], prefix: str, skip: tuple[str, ...] = ()
    ) -> list[tuple[str, str, bool, str]]:
        """(name, annotation, required, description) for settable attributes and nested blocks."""
        out = []
        for name, attr in sorted(block.get("attributes", {}).items()):
            if name in skip or (attr.get("computed") and not (attr.get("optional") or attr.get("required"))):
                continue
            desc = attr.get("description", "") + (" (deprecated)" if attr.get("deprecated") else "")
            out.append((name, _py_type(attr["type"]), bool(attr.get("required")), desc))
        for name, nested in sorted(block.get("block_types", {}).items()):
            cls = self.block_class(nested, prefix + _camel(name))
            annotation = cls if nested.get("max_items") == 1 else f"Sequence[{cls}]"
            out.append((name, annotation, bool(nested.get("min_items")), nested["block"].get("description", "")))
        return out

    def block_class(self, nested: dict[str, Any], cls: str) -> str:
        block = nested["block"]
        fields = self.fields(block, cls)
        doc = _doc(block.get("description", ""), "    ")
        lines = ["@dataclasses.dataclass(frozen=True, kw_only=True)", f"class {cls}:", doc, ""]
        for name, annotation, required, desc in sorted(fields, key=lambda f: not f[2]):
            default = "" if required else " = None"
            hint = annotation if required else f"Optional[{annotation}]"
            lines.append(f"    {_safe(name)}: {hint}{default}")
            if desc:
                lines.append(_doc(desc, "    "))
        self.classes.append("\n".join(lines))
        return cls

    def resource_class(self, tf_type: str, cls: str, prefix: str, block: dict[str, Any], base: str) -> None:
        fields = sorted(self.fields(block, prefix, skip=("id",)), key=lambda f: not f[2])
        params = []
        for name, annotation, required, _ in fields:
            optional = f"        {_safe(name)}: Optional[{annotation}] = None,"
            params.append(f"        {_safe(name)}: {annotation}," if required else optional)
        config = "".join(f"                {name!r}: {_safe(name)},\n" for name, *_ in fields)
        computed = sorted(
            n for n, a in block.get("attributes", {}).items() if a.get("computed")
        )
        lines = [f"class {cls}({base}):", _doc(block.get("description", "") or f"`{tf_type}`", "    "), ""]
        # Resources and data sources take Terraform's meta-arguments; the provider takes an alias.
        meta = {"BpgResource": RESOURCE_META, "BpgDataSource": RESOURCE_META, "BpgProvider": PROVIDER_META}[base]
        if base != "BpgProvider":
            lines += [f"    TF_TYPE = {tf_type!r}", ""]
        lines += [
            "    def __init__(",
            "        self,",
            "        scope: Construct,",
            "        id: str,",
            "        *,",
            *params,
            *(f"        {m}: {annotation} = None," for m, annotation in meta),
            "    ) -> None:",
            "        super().__init__(",
            "            scope,",
            "            id,",
            "            {",
            config.rstrip("\n"),
            "            },",
            *(f"            {m}={m}," for m, _ in meta),
            "        )",
        ]
        if base != "BpgProvider":
            for name in computed:
                lines += _reference_property(name, block["attributes"][name]["type"])
        self.classes.append("\n".join(lines))


def _reference_property(name: str, tf_type: Any) -> list[str]:
    """A `<name>_ref` property returning a token for a computed attribute, typed from the schema."""
    if isinstance(tf_type, list) and isinstance(tf_type[1], list) and tf_type[1][0] == "object":
        getter, returns = OBJECT_REFERENCE
    else:
        getter, returns = REFERENCE_GETTERS[tf_type[0] if isinstance(tf_type, list) else tf_type]
    return [
        "",
        "    @property",
        f"    def {_safe(name)}_ref(self) -> {returns}:",
        f'        """Reference to the computed `{name}` (a token)."""',
        f"        return self.{getter}({name!r})",
    ]


def _safe(name: str) -> str:
    return f"{name}_" if keyword.iskeyword(name) else name


def generate() -> str:
    gen = _Generator()
    gen.resource_class("provider", PROVIDER_CLASS, PROVIDER_PREFIX, provider_block(), "BpgProvider")
    for tf_type, (cls, prefix) in RESOURCES.items():
        gen.resource_class(tf_type, cls, prefix, resource_block(tf_type), "BpgResource")
    for tf_type, (cls, prefix) in DATA_SOURCES.items():
        gen.resource_class(tf_type, cls, prefix, data_source_block(tf_type), "BpgDataSource")
    header = f'''"""Typed L1 classes for bpg/proxmox {PROVIDER_VERSION}.

GENERATED by `python -m pve_gpu_lxc.l1.codegen` from schema_data/{SCHEMA_FILE}.
Do not edit: regenerate.  One class per resource, per data source and per nested
block; blocks with max_items = 1 take one object, other blocks a sequence.
"""

from __future__ import annotations

import dataclasses
from typing import {{typing_names}}

from ..engine import (
    Construct,
    IResolvable,
    ITerraformDependable,
    TerraformCount,
    TerraformProvider,
    TerraformResourceLifecycle,
)
from .base import BpgDataSource, BpgProvider, BpgResource

Number = Union[int, float]
'''
    names = [c.split("class ", 1)[1].split("(")[0].split(":")[0] for c in gen.classes]
    exports = "\n__all__ = [\n" + "".join(f"    {n!r},\n" for n in sorted(["Number", *names])) + "]\n"
    body = "\n\n\n".join(gen.classes)
    # the typing names the annotations use (docstrings may contain the words too)
    used = [n for n in ("Any", "List", "Mapping", "Optional", "Sequence") if re.search(rf"[\[ ]{n}[\[\],]", body)]
    header = header.replace("{typing_names}", ", ".join([*used, "Union"]))
    return header + "\n\n" + body + "\n" + exports


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        if TARGET.read_text() != text:
            print(f"{TARGET} is stale: run python -m pve_gpu_lxc.l1.codegen", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
