"""Image definitions: distrobuilder images with NVIDIA userspace (no cdktf import)."""
