"""Synthesis benchmark: pve_gpu_lxc constructs against hand-written raw cdktf (see docs/benchmarks.md)."""
