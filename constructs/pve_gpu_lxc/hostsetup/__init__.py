"""Host set-up: what `pve-gpu-lxc host-setup` installs on a node, as values (pure; imports core only).

nvidia  the boot set-up that makes NVIDIA's on-demand device nodes before pve-guests starts guests
"""

from .nvidia import (
           APPLY_END,
           ENABLE_LINK,
           MODPROBE_PATH,
           MODULES_LOAD_PATH,
           UNIT_NAME,
           UNIT_PATH,
           HostFile,
           NvidiaBootSetup,
)

__all__ = ["APPLY_END", "ENABLE_LINK", "MODPROBE_PATH", "MODULES_LOAD_PATH", "UNIT_NAME", "UNIT_PATH", "HostFile",
           "NvidiaBootSetup"]
