"""Value rules shared by the model, the host facts and the image definitions (pure).

Each check raises `ValidationError` with the value received (its type named unless it
is a string), what is allowed and, where there is one, the fix.  Rules about one
concept (a VMID, a device path, an idmap) live with that concept in `model/`; only
what several layers need is here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .errors import ValidationError

# An NVIDIA driver version ("575.64.03", "555.58"): it reaches URLs, file names and hook scripts.
DRIVER_VERSION = re.compile(r"\d+\.\d+(\.\d+)?")
DRIVER_VERSION_FIX = (
    "expected digits and dots only, like '575.64.03' or '555.58' (the host's /proc/driver/nvidia/version shows it)"
)
_REPR_LIMIT = 80


def got(value: object) -> str:
    """The value received, for a message: `'text'` for a string, `None`, else `<type> <repr>`."""
    text = repr(value)
    if len(text) > _REPR_LIMIT:
        text = text[: _REPR_LIMIT - 3] + "..."
    if value is None or isinstance(value, str):
        return text
    return f"{type(value).__name__} {text}"


def _fix(fix: str) -> str:
    return f". {fix}" if fix else ""


def require_int(value: object, name: str, low: int, high: int, fix: str = "") -> int:
    """An int (never a bool) in low..high."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer in {low}..{high}, got {got(value)}{_fix(fix)}")
    if not low <= value <= high:
        raise ValidationError(f"{name} {value} is out of range; allowed {low}..{high}{_fix(fix)}")
    return value


def require_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be True or False, got {got(value)}")
    return value


def require_str(value: object, name: str, allowed: str) -> str:
    """A string; `allowed` says what it may hold (e.g. "a storage id such as 'local'")."""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string ({allowed}), got {got(value)}")
    return value


def sequence(value: object, name: str, allowed: str) -> tuple[object, ...]:
    """A list or tuple (any sequence but a string), as a tuple; `allowed` names its items."""
    if isinstance(value, (str, bytes)):
        raise ValidationError(f"{name} must be a list of {allowed}, got the string {value!r}")
    if not isinstance(value, Sequence):
        raise ValidationError(f"{name} must be a list of {allowed}, got {got(value)}")
    return tuple(value)


def driver_version(value: object, what: str = "NVIDIA driver version", fix: str = DRIVER_VERSION_FIX) -> str:
    """The strict `575.64.03` / `555.58` form, matched in full (a trailing newline is not allowed)."""
    if not isinstance(value, str) or DRIVER_VERSION.fullmatch(value) is None:
        raise ValidationError(f"{what} {value!r} is not a driver version; {fix}")
    return value
