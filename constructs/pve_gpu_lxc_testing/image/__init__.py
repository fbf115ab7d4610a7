"""Test infrastructure for NVIDIA images.

fake_run  an installer with the interface of NVIDIA's `.run` file (self-extracting, honours
          `--no-kernel-modules`, silent mode and the 32-bit options; installs versioned
          libcuda/libnvidia-ml and an nvidia-smi that reports the version), for tests that
          cannot download the real one
cache     the images the suite builds with Debian's distrobuilder, kept in .image-cache keyed by
          everything that changes them (one debootstrapped Debian 12 base, written atomically)
images    the two Debian 12 images of `NvidiaImage` the suite builds, uploads and boots: the fake
          `.run` (575.64.03) and Debian's pinned non-free packages (535.261.03-1)
"""
