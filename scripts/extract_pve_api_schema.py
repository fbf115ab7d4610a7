"""Extract PVE 9's API description for the routes the simulated node serves, as test data.

Source: the PyPI package `clientapi-pve` (2026.5.24), an SDK generated from Proxmox VE's own
`apidoc.js` (AGPL-3.0: used here only to regenerate test data, never imported by the project at
run or test time, never in the wheel).  Its pydantic models carry each parameter's type, range,
length, pattern, enumeration and whether it is optional, and expand property strings (`dev[n]`,
`net[n]`, `rootfs`, `mp[n]`, `features`, ...) into models of their keys.  What the generator
drops is added from PVE's source and marked as such in the output (`formats`, `corrections`):
the `format` names PVE::JSONSchema checks (pve-vmid, pve-configid-list, pve-tag-list, ...),
which key of a property string is the default key, and the index ranges it got wrong.

    .venv/bin/python scripts/extract_pve_api_schema.py            # rewrite the JSON
    .venv/bin/python scripts/extract_pve_api_schema.py --check    # exit 1 when it would change

The routes are the simulator's (its router) plus ROUTES_COMING (announced, not served yet).
Output: constructs/pve_gpu_lxc_testing/pvesim/data/pve-api-schema.json, read by
pvesim/apischema.py, which validates every request before its handler runs.
"""

from __future__ import annotations

import argparse
import enum
import importlib
import inspect
import json
import logging
import pkgutil
import re
import subprocess
import sys
import tempfile
import types
import typing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "constructs/pve_gpu_lxc_testing/pvesim/data/pve-api-schema.json"
PACKAGE = "clientapi-pve==2026.5.24"

# Routes other engineers are adding to the simulator (docs/simulated-node.md "Where the next pieces go").
ROUTES_COMING = [
    ("GET", "/nodes/{node}/tasks"),
    ("POST", "/nodes/{node}/status"),
    ("GET", "/nodes/{node}/status"),
    ("GET", "/cluster/resources"),
    ("POST", "/nodes/{node}/storage/{storage}/oci-registry-pull"),
    ("GET", "/nodes/{node}/lxc/{vmid}/pending"),
]

# `format` of parameters, by name, that PVE's schema has and the generated models drop (each from
# PVE's source: pve-common JSONSchema.pm get_standard_option, pve-container LXC/Config.pm $confdesc,
# API2/LXC/Config.pm update_vm, pve-storage API2/Storage/*).
FORMATS: dict[str, str] = {
    "node": "pve-node",  # get_standard_option('pve-node')
    "vmid": "pve-vmid",  # get_standard_option('pve-vmid')
    "delete": "pve-configid-list",  # API2/LXC/Config.pm update_vm
    "revert": "pve-configid-list",
    "tags": "pve-tag-list",  # Config.pm $confdesc
    "hookscript": "pve-volume-id",
    "storage": "pve-storage-id",  # get_standard_option('pve-storage-id')
}
# Property-string keys: format and default key (Config.pm $rootfs_desc/$mp_desc, $dev_desc, $netconf_desc).
SUB_FORMATS: dict[str, dict[str, str]] = {
    "PveRootfsConfig": {"volume": "pve-lxc-mp-string"},
    "PveMpConfig": {"volume": "pve-lxc-mp-string", "mp": "pve-lxc-mp-string"},
    "PveDevConfig": {"path": "pve-lxc-dev-string"},
    "PveNetConfig": {"hwaddr": "mac-addr", "ip": "pve-ipv4-config", "gw": "ipv4", "ip6": "pve-ipv6-config",
                     "gw6": "ipv6", "bridge": "pve-bridge-id"},
}
# Where the generated package disagrees with PVE's source, the source wins.
CORRECTIONS: dict[str, tuple[int, int, str]] = {
    # indexed keys: (first, last, source)
    "dev[n]": (0, 255, "pve-container src/PVE/LXC/Config.pm $MAX_DEVICES = 256 (the package says 0..8)"),
}

log = logging.getLogger("extract")


def install(target: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--target", str(target), PACKAGE], check=True)


def served_routes() -> list[tuple[str, str]]:
    sys.path.insert(0, str(ROOT / "constructs"))
    from pve_gpu_lxc_testing.pvesim.api import PveApi  # the project, imported on demand
    from pve_gpu_lxc_testing.pvesim.node import NodeFiles

    with tempfile.TemporaryDirectory() as tmp:
        api = PveApi(NodeFiles(Path(tmp)), state_dir=Path(tmp), password="x", tokens=None, ssh_address="127.0.0.1",
                     logger=log)
        return [(r.method, r.path) for r in api.router.routes]


def api_methods(package: Any) -> dict[tuple[str, str], Any]:
    """(HTTP method, path template) -> the SDK's public method for it."""
    found: dict[tuple[str, str], Any] = {}
    for info in pkgutil.iter_modules(package.api.__path__):
        module = importlib.import_module(f"{package.__name__}.api.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            for name, func in inspect.getmembers(cls, inspect.isfunction):
                match = re.fullmatch(r"_(\w+)_serialize", name)
                if not match:
                    continue
                source = inspect.getsource(func)
                method = re.search(r"method='(\w+)'", source)
                path = re.search(r"resource_path='([^']+)'", source)
                if method and path:
                    found[(method.group(1), path.group(1))] = (getattr(cls, match.group(1)), source)
    return found


def _unwrap(annotation: Any) -> tuple[Any, list[Any], bool]:
    """(base type, constraint metadata, optional)."""
    metadata: list[Any] = []
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            args = typing.get_args(annotation)
            annotation = args[0]
            for extra in args[1:]:
                metadata.extend(getattr(extra, "metadata", None) or [extra])
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(annotation))
            if len(args) == 1:
                annotation = args[0]
                continue
            bases = [_unwrap(a) for a in args]
            if {b[0] for b in bases} <= {int, float}:  # number: float | int with the same bounds
                return float, bases[0][1], optional
            return annotation, metadata, optional
        return annotation, metadata, optional


def scalar(annotation: Any, validators: dict[str, str], name: str, doc_type: str | None = None) -> dict[str, Any]:
    base, metadata, _ = _unwrap(annotation)
    schema: dict[str, Any] = {}
    if base is Any and doc_type:
        base = doc_type
    if isinstance(base, str):  # a docstring type name (query parameters typed Any)
        if base == "PveBoolean":
            schema["type"] = "boolean"
        elif base in ("int",):
            schema["type"] = "integer"
        else:
            schema["type"] = "string"
    elif inspect.isclass(base) and issubclass(base, enum.Enum):
        values = [m.value for m in base]
        if sorted(values, key=str) == [0, 1]:
            schema["type"] = "boolean"
        else:
            schema["type"] = "string"
            schema["enum"] = [str(v) for v in values]
    elif base is bool:
        schema["type"] = "boolean"
    elif base is int:
        schema["type"] = "integer"
    elif base is float:
        schema["type"] = "number"
    else:
        schema["type"] = "string"
    for item in metadata:
        for attr, key in (("ge", "minimum"), ("le", "maximum"), ("max_length", "maxLength"),
                          ("min_length", "minLength")):
            value = getattr(item, attr, None)
            if value is not None:
                schema[key] = value
        pattern = getattr(item, "pattern", None)
        if pattern:
            schema["pattern"] = pattern
    if name in validators:
        schema["pattern"] = validators[name]
    return schema


def model_validators(model: Any) -> dict[str, str]:
    """field name -> the regex its generated `*_validate_regular_expression` enforces (anchors dropped:
    PVE matches `^$pattern$`)."""
    result: dict[str, str] = {}
    for decorator in model.__pydantic_decorators__.field_validators.values():
        source = inspect.getsource(decorator.func)
        match = re.search(r're\.match\(r"(.*)", value\)', source)
        if match:
            for field_name in decorator.info.fields:
                result[field_name] = re.sub(r"^\^|\$$", "", match.group(1))
    return result


def property_string(field_model: Any) -> dict[str, Any] | None:
    """A `Pve*Field` (oneOf a `Pve*Config` model and str): the property string's keys."""
    config = next((a for a in typing.get_args(field_model.model_fields["actual_instance"].annotation)
                   if inspect.isclass(a) and a.__name__.endswith("Config")), None)
    if config is None:
        return None
    validators = model_validators(config)
    shorthand = inspect.getsource(config.to_shorthand) if hasattr(config, "to_shorthand") else ""
    default = re.search(r"parts\.append\(str\(self\.(\w+)\)\)", shorthand)
    keys: dict[str, Any] = {}
    for name, field in config.model_fields.items():
        key = field.alias or name
        annotation = field.annotation
        if field.metadata:
            annotation = typing.Annotated.__class_getitem__((annotation, *field.metadata))
        sub = scalar(annotation, validators, name)
        if field.is_required():
            sub["optional"] = False
        if default and default.group(1) == name:
            sub["default_key"] = True
        fmt = SUB_FORMATS.get(config.__name__, {}).get(key)
        if fmt:
            sub["format"] = fmt
        keys[key] = sub
    return {"model": config.__name__, "keys": keys}


def field_schema(name: str, annotation: Any, validators: dict[str, str], required: bool) -> dict[str, Any]:
    base, _, _ = _unwrap(annotation)
    if inspect.isclass(base) and base.__name__.startswith("Pve") and base.__name__.endswith("Field"):
        sub = property_string(base)
        schema: dict[str, Any] = {"type": "string"}
        if sub is not None:
            schema["format"] = sub["keys"]
            schema["property_string"] = sub["model"]
    else:
        schema = scalar(annotation, validators, name)
    if name in FORMATS:
        schema["format"] = FORMATS[name]
    if required:
        schema["optional"] = False
    return schema


def describe(func: Any, serialize: str, path: str) -> dict[str, Any]:
    hints = typing.get_type_hints(func, include_extras=True)
    doc_types = dict(re.findall(r":type (\w+): (\w+)", func.__doc__ or ""))
    wire = {py: wire_name for wire_name, py in re.findall(r"_query_params\.append\(\('([^']+)', (\w+)", serialize)}
    signature = inspect.signature(func)
    params: dict[str, Any] = {}
    for py_name, parameter in signature.parameters.items():
        if py_name == "self" or py_name.startswith("_"):
            continue
        annotation = hints[py_name]
        base, _, _ = _unwrap(annotation)
        if inspect.isclass(base) and hasattr(base, "model_fields"):  # the request body
            validators = model_validators(base)
            for field_name, field in base.model_fields.items():
                description = field.description or ""
                indexed = re.search(r"expands to ``(\w+)<index>`` .*Indices range (\d+)\.\.(\d+)", description, re.S)
                field_annotation = field.annotation
                if indexed:
                    key = f"{indexed.group(1)}[n]"
                    value_type = typing.get_args(_unwrap(field_annotation)[0])[1]
                    schema = field_schema(indexed.group(1), value_type, validators, False)
                    first, last = int(indexed.group(2)), int(indexed.group(3))
                    if key in CORRECTIONS:
                        first, last, _source = CORRECTIONS[key]
                    schema["indexed"] = [first, last]
                    params[key] = schema
                    continue
                if field.metadata:  # pydantic keeps a required field's constraints beside its type
                    field_annotation = typing.Annotated.__class_getitem__((field_annotation, *field.metadata))
                key = field.alias or field_name
                params[key] = field_schema(key, field_annotation, validators, field.is_required())
            continue
        key = wire.get(py_name, py_name)
        doc_type = doc_types.get(py_name)
        schema = field_schema(key, annotation, {}, parameter.default is inspect.Parameter.empty)
        if schema.get("type") == "string" and doc_type == "PveBoolean":
            schema["type"] = "boolean"
        elif doc_type == "int" and schema.get("type") == "string":
            schema["type"] = "integer"
        params[key] = schema
    for placeholder in re.findall(r"\{(\w+)\}", path):
        params.setdefault(placeholder, {"type": "string", "optional": False})
    return {"parameters": dict(sorted(params.items()))}


def extract(package_dir: Path) -> dict[str, Any]:
    sys.path.insert(0, str(package_dir))
    package = importlib.import_module("clientapi_pve")
    methods = api_methods(package)
    routes: dict[str, Any] = {}
    missing = []
    for method, path in sorted(set(served_routes()) | set(ROUTES_COMING), key=lambda r: (r[1], r[0])):
        found = methods.get((method, path))
        if found is None:
            missing.append(f"{method} {path}")
            continue
        func, serialize = found
        routes[f"{method} {path}"] = describe(func, serialize, path)
    if missing:
        raise SystemExit(f"no API description in {PACKAGE} for: {', '.join(missing)}")
    version = importlib.metadata.version("clientapi_pve")
    return {
        "source": f"PyPI clientapi-pve {version}, generated from Proxmox VE 9's apidoc.js (AGPL-3.0); test data "
                  "only, regenerated by scripts/extract_pve_api_schema.py",
        "formats_added_from_pve_source": {"parameters": FORMATS, "property_string_keys": SUB_FORMATS},
        "corrections": {k: {"range": [v[0], v[1]], "source": v[2]} for k, v in CORRECTIONS.items()},
        "routes": routes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the kept JSON differs")
    parser.add_argument("--package-dir", type=Path, help="an unpacked clientapi-pve (default: pip install it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clientapi-pve-") as tmp:
        package_dir = args.package_dir
        if package_dir is None:
            package_dir = Path(tmp)
            install(package_dir)
        text = json.dumps(extract(package_dir), indent=1, sort_keys=False) + "\n"
    if args.check:
        return 0 if OUTPUT.exists() and OUTPUT.read_text() == text else 1
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
