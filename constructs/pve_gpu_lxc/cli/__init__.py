"""Command line: `pve-gpu-lxc drift|check|explain|facts|host-setup|image ...` (also `python -m pve_gpu_lxc ...`)."""

from .drift_command import drift_options
from .main import build_parser, main

__all__ = ["build_parser", "drift_options", "main"]
