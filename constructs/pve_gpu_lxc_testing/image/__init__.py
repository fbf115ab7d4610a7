"""Test infrastructure for NVIDIA images: `fake_run` writes an installer with the interface of
NVIDIA's `.run` file (self-extracting, honours `--no-kernel-modules`, silent mode and the 32-bit
options; installs versioned libcuda/libnvidia-ml and an nvidia-smi that reports the version),
for tests that cannot download the real one.
"""
