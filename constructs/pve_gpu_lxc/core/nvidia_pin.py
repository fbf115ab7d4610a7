"""The NVIDIA driver pin in the generated hookscript, written and read by one rule (pure).

The model pins a container's NVIDIA userspace in its pre-start hook (`model/hooks.py`): the
hook defines the shell function `require_nvidia_driver` and calls it with the pinned version,
so the node refuses to start the container on another driver.  The synthesized document holds
the pin nowhere else, so its reader (`pve/synthesized.py`, for `check`) finds the version in
the hook's text.  Writer and reader take the function's name and the call's form from here:
renaming the function cannot leave the reader looking for the old name.
"""

from __future__ import annotations

import re
import shlex

from .rules import DRIVER_VERSION

FUNCTION = "require_nvidia_driver"
# the call as `call` writes it (shlex.quote leaves a version unquoted, a hand edit may quote it)
_CALL = re.compile(rf"^\s*{FUNCTION}\s+'?({DRIVER_VERSION.pattern})'?\s*$", re.M)


def call(version: str) -> str:
    """The pre-start line that pins `version` (quoted as the hook quotes every value)."""
    return f"{FUNCTION} {shlex.quote(version)}"


def pinned_version(hook_text: str | None) -> str | None:
    """The version a hook's `call` line pins, else None (no hook, or a hook without the pin)."""
    if not hook_text:
        return None
    match = _CALL.search(hook_text)
    return match.group(1) if match else None
