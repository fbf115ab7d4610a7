"""Every request checked against PVE 9's published API description before its handler runs.

PVE: pve-common `PVE/RESTHandler.pm` handle (`PVE::JSONSchema::validate($param, $schema)` before
the method's code), `PVE/JSONSchema.pm` check_prop / check_object / check_type / check_format /
parse_property_string (the checks, their order and wording), the formats it registers
(pve-vmid, pve-node, pve-configid, pve-tag, pve-storage-id, pve-bridge-id, mac-addr, ipv4,
ipv6, pve-ipv4-config, pve-ipv6-config), pve-storage `Storage/Plugin.pm` (pve-volume-id) and
pve-container `LXC/Config.pm` (pve-lxc-dev-string, pve-lxc-mp-string).

The description is `data/pve-api-schema.json`, extracted from PyPI's clientapi-pve (generated from
PVE's apidoc.js) by `scripts/extract_pve_api_schema.py`, which also says what it adds from PVE's
source.  A route the simulator serves without a description fails loudly (`MissingDescription`):
regenerate the file after adding a route.  Parameters arrive as the strings of the form or query,
path arguments included, as PVE's HTTP server hands them to RESTHandler.  A refusal is PVE's
`400 Parameter verification failed.` with one message per parameter.

Formats the file names but this module does not check (e.g. `dns-name`, `pve-ct-timezone`) pass:
`UNCHECKED_FORMATS` lists them.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from pve_gpu_lxc.pve.conf import split_list

from .node import param_error

SCHEMA_FILE = Path(__file__).parent / "data" / "pve-api-schema.json"

Schema = dict[str, Any]


class MissingDescription(LookupError):
    """A route the simulator serves that PVE's API description lacks: regenerate the schema file."""


def _vmid(value: str) -> None:
    if not re.fullmatch(r"[1-9][0-9]{2,8}", value):
        raise ValueError("value does not look like a valid VM ID")


def _node(value: str) -> None:
    if not re.fullmatch(r"[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?", value):
        raise ValueError("value does not look like a valid node name")


def _configid(value: str) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_-]+", value, re.I):
        raise ValueError(f"invalid configuration ID '{value}'")


def _tag(value: str) -> None:
    if not re.fullmatch(r"[a-z0-9_][a-z0-9_\-+.]*", value, re.I):
        raise ValueError("invalid characters in tag")


def _storage_id(value: str) -> None:
    if len(value) < 2:
        raise ValueError(f"storage ID '{value}' cannot be shorter than 2 characters")
    if not re.fullmatch(r"[a-z][a-z0-9\-_.]*[a-z0-9]", value, re.I):
        raise ValueError(f"storage ID '{value}' contains illegal characters")


def _bridge_id(value: str) -> None:
    if not re.fullmatch(r"[-_.\w\d]+", value):
        raise ValueError(f"invalid bridge ID '{value}'")


def _volume_id(value: str) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9\-_.]*[a-z0-9]:.+", value, re.I | re.S):
        raise ValueError(f"unable to parse volume ID '{value}'")


def _mac(value: str) -> None:
    if not re.fullmatch(r"[a-f0-9][02468ace](?::[a-f0-9]{2}){5}", value, re.I):
        raise ValueError("value does not look like a valid unicast MAC address")


def _is_ipv4(value: str) -> bool:
    return bool(re.fullmatch(r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}"
                             r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)", value))


def _is_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def _ipv4(value: str) -> None:
    if not _is_ipv4(value):
        raise ValueError("value does not look like a valid IPv4 address")


def _ipv6(value: str) -> None:
    if not _is_ipv6(value):
        raise ValueError("value does not look like a valid IPv6 address")


def _ipv4_config(value: str) -> None:
    """pve_verify_ipv4_config: dhcp, manual or a CIDR with a mask of 8..32."""
    address, _, mask = value.partition("/")
    if value in ("dhcp", "manual") or (_is_ipv4(address) and mask.isdigit() and 7 < int(mask) <= 32):
        return
    raise ValueError("value does not look like a valid ipv4 network configuration")


def _ipv6_config(value: str) -> None:
    """pve_verify_ipv6_config: auto, dhcp, manual or a CIDR with a mask of 8..128."""
    address, _, mask = value.partition("/")
    if value in ("auto", "dhcp", "manual") or (_is_ipv6(address) and mask.isdigit() and 7 < int(mask) <= 128):
        return
    raise ValueError("value does not look like a valid ipv6 network configuration")


def _lxc_dev(value: str) -> None:
    if re.search(r"/\.\.?(?:/|$)", value) or not value.startswith("/dev/"):
        raise ValueError(f"{value} is not a valid device path")


def _lxc_mp(value: str) -> None:
    if re.search(r"/\.\.?/", value) or re.search(r"/\.\.?$", value) or value.startswith("../"):
        raise ValueError(f"{value} contains illegal character sequences")


FORMATS: dict[str, Callable[[str], None]] = {
    "pve-vmid": _vmid, "pve-node": _node, "pve-configid": _configid, "pve-tag": _tag,
    "pve-storage-id": _storage_id, "pve-bridge-id": _bridge_id, "pve-volume-id": _volume_id, "mac-addr": _mac,
    "ipv4": _ipv4, "ipv6": _ipv6, "pve-ipv4-config": _ipv4_config, "pve-ipv6-config": _ipv6_config,
    "pve-lxc-dev-string": _lxc_dev, "pve-lxc-mp-string": _lxc_mp,
}
UNCHECKED_FORMATS = frozenset({"dns-name", "dns-name-list", "lxc-ip-with-ll-iface-list", "pve-ct-timezone",
                               "disk-size", "pve-startup-order"})


class FormatError(Exception):
    """parse_property_string's `raise "format error\\n", errors => {...}`."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("format error")
        self.errors = errors


def _is_number(value: str) -> bool:
    return bool(re.fullmatch(r"[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?", value))


def _add_error(errors: dict[str, str], path: str, message: str) -> None:
    path = path or "_root"
    errors[path] = f"{errors[path]}\\n{message}" if path in errors else message  # perl's join('\n', ...)


def check_prop(value: str | None, schema: Schema, path: str, errors: dict[str, str]) -> None:
    """PVE::JSONSchema::check_prop for a string value (what a form or query carries)."""
    if value is None:
        if schema.get("optional", True) is False:
            _add_error(errors, path, "property is missing and it is not optional")
        return
    kind = schema.get("type", "string")
    if kind == "boolean" and value not in ("0", "1"):
        _add_error(errors, path, f"type check ('boolean') failed - got '{value}'")
        return
    if kind == "integer" and not re.fullmatch(r"[+-]?\d+", value):
        _add_error(errors, path, f"type check ('integer') failed - got '{value}'")
        return
    if kind == "number" and not _is_number(value):
        _add_error(errors, path, f"type check ('number') failed - got '{value}'")
        return
    fmt = schema.get("format")
    if fmt is not None:
        try:
            check_format(fmt, value, path)
        except FormatError as err:
            detail = "".join(f"{key}: {text}\n" for key, text in sorted(err.errors.items()))
            _add_error(errors, path, f"invalid format - format error\n{detail}")
            return
        except ValueError as err:
            _add_error(errors, path, f"invalid format - {err}\n")
            return
    pattern = schema.get("pattern")
    if pattern is not None and not re.fullmatch(pattern, value, re.S):
        _add_error(errors, path, "value does not match the regex pattern")
        return
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        _add_error(errors, path, f"value may only be {schema['maxLength']} characters long")
        return
    if "minLength" in schema and len(value) < schema["minLength"]:
        _add_error(errors, path, f"value must be at least {schema['minLength']} characters long")
        return
    if _is_number(value):
        if "maximum" in schema and float(value) > schema["maximum"]:
            _add_error(errors, path, f"value must have a maximum value of {schema['maximum']}")
            return
        if "minimum" in schema and float(value) < schema["minimum"]:
            _add_error(errors, path, f"value must have a minimum value of {schema['minimum']}")
            return
    if "enum" in schema and value not in schema["enum"]:
        _add_error(errors, path, f"value '{value}' does not have a value in the enumeration "
                                 f"'{', '.join(schema['enum'])}'")


def check_format(fmt: str | Schema, value: str, path: str) -> None:
    """PVE::JSONSchema::check_format: a property string's keys, a `-list`, or a registered format."""
    if isinstance(fmt, dict):
        parse_property_string(fmt, value, path)
        return
    name = fmt[:-len("-list")] if fmt.endswith("-list") else fmt
    if name in UNCHECKED_FORMATS:
        return
    check = FORMATS.get(name)
    if check is None:
        raise AssertionError(f"format '{fmt}' has no check in pvesim/apischema.py (add it, or to UNCHECKED_FORMATS)")
    for item in split_list(value) if fmt.endswith("-list") else [value]:
        check(item)


def parse_property_string(keys: Schema, value: str, path: str) -> dict[str, str]:
    """PVE::JSONSchema::parse_property_string (no additional properties)."""
    result: dict[str, str] = {}
    default_key: str | None = None
    for part in value.split(","):
        if not part.strip():
            continue
        pair = re.fullmatch(r"([^=]+)=(.+)", part, re.S)
        if pair:
            key, val = pair.groups()
            if key in result:
                raise ValueError(f"duplicate key in comma-separated list property: {key}")
            if key not in keys:
                raise ValueError(f"invalid key in comma-separated list property: {key}")
            if keys[key].get("type") == "boolean":
                val = {"1": "1", "on": "1", "yes": "1", "true": "1", "0": "0", "off": "0", "no": "0",
                       "false": "0"}.get(val.lower(), val)
            result[key] = val
        elif "=" not in part:
            if default_key:
                raise ValueError(f"duplicate key in comma-separated list property: {default_key}")
            default_key = next((k for k, s in keys.items() if s.get("default_key")), None)
            if default_key is None:
                raise ValueError("value without key, but schema does not define a default key")
            if result.get(default_key):
                raise ValueError(f"duplicate key in comma-separated list property: {default_key}")
            result[default_key] = part
        else:
            raise ValueError("missing key in comma-separated list property")
    errors: dict[str, str] = {}
    for key, schema in keys.items():
        check_prop(result.get(key), schema, f"{path}.{key}" if path else key, errors)
    if errors:
        raise FormatError(errors)
    return result


class ApiSchema:
    """The API description of every route, keyed `METHOD /path/{template}` as PVE's apidoc spells it."""

    def __init__(self, path: Path = SCHEMA_FILE):
        self.routes: dict[str, Schema] = _load(path)["routes"]

    def parameters(self, method: str, template: str) -> Schema:
        route = self.routes.get(f"{method} {template}")
        if route is None:
            raise MissingDescription(f"{method} {template} has no API description in {SCHEMA_FILE.name}; "
                                     "regenerate it with scripts/extract_pve_api_schema.py")
        parameters: Schema = route["parameters"]
        return parameters

    def validate(self, method: str, template: str, params: dict[str, str]) -> None:
        """PVE::JSONSchema::validate of the request's parameters (path arguments included) against
        the route's, with `additionalProperties => 0`: PVE's 400 with an error per parameter."""
        schema = self.parameters(method, template)
        errors: dict[str, str] = {}
        for name, prop in schema.items():
            if "indexed" not in prop:
                check_prop(params.get(name), prop, name, errors)
        for name, value in params.items():
            prop = schema.get(name) or _indexed(schema, name)
            if prop is None:
                _add_error(errors, name, "property is not defined in schema and the schema does not allow "
                                         "additional properties")
            elif "indexed" in prop:
                check_prop(value, prop, name, errors)
        if errors:
            raise param_error(errors)


def _indexed(schema: Schema, name: str) -> Schema | None:
    """`dev7` against `dev[n]` (PVE's schema lists dev0 .. dev255 one by one: no leading zeros)."""
    match = re.fullmatch(r"([a-z]+)(0|[1-9]\d*)", name)
    if not match:
        return None
    prop: Schema | None = schema.get(f"{match.group(1)}[n]")
    if prop is None or not prop["indexed"][0] <= int(match.group(2)) <= prop["indexed"][1]:
        return None
    return prop


@cache
def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data
