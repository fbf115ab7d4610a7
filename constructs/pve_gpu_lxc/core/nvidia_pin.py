"""The NVIDIA steps in the generated hookscript, written and read by one rule (pure).

The model pins a container's NVIDIA userspace in its pre-start hook (`model/hooks.py`): the
hook defines the shell function `require_nvidia_driver` and calls it with the pinned version,
so the node refuses to start the container on another driver.  The synthesized document holds
the pin nowhere else, so its reader (`pve/synthesized.py`, for `check`) finds the version in
the hook's text.  Writer and reader take the function's name and the call's form from here:
renaming the function cannot leave the reader looking for the old name.

NvidiaGpu(runtime="host") has no pin: its pre-start step (`RUNTIME_FUNCTION`, called with the
NVIDIA_DRIVER_CAPABILITIES) sets up LXC's nvidia hook, which runs nvidia-container-cli; the
paths the step requires on the node are here too, for the facts' check and `check`'s.
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


RUNTIME_FUNCTION = "pve_gpu_lxc_nvidia_runtime"
NVIDIA_LXC_HOOK = "/usr/share/lxc/hooks/nvidia"  # LXC's mount hook (package lxc-pve)
NVIDIA_CONTAINER_CLI = "/usr/bin/nvidia-container-cli"  # NVIDIA's libnvidia-container-tools installs it there
_RUNTIME_CALL = re.compile(rf"^\s*{RUNTIME_FUNCTION}\s+'?([a-z,]+)'?\s*$", re.M)


def runtime_call(capabilities: str) -> str:
    """The pre-start line of NvidiaGpu(runtime="host") with its NVIDIA_DRIVER_CAPABILITIES."""
    return f"{RUNTIME_FUNCTION} {shlex.quote(capabilities)}"


def host_runtime(hook_text: str | None) -> str | None:
    """The capabilities a hook's `runtime_call` line passes, else None (no host runtime)."""
    if not hook_text:
        return None
    match = _RUNTIME_CALL.search(hook_text)
    return match.group(1) if match else None
