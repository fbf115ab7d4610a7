"""The two NVIDIA images the suite builds, boots and uploads (test infrastructure).

Both are Debian 12 (bookworm) images from the product's `NvidiaImage`, repacking one
debootstrapped base (`cache.ensure_base`), with only what they need (no extra packages):

* `fake_run_image`: the stand-in `.run` installer of driver 575.64.03 (the example node's
  driver, stacks/facts/pve.json), from a file:// URL with its sha256 pinned;
* `debian_packages_image`: Debian's own non-free packages pinned to 535.261.03-1, the version of
  nvidia-graphics-drivers in bookworm (Debian 12.15's Packages index; bookworm-updates has none,
  bookworm-security has 535.309.01-0+deb12u1, which the pin keeps out).  Its host is
  tests/data/image/pve-nvidia-535.json, the example node's facts with that driver.

Each has its own render GID, so a test that finds it inside proves it came from the definition.
PVE_GPU_LXC_DEBIAN_MIRROR, when set, is the Debian mirror of both the base and the non-free packages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pve_gpu_lxc.image import DebianNvidiaPackages, NvidiaImage, NvidiaRunFile

from . import cache as image_cache

FAKE_RUN_DRIVER = "575.64.03"
DEBIAN_PACKAGES_VERSION = "535.261.03-1"
DEBIAN_PACKAGES_DRIVER = "535.261.03"
FAKE_RUN_RENDER_GID = 993
DEBIAN_PACKAGES_RENDER_GID = 990
VIDEO_GID = 44


def fake_run_image(base: image_cache.CachedFile, run: image_cache.CachedFile) -> NvidiaImage:
    return NvidiaImage(
        nvidia_driver=FAKE_RUN_DRIVER, source_url=base.url, distribution="debian", release="bookworm",
        packages=(), video_gid=VIDEO_GID, render_gid=FAKE_RUN_RENDER_GID,
        userspace=NvidiaRunFile(url=run.url, sha256=run.sha256),
    )


def debian_packages_image(base: image_cache.CachedFile) -> NvidiaImage:
    return NvidiaImage(
        nvidia_driver=DEBIAN_PACKAGES_DRIVER, source_url=base.url, distribution="debian", release="bookworm",
        packages=(), video_gid=VIDEO_GID, render_gid=DEBIAN_PACKAGES_RENDER_GID,
        userspace=DebianNvidiaPackages(version=DEBIAN_PACKAGES_VERSION, mirror=image_cache.debian_mirror()),
    )


@dataclass(frozen=True)
class BuiltImage:
    image: NvidiaImage
    template: image_cache.CachedFile


@dataclass(frozen=True)
class BuiltImages:
    base: image_cache.CachedFile
    fake_run: BuiltImage
    debian_packages: BuiltImage

    @property
    def seconds(self) -> float:
        return self.base.seconds + self.fake_run.template.seconds + self.debian_packages.template.seconds


def build_images(cache: Path | None = None) -> BuiltImages:
    """Both images, each from the cache or built now (cold: about 1.5 minutes on 2 cores)."""
    base = image_cache.ensure_base(cache=cache)
    run = image_cache.ensure_fake_run(FAKE_RUN_DRIVER, cache=cache)
    fake = fake_run_image(base, run)
    debian = debian_packages_image(base)
    return BuiltImages(
        base,
        BuiltImage(fake, image_cache.ensure_image(fake, [base, run], cache=cache)),
        BuiltImage(debian, image_cache.ensure_image(debian, [base], cache=cache)),
    )
