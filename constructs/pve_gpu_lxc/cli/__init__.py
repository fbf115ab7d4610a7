"""Command line: `pve-gpu-lxc drift|check|image ...` (also `python -m pve_gpu_lxc ...`)."""

from .main import build_parser, drift_options, main

__all__ = ["build_parser", "drift_options", "main"]
