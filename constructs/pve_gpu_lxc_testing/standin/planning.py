"""Plan computation with SDKv2 / plugin-framework semantics, driven by schema + extras data.

Pure functions over plain dicts (Terraform objects decoded from msgpack; `Unknown`
is `tf.types.Unknown`).  What they emulate:

* SDKv2 `Default`: an Optional attribute the configuration omits is planned at its
  Default, so a state that holds the default shows no diff.  Terraform accepts a
  planned value that differs from config only from "legacy type system" providers,
  which SDKv2 providers are; the server sets that flag.
* SDKv2 cannot tell null from the zero value of a primitive: an omitted attribute
  without Default keeps a zero-valued prior (`gid = 0` read back for an omitted gid).
* Computed attributes: unknown on create, kept from state otherwise.
* ForceNew / RequiresReplace: a changed attribute (or, for a ForceNew list block,
  a changed element count) is reported in `requires_replace`.
* Framework `Default` on Optional+Computed attributes.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any, Callable

from tf.types import Unknown

Path = list[Any]  # attribute names (str) and list indices (int)
Obj = dict[str, Any]


@dataclass
class PlanResult:
    planned: Obj | None
    requires_replace: list[Path] = field(default_factory=list)


def zero_value(json_type: Any) -> Any:
    if json_type == "string":
        return ""
    if json_type == "number":
        return 0
    if json_type == "bool":
        return False
    if isinstance(json_type, list) and json_type[0] in ("list", "set"):
        return []
    if isinstance(json_type, list) and json_type[0] == "map":
        return {}
    return None


def is_empty(value: Any, json_type: Any) -> bool:
    return value is None or (value is not Unknown and value == zero_value(json_type))


def complete(block: dict[str, Any], obj: Obj | None) -> Obj | None:
    """Every attribute (null when absent) and every block (empty list when absent)."""
    if obj is None:
        return None
    out: Obj = {}
    for name in block.get("attributes", {}):
        out[name] = obj.get(name)
    for name, nested in block.get("block_types", {}).items():
        items = obj.get(name)
        if items is Unknown:
            out[name] = Unknown
        else:
            out[name] = [complete(nested["block"], item) for item in (items or [])]
    return out


def plan(
    block: dict[str, Any],
    extras: dict[str, dict[str, Any]],
    prior: Obj | None,
    proposed: Obj | None,
    config: Obj | None,
) -> PlanResult:
    if proposed is None:  # destroy
        return PlanResult(None)
    planned = _plan_object(block, extras, "", prior, proposed, config or {})
    replace = [] if prior is None else list(_replace_paths(block, extras, "", [], prior, planned))
    return PlanResult(planned, replace)


def _plan_object(block: dict[str, Any], extras: dict, prefix: str, prior: Obj | None, proposed: Obj, config: Obj) -> Obj:
    out: Obj = {}
    for name, spec in block.get("attributes", {}).items():
        extra = extras.get(prefix + name, {})
        out[name] = _plan_attribute(spec, extra, None if prior is None else prior.get(name),
                                    proposed.get(name), (config or {}).get(name), prior is None)
    for name, nested in block.get("block_types", {}).items():
        items = proposed.get(name)
        if items is Unknown or items is None:
            out[name] = items if items is Unknown else []
            continue
        prior_items = (prior or {}).get(name) or []
        config_items = (config or {}).get(name) or []
        out[name] = [
            _plan_object(
                nested["block"], extras, f"{prefix}{name}.",
                prior_items[i] if i < len(prior_items) else None,
                item,
                config_items[i] if i < len(config_items) else {},
            )
            for i, item in enumerate(items)
        ]
    return out


def _plan_attribute(spec: dict, extra: dict, prior: Any, proposed: Any, configured: Any, creating: bool) -> Any:
    optional, computed = spec.get("optional", False), spec.get("computed", False)
    if computed and not optional:
        return Unknown if creating else prior
    if configured is not None:
        return proposed
    if "Default" in extra:
        return deepcopy(extra["Default"])
    if computed:  # Optional+Computed, no default: provider decides on create
        return Unknown if creating else prior
    if not creating and prior is not None and is_empty(prior, spec["type"]):
        return prior  # SDKv2: null config == zero value
    return proposed


def _forces_new(extra: dict) -> bool:
    return bool(extra.get("ForceNew")) or "RequiresReplace" in extra.get("plan_modifiers", [])


def _differs(a: Any, b: Any, json_type: Any) -> bool:
    if a is Unknown or b is Unknown:
        return True
    if is_empty(a, json_type) and is_empty(b, json_type):
        return False
    return a != b


def _replace_paths(block: dict, extras: dict, prefix: str, path: Path, prior: Obj | None, planned: Obj | None):
    prior, planned = prior or {}, planned or {}
    for name, spec in block.get("attributes", {}).items():
        if _forces_new(extras.get(prefix + name, {})) and _differs(prior.get(name), planned.get(name), spec["type"]):
            yield path + [name]
    for name, nested in block.get("block_types", {}).items():
        before, after = prior.get(name) or [], planned.get(name)
        if after is Unknown:
            if _forces_new(extras.get(prefix + name, {})):
                yield path + [name]
            continue
        after = after or []
        if _forces_new(extras.get(prefix + name, {})) and len(before) != len(after):
            yield path + [name]
            continue
        for i in range(max(len(before), len(after))):
            yield from _replace_paths(
                nested["block"], extras, f"{prefix}{name}.", path + [name, i],
                before[i] if i < len(before) else None, after[i] if i < len(after) else None,
            )


def get_path(obj: Any, path: Path) -> Any:
    for step in path:
        if obj is None or obj is Unknown:
            return None
        obj = obj[step] if isinstance(step, int) and step < len(obj) else (obj.get(step) if isinstance(step, str) else None)
    return obj


Normalizer = Callable[[Any, Any], Any]
