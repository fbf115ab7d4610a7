"""Leaf-level differences between two attribute trees, with Terraform's masks applied (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .report import ABSENT_MARK, SENSITIVE_MARK, UNKNOWN_MARK, AttributeChange, Marker


def diff_values(
    before: Any,
    after: Any,
    *,
    before_sensitive: Any = False,
    after_sensitive: Any = False,
    after_unknown: Any = False,
    replace_paths: Sequence[tuple[Any, ...]] = (),
    secrets: frozenset[str] = frozenset(),
) -> list[AttributeChange]:
    """Leaf-level differences between two attribute trees, lists compared by position.

    The masks have the shape of the values (or are a bare bool for a whole
    subtree), exactly as Terraform writes them.
    """
    out: list[tuple[tuple[Any, ...], Any, Any]] = []
    _walk((), before, after, before_sensitive, after_sensitive, after_unknown, out)
    replace = [tuple(p) for p in replace_paths]
    return [
        AttributeChange(
            path=_format_path(path),
            before=_redact(b, secrets),
            after=_redact(a, secrets),
            forces_replacement=any(path[: len(p)] == p for p in replace if p),
        )
        for path, b, a in out
    ]


def _walk(
    path: tuple[Any, ...],
    before: Any,
    after: Any,
    bsens: Any,
    asens: Any,
    unknown: Any,
    out: list[tuple[tuple[Any, ...], Any, Any]],
) -> None:
    if unknown is True:
        # "(known after apply)" for something that had no value says nothing
        if before is not ABSENT_MARK and before not in (None, {}, []):
            out.append((path, _display(before, bsens), UNKNOWN_MARK))
        return
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted(set(before) | set(after)):
            _walk(
                (*path, key),
                before.get(key, ABSENT_MARK),
                after.get(key, ABSENT_MARK),
                sub_mask(bsens, key),
                sub_mask(asens, key),
                sub_mask(unknown, key),
                out,
            )
        return
    if _is_list(before) and _is_list(after):
        for i in range(max(len(before), len(after))):
            if i >= len(before) or i >= len(after):
                # an element added or removed: report it whole, even if it is null
                b = before[i] if i < len(before) else ABSENT_MARK
                a = after[i] if i < len(after) else ABSENT_MARK
                out.append(((*path, i), _display(b, sub_mask(bsens, i)), _display(a, sub_mask(asens, i))))
                continue
            _walk(
                (*path, i),
                before[i],
                after[i],
                sub_mask(bsens, i),
                sub_mask(asens, i),
                sub_mask(unknown, i),
                out,
            )
        return
    if _same(before, after):
        return
    out.append((path, _display(before, bsens), _display(after, asens)))


def _same(before: Any, after: Any) -> bool:
    # Missing, null and an empty list or map are one value to an SDKv2 provider such as bpg
    # (its legacy type system cannot tell them apart): its refresh turns an unset `tags` into
    # `[]`, which Terraform lists as drift although nothing changed on the node.
    return bool(_empty_as_none(before) == _empty_as_none(after))


def _empty_as_none(value: Any) -> Any:
    return None if value is ABSENT_MARK or value == [] or value == {} else value


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


def sub_mask(mask: Any, key: Any) -> Any:
    """The part of a sensitivity/unknown mask that covers `key`."""
    if mask is True:
        return True
    if isinstance(mask, Mapping):
        return mask.get(key, False)
    if isinstance(mask, list) and isinstance(key, int) and key < len(mask):
        return mask[key]
    return False


def _display(value: Any, sensitive_mask: Any) -> Any:
    """The value with every sensitive part replaced by the (sensitive) marker."""
    if value is ABSENT_MARK:
        return ABSENT_MARK
    if sensitive_mask is True:
        return SENSITIVE_MARK
    if isinstance(value, Mapping):
        return {k: _display(v, sub_mask(sensitive_mask, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_display(v, sub_mask(sensitive_mask, i)) for i, v in enumerate(value)]
    return value


def _redact(value: Any, secrets: frozenset[str]) -> Any:
    """Replace strings that contain a known sensitive value (copies Terraform did not mark)."""
    if isinstance(value, Marker) or not secrets:
        return value
    if isinstance(value, str):
        return SENSITIVE_MARK if any(s in value for s in secrets) else value
    if isinstance(value, Mapping):
        return {k: _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    return value


def _format_path(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(whole object)"
