"""Example stacks: concrete nodes wired from the library's constructs (no logic here)."""

from pve_gpu_lxc.engine import App

from .intel_jellyfin import IntelJellyfinStack
from .nvidia_ollama import NvidiaOllamaStack

STACKS = {
    "intel-jellyfin": IntelJellyfinStack,
    "nvidia-ollama": NvidiaOllamaStack,
}


def add_all(app: App) -> None:
    for name, stack in STACKS.items():
        stack(app, name)


__all__ = ["STACKS", "IntelJellyfinStack", "NvidiaOllamaStack", "add_all"]
